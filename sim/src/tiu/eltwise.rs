//! TIU element-wise operations (tsk_typ 3).

use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::Lmem;
use cvsim_isa::{Chip, TiuDesc, TiuOp};

pub fn exec(_chip: Chip, _lmem: &mut Lmem, d: &TiuDesc, op: TiuOp) -> ExecResult {
    Err(ExecErrorKind::Unsupported { what: format!("TIU {} (bf16={})", op.name(), d.is_bf16()) })
}
