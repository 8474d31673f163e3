//! TIU element-wise operations (tsk_typ 3): mul, mul_qm, mac, add, sub, max, min, arithmetic
//! shift, and/or/xor, copy and ge, on the int8 (8/16-bit integer) and bf16 paths (spec `isa.md`
//! §3.6.5, errata §9).

pub(crate) mod access;
mod bf16;
mod int8;
pub(crate) mod num;

use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::Lmem;
use crate::tiu::operand::{raw, Opd};
use cvsim_isa::{Chip, LayoutFamily, TiuDesc, TiuOp};

pub fn exec(chip: Chip, lmem: &mut Lmem, d: &TiuDesc, op: TiuOp) -> ExecResult {
    check_common(d)?;
    if d.ps32_md != 0 {
        return Err(unsupported(format!("`ps32_md` = {} on element-wise {}", d.ps32_md, op.name())));
    }
    if d.opt_chl_quan != 0 && op != TiuOp::MulQm {
        return Err(unsupported(format!("`opt_chl_quan` = 1 on element-wise {}", op.name())));
    }
    // mac is the one element-wise op that accumulates into its result, and its emitters always set
    // opt_res_add; the flag on any other op, or mac without it, has no known meaning.
    if (op == TiuOp::Mac) != (d.opt_res_add != 0) {
        return Err(unsupported(format!("`opt_res_add` = {} on element-wise {}", d.opt_res_add, op.name())));
    }
    let shape = [d.res0_n, d.res0_c, d.res0_h, d.res0_w];
    same_shape(d, Opd::Opd0, "opd0", shape)?;
    if uses_opd1(op) && d.opt_opd1_const == 0 {
        same_shape(d, Opd::Opd1, "opd1", shape)?;
    }
    if d.is_bf16() {
        bf16::exec(chip, lmem, d, op, shape)
    } else {
        int8::exec(chip, lmem, d, op, shape)
    }
}

/// Whether the op reads a second operand.
fn uses_opd1(op: TiuOp) -> bool {
    op != TiuOp::Copy
}

/// The emitters write one shape into every operand (`fill_same_tensor_shape`); what the hardware
/// does with differing shapes is not known, so it is not guessed.
fn same_shape(d: &TiuDesc, o: Opd, name: &'static str, res: [u32; 4]) -> ExecResult {
    let (_, shape, _, _) = raw(d, o);
    if shape != res {
        return Err(unsupported(format!(
            "{name} shape {shape:?} differing from the res0 shape {res:?} in an element-wise op"
        )));
    }
    Ok(())
}

pub(crate) fn unsupported(what: String) -> ExecErrorKind {
    ExecErrorKind::Unsupported { what }
}

/// Fields no emitter sets, whose meaning is unknown (spec §8 item 4): refuse rather than guess.
pub(crate) fn check_common(d: &TiuDesc) -> ExecResult {
    for (name, v) in [
        ("opt_opd0_const", d.opt_opd0_const),
        ("opt_opd2_const", d.opt_opd2_const),
        ("short_nchwstr_same", d.short_nchwstr_same),
        ("fp_round_typ", d.fp_round_typ),
    ] {
        if v != 0 {
            return Err(unsupported(format!("`{name}` = {v} (never set by the emitters; meaning undocumented)")));
        }
    }
    Ok(())
}

/// Whether ReLU is on. CV18[0-2]x's 2-bit `opt_relu_typ` has only 0 and 1 documented and
/// `opt_relu_value` is never set; CV183x has a 1-bit `opt_relu`.
pub(crate) fn relu_enabled(chip: Chip, d: &TiuDesc) -> ExecResult<bool> {
    if chip.layout() == LayoutFamily::Cv18x {
        if d.opt_relu_value != 0 {
            return Err(unsupported(format!("`opt_relu_value` = {} (never set by the emitters)", d.opt_relu_value)));
        }
        if d.opt_relu_typ > 1 {
            return Err(unsupported(format!("`opt_relu_typ` = {} (only 0 and 1 are documented)", d.opt_relu_typ)));
        }
    }
    Ok(d.opt_relu_typ != 0)
}
