//! `quant`: fp32 → int8/bf16 quantisation and int8/bf16 → fp32 dequantisation.

use super::{write_f32, CpuContext, CpuFunction, CpuResult};
use crate::cvimodel::DType;

/// The `quant` routine: attributes `from`, `to` (`NONE` dequantises), `scale`, `threshold`.
pub struct Quant;

impl CpuFunction for Quant {
    fn name(&self) -> &'static str {
        "quant"
    }

    fn run(&self, cx: &mut CpuContext<'_>) -> CpuResult {
        let (src, dst) = (cx.input(0)?, cx.output(0)?);
        let _from = cx.str_attr("from")?;
        let to = cx.str_attr("to")?;
        let dequant = to == "NONE";
        let scale = effective_scale(cx.float_attr("scale")?, cx.float_attr("threshold")?, dequant);
        let t = &mut *cx.tensors;
        let (st, dt) = (t.desc(src)?, t.desc(dst)?);
        let n = st.count().unwrap_or(0) as usize;
        let (in_len, out_len) = (t.mem_size(&st)?, t.bytes_mut(dst)?.len());
        // Unwritten host bytes read as zeros; made once, not per block.
        t.materialise(src)?;
        if out_len < n * dt.dtype.size() || in_len < n * st.dtype.size() {
            return Err(format!("tensor sizes do not fit {n} elements"));
        }
        match (dequant, st.dtype, dt.dtype) {
            (false, DType::F32, DType::I8 | DType::Bf16) | (true, DType::I8 | DType::Bf16, DType::F32) => {}
            (false, DType::F32, d) => return Err(format!("cannot quantise to {}", d.name())),
            (false, s, _) => return Err(format!("quantises from {}, expected fp32", s.name())),
            (true, DType::I8 | DType::Bf16, d) => return Err(format!("dequantises to {}, expected fp32", d.name())),
            (true, s, _) => return Err(format!("cannot dequantise from {}", s.name())),
        }
        // A block of elements at a time: whole-tensor f32 and integer copies (the input image is
        // the largest tensor of most models) would add to the peak memory. Input and output may
        // share a region, so each block borrows them in turn.
        const BLOCK: usize = 4096;
        let (mut f, mut q8, mut q16) = (vec![0f32; BLOCK], vec![0i8; BLOCK], vec![0u16; BLOCK]);
        for s in (0..n).step_by(BLOCK) {
            let len = BLOCK.min(n - s);
            let (f, q8, q16) = (&mut f[..len], &mut q8[..len], &mut q16[..len]);
            let inb = t.bytes(src)?;
            let es = st.dtype.size();
            let inb = &inb[s * es..(s + len) * es];
            if !dequant {
                for (x, c) in f.iter_mut().zip(inb.chunks_exact(4)) {
                    *x = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                }
                if dt.dtype == DType::I8 {
                    quantise_i8(f, scale, q8);
                    let out = &mut t.bytes_mut(dst)?[s..s + len];
                    for (o, &v) in out.iter_mut().zip(q8.iter()) {
                        *o = v as u8;
                    }
                } else {
                    quantise_bf16(f, q16);
                    let out = &mut t.bytes_mut(dst)?[s * 2..(s + len) * 2];
                    for (o, v) in out.chunks_exact_mut(2).zip(q16.iter()) {
                        o.copy_from_slice(&v.to_le_bytes());
                    }
                }
            } else {
                if st.dtype == DType::I8 {
                    for (q, &b) in q8.iter_mut().zip(inb) {
                        *q = b as i8;
                    }
                    dequantise_i8(q8, scale, f);
                } else {
                    for (q, c) in q16.iter_mut().zip(inb.chunks_exact(2)) {
                        *q = u16::from_le_bytes([c[0], c[1]]);
                    }
                    dequantise_bf16(q16, f);
                }
                write_f32(&mut t.bytes_mut(dst)?[s * 4..(s + len) * 4], f);
            }
        }
        Ok(())
    }
}

/// x86-64 `cvttss2si`-style conversion used by C's `(int)`: values outside the i32 range, ±inf and
/// NaN give the "integer indefinite" value i32::MIN.
fn f32_to_i32_x86(v: f32) -> i32 {
    if v.is_nan() || v >= 2147483648.0 || v < -2147483648.0 {
        i32::MIN
    } else {
        v as i32
    }
}

/// The scale the routine uses: `threshold` (if present) replaces `scale`; 128, not 127.
pub fn effective_scale(scale: Option<f32>, threshold: Option<f32>, dequantise: bool) -> f32 {
    match threshold {
        Some(t) if dequantise => t / 128.0,
        Some(t) => 128.0 / t,
        None => scale.unwrap_or(1.0),
    }
}

/// fp32 → int8: round half away from zero (C `round`), then clamp. NaN and out-of-range values go
/// through the x86 indefinite integer and clamp to -128.
pub fn quantise_i8(input: &[f32], scale: f32, out: &mut [i8]) {
    for (o, &x) in out.iter_mut().zip(input) {
        let v = x * scale;
        let r = f32_to_i32_x86(v.round());
        *o = r.clamp(-128, 127) as i8;
    }
}

/// fp32 → bf16 as the runtime does it: multiply by 1.001957 and keep the upper 16 bits (truncation).
pub fn quantise_bf16(input: &[f32], out: &mut [u16]) {
    for (o, &x) in out.iter_mut().zip(input) {
        *o = ((x * 1.001957f32).to_bits() >> 16) as u16;
    }
}

/// int8 → fp32: `(f32)q × scale`.
pub fn dequantise_i8(input: &[i8], scale: f32, out: &mut [f32]) {
    for (o, &q) in out.iter_mut().zip(input) {
        *o = q as f32 * scale;
    }
}

/// bf16 → fp32: the pattern in the upper half (scale not applied).
pub fn dequantise_bf16(input: &[u16], out: &mut [f32]) {
    for (o, &b) in out.iter_mut().zip(input) {
        *o = f32::from_bits((b as u32) << 16);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_away_from_zero_and_saturating() {
        let mut o = [0i8; 8];
        quantise_i8(&[0.5, -0.5, 1.49, 127.6, -300.0, f32::NAN, f32::INFINITY, 3e9], 1.0, &mut o);
        assert_eq!(o, [1, -1, 1, 127, -128, -128, -128, -128]);
    }

    #[test]
    fn threshold_replaces_scale() {
        assert_eq!(effective_scale(Some(3.0), Some(64.0), false), 2.0);
        assert_eq!(effective_scale(Some(3.0), Some(64.0), true), 0.5);
        assert_eq!(effective_scale(Some(3.0), None, false), 3.0);
        assert_eq!(effective_scale(None, None, false), 1.0);
    }

    #[test]
    fn bf16_truncates() {
        let mut o = [0u16; 2];
        quantise_bf16(&[1.0, -2.0], &mut o);
        assert_eq!(o, [0x3F80, 0xC000]);
        let mut f = [0f32; 1];
        dequantise_bf16(&[0x3F80], &mut f);
        assert_eq!(f[0], 1.0);
    }

    /// The plain rule, in f64 after the f32 product: half away from zero, saturate to int8; a
    /// product whose rounded value leaves the i32 range (or NaN) is the x86 indefinite integer,
    /// i32::MIN, so it saturates to -128 whatever its sign.
    fn reference_i8(x: f32, scale: f32) -> i8 {
        let v = (x * scale) as f64;
        if v.is_nan() {
            return -128;
        }
        let r = if v >= 0.0 { (v + 0.5).floor() } else { (v - 0.5).ceil() };
        // `v ± 0.5` is exact in f64 for every f32 v, so this is round-half-away on the f32 value.
        if !(-2147483648.0..2147483648.0).contains(&r) {
            -128
        } else {
            r.clamp(-128.0, 127.0) as i8
        }
    }

    proptest::proptest! {
        #[test]
        fn quantise_i8_matches_the_plain_rule(
            bits in proptest::collection::vec(proptest::prelude::any::<u32>(), 1..64),
            small in proptest::collection::vec(-200.0f32..200.0, 1..64),
            scale in proptest::prop_oneof![0.001f32..1000.0, proptest::prelude::Just(1.0f32), proptest::prelude::Just(128.0f32 / 3.5)],
        ) {
            // Any bit pattern (NaN, inf, huge, subnormal) and ordinary activations with ties.
            let mut xs: Vec<f32> = bits.iter().map(|&b| f32::from_bits(b)).collect();
            xs.extend(small.iter().map(|&v| (v * 2.0).round() / 2.0));
            xs.extend(small);
            let mut out = vec![0i8; xs.len()];
            quantise_i8(&xs, scale, &mut out);
            for (&x, &q) in xs.iter().zip(&out) {
                proptest::prop_assert_eq!(q, reference_i8(x, scale), "x {} scale {}", x, scale);
            }
        }

        #[test]
        fn dequantise_then_quantise_is_identity(q in proptest::collection::vec(proptest::prelude::any::<i8>(), 1..64), t in 0.01f32..100.0) {
            let mut f = vec![0f32; q.len()];
            dequantise_i8(&q, effective_scale(None, Some(t), true), &mut f);
            let mut back = vec![0i8; q.len()];
            quantise_i8(&f, effective_scale(None, Some(t), false), &mut back);
            proptest::prop_assert_eq!(back, q);
        }
    }
}
