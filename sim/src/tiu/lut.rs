//! TIU lut.

use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::Lmem;
use cvsim_isa::{Chip, TiuDesc};

pub fn exec(_chip: Chip, _lmem: &mut Lmem, d: &TiuDesc) -> ExecResult {
    Err(ExecErrorKind::Unsupported { what: format!("TIU lut (bf16={})", d.is_bf16()) })
}
