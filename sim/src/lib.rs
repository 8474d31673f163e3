//! The CV18xx TPU simulator: memories, TIU and TDMA execution, and (later) the timing model.
//! Semantics (what a descriptor computes) and timing (how long it takes) live in separate modules.

pub mod arith;
pub mod vlc;
