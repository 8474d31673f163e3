pub mod case;
pub mod conformance;
pub mod disasm;
pub mod example;
pub mod mem;
pub mod tensors;
pub mod vectors;
