//! TIU execution: one module per operation family.

pub mod conv;
pub mod depthwise;
pub mod eltwise;
pub mod lut;
pub mod matmul;
pub mod mdsum;
pub mod operand;
pub mod pool;
pub mod window;

use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::Lmem;
use cvsim_isa::{Chip, TiuDesc, TiuOp};

/// Execute one TIU descriptor against local memory.
pub fn exec(chip: Chip, lmem: &mut Lmem, d: &TiuDesc) -> ExecResult {
    match d.op(chip) {
        TiuOp::Conv => conv::exec(chip, lmem, d),
        TiuOp::DepthwiseConv => depthwise::exec(chip, lmem, d),
        TiuOp::MaxPool | TiuOp::AvgPool | TiuOp::MinPool => pool::exec(chip, lmem, d),
        TiuOp::Matmul => matmul::exec(chip, lmem, d),
        TiuOp::Lut => lut::exec(chip, lmem, d),
        TiuOp::MdSum => mdsum::exec(chip, lmem, d),
        op if op.is_elementwise() => eltwise::exec(chip, lmem, d, op),
        op => Err(ExecErrorKind::Unsupported { what: format!("TIU operation {op:?}") }),
    }
}
