//! The bf16 path of the element-wise ops: operands are read as f32 (subnormals as zero), the op is
//! computed in f32 and rounded once to bf16 with the hardware's special-value rules (spec `isa.md`
//! §3.6.5, §3.7 "bf16 compute model", errata §9.3–§9.8).

use super::access::{for_chunks, gather_u16, scatter_u16, HalfOpd, Mem, CHUNK};
use super::{relu_enabled, unsupported};
use crate::bf16::{bf16_accumulator, bf16_operand, bf16_result, BF16_ONE, BF16_SATURATED};
use crate::error::ExecResult;
use crate::memory::Label;
use crate::memory::Lmem;
use crate::tiu::operand::{view, Opd};
use cvsim_isa::Operand;
use cvsim_isa::{Chip, TiuDesc, TiuOp};

pub(super) fn exec(chip: Chip, lmem: &mut Lmem, d: &TiuDesc, op: TiuOp, shape: [u32; 4]) -> ExecResult {
    let relu = relu_enabled(chip, d)?;
    // The vendor simulator accepts the ReLU flag on bf16 sub, max and min and ignores it there
    // (negative results stay).
    let relu = relu && !matches!(op, TiuOp::Sub | TiuOp::Max | TiuOp::Min);
    if relu && !matches!(op, TiuOp::Add | TiuOp::Mul | TiuOp::Mac) {
        return Err(unsupported(format!("ReLU on bf16 element-wise {} (no emitter sets it)", op.name())));
    }
    let res = Mem::new(&view(chip, d, Opd::Res0, 2), 1, 0, lmem, Label::new(Operand::Res0, "res0"))?;
    let a = Mem::new(&view(chip, d, Opd::Opd0, 2), 1, 0, lmem, Label::new(Operand::Opd0, "opd0"))?;
    if op == TiuOp::Copy {
        // Copy goes through the datapath too: -0 and subnormals come out as +0, NaN and ±inf as
        // 0x7F7F (observed in the vectors; the spec says "bytes copied as-is").
        let data = &mut lmem.data;
        let mut v = [0u16; CHUNK];
        for_chunks(shape, |p, len| {
            let v = &mut v[..len];
            gather_u16(&a, data, p, v);
            v.iter_mut().for_each(|x| *x = bf16_result(bf16_operand(*x)));
            scatter_u16(&res, data, p, v);
        });
        return Ok(());
    }
    let a = HalfOpd::Mem(a);
    let b = if d.opt_opd1_const != 0 {
        HalfOpd::Const(d.opd1_addr as u16)
    } else {
        HalfOpd::Mem(Mem::new(&view(chip, d, Opd::Opd1, 2), 1, 0, lmem, Label::new(Operand::Opd1, "opd1"))?)
    };
    let data = &mut lmem.data;
    // ReLU acts on the bf16 result: -inf and negative overflow have already become +0x7F7F by then
    // (errata §9.5).
    let out = |x: f32| {
        let r = bf16_result(x);
        if relu && r & 0x8000 != 0 {
            0
        } else {
            r
        }
    };
    match op {
        TiuOp::Add => run(data, shape, &a, &b, None, &res, |x, y, _| out(x + y)),
        TiuOp::Sub => run(data, shape, &a, &b, None, &res, |x, y, _| out(x - y)),
        TiuOp::Mul if chip.quirks().bf16_mul_flushes_subnormal_product => {
            run(data, shape, &a, &b, None, &res, |x, y, _| out(crate::arith::f32_mul_ftz(x, y)))
        }
        TiuOp::Mul => run(data, shape, &a, &b, None, &res, |x, y, _| out(x * y)),
        TiuOp::Mac => {
            let old = HalfOpd::Mem(res.clone());
            run(data, shape, &a, &b, Some(&old), &res, |x, y, acc| out(mac(x, y, acc)))
        }
        // A NaN or infinite operand (both read as NaN) makes max, min and ge write 0x7F7F, even
        // when the other operand would be the mathematical answer (vectors, all four chips);
        // `f32::max` would return the other operand.
        TiuOp::Max => run(data, shape, &a, &b, None, &res, |x, y, _| {
            out(if x.is_nan() || y.is_nan() { f32::NAN } else { x.max(y) })
        }),
        TiuOp::Min => run(data, shape, &a, &b, None, &res, |x, y, _| {
            out(if x.is_nan() || y.is_nan() { f32::NAN } else { x.min(y) })
        }),
        TiuOp::Ge if chip.quirks().bf16_ge_writes_low_byte => {
            // CV182x writes only the low byte of each bf16 ge result (errata §9.8).
            let mut av = [0u16; CHUNK];
            let mut bv = [0u16; CHUNK];
            for_chunks(shape, |p, len| {
                a.gather(data, p, &mut av[..len]);
                b.gather(data, p, &mut bv[..len]);
                let mut i = res.start(p);
                for k in 0..len {
                    data[i] = ge(bf16_operand(av[k]), bf16_operand(bv[k])) as u8;
                    i += res.w_str();
                }
            });
        }
        TiuOp::Ge => run(data, shape, &a, &b, None, &res, |x, y, _| ge(x, y)),
        _ => return Err(unsupported(format!("bf16 element-wise {}", op.name()))),
    }
    Ok(())
}

/// `x·y + acc` as the vendor's mac forms it: the product of two bf16 operands is exact in f32,
/// and the sum is rounded toward zero to f32 (then to bf16, to nearest even, by the caller). The
/// direction matters only when the f32 sum lands on a bf16 tie: a plain f32 sum would round the
/// tie to even. Found with the oracle on a bf16 softmax whose exponent products hit such ties;
/// pinned by `sim/tests/bf16_mac.rs` and the corpus mac vectors (subnormal addends included).
/// A subnormal product counts as zero (oracle: −0.18 · 2^-126 + 2^-126 gives 2^-126, where the
/// exact sum, a subnormal, would flush to 0), as in the convolutions' MAC.
#[inline]
fn mac(x: f32, y: f32, acc: f32) -> f32 {
    let p = crate::arith::f32_mul_ftz(x, y);
    let s = p + acc;
    if !s.is_finite() || s == 0.0 {
        return s;
    }
    // TwoSum: the rounding error of `s`, exactly (`s + err` is the exact sum).
    let bp = s - acc;
    let err = (p - bp) + (acc - (s - bp));
    if err != 0.0 && (err > 0.0) != (s > 0.0) {
        // Rounded away from zero: one f32 step back toward it.
        f32::from_bits(s.to_bits() - 1)
    } else {
        s
    }
}

/// bf16 1.0 when x ≥ y, else 0; 0x7F7F when either operand is NaN or infinite.
#[inline]
fn ge(x: f32, y: f32) -> u16 {
    if x.is_nan() || y.is_nan() {
        BF16_SATURATED
    } else if x >= y {
        BF16_ONE
    } else {
        0
    }
}

#[inline]
fn run<F: Fn(f32, f32, f32) -> u16>(
    data: &mut [u8],
    shape: [u32; 4],
    a: &HalfOpd,
    b: &HalfOpd,
    old: Option<&HalfOpd>,
    res: &Mem,
    f: F,
) {
    let (mut av, mut bv, mut ov) = ([0u16; CHUNK], [0u16; CHUNK], [0u16; CHUNK]);
    for_chunks(shape, |p, len| {
        let (av, bv, ov) = (&mut av[..len], &mut bv[..len], &mut ov[..len]);
        a.gather(data, p, av);
        b.gather(data, p, bv);
        if let Some(o) = old {
            o.gather(data, p, ov);
        }
        for i in 0..len {
            // The mac accumulator (the old result) is read exactly, subnormals included: 0x0080 × 1.0 +
            // 0x8005 gives 0x0000 on CV182x; the other operands have subnormals read as zero.
            av[i] = f(bf16_operand(av[i]), bf16_operand(bv[i]), bf16_accumulator(ov[i]));
        }
        scatter_u16(res, data, p, av);
    });
}
