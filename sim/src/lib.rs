//! The CV18xx TPU simulator: memories, TIU and TDMA execution, and (later) the timing model.
//! Semantics (what a descriptor computes) and timing (how long it takes) live in separate modules.

pub mod arith;
pub mod bf16;
pub mod check;
pub mod error;
pub mod fenv;
pub mod machine;
pub mod memory;
pub mod par;
mod region_bytes;
pub mod tdma;
pub mod timing;
pub mod tiu;
pub mod vectors;
pub mod vlc;

pub use error::{ExecError, ExecErrorKind, ExecResult};
pub use machine::Machine;
