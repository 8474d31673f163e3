//! Real multipliers to the integer forms the TIU applies: a 32-bit multiplier with a right shift
//! (QDM, per channel for conv and per tensor for mul and FC) or an 8-bit multiplier with a right
//! shift (element-wise add, average pooling, concat).

/// A real multiplier `m · 2^-31 · 2^-rshift` as the TIU's QM path applies it
/// (`MultiplyByQuantizedMultiplier` with a right shift).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Qdm {
    /// In [2^30, 2^31) for a non-zero scale; 0 for a scale too small to represent.
    pub multiplier: u32,
    /// 0..=31 for scales below 1 (the only ones the vendor produces).
    pub rshift: i8,
}

/// An 8-bit multiplier with a right shift: `real ≈ multiplier / 2^rshift`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Int8Multiplier {
    pub multiplier: i64,
    pub rshift: u32,
}

/// Per-input 8-bit multipliers sharing one right shift (element-wise add).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EltwiseMultipliers {
    pub multipliers: Vec<i64>,
    pub rshift: u32,
}

/// The QDM decomposition of `qscale` (the vendor's `getRShiftAndMultiplierFromQScale` with
/// `qdm = true`): TFLite's `QuantizeMultiplier` (frexp, then `round(q · 2^31)` half away from zero)
/// with the exponent negated into a right shift. A scale of 1 or more is clamped to 0.999999
/// first, because CV18xx's QM path is used with right shifts only.
pub fn qdm_multiplier(qscale: f64) -> Qdm {
    let qscale = if qscale >= 1.0 { 0.999999 } else { qscale };
    if qscale == 0.0 {
        return Qdm { multiplier: 0, rshift: 0 };
    }
    let (q, mut exp) = frexp(qscale);
    let mut fixed = (q * (1u64 << 31) as f64).round() as i64;
    if fixed == 1 << 31 {
        fixed /= 2;
        exp += 1;
    }
    if exp < -31 {
        return Qdm { multiplier: 0, rshift: 0 };
    }
    Qdm { multiplier: fixed as u32, rshift: (-exp) as i8 }
}

/// The 8-bit decomposition (the vendor's `getRShiftAndMultiplierFromQScale` with `qdm = false`):
/// the smallest right shift `r` for which `qscale · 2^(r+1) ≥ max_multiplier`, and the multiplier
/// `trunc(qscale · 2^r)`. A scale above `max_multiplier` saturates to it with no shift; a scale
/// too small for any shift below 63 gives (0, 0).
pub fn int8_multiplier(qscale: f64, max_multiplier: i64) -> Int8Multiplier {
    if qscale > max_multiplier as f64 {
        return Int8Multiplier { multiplier: max_multiplier, rshift: 0 };
    }
    for rshift in 0..63u32 {
        if qscale * (1u64 << (rshift + 1)) as f64 >= max_multiplier as f64 {
            return Int8Multiplier { multiplier: (qscale * (1u64 << rshift) as f64) as i64, rshift };
        }
    }
    Int8Multiplier { multiplier: 0, rshift: 0 }
}

/// The real scale a conv channel's accumulator is multiplied by so that its largest weight maps
/// to 127: `(max_filter · threshold_x) / (127 · threshold_y)`, computed in f32 as the vendor does
/// (`getQscaleForFilter`). A non-positive output threshold is replaced by 1e-5.
pub fn filter_qscale(max_filter: f32, threshold_y: f32, threshold_x: f32) -> f64 {
    let threshold_y = if threshold_y <= 0.0 { 0.00001 } else { threshold_y };
    ((max_filter * threshold_x) / (127.0f32 * threshold_y)) as f64
}

/// The real scale that would bring a channel's bias to 99.8% of the int32 range
/// (`getQscaleForBias`, in f64).
pub fn bias_qscale(max_bias: f32, threshold_y: f32) -> f64 {
    let threshold_y = if threshold_y <= 0.0 { 0.00001 } else { threshold_y };
    (max_bias as f64 * 127.0) / (0x7fff_ffff as f64 * 0.998 * threshold_y as f64)
}

/// Element-wise add of activations (the vendor's CV18xx `Add` int8 lowering): per input,
/// `qscale_i = coeff_i · threshold_i / threshold_out` (stored as f32); the shift comes from the
/// largest |qscale_i| with an int8 multiplier limit of 127, and each input's multiplier is
/// `(i8)(u32)(qscale_i · 2^shift)`.
pub fn eltwise_add_multipliers(in_thresholds: &[f64], coeffs: &[f64], out_threshold: f64) -> EltwiseMultipliers {
    let qscales: Vec<f32> = in_thresholds
        .iter()
        .enumerate()
        .map(|(i, &t)| (coeffs.get(i).copied().unwrap_or(1.0) * (t / out_threshold)) as f32)
        .collect();
    let max_qscale = qscales.iter().fold(0.0f32, |m, q| m.max(q.abs()));
    let shift = int8_multiplier(max_qscale as f64, 127).rshift;
    let multipliers = qscales.iter().map(|&q| multiplier_i8_for_shift(q as f64, shift) as i64).collect();
    EltwiseMultipliers { multipliers, rshift: shift }
}

/// Average pooling (the vendor's CV18xx `AvgPool` int8 lowering):
/// `threshold_in / (threshold_out · kh · kw)` as an 8-bit multiplier (limit 127).
pub fn avgpool_multiplier(in_threshold: f64, out_threshold: f64, kh: usize, kw: usize) -> Int8Multiplier {
    int8_multiplier(in_threshold / (out_threshold * kh as f64 * kw as f64), 127)
}

/// Concat of inputs with different thresholds (the vendor's CV18xx `Concat` int8 lowering): per
/// input, (1, 0) when the thresholds agree within 1e-5, else the 8-bit decomposition (limit 127)
/// of `threshold_in / threshold_out`.
pub fn concat_multipliers(in_thresholds: &[f64], out_threshold: f64) -> Vec<Int8Multiplier> {
    in_thresholds
        .iter()
        .map(|&t| {
            if (t - out_threshold).abs() <= 1e-5 {
                Int8Multiplier { multiplier: 1, rshift: 0 }
            } else {
                int8_multiplier(t / out_threshold, 127)
            }
        })
        .collect()
}

/// Element-wise mul of two activations (the vendor's CV18xx `Mul` int8 lowering):
/// `Π (threshold_i / 127) / (threshold_out / 127)` as a QDM multiplier.
pub fn mul_qdm_multiplier(in_thresholds: &[f64], out_threshold: f64) -> Qdm {
    let mut scale = 1.0f64;
    for &t in in_thresholds {
        scale *= t / 127.0;
    }
    qdm_multiplier(scale / (out_threshold / 127.0))
}

/// `getMultiplierI8FromQScaleAndRShift`: the C conversion chain `(int8_t)(uint32_t)(q · 2^r)`.
fn multiplier_i8_for_shift(qscale: f64, rshift: u32) -> i8 {
    let v = qscale * (1u64 << rshift) as f64;
    // A negative double converted to uint32 is undefined in C; on x86-64 it wraps like the
    // conversion through int64, which is what a negative coefficient needs.
    let as_u32 = if v < 0.0 { (v as i64) as u32 } else { v as u32 };
    as_u32 as u8 as i8
}

/// `frexp`: x = q · 2^exp with |q| in [0.5, 1).
fn frexp(x: f64) -> (f64, i32) {
    if x == 0.0 || !x.is_finite() {
        return (x, 0);
    }
    let bits = x.to_bits();
    let exp_field = ((bits >> 52) & 0x7ff) as i32;
    if exp_field == 0 {
        // Subnormal: scale into the normal range first.
        let (q, e) = frexp(x * (1u64 << 54) as f64);
        return (q, e - 54);
    }
    let exp = exp_field - 1022;
    let q = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (q, exp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frexp_matches_definition() {
        for &x in &[1.0, 0.5, 0.75, 3.0, 1e-10, 0.999999, 1e-310] {
            let (q, e) = frexp(x);
            assert!((0.5..1.0).contains(&q), "{x}: {q}");
            assert_eq!(q * 2f64.powi(e + 200) * 2f64.powi(-200), x);
        }
    }

    #[test]
    fn qdm_of_powers_of_two_and_clamp() {
        assert_eq!(qdm_multiplier(0.5), Qdm { multiplier: 1 << 30, rshift: 0 });
        assert_eq!(qdm_multiplier(0.25), Qdm { multiplier: 1 << 30, rshift: 1 });
        assert_eq!(qdm_multiplier(0.0), Qdm { multiplier: 0, rshift: 0 });
        // 1.0 and above are clamped to 0.999999.
        assert_eq!(qdm_multiplier(3.0), qdm_multiplier(0.999999));
        // Below 2^-32 there is no representation.
        assert_eq!(qdm_multiplier(1e-12), Qdm { multiplier: 0, rshift: 0 });
    }

    #[test]
    fn int8_multiplier_examples() {
        // 0.3 · 2^8 = 76.8 and 0.3 · 2^9 = 153.6 ≥ 127: shift 8, multiplier 76 (truncated).
        assert_eq!(int8_multiplier(0.3, 127), Int8Multiplier { multiplier: 76, rshift: 8 });
        assert_eq!(int8_multiplier(200.0, 127), Int8Multiplier { multiplier: 127, rshift: 0 });
        assert_eq!(int8_multiplier(100.0, 127), Int8Multiplier { multiplier: 100, rshift: 0 });
        assert_eq!(int8_multiplier(0.0, 127), Int8Multiplier { multiplier: 0, rshift: 0 });
    }

    #[test]
    fn eltwise_add_shares_the_shift_of_the_largest() {
        let m = eltwise_add_multipliers(&[4.0, 2.0], &[1.0, 1.0], 5.0);
        // qscales 0.8 and 0.4: 0.8 · 2^7 = 102.4, 0.8 · 2^8 ≥ 127 → shift 7.
        assert_eq!(m, EltwiseMultipliers { multipliers: vec![102, 51], rshift: 7 });
        let sub = eltwise_add_multipliers(&[4.0, 2.0], &[1.0, -1.0], 5.0);
        assert_eq!(sub.multipliers, vec![102, -51]);
    }

    #[test]
    fn concat_equal_thresholds_pass_through() {
        let m = concat_multipliers(&[3.0, 6.0], 6.0);
        assert_eq!(m[1], Int8Multiplier { multiplier: 1, rshift: 0 });
        assert_eq!(m[0], int8_multiplier(0.5, 127));
    }

    proptest! {
        #[test]
        fn qdm_reconstructs_the_scale(q in 1e-9f64..0.999) {
            let Qdm { multiplier, rshift } = qdm_multiplier(q);
            prop_assert!(multiplier >= 1 << 30);
            let back = multiplier as f64 / 2f64.powi(31 + rshift as i32);
            prop_assert!(((back - q) / q).abs() <= 2f64.powi(-30));
        }

        #[test]
        fn int8_multiplier_is_in_range_and_close(q in 1e-6f64..126.0) {
            let Int8Multiplier { multiplier, rshift } = int8_multiplier(q, 127);
            prop_assert!(multiplier <= 127);
            // multiplier ≥ 63 whenever a shift was needed, so the relative error is under 1/63.
            let back = multiplier as f64 / 2f64.powi(rshift as i32);
            prop_assert!(back <= q && (q - back) / q < 1.0 / 63.0 + 1e-12);
        }
    }
}
