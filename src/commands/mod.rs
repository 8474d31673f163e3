pub mod case;
pub mod check;
pub mod compare;
pub mod conformance;
pub mod diff;
pub mod disasm;
pub mod tensors;
pub mod vectors;
