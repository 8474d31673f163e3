//! Bit-exact integer arithmetic of the CV18xx TIU: rounding and plain right shifts, saturation,
//! and the per-channel "QM" requantisation.
//!
//! Sources: `isa.md` §3.7 (host reference models) as corrected by §9 items 1–2, which were measured
//! on the vendor's functional simulator, and `conformance/vectors/README.md` "Arithmetic notes".
//! bf16 conversions live in [`crate::bf16`].
//!
//! Every function here is total: shift amounts beyond the operand width, `i32::MIN` operands and
//! other corner cases return a defined value and never panic, because they are reachable from
//! descriptor fields.

use cvsim_isa::Chip;

// ---------------------------------------------------------------------------------------------
// Right shifts
// ---------------------------------------------------------------------------------------------

/// Rounding arithmetic right shift, round half up (toward +∞): `floor(x / 2^r + 1/2)`.
///
/// The hardware form is `((x >> (r-1)) + 1) >> 1` (§3.7 `arith_right_shift`); `r = 0` returns `x`
/// (§8 item 11). It is computed here as `(x >> r) + bit(r-1)`, which is the same value but cannot
/// overflow for `x = i64::MAX`. `r >= 64` shifts everything out and gives 0.
#[inline]
pub const fn rshr_i64(x: i64, r: u32) -> i64 {
    if r == 0 {
        x
    } else if r >= 64 {
        0
    } else {
        (x >> r) + ((x >> (r - 1)) & 1)
    }
}

/// [`rshr_i64`] on 32 bits. `r >= 32` gives 0.
#[inline]
pub const fn rshr_i32(x: i32, r: u32) -> i32 {
    if r == 0 {
        x
    } else if r >= 32 {
        0
    } else {
        (x >> r) + ((x >> (r - 1)) & 1)
    }
}

/// Rounding logical right shift (`logic_right_shift` in §3.7: the same steps on the value as an
/// unsigned number): `floor(x / 2^r + 1/2)`. `r = 32` keeps only the rounding bit; `r > 32` gives 0.
#[inline]
pub const fn rshr_u32(x: u32, r: u32) -> u32 {
    if r == 0 {
        x
    } else if r > 32 {
        0
    } else {
        let q = if r == 32 { 0 } else { x >> r };
        q + ((x >> (r - 1)) & 1)
    }
}

/// [`rshr_u32`] on 64 bits.
#[inline]
pub const fn rshr_u64(x: u64, r: u32) -> u64 {
    if r == 0 {
        x
    } else if r > 64 {
        0
    } else {
        let q = if r == 64 { 0 } else { x >> r };
        q + ((x >> (r - 1)) & 1)
    }
}

/// Plain (truncating toward −∞) arithmetic right shift. `r >= 64` gives the sign (0 or −1).
#[inline]
pub const fn shr_floor_i64(x: i64, r: u32) -> i64 {
    x >> if r > 63 { 63 } else { r }
}

/// Plain arithmetic right shift on 32 bits. `r >= 32` gives the sign (0 or −1).
#[inline]
pub const fn shr_floor_i32(x: i32, r: u32) -> i32 {
    x >> if r > 31 { 31 } else { r }
}

/// Plain logical right shift. `r >= 32` gives 0.
#[inline]
pub const fn shr_u32(x: u32, r: u32) -> u32 {
    if r >= 32 {
        0
    } else {
        x >> r
    }
}

/// Arithmetic right shift with the rounding step on or off, as selected by the TIU's
/// `opt_rshift_typ` (1 = round half up, 0 = truncate; §3.7 (inferred)).
#[inline]
pub const fn shift_right_i64(x: i64, r: u32, round: bool) -> i64 {
    if round {
        rshr_i64(x, r)
    } else {
        shr_floor_i64(x, r)
    }
}

// ---------------------------------------------------------------------------------------------
// Saturation
// ---------------------------------------------------------------------------------------------

/// Clamp to [-128, 127].
#[inline]
pub fn sat_i8(x: impl Into<i64>) -> i8 {
    x.into().clamp(i8::MIN as i64, i8::MAX as i64) as i8
}

/// Clamp to [0, 255].
#[inline]
pub fn sat_u8(x: impl Into<i64>) -> u8 {
    x.into().clamp(0, u8::MAX as i64) as u8
}

/// Clamp to [-32768, 32767].
#[inline]
pub fn sat_i16(x: impl Into<i64>) -> i16 {
    x.into().clamp(i16::MIN as i64, i16::MAX as i64) as i16
}

/// Clamp to [0, 65535].
#[inline]
pub fn sat_u16(x: impl Into<i64>) -> u16 {
    x.into().clamp(0, u16::MAX as i64) as u16
}

/// Clamp to [-2^31, 2^31 - 1].
#[inline]
pub fn sat_i32(x: impl Into<i64>) -> i32 {
    x.into().clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// Saturate to 8 bits with the signedness of the result operand (`opt_res0_sign`) and return the
/// byte that is written to local memory.
#[inline]
pub fn saturate8(x: impl Into<i64>, signed: bool) -> u8 {
    if signed {
        sat_i8(x) as u8
    } else {
        sat_u8(x)
    }
}

/// Saturate to 16 bits by signedness and return the 16-bit pattern that is written.
#[inline]
pub fn saturate16(x: impl Into<i64>, signed: bool) -> u16 {
    if signed {
        sat_i16(x) as u16
    } else {
        sat_u16(x)
    }
}

// ---------------------------------------------------------------------------------------------
// QM requantisation (per-channel multiplier + shift)
// ---------------------------------------------------------------------------------------------

/// `acc + bias` as the vendor simulator computes it: wrapping in 32-bit two's complement (§9.1; an
/// `INT32_MAX` bias plus a positive sum requantises to -128, not 127).
#[inline]
pub const fn add_bias_wrapping(acc: i32, bias: i32) -> i32 {
    acc.wrapping_add(bias)
}

/// `x << left` truncated to 32 bits (§9.2: the CV18[0-2]x "QM left shift" wraps before the
/// multiply). `left >= 32` shifts every bit out and gives 0.
#[inline]
pub const fn shl_wrapping_i32(x: i32, left: u32) -> i32 {
    if left >= 32 {
        0
    } else {
        ((x as u32) << left) as i32
    }
}

/// Saturating rounding doubling high multiply as the references define it (§3.7): the 64-bit
/// product plus a nudge of 2^30 (or 1 − 2^30 when negative), divided by 2^31 truncating toward zero.
///
/// The reference does not special-case `a = b = i32::MIN` (TFLite saturates it to `i32::MAX`);
/// the quotient 2^31 is truncated to 32 bits here, which gives `i32::MIN`. No vector exercises it
/// (every multiplier in the corpus is below 2^31).
#[inline]
pub const fn srdhm(a: i32, b: i32) -> i32 {
    let p = a as i64 * b as i64;
    let nudge = if p >= 0 { 1i64 << 30 } else { 1 - (1i64 << 30) };
    ((p + nudge) / (1i64 << 31)) as i32
}

/// TFLite `RoundingDivideByPOT`: `x / 2^e` rounded half away from zero (§3.7). Exponents of 32 or
/// more are evaluated exactly too: the quotient is −1 for `i32::MIN` at e = 32, else 0.
#[inline]
pub const fn rounding_divide_by_pot(x: i32, e: u32) -> i32 {
    // Every exponent above 33 gives the same (zero) result as 33; clamping keeps the mask in range.
    let e = if e > 33 { 33 } else { e };
    let x = x as i64;
    let mask = (1i64 << e) - 1;
    let rem = x & mask;
    let threshold = (mask >> 1) + if x < 0 { 1 } else { 0 };
    ((x >> e) + if rem > threshold { 1 } else { 0 }) as i32
}

/// `MultiplyByQuantizedMultiplier(acc, mult, shift)` as the vendor simulator computes it.
///
/// `shift > 0` is a right shift (round half away from zero after the multiply); `shift <= 0` is a
/// left shift of `acc` by `-shift` before the multiply. `acc` is the accumulator **after** the
/// bias was added with [`add_bias_wrapping`]. The result still needs [`sat_i8`] (or
/// [`qm_requantize_i8`], which does all three steps).
///
/// Chips: on CV18[0-2]x the left shift wraps to 32 bits before SRDHM (§9.2), unlike the TFLite
/// reference. CV183x descriptors cannot express a left shift (its shift is 0..31, see
/// [`qm_shift_from_byte`]); the vectors confirm the same arithmetic for every shift it can express,
/// so the computation does not depend on `chip`. A negative shift passed for CV183x is computed
/// exactly as on CV18[0-2]x rather than rejected, so execution stays total.
#[inline]
pub const fn multiply_by_quantized_multiplier(acc: i32, mult: i32, shift: i32, chip: Chip) -> i32 {
    let _ = chip;
    let (left, right) = if shift > 0 { (0, shift as u32) } else { (shift.unsigned_abs(), 0) };
    // The vendor simulator shifts a 32-bit int by the count as x86 does, modulo 32: a record's
    // shift of −32 (byte 0x20) leaves the accumulator unshifted rather than clearing it.
    rounding_divide_by_pot(srdhm(shl_wrapping_i32(acc, left % 32), mult), right)
}

/// The whole int8 per-channel requantisation: wrapping bias add, [`multiply_by_quantized_multiplier`],
/// clamp to [-128, 127]. ReLU (when enabled) is applied by the caller to the result; for a
/// non-negative multiplier the order does not matter (§8 item 12).
#[inline]
pub const fn qm_requantize_i8(acc: i32, bias: i32, mult: i32, shift: i32, chip: Chip) -> i8 {
    let y = multiply_by_quantized_multiplier(add_bias_wrapping(acc, bias), mult, shift, chip);
    if y < i8::MIN as i32 {
        i8::MIN
    } else if y > i8::MAX as i32 {
        i8::MAX
    } else {
        y as i8
    }
}

/// [`qm_requantize_i8`] for a right shift `e` of 0..=31 (no left shift), in 32- and 64-bit
/// lane operations only, so a loop over a row of accumulators vectorises: the SRDHM quotient fits
/// in 32 bits, so the low half of a logical shift is the arithmetic one, and the rounding divide
/// stays in 32 bits. Same value as [`qm_requantize_i8`] for every input (tested against it).
#[inline(always)]
pub fn qm_requantize_i8_right(acc: i32, bias: i32, mult: i32, e: u32) -> i8 {
    let p = acc.wrapping_add(bias) as i64 * mult as i64;
    let t = p + if p >= 0 { 1 << 30 } else { 1 - (1 << 30) };
    // Division by 2^31 toward zero: a negative dividend is biased up before the floor shift.
    let t = t + if t < 0 { (1 << 31) - 1 } else { 0 };
    let q = ((t as u64) >> 31) as u32 as i32;
    let e = e & 31;
    let mask = ((1u32 << e) - 1) as i32;
    let threshold = (mask >> 1) + (q < 0) as i32;
    let y = (q >> e) + ((q & mask) > threshold) as i32;
    y.clamp(i8::MIN as i32, i8::MAX as i32) as i8
}

/// CV183x record shift bytes with bit 5 set (32–63 and 96–127): the vendor shifts the SRDHM
/// result right by the byte's low five bits, rounding toward −∞, and then adds one to a
/// non-negative result (zero included) instead of rounding. Found by differential fuzzing with
/// random records: 23 of 23 conv and depthwise cases whose channels differed by one agree with
/// this, and every vendor vector (whose shifts are 0–31) is unaffected. The vendor tools never
/// write such bytes.
#[inline]
pub fn qm_shift_adds_one(chip: Chip, raw: u8) -> bool {
    !chip.layout().signed_shifts() && (raw as i8) > 0 && raw & 0x20 != 0
}

/// [`qm_requantize_i8`] for a record whose shift byte [`qm_shift_adds_one`]: `shift` is the
/// right shift (its low five bits).
#[inline]
pub fn qm_requantize_i8_adding_one(acc: i32, bias: i32, mult: i32, shift: u32) -> i8 {
    let x = srdhm(add_bias_wrapping(acc, bias), mult);
    sat_i8((x >> shift) + (x >= 0) as i32)
}

/// The signed shift held in the shift byte of a per-channel quantisation record
/// (`[int32 bias][uint32 multiplier][shift byte]`).
///
/// CV18[0-2]x: a 6-bit two's-complement value (negative = left shift); the corpus stores −1 as
/// 0x3F, −4 as 0x3C. Bits 7:6 are ignored. CV183x: the vendor tools only produce 0..31; the vendor
/// simulator reads the byte as int8, a negative value a left shift and a positive one taken
/// modulo 32 (bytes with bit 5 set also change the rounding: [`qm_shift_adds_one`]).
#[inline]
pub fn qm_shift_from_byte(chip: Chip, raw: u8) -> i32 {
    if chip.layout().signed_shifts() {
        (((raw & 0x3F) << 2) as i8 >> 2) as i32
    } else {
        let s = raw as i8 as i32;
        if s > 0 {
            s & 31
        } else {
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rshr_small_cases() {
        assert_eq!(rshr_i32(5, 1), 3); // 2.5 → 3
        assert_eq!(rshr_i32(-5, 1), -2); // -2.5 → -2 (half up)
        assert_eq!(rshr_i32(-6, 2), -1); // -1.5 → -1
        assert_eq!(rshr_i32(7, 0), 7);
        assert_eq!(rshr_i64(i64::MAX, 1), 1 << 62);
        assert_eq!(rshr_i32(i32::MIN, 31), -1);
        assert_eq!(rshr_i32(i32::MIN, 40), 0);
        assert_eq!(rshr_u32(u32::MAX, 1), 1 << 31);
        assert_eq!(rshr_u32(u32::MAX, 32), 1);
        assert_eq!(shr_floor_i32(-1, 40), -1);
    }

    #[test]
    fn qm_examples() {
        let c = Chip::Cv181x;
        // 100 * 0.5 (m = 2^30) = 50, then >> 1 with rounding half away → 25
        assert_eq!(multiply_by_quantized_multiplier(100, 1 << 30, 1, c), 25);
        assert_eq!(multiply_by_quantized_multiplier(-3, 1 << 30, 1, c), -1); // -0.75 → -1
        assert_eq!(multiply_by_quantized_multiplier(-1, 1 << 30, 1, c), 0); // -0.25 → 0
                                                                            // INT32_MAX bias + positive sum wraps negative (§9.1).
        assert_eq!(qm_requantize_i8(10, i32::MAX, i32::MAX, 0, c), -128);
        // Left shift wraps to 32 bits before the multiply (§9.2): 2^30 << 2 = 0.
        assert_eq!(multiply_by_quantized_multiplier(1 << 30, i32::MAX, -2, c), 0);
        // A left shift of 32 is a shift of 0 (the count is taken modulo 32).
        assert_eq!(multiply_by_quantized_multiplier(100, 1 << 30, -32, c), 50);
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
    }

    #[test]
    fn qm_shift_byte() {
        assert_eq!(qm_shift_from_byte(Chip::Cv181x, 0x3F), -1);
        assert_eq!(qm_shift_from_byte(Chip::Cv180x, 0x3C), -4);
        assert_eq!(qm_shift_from_byte(Chip::Cv182x, 0x20), -32);
        assert_eq!(qm_shift_from_byte(Chip::Cv182x, 31), 31);
        assert_eq!(qm_shift_from_byte(Chip::Cv183x, 31), 31);
    }
}

// =============================================================================================
// fp32 accumulation of the bf16 MAC datapath (conv, depthwise, average pooling, matrix multiply)
// Appended by the conv/depthwise/pool work; see `tiu/conv.rs`.
// =============================================================================================

/// One fp32 product of two bf16 operands as the TIU's multiplier forms it: exact (two 8-bit
/// significands fit in 24 bits) except that a subnormal product is flushed to zero (sign kept).
///
/// Evidence: `cv183x-tiu_pool_bf16-005` averages a window holding −max, 2^-125, +max and −25.875
/// with the constant 0.25; the simulator gives exactly −25.875·0.25. 2^-125·0.25 is an fp32
/// subnormal; kept, it would move −max/4 by one ulp under [`f32_add_toward_zero`] (≈ 2^101).
#[inline]
pub fn f32_mul_ftz(a: f32, b: f32) -> f32 {
    // Written with selects, not branches, so the callers' loops over outputs vectorise.
    let p = (a * b).to_bits();
    f32::from_bits(if p & EXP_BITS == 0 { p & SIGN_BIT } else { p })
}

const SIGN_BIT: u32 = 0x8000_0000;
const EXP_BITS: u32 = 0x7F80_0000;

/// `a + b` in fp32 rounded toward zero (truncated), as the TIU's bf16 MAC accumulates; a
/// subnormal sum is flushed to zero and an overflow saturates to ±`f32::MAX` (a truncating adder
/// never rounds up to infinity). NaN and infinite operands give the IEEE sum.
///
/// Evidence (the spec's §3.6.1/§3.7 host references compute in C floats, i.e. round to nearest
/// even): every element of `tiu_conv_bf16`, `tiu_depthwise_bf16` and `tiu_pool_bf16` on all four
/// chips is reproduced by truncating accumulation, while round-to-nearest-even misses one element
/// in each of `cv182x-tiu_conv_bf16-000` and `-027` and 7 average-pooling vectors (3 on CV181x,
/// 1 on CV182x, 3 on CV183x). On those two conv elements round-half-away and round-toward-−∞
/// miss both and round-toward-+∞ one. The bias is added by the same truncating adder
/// (`sim/tests/bf16_bias_planes.rs`: a tiny normal negative bias takes a product on a bf16 tie
/// below it). Overflow and subnormal sums are not exercised.
#[inline]
pub fn f32_add_toward_zero(a: f32, b: f32) -> f32 {
    let s = a + b;
    // TwoSum: `err` is the exact rounding error of `s`. When it points toward zero the
    // nearest-even sum was rounded away from zero, and truncation is one ulp closer to zero
    // (one less in the sign-magnitude bit pattern, also across a binade boundary).
    let bb = s - a;
    let err = (a - (s - bb)) + (b - bb);
    let sb = s.to_bits();
    let away = err != 0.0 && (err.to_bits() ^ sb) & SIGN_BIT != 0;
    let truncated = sb - away as u32;
    let finite_operands = a.to_bits() & EXP_BITS != EXP_BITS && b.to_bits() & EXP_BITS != EXP_BITS;
    // Selects rather than branches, so the callers' loops over outputs vectorise.
    let r = if sb & EXP_BITS != EXP_BITS {
        truncated
    } else if finite_operands {
        (sb & SIGN_BIT) | 0x7F7F_FFFF // overflow: ±f32::MAX
    } else {
        sb // an infinite or NaN operand: the IEEE sum
    };
    f32::from_bits(if r & EXP_BITS == 0 { r & SIGN_BIT } else { r })
}

/// `acc + a·b` as the bf16 MAC computes it: [`f32_mul_ftz`], then [`f32_add_toward_zero`].
#[inline]
pub fn f32_mac(acc: f32, a: f32, b: f32) -> f32 {
    f32_add_toward_zero(acc, f32_mul_ftz(a, b))
}

/// A deterministic 32-bit xorshift sequence for the tests' random operands.
#[cfg(test)]
pub(crate) fn xorshift32(mut x: u32) -> impl FnMut() -> u32 {
    move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    }
}

#[cfg(test)]
mod qm_right_tests {
    use super::*;

    #[test]
    fn right_shift_form_matches_the_reference() {
        let mut next = xorshift32(0x2545_F491);
        let edge = [0, 1, -1, i32::MIN, i32::MAX, 1 << 30, -(1 << 30), 0x4000_0001, -0x3FFF_FFFF];
        let pick = |n: u32| if n % 4 == 0 { edge[(n as usize / 4) % edge.len()] } else { n as i32 >> (n % 31) };
        for _ in 0..500_000 {
            let (acc, bias, mult) = (pick(next()), pick(next()), pick(next()));
            let e = next() % 32;
            assert_eq!(
                qm_requantize_i8_right(acc, bias, mult, e),
                qm_requantize_i8(acc, bias, mult, e as i32, Chip::Cv181x),
                "acc {acc} bias {bias} mult {mult} shift {e}"
            );
        }
    }
}

#[cfg(test)]
mod fp32_accumulation_tests {
    use super::*;

    #[test]
    fn truncating_add() {
        // 1 + 2^-24 lies halfway between 1 and 1 + 2^-23: nearest-even gives 1, truncation too.
        assert_eq!(f32_add_toward_zero(1.0, 2f32.powi(-24)), 1.0);
        // 1 + 3·2^-25 is above the midpoint: nearest rounds up, truncation does not.
        assert_eq!(f32_add_toward_zero(1.0, 3.0 * 2f32.powi(-25)), 1.0);
        assert_eq!(f32_add_toward_zero(-1.0, -3.0 * 2f32.powi(-25)), -1.0);
        // Exact sums are unchanged.
        assert_eq!(f32_add_toward_zero(1.5, 0.25), 1.75);
        assert_eq!(f32_add_toward_zero(f32::MAX, f32::MAX), f32::MAX);
        assert_eq!(f32_add_toward_zero(-f32::MAX, -f32::MAX), -f32::MAX);
        assert!(f32_add_toward_zero(f32::NAN, 1.0).is_nan());
        assert_eq!(f32_mul_ftz(f32::MIN_POSITIVE, 0.25), 0.0);
        assert_eq!(f32_mac(2.0, 3.0, 4.0), 14.0);
    }

    #[test]
    fn truncating_add_matches_exact_arithmetic() {
        // Compare with the exact sum computed in f64 (exact for these operands) truncated to f32.
        let mut next = xorshift32(0x1234_5678);
        for _ in 0..100_000 {
            // Exponents within 2^4 of each other keep the f64 sum exact.
            let a = f32::from_bits((next() & 0x07FF_FFFF) | 0x3C00_0000) * if next() & 1 == 0 { 1.0 } else { -1.0 };
            let b = f32::from_bits((next() & 0x07FF_FFFF) | 0x3C00_0000) * if next() & 1 == 0 { 1.0 } else { -1.0 };
            let exact = a as f64 + b as f64;
            let mut t = exact as f32; // nearest
            if (t as f64).abs() > exact.abs() {
                t = f32::from_bits(t.to_bits() - 1);
            }
            assert_eq!(f32_add_toward_zero(a, b).to_bits(), t.to_bits(), "{a:e} + {b:e}");
        }
    }
}
