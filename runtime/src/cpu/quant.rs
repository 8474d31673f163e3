//! `quant`: fp32 → int8/bf16 quantisation and int8/bf16 → fp32 dequantisation.

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
