pub mod disasm;
pub mod vectors;
