pub mod case;
pub mod conformance;
pub mod disasm;
pub mod example;
pub mod tensors;
pub mod timing;
pub mod vectors;
