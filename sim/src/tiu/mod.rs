//! TIU execution: one module per operation family.

pub mod conv;
pub mod depthwise;
pub mod eltwise;
pub mod lut;
pub mod matmul;
pub mod mdsum;
pub mod operand;
pub mod pool;
pub mod ps32;
pub mod window;

use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::Lmem;
use cvsim_isa::{Chip, LayoutFamily, TiuDesc, TiuKind, TiuOp};

/// Execute one TIU descriptor against local memory.
pub fn exec(chip: Chip, lmem: &mut Lmem, d: &TiuDesc) -> ExecResult {
    let op = d.op(chip);
    check_int8_shift(chip, d, op)?;
    check_signs_and_strides(chip, d, op)?;
    if matches!(op, TiuOp::Matmul | TiuOp::Conv | TiuOp::Add | TiuOp::Mul | TiuOp::Mac) && !d.is_bf16() {
        check_sum_signs(d, op)?;
    }
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

/// Shift settings the vendor simulator refuses (it stops on an assertion) for int8 ops with a
/// per-tensor shift; cvsim names the field instead. Found by sweeping the fields with the oracle
/// and by differential fuzzing; `sim/tests/res_shift.rs` and `sim/tests/data/descfuzz.jsonl` hold
/// the vectors.
fn check_int8_shift(chip: Chip, d: &TiuDesc, op: TiuOp) -> ExecResult {
    if d.is_bf16() || d.opt_chl_quan != 0 {
        return Ok(());
    }
    let rs = d.plain_res_shift();
    let illegal = |field, value: u32, why| Err(ExecErrorKind::Illegal { field, value: value as i64, why });
    let cv18x = chip.layout() == LayoutFamily::Cv18x;
    let shifting = matches!(
        op,
        TiuOp::Conv | TiuOp::DepthwiseConv | TiuOp::AvgPool | TiuOp::Mul | TiuOp::Mac | TiuOp::Add | TiuOp::Sub
    ) || (op == TiuOp::MdSum && !cv18x);
    // Convolution, add, mul and mac: `check_sum_signs`.
    let shifting = shifting && !matches!(op, TiuOp::Conv | TiuOp::Add | TiuOp::Mul | TiuOp::Mac);
    if !cv18x && shifting && rs != 0 {
        // CV183x: an arithmetic shift needs a signed operand (`assert_shift_type(!arith_shift)`),
        // a logical one an unsigned result (`assert_res0_sign(!res0_sign)`).
        let one_operand = matches!(op, TiuOp::AvgPool | TiuOp::MdSum);
        let signed_operand = d.opt_opd0_sign != 0 || (!one_operand && d.opt_opd1_sign != 0);
        if d.opt_shift_typ != 0 && !signed_operand {
            return illegal(
                "opt_shift_typ",
                1,
                "an arithmetic right shift needs a signed operand (opt_opd0_sign or opt_opd1_sign)",
            );
        }
        if d.opt_shift_typ == 0 && d.opt_res0_sign != 0 {
            return illegal("opt_res0_sign", 1, "a logical right shift needs an unsigned result (opt_res0_sign = 0)");
        }
    }
    // CV18[0-2]x: the right shift's flavour follows the result's sign, arithmetic for a signed
    // result and logical for an unsigned one.
    if cv18x && shifting && rs != 0 && (d.opt_shift_typ != 0) != (d.opt_res0_sign != 0) {
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
    if !cv18x {
        return Ok(());
    }
    match op {
        TiuOp::MaxPool | TiuOp::MinPool if rs != 0 => {
            return illegal("opt_res_shift", rs, "max and min pooling take no result shift");
        }
        TiuOp::DepthwiseConv | TiuOp::AvgPool if d.opt_rshift_typ == 0 => {
            return illegal("opt_rshift_typ", 0, "depthwise convolution and average pooling only round (1)");
        }
        _ => {}
    }
    Ok(())
}

/// The sign, shift and ReLU settings the vendor simulator stops on for an int8 convolution,
/// matrix multiply (per-tensor or QM), add, mul or mac, the same on every chip (`assert_res0_sign`,
/// `assert_shift_type`, `assert_relu`; probed field by field with `descfuzz probe`): the sum is
/// signed when an operand is, the bias counting when there is one; a signed sum is written signed
/// unless ReLU is on; a nonzero shift is arithmetic exactly for a signed sum; ReLU needs a signed
/// operand or a bias.
fn check_sum_signs(d: &TiuDesc, op: TiuOp) -> ExecResult {
    let illegal = |field, value: u32, why| Err(ExecErrorKind::Illegal { field, value: value as i64, why });
    let bias = matches!(op, TiuOp::Conv | TiuOp::Matmul) && d.tsk_opd_num == 3;
    let signed = d.opt_opd0_sign != 0 || d.opt_opd1_sign != 0 || (bias && d.opt_opd2_sign != 0);
    let relu = d.opt_relu_typ != 0;
    if !signed && d.opt_res0_sign != 0 {
        return illegal("opt_res0_sign", 1, "a sum or product of unsigned operands (and bias) has an unsigned result");
    }
    if signed && d.opt_res0_sign == 0 && !relu {
        return illegal(
            "opt_res0_sign",
            0,
            "a sum or product with a signed operand (or bias) has a signed result unless ReLU is on",
        );
    }
    if d.opt_res_shift != 0 && (d.opt_shift_typ != 0) != signed {
        return illegal(
            "opt_shift_typ",
            d.opt_shift_typ,
            if signed {
                "a sum with a signed operand or bias shifts arithmetically (1)"
            } else {
                "a sum of unsigned operands (and bias) shifts logically (0)"
            },
        );
    }
    if !signed && !bias && relu {
        return illegal("opt_relu_typ", d.opt_relu_typ, "ReLU on a sum of unsigned operands needs a bias");
    }
    Ok(())
}

/// Sign and stride settings the CV18[0-2]x vendor simulator stops on (found by differential
/// fuzzing with `tools/descfuzz`); cvsim names the field instead of guessing.
fn check_signs_and_strides(chip: Chip, d: &TiuDesc, op: TiuOp) -> ExecResult {
    let illegal = |field, value: u32, why| Err(ExecErrorKind::Illegal { field, value: value as i64, why });
    // Every chip.
    if !d.is_bf16() && op == TiuOp::DepthwiseConv && d.opt_opd1_const == 0 && d.opt_opd1_sign == 0 {
        return illegal("opt_opd1_sign", 0, "depthwise weights are signed");
    }
    // A sum is signed exactly when an operand is (the vendor's `assert_res0_sign`, seen on every
    // chip for add and sub; convolutions: `check_sum_signs`).
    let cv18x = chip.layout() == LayoutFamily::Cv18x;
    if !d.is_bf16()
        && d.opt_chl_quan == 0
        && op == TiuOp::Sub
        && (d.opt_res0_sign != 0) != (d.opt_opd0_sign != 0 || d.opt_opd1_sign != 0)
    {
        return illegal(
            "opt_res0_sign",
            d.opt_res0_sign,
            "a sum or product is signed exactly when an operand is (opt_opd0_sign or opt_opd1_sign)",
        );
    }
    // `check_tensor_arith_reg`: ReLU on a 16-bit element-wise result (every chip).
    if !d.is_bf16()
        && matches!(op, TiuOp::Mul | TiuOp::Mac | TiuOp::Add | TiuOp::Sub)
        && d.opt_relu_typ != 0
        && d.opt_res0_seg == 0
    {
        return illegal("opt_relu_typ", d.opt_relu_typ, "ReLU needs an 8-bit result (opt_res0_seg = 1)");
    }
    // Pooling keeps its input's signedness (every chip); so does CV183x's mdsum.
    if !d.is_bf16()
        && (matches!(op, TiuOp::MaxPool | TiuOp::MinPool | TiuOp::AvgPool) || op == TiuOp::MdSum && !cv18x)
        && d.opt_opd0_sign != d.opt_res0_sign
    {
        return illegal(
            "opt_res0_sign",
            d.opt_res0_sign,
            "pooling and mdsum keep the input's signedness (opt_opd0_sign)",
        );
    }
    if !d.is_bf16() && matches!(op, TiuOp::Max | TiuOp::Min | TiuOp::Ge) {
        // Every chip. A constant operand's sign bit counts too.
        if d.opt_opd0_sign != d.opt_res0_sign {
            return illegal(
                "opt_opd0_sign",
                d.opt_opd0_sign,
                "max, min and ge keep the operands' signedness (opt_res0_sign)",
            );
        }
        if d.opt_opd1_sign != d.opt_res0_sign {
            return illegal(
                "opt_opd1_sign",
                d.opt_opd1_sign,
                "max, min and ge keep the operands' signedness (opt_res0_sign)",
            );
        }
    }
    // Partial sums written for a later descriptor are raw: no ReLU yet (every chip).
    if !d.is_bf16() && op == TiuOp::Matmul && matches!(d.ps32_md, 2 | 3) && d.opt_relu_typ != 0 {
        return illegal(
            "opt_relu_typ",
            d.opt_relu_typ,
            "a matrix multiply writing partial sums (ps32_md 2 or 3) takes no ReLU",
        );
    }
    if !cv18x && !d.is_bf16() {
        return Ok(());
    }
    if !d.is_bf16() {
        // Partial sums written for a later descriptor are raw: no ReLU and no shift yet.
        if op == TiuOp::Matmul && matches!(d.ps32_md, 2 | 3) {
            if d.opt_relu_typ != 0 {
                return illegal(
                    "opt_relu_typ",
                    d.opt_relu_typ,
                    "a matrix multiply writing partial sums (ps32_md 2 or 3) takes no ReLU",
                );
            }
            if d.plain_res_shift() != 0 {
                return illegal(
                    "opt_res_shift",
                    d.plain_res_shift(),
                    "a matrix multiply writing partial sums (ps32_md 2 or 3) takes no shift",
                );
            }
        }
    } else if op.is_elementwise() {
        // bf16 element-wise operands with explicit strides: every stride counts bytes of 2-byte
        // elements and must be even.
        let strided = [
            (
                d.short_res0_str,
                [
                    ("res0_n_str", d.res0_n_str),
                    ("res0_c_str", d.res0_c_str),
                    ("res0_h_str", d.res0_h_str),
                    ("res0_w_str", d.res0_w_str),
                ],
            ),
            (
                d.short_opd0_str,
                [
                    ("opd0_n_str", d.opd0_n_str),
                    ("opd0_c_str", d.opd0_c_str),
                    ("opd0_h_str", d.opd0_h_str),
                    ("opd0_w_str", d.opd0_w_str),
                ],
            ),
            (
                if d.opt_opd1_const != 0 || op == TiuOp::Copy { 0 } else { d.short_opd1_str },
                [
                    ("opd1_n_str", d.opd1_n_str),
                    ("opd1_c_str", d.opd1_c_str),
                    ("opd1_h_str", d.opd1_h_str),
                    ("opd1_w_str", d.opd1_w_str),
                ],
            ),
        ];
        for (code, fields) in strided {
            if code < 3 {
                continue;
            }
            if let Some((field, v)) = fields.into_iter().find(|(_, v)| v % 2 != 0) {
                return illegal(field, v, "a bf16 operand's strides are even byte counts");
            }
        }
    }
    Ok(())
}
