//! CPU routines a .cvimodel names, run on the host with the vendor runtime's exact arithmetic
//! (spec `runtime.md` §2.3). "f32" operations round to f32 after each step, as the x86-64 build
//! of the vendor runtime does (no fused multiply-add), because the corpus was produced there.

pub mod argmax;
pub mod interp;
pub mod quant;
