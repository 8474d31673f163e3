//! The int8 path of the element-wise ops: 8-bit or 16-bit (two byte planes) integer operands,
//! 8-bit or 16-bit results (spec `isa.md` §3.5 "16-bit integer operands", §3.6.5).

use super::access::{for_chunks, scatter_int, IntOpd, Mem, CHUNK};
use super::num::rshift;
use super::{relu_enabled, unsupported};
use crate::arith;
use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::Label;
use crate::memory::Lmem;
use crate::tiu::conv::SHIFT_GROUP;
use crate::tiu::operand::{view, Opd};
use cvsim_isa::Operand;
use cvsim_isa::{Chip, TiuDesc, TiuOp};

/// The result operand: where it goes, its width and its saturation range.
struct Res {
    m: Mem,
    wide: bool,
    lo: i32,
    hi: i32,
}

impl Res {
    #[inline]
    fn sat(&self, x: i32) -> i32 {
        x.clamp(self.lo, self.hi)
    }
}

pub(super) fn exec(chip: Chip, lmem: &mut Lmem, d: &TiuDesc, op: TiuOp, shape: [u32; 4]) -> ExecResult {
    // The vendor simulator accepts ReLU on an 8-bit sub and ignores it (negative differences stay).
    let relu = relu_enabled(chip, d)? && op != TiuOp::Sub;
    let res_signed = d.opt_res0_sign != 0;
    // The vendor simulator asserts `!relu` when the result is unsigned (errata §9.10), CV183x
    // only when the operands are unsigned too.
    let signed_operand = d.opt_opd0_sign != 0 || d.opt_opd1_sign != 0;
    // (Add, mul and mac: `tiu::check_sum_signs`, the same rule on every chip.)
    let checked = matches!(op, TiuOp::Add | TiuOp::Mul | TiuOp::Mac);
    if relu && !res_signed && !checked && (chip.layout() == cvsim_isa::LayoutFamily::Cv18x || !signed_operand) {
        return Err(ExecErrorKind::Illegal {
            field: "opt_relu_typ",
            value: 1,
            why: "ReLU on an element-wise op with an unsigned result",
        });
    }
    let res_wide = super::access::is_wide("opt_res0_seg", d.opt_res0_seg)?;
    // mac reads its 16-bit accumulator from both result planes even for an 8-bit result (the
    // vectors' "res_is_int8" mac cases). With an 8-bit result only the low plane is written; what
    // the hardware does with the high plane is not pinned (the vectors store only the low plane).
    let res_planes = if res_wide || op == TiuOp::Mac { 2 } else { 1 };
    let res_t = view(chip, d, Opd::Res0, 1);
    let res_m = Mem::new(&res_t, res_planes, d.res0_b_str, lmem, Label::new(Operand::Res0, "res0"))?;
    let (lo, hi) = match (res_wide, res_signed) {
        (false, true) => (i8::MIN as i32, i8::MAX as i32),
        (false, false) => (0, u8::MAX as i32),
        (true, true) => (i16::MIN as i32, i16::MAX as i32),
        (true, false) => (0, u16::MAX as i32),
    };
    let lo = if relu { lo.max(0) } else { lo };
    let res = Res { m: res_m, wide: res_wide, lo, hi };

    // ReLU clamps the result's low end; the vendor simulator also runs it on max and min.
    if relu && !matches!(op, TiuOp::Mul | TiuOp::MulQm | TiuOp::Mac | TiuOp::Add | TiuOp::Sub | TiuOp::Max | TiuOp::Min)
    {
        return Err(unsupported(format!("ReLU on element-wise {} (no emitter sets it)", op.name())));
    }
    if op == TiuOp::Copy {
        return copy(chip, lmem, d, shape, &res);
    }

    let a = mem_opd(chip, d, Opd::Opd0, lmem)?;
    let b = if d.opt_opd1_const != 0 { const_opd1(d)? } else { mem_opd(chip, d, Opd::Opd1, lmem)? };
    let data = &mut lmem.data;
    match op {
        TiuOp::Mul | TiuOp::Mac | TiuOp::Add | TiuOp::Sub => {
            let rs = d.plain_res_shift();
            let old = IntOpd::Mem { m: res.m.clone(), wide: true, signed: res_signed };
            let ctx = Shifted { data, shape, a: &a, b: &b, old: &old, res: &res, ls: d.opt_left_shift };
            // Hoist the shift flavour out of the element loop (`opt_rshift_typ`: round half up or
            // truncate; `opt_shift_typ`: arithmetic or logical).
            match (d.opt_rshift_typ != 0, d.opt_shift_typ != 0) {
                (true, true) => ctx.run(op, Shift::<true, true>(rs)),
                (true, false) => ctx.run(op, Shift::<true, false>(rs)),
                (false, true) => ctx.run(op, Shift::<false, true>(rs)),
                (false, false) => ctx.run(op, Shift::<false, false>(rs)),
            }
        }
        TiuOp::MulQm => {
            let shift = d.res_shift(chip);
            let m = d.quan_m as i32;
            run(data, shape, &a, &b, None, &res, |x, y, _| {
                res.sat(arith::multiply_by_quantized_multiplier(x.wrapping_mul(y), m, shift, chip))
            });
        }
        TiuOp::Max => run(data, shape, &a, &b, None, &res, |x, y, _| x.max(y)),
        TiuOp::Min => run(data, shape, &a, &b, None, &res, |x, y, _| x.min(y)),
        TiuOp::Ge => run(data, shape, &a, &b, None, &res, |x, y, _| (x >= y) as i32),
        TiuOp::And => run(data, shape, &a, &b, None, &res, |x, y, _| x & y),
        TiuOp::Or => run(data, shape, &a, &b, None, &res, |x, y, _| x | y),
        TiuOp::Xor => run(data, shape, &a, &b, None, &res, |x, y, _| x ^ y),
        // b ≥ 0 shifts left, b < 0 shifts right arithmetically without rounding; the low bits are
        // written without saturation (`test_181x_tensor_arith_shift.c`).
        TiuOp::ArithShift => run(data, shape, &a, &b, None, &res, |x, y, _| {
            if y >= 0 {
                arith::shl_wrapping_i32(x, y as u32)
            } else {
                arith::shr_floor_i32(x, y.unsigned_abs())
            }
        }),
        _ => return Err(unsupported(format!("int8 element-wise {}", op.name()))),
    }
    Ok(())
}

/// A result right shift by a fixed amount, its flavour fixed at compile time.
#[derive(Clone, Copy)]
struct Shift<const ROUND: bool, const ARITH: bool>(u32);

impl<const ROUND: bool, const ARITH: bool> Shift<ROUND, ARITH> {
    #[inline(always)]
    fn apply(self, x: i32) -> i32 {
        rshift(x, self.0, ROUND, ARITH)
    }
}

/// The ops that end in shift + saturate (+ ReLU through the saturation range).
struct Shifted<'a> {
    data: &'a mut [u8],
    shape: [u32; 4],
    a: &'a IntOpd,
    b: &'a IntOpd,
    /// The 16-bit accumulator mac reads from the result planes.
    old: &'a IntOpd,
    res: &'a Res,
    ls: u32,
}

impl Shifted<'_> {
    fn run<const R: bool, const A: bool>(self, op: TiuOp, sh: Shift<R, A>) {
        if sh.0 <= 32 {
            return self.run_with(op, |x| sh.apply(x));
        }
        // The vendor simulator shifts four results at a time; the up to three left over at the
        // end (in n, c, h, w order, the order `run` visits) take a shift of 33..=63 modulo 32,
        // as in the convolutions (`conv::Int8Out::with_tail`).
        let total = self.shape.iter().map(|&v| v as usize).product::<usize>();
        let from = total / SHIFT_GROUP * SHIFT_GROUP;
        let tail = Shift::<R, A>(sh.0 - 32);
        let k = std::cell::Cell::new(0usize);
        self.run_with(op, |x| {
            let i = k.get();
            k.set(i + 1);
            if i >= from {
                tail.apply(x)
            } else {
                sh.apply(x)
            }
        })
    }

    #[inline(always)]
    fn run_with(self, op: TiuOp, sh: impl Fn(i32) -> i32) {
        let Shifted { data, shape, a, b, old, res, ls } = self;
        match op {
            TiuOp::Mul => run(data, shape, a, b, None, res, |x, y, _| res.sat(sh(x.wrapping_mul(y)))),
            TiuOp::Mac => run(data, shape, a, b, Some(old), res, |x, y, acc| {
                res.sat(sh(x.wrapping_mul(y).wrapping_add(arith::shl_wrapping_i32(acc, ls))))
            }),
            TiuOp::Add => run(data, shape, a, b, None, res, |x, y, _| res.sat(sh(x.wrapping_add(y)))),
            _ => run(data, shape, a, b, None, res, |x, y, _| res.sat(sh(x.wrapping_sub(y)))),
        }
    }
}

/// Gather a, b (and the old result for mac) a chunk at a time, combine, scatter.
#[inline]
fn run<F: Fn(i32, i32, i32) -> i32>(
    data: &mut [u8],
    shape: [u32; 4],
    a: &IntOpd,
    b: &IntOpd,
    old: Option<&IntOpd>,
    res: &Res,
    f: F,
) {
    let (mut av, mut bv, mut ov) = ([0i32; CHUNK], [0i32; CHUNK], [0i32; CHUNK]);
    for_chunks(shape, |p, len| {
        let (av, bv, ov) = (&mut av[..len], &mut bv[..len], &mut ov[..len]);
        a.gather(data, p, av);
        b.gather(data, p, bv);
        if let Some(o) = old {
            o.gather(data, p, ov);
        }
        for i in 0..len {
            av[i] = f(av[i], bv[i], ov[i]);
        }
        scatter_int(&res.m, res.wide, data, p, av);
    });
}

/// Copy: bytes as they are, one plane or both.
fn copy(chip: Chip, lmem: &mut Lmem, d: &TiuDesc, shape: [u32; 4], res: &Res) -> ExecResult {
    let a = mem_opd(chip, d, Opd::Opd0, lmem)?;
    let a_wide = matches!(a, IntOpd::Mem { wide: true, .. });
    if a_wide != res.wide {
        return Err(unsupported("int8 copy between 8-bit and 16-bit operands".into()));
    }
    let mut v = [0i32; CHUNK];
    let data = &mut lmem.data;
    for_chunks(shape, |p, len| {
        a.gather(data, p, &mut v[..len]);
        scatter_int(&res.m, res.wide, data, p, &v[..len]);
    });
    Ok(())
}

fn mem_opd(chip: Chip, d: &TiuDesc, o: Opd, lmem: &Lmem) -> ExecResult<IntOpd> {
    let (seg_field, seg, signed, b_str, what) = match o {
        Opd::Opd0 => ("opt_opd0_seg", d.opt_opd0_seg, d.opt_opd0_sign, d.opd0_b_str, Label::new(Operand::Opd0, "opd0")),
        Opd::Opd1 => ("opt_opd1_seg", d.opt_opd1_seg, d.opt_opd1_sign, d.opd1_b_str, Label::new(Operand::Opd1, "opd1")),
        _ => unreachable!("element-wise operands are opd0 and opd1"),
    };
    let wide = super::access::is_wide(seg_field, seg)?;
    let t = view(chip, d, o, 1);
    let m = Mem::new(&t, if wide { 2 } else { 1 }, b_str, lmem, what)?;
    Ok(IntOpd::Mem { m, wide, signed: signed != 0 })
}

/// A constant opd1 lives in `opd1_addr`: its low byte for an 8-bit operand, all 16 bits for a
/// 16-bit one (add/sub), read with `opt_opd1_sign`.
fn const_opd1(d: &TiuDesc) -> ExecResult<IntOpd> {
    let wide = super::access::is_wide("opt_opd1_seg", d.opt_opd1_seg)?;
    let signed = d.opt_opd1_sign != 0;
    let raw = d.opd1_addr;
    let v = match (wide, signed) {
        (false, true) => raw as u8 as i8 as i32,
        (false, false) => raw as u8 as i32,
        (true, true) => raw as u16 as i16 as i32,
        (true, false) => raw as u16 as i32,
    };
    Ok(IntOpd::Const(v))
}
