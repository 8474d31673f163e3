//! TDMA execution: transfers between global and local memory.

use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::{Gmem, Lmem};
use cvsim_isa::{Chip, TdmaDesc};

/// Execute one TDMA descriptor.
pub fn exec(_chip: Chip, _lmem: &mut Lmem, _gmem: &mut Gmem, d: &TdmaDesc) -> ExecResult {
    Err(ExecErrorKind::Unsupported { what: format!("TDMA {}", d.op().name()) })
}
