//! bf16 as the CV18xx TPU reads, writes and converts it.
//!
//! A bf16 is the top half of an IEEE binary32: sign, 8 exponent bits (14:7), 7 mantissa bits. The
//! host references (`isa.md` §3.7) compute in f32 and round once to bf16. The vendor's functional
//! simulator adds rules of its own (§9 items 3–7, vectors README "Arithmetic notes"), split here
//! into what happens when an operand is **read** and when a result is **written**:
//!
//! | | read ([`bf16_operand`]) | write ([`bf16_result`]) |
//! |---|---|---|
//! | subnormal (exponent 0, mantissa ≠ 0) | treated as zero (§9.6) | flushed to +0 |
//! | −0 | −0 (harmless: results are never −0) | +0 (§9.7) |
//! | ±inf | **NaN** (see below) | 0x7F7F (§9.4) |
//! | NaN | NaN | 0x7F7F (§9.3) |
//! | overflow after rounding | — | 0x7F7F, sign dropped (§9.4) |
//!
//! Evidence for the choices §9 leaves open (checked against every add, sub, mul, mac, max, min,
//! ge, copy and constant-operand element of `tiu_eltwise_bf16` on all four chips, CV182x `ge`
//! excepted (§9.8); see `sim/tests/arith_vectors.rs`):
//! * An infinite operand poisons the result like a NaN: `max(-inf, 2.0)`, `min(+inf, -3.0)` and
//!   `ge(+inf, 1.0)` all give 0x7F7F. So does max pooling whose padding value is −inf (0xFF80) on
//!   inputs without any infinity (`cv183x-tiu_pool_bf16-026`: all 136 outputs are 0x7F7F, every
//!   window touching the padding). Reading ±inf as NaN explains all of these and §9.5 (relu of
//!   −inf gives 0x7F7F). Callers must therefore propagate NaN through comparisons, max and min
//!   (Rust's `f32::max` does not).
//! * Results are never subnormal: no output in the corpus is, and 2^-126 × 0.918 gives 0x0000. The
//!   flush is applied to the rounded bf16 (the corpus has no result in the window where flushing
//!   before rounding would differ, |x| in [2^-126·(1 − 2^-9), 2^-126)).
//! * The element-wise copy also goes through read + write: NaN, ±inf → 0x7F7F, subnormals and −0 →
//!   0x0000.
//! * The accumulator of a bf16 mac (the result tensor read back as the addend) is **not** flushed:
//!   on CV182x, 0x0080 × 1.0 + 0x8005 gives 0x0000, which only an exact read of the subnormal 0x8005
//!   explains (the sum is subnormal and flushed on write); with the addend flushed it would be
//!   0x0080. All 276 mac elements of the corpus with a subnormal accumulator agree with the exact
//!   read. Use [`bf16_accumulator`] for it.

use cvsim_isa::Chip;

/// What the simulator writes for a NaN, an infinity or an overflowed bf16 result (the largest
/// finite bf16, positive).
pub const BF16_SATURATED: u16 = 0x7F7F;
/// bf16 +0.
pub const BF16_ZERO: u16 = 0x0000;
/// bf16 1.0.
pub const BF16_ONE: u16 = 0x3F80;

const EXP_MASK: u16 = 0x7F80;
const SIGN_MASK: u16 = 0x8000;

/// The exact f32 value of a bf16 bit pattern (the 16 bits become the top half). Use it for host
/// computations; operands the TPU reads go through [`bf16_operand`].
#[inline]
pub fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// A bf16 operand as the TPU reads it: subnormals are zero (sign kept), ±inf and NaN are NaN,
/// everything else exact. See the module documentation for the evidence.
#[inline]
pub fn bf16_operand(b: u16) -> f32 {
    match b & EXP_MASK {
        0 => f32::from_bits(((b & SIGN_MASK) as u32) << 16),
        EXP_MASK => f32::NAN,
        _ => bf16_to_f32(b),
    }
}

/// The accumulator operand of a bf16 mac (the result tensor read back as the addend): exact,
/// subnormals included; ±inf and NaN are NaN as for [`bf16_operand`]. See the module documentation.
#[inline]
pub fn bf16_accumulator(b: u16) -> f32 {
    if b & EXP_MASK == EXP_MASK {
        f32::NAN
    } else {
        bf16_to_f32(b)
    }
}

/// True for the bit patterns [`bf16_operand`] reads as NaN (exponent all ones: ±inf and NaN).
#[inline]
pub const fn bf16_is_nan_operand(b: u16) -> bool {
    b & EXP_MASK == EXP_MASK
}

/// Plain f32 → bf16, round to nearest even on the raw bits, NaN → 0x7FC0. This is the host
/// reference conversion (`cvk_fp_convert.h`) without the hardware clamp: ±inf stay ±inf, overflow
/// becomes ±inf, subnormals and −0 survive. Use [`bf16_result`] for what the TPU writes.
#[inline]
pub fn f32_to_bf16_rne(x: f32) -> u16 {
    if x.is_nan() {
        return 0x7FC0;
    }
    let u = x.to_bits();
    // Cannot overflow: the largest non-NaN pattern is 0xFF80_0000.
    ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) as u16
}

/// f32 → bf16 as the TPU writes a result: round to nearest even, then NaN, ±inf and overflow →
/// [`BF16_SATURATED`] (+0x7F7F whatever the sign), results with a zero exponent (subnormals, ±0)
/// → +0.
///
/// ReLU: the simulator gives 0x7F7F for a −inf or negative-overflow result with relu on (§9.5). A
/// relu applied to the bf16 **after** this conversion (negative → 0) reproduces that; a relu
/// applied to the f32 before it must treat NaN as NaN.
#[inline]
pub fn bf16_result(x: f32) -> u16 {
    if x.is_nan() {
        return BF16_SATURATED;
    }
    let b = f32_to_bf16_rne(x);
    match b & EXP_MASK {
        EXP_MASK => BF16_SATURATED,
        0 => BF16_ZERO,
        _ => b,
    }
}

/// Rounding of bf16 → int8/uint8 conversions (TDMA `int8_rnd_mode`, §4.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Int8Rounding {
    /// `int8_rnd_mode = 0`: round to nearest, ties to even.
    NearestEven,
    /// `int8_rnd_mode = 1`: truncate toward zero.
    TowardZero,
}

impl Int8Rounding {
    /// From the 1-bit descriptor field (only bit 0 is looked at).
    #[inline]
    pub const fn from_field(v: u32) -> Int8Rounding {
        if v & 1 == 0 {
            Int8Rounding::NearestEven
        } else {
            Int8Rounding::TowardZero
        }
    }
}

/// bf16 → int8 (`signed`) or uint8, as the TDMA converts on an L2G store or an L2L move; returns the
/// byte written. Round (per `rnd`), then saturate to [-128, 127] or [0, 255].
///
/// Measured on the `tdma` vectors (`l2g_bf16_to_i8`, `l2l_bf16_to_i8`, all chips):
/// * NaN saturates by its sign bit (0x7FC0, 0x7F81 → 127/255; 0xFFC0 → −128/0). §3.7 says the
///   reference has no NaN handling; this is what the simulator does.
/// * ±inf and large values saturate on CV18[0-2]x.
/// * **CV183x** converts every non-NaN input with biased exponent ≥ 254 (|x| ≥ 2^127, and ±inf) to
///   **0**, for both signs and both rounding modes (0x7F7F, 0xFF7F, 0x7F80, 0xFF80 → 0x00). Inputs
///   with exponent ≤ 150 (|x| < 2^24) saturate normally. Exponents 151..253 are not in the corpus;
///   they are assumed to saturate.
#[inline]
pub fn bf16_to_int8(b: u16, signed: bool, rnd: Int8Rounding, chip: Chip) -> u8 {
    let (lo, hi) = if signed { (-128i32, 127i32) } else { (0, 255) };
    let exp = (b >> 7) & 0xFF;
    if exp == 0xFF && b & 0x7F != 0 {
        let v = if b & SIGN_MASK != 0 { lo } else { hi };
        return v as u8;
    }
    if exp >= 0xFE && chip.quirks().bf16_to_int8_huge_is_zero {
        return 0;
    }
    let x = bf16_to_f32(b);
    let r = match rnd {
        Int8Rounding::NearestEven => x.round_ties_even(),
        Int8Rounding::TowardZero => x.trunc(),
    };
    // `as i32` of a clamped finite (or ±inf clamped) value is exact.
    (r.clamp(lo as f32, hi as f32) as i32) as u8
}

/// [`bf16_to_int8`] with a signed result.
#[inline]
pub fn bf16_to_i8(b: u16, rnd: Int8Rounding, chip: Chip) -> i8 {
    bf16_to_int8(b, true, rnd, chip) as i8
}

/// [`bf16_to_int8`] with an unsigned result.
#[inline]
pub fn bf16_to_u8(b: u16, rnd: Int8Rounding, chip: Chip) -> u8 {
    bf16_to_int8(b, false, rnd, chip)
}

/// int8 → bf16 (exact: every 8-bit integer is a bf16).
#[inline]
pub fn i8_to_bf16(v: i8) -> u16 {
    f32_to_bf16_rne(v as f32)
}

/// uint8 → bf16 (exact).
#[inline]
pub fn u8_to_bf16(v: u8) -> u16 {
    f32_to_bf16_rne(v as f32)
}

/// A stored 8-bit element → bf16, by the signedness of the source (`int8_sign`).
#[inline]
pub fn int8_to_bf16(byte: u8, signed: bool) -> u16 {
    if signed {
        i8_to_bf16(byte as i8)
    } else {
        u8_to_bf16(byte)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_rules() {
        assert_eq!(bf16_result(f32::NAN), 0x7F7F);
        assert_eq!(bf16_result(f32::INFINITY), 0x7F7F);
        assert_eq!(bf16_result(f32::NEG_INFINITY), 0x7F7F);
        assert_eq!(bf16_result(f32::MAX), 0x7F7F); // rounds up to inf
        assert_eq!(bf16_result(-0.0), 0);
        assert_eq!(bf16_result(1.0), 0x3F80);
        assert_eq!(bf16_result(-1.0), 0xBF80);
        assert_eq!(bf16_result(bf16_to_f32(0x0080) * 0.918), 0); // would be subnormal
                                                                 // ties to even: 1 + 2^-8 is halfway between 1.0 and 1 + 2^-7
        assert_eq!(bf16_result(1.0 + 1.0 / 256.0), 0x3F80);
        assert_eq!(bf16_result(1.0 + 3.0 / 256.0), 0x3F82);
    }

    #[test]
    fn read_rules() {
        assert_eq!(bf16_operand(0x0001), 0.0);
        assert!(bf16_operand(0x8005).is_sign_negative() && bf16_operand(0x8005) == 0.0);
        assert!(bf16_operand(0x7F80).is_nan());
        assert!(bf16_operand(0xFF80).is_nan());
        assert_eq!(bf16_operand(0x0080), f32::MIN_POSITIVE);
    }

    #[test]
    fn int8_conversions() {
        let c = Chip::Cv181x;
        assert_eq!(bf16_to_i8(0x4020, Int8Rounding::NearestEven, c), 2); // 2.5 → 2
        assert_eq!(bf16_to_i8(0x4060, Int8Rounding::NearestEven, c), 4); // 3.5 → 4
        assert_eq!(bf16_to_i8(0xC060, Int8Rounding::TowardZero, c), -3); // -3.5 → -3
        assert_eq!(bf16_to_i8(0x7F80, Int8Rounding::NearestEven, c), 127);
        assert_eq!(bf16_to_u8(0xBF80, Int8Rounding::NearestEven, c), 0);
        assert_eq!(bf16_to_i8(0xFFC0, Int8Rounding::NearestEven, c), -128);
        assert_eq!(bf16_to_u8(0x7F81, Int8Rounding::TowardZero, c), 255);
        assert_eq!(bf16_to_i8(0x7F7F, Int8Rounding::NearestEven, Chip::Cv183x), 0);
        assert_eq!(bf16_to_i8(0xFF80, Int8Rounding::TowardZero, Chip::Cv183x), 0);
        assert_eq!(bf16_to_u8(0x4B00, Int8Rounding::TowardZero, Chip::Cv183x), 255);
        assert_eq!(i8_to_bf16(-128), 0xC300);
        assert_eq!(u8_to_bf16(255), 0x437F);
        assert_eq!(int8_to_bf16(0xFF, true), 0xBF80);
    }
}
