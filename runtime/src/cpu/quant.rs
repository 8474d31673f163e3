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
}
