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
use cvsim_isa::{Chip, LayoutFamily, TiuDesc, TiuKind, TiuOp};

/// Execute one TIU descriptor against local memory.
pub fn exec(chip: Chip, lmem: &mut Lmem, d: &TiuDesc) -> ExecResult {
    let op = d.op(chip);
    check_int8_shift(chip, d, op)?;
    let Some(info) = op.info() else {
        return Err(ExecErrorKind::Unsupported { what: format!("TIU operation {op:?}") });
    };
    match info.kind {
        TiuKind::Conv => conv::exec(chip, lmem, d),
        TiuKind::Depthwise => depthwise::exec(chip, lmem, d),
        TiuKind::Pool => pool::exec(chip, lmem, d),
        TiuKind::Matmul => matmul::exec(chip, lmem, d),
        TiuKind::Lut => lut::exec(chip, lmem, d),
        TiuKind::MdSum => mdsum::exec(chip, lmem, d),
        TiuKind::Eltwise => eltwise::exec(chip, lmem, d, op),
    }
}

/// Shift settings the vendor simulator refuses (it stops on an assertion) for CV18[0-2]x int8
/// ops with a per-tensor shift; cvsim names the field instead. Found by sweeping the fields with
/// the oracle (traces/spec-notes-res-shift-2026-12-07.md).
fn check_int8_shift(chip: Chip, d: &TiuDesc, op: TiuOp) -> ExecResult {
    if chip.layout() != LayoutFamily::Cv18x || d.is_bf16() || d.opt_chl_quan != 0 {
        return Ok(());
    }
    let rs = d.plain_res_shift();
    let illegal = |field, value: u32, why| Err(ExecErrorKind::Illegal { field, value: value as i64, why });
    match op {
        TiuOp::MaxPool | TiuOp::MinPool if rs != 0 => {
            return illegal("opt_res_shift", rs, "max and min pooling take no result shift");
        }
        TiuOp::DepthwiseConv | TiuOp::AvgPool if d.opt_rshift_typ == 0 => {
            return illegal("opt_rshift_typ", 0, "depthwise convolution and average pooling only round (1)");
        }
        _ => {}
    }
    if op == TiuOp::Mul && (d.opt_res0_sign != 0) != (d.opt_opd0_sign != 0 || d.opt_opd1_sign != 0) {
        return illegal(
            "opt_res0_sign",
            d.opt_res0_sign,
            "a product is signed exactly when an operand is (opt_opd0_sign or opt_opd1_sign)",
        );
    }
    let shifting = matches!(
        op,
        TiuOp::Conv | TiuOp::DepthwiseConv | TiuOp::AvgPool | TiuOp::Matmul | TiuOp::Mul | TiuOp::Mac | TiuOp::Add | TiuOp::Sub
    );
    if shifting && rs != 0 && (d.opt_shift_typ != 0) != (d.opt_res0_sign != 0) {
        return illegal(
            "opt_shift_typ",
            d.opt_shift_typ,
            if d.opt_shift_typ != 0 {
                "an arithmetic right shift needs a signed result (opt_res0_sign = 1)"
            } else {
                "a logical right shift needs an unsigned result (opt_res0_sign = 0)"
            },
        );
    }
    Ok(())
}
