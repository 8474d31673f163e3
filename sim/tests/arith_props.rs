//! The arithmetic primitives against plain reference formulas written here independently (i128
//! rational arithmetic, f64 decompositions, the `half` crate), over random and exhaustive inputs.

use cvsim_isa::Chip;
use cvsim_sim::arith::*;
use cvsim_sim::bf16::*;
use proptest::prelude::*;

/// `cases` cases, and no regression files written beside the tests.
fn cfg(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

// ----- references -----------------------------------------------------------------------------

/// floor(x / 2^r + 1/2), exactly (r <= 120).
fn ref_round_half_up(x: i128, r: u32) -> i128 {
    if r == 0 {
        return x;
    }
    (2 * x + (1i128 << r)).div_euclid(1i128 << (r + 1))
}

/// x / 2^e rounded half away from zero, exactly.
fn ref_round_half_away(x: i128, e: u32) -> i128 {
    if e == 0 {
        return x;
    }
    let d = 1i128 << e;
    let mag = (2 * x.abs() + d) / (2 * d);
    if x < 0 {
        -mag
    } else {
        mag
    }
}

/// TFLite-style requantisation with the vendor simulator's 32-bit wraps, in i128.
fn ref_qm(acc: i32, bias: i32, mult: i32, shift: i32) -> i128 {
    let x = (acc as i128 + bias as i128) as i32; // wraps to 32 bits (§9.1)
    let (left, right) = if shift > 0 { (0u32, shift as u32) } else { ((-shift) as u32, 0u32) };
    // The vendor simulator shifts a 32-bit int by the count modulo 32 (x86 `shl`): a left shift
    // of 32 leaves x, 33 shifts by 1. The shift wraps to 32 bits (§9.2).
    let shifted = ((x as i128) << (left % 32)) as i32;
    let p = shifted as i128 * mult as i128;
    let nudge = if p >= 0 { 1i128 << 30 } else { 1 - (1i128 << 30) };
    let high = ((p + nudge) / (1i128 << 31)) as i32; // C division truncates; i32::MIN² wraps
    ref_round_half_away(high as i128, right)
}

// ----- shifts, saturation, QM ----------------------------------------------------------------

proptest! {
    #![proptest_config(cfg(4000))]

    #[test]
    fn rshr_matches_reference(x in any::<i64>(), x32 in any::<i32>(), u in any::<u64>(), u32v in any::<u32>(), r in 0u32..80) {
        prop_assert_eq!(rshr_i64(x, r) as i128, ref_round_half_up(x as i128, r));
        prop_assert_eq!(rshr_i32(x32, r) as i128, ref_round_half_up(x32 as i128, r));
        prop_assert_eq!(rshr_u64(u, r) as i128, ref_round_half_up(u as i128, r));
        prop_assert_eq!(rshr_u32(u32v, r) as i128, ref_round_half_up(u32v as i128, r));
        // The hardware's own form, where it cannot overflow.
        if (1..64).contains(&r) && x < i64::MAX {
            prop_assert_eq!(rshr_i64(x, r), ((x >> (r - 1)) + 1) >> 1);
        }
        prop_assert_eq!(shr_floor_i64(x, r) as i128, (x as i128).div_euclid(1i128 << r));
        prop_assert_eq!(shr_floor_i32(x32, r) as i128, (x32 as i128).div_euclid(1i128 << r));
        prop_assert_eq!(shr_u32(u32v, r) as i128, (u32v as i128) >> r);
        prop_assert_eq!(shift_right_i64(x, r, true), rshr_i64(x, r));
        prop_assert_eq!(shift_right_i64(x, r, false), shr_floor_i64(x, r));
    }

    #[test]
    fn saturation_matches_clamp(x in any::<i64>(), small in -70000i64..70000) {
        for v in [x, small] {
            prop_assert_eq!(sat_i8(v) as i64, v.clamp(-128, 127));
            prop_assert_eq!(sat_u8(v) as i64, v.clamp(0, 255));
            prop_assert_eq!(sat_i16(v) as i64, v.clamp(-32768, 32767));
            prop_assert_eq!(sat_u16(v) as i64, v.clamp(0, 65535));
            prop_assert_eq!(sat_i32(v) as i64, v.clamp(i32::MIN as i64, i32::MAX as i64));
            prop_assert_eq!(saturate8(v, true), v.clamp(-128, 127) as i8 as u8);
            prop_assert_eq!(saturate8(v, false), v.clamp(0, 255) as u8);
            prop_assert_eq!(saturate16(v, true), v.clamp(-32768, 32767) as i16 as u16);
            prop_assert_eq!(saturate16(v, false), v.clamp(0, 65535) as u16);
        }
    }

    #[test]
    fn qm_matches_reference(
        acc in prop_oneof![any::<i32>(), -70000i32..70000],
        bias in prop_oneof![Just(0), Just(i32::MAX), Just(i32::MIN), any::<i32>(), -1000i32..1000],
        mult in prop_oneof![any::<i32>(), (1i32 << 30)..i32::MAX, Just(i32::MAX), Just(i32::MIN), 0i32..4],
        shift in prop_oneof![-32i32..=31, -40i32..=40],
    ) {
        for chip in Chip::ALL {
            let want = ref_qm(acc, bias, mult, shift);
            let got = multiply_by_quantized_multiplier(add_bias_wrapping(acc, bias), mult, shift, chip);
            prop_assert_eq!(got as i128, want, "acc {} bias {} mult {} shift {}", acc, bias, mult, shift);
            prop_assert_eq!(qm_requantize_i8(acc, bias, mult, shift, chip) as i128, want.clamp(-128, 127));
        }
    }

    #[test]
    fn srdhm_and_rdbpot(a in any::<i32>(), b in any::<i32>(), x in any::<i32>(), e in 0u32..70) {
        let p = a as i128 * b as i128;
        let nudge = if p >= 0 { 1i128 << 30 } else { 1 - (1i128 << 30) };
        prop_assert_eq!(srdhm(a, b), ((p + nudge) / (1i128 << 31)) as i32);
        prop_assert_eq!(rounding_divide_by_pot(x, e) as i128, ref_round_half_away(x as i128, e));
    }

    #[test]
    fn qm_shift_byte_decoding(raw in any::<u8>()) {
        let six = (raw & 0x3F) as i32;
        let want = if six >= 32 { six - 64 } else { six };
        for chip in [Chip::Cv180x, Chip::Cv181x, Chip::Cv182x] {
            prop_assert_eq!(qm_shift_from_byte(chip, raw), want);
        }
        // CV183x: the byte is signed; a positive count is a right shift modulo 32, a negative
        // one a left shift (taken modulo 32 when applied).
        let s = raw as i8 as i32;
        let want183 = if s > 0 { s % 32 } else { s };
        prop_assert_eq!(qm_shift_from_byte(Chip::Cv183x, raw), want183);
    }
}

#[test]
fn qm_corner_cases() {
    let c = Chip::Cv181x;
    // §9.1: INT32_MAX bias plus a positive sum wraps negative → -128.
    assert_eq!(qm_requantize_i8(1, i32::MAX, 1 << 30, 0, c), -128);
    // i32::MIN × i32::MIN is not saturated by the reference: 2^31 truncates to i32::MIN.
    assert_eq!(srdhm(i32::MIN, i32::MIN), i32::MIN);
    // A left shift of 32 is a shift of 0 (the count is taken modulo 32), 33 a shift of 1.
    assert_eq!(
        multiply_by_quantized_multiplier(12345, i32::MAX, -32, c),
        multiply_by_quantized_multiplier(12345, i32::MAX, 0, c)
    );
    assert_eq!(multiply_by_quantized_multiplier(12345, 1 << 30, -32, c), 6173);
    assert_eq!(multiply_by_quantized_multiplier(12345, 1 << 30, -33, c), 12345);
    // A left shift of 31 keeps only the low bit, at the sign: 1 << 31 = i32::MIN.
    assert_eq!(multiply_by_quantized_multiplier(2, i32::MAX, -31, c), 0);
    assert_eq!(multiply_by_quantized_multiplier(1, 1 << 30, -31, c), -(1 << 30));
}

// ----- bf16 ------------------------------------------------------------------------------------

/// The value of a finite, normal bf16 from its fields, in f64.
fn ref_bf16_value(b: u16) -> f64 {
    let sign = if b & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((b >> 7) & 0xFF) as i32;
    let mant = (b & 0x7F) as f64;
    sign * (1.0 + mant / 128.0) * 2f64.powi(exp - 127)
}

#[test]
fn operand_read_all_patterns() {
    for b in 0..=u16::MAX {
        let got = bf16_operand(b);
        let exp = (b >> 7) & 0xFF;
        match exp {
            0 => assert!(got == 0.0 && got.is_sign_negative() == (b & 0x8000 != 0), "{b:#06x}"),
            0xFF => assert!(got.is_nan(), "{b:#06x}"),
            _ => assert_eq!(got as f64, ref_bf16_value(b), "{b:#06x}"),
        }
        assert_eq!(bf16_is_nan_operand(b), exp == 0xFF);
        // The exact conversion keeps everything (NaN payloads included).
        assert_eq!(bf16_to_f32(b).to_bits() >> 16, b as u32);
    }
}

#[test]
fn accumulator_read_all_patterns() {
    for b in 0..=u16::MAX {
        let got = bf16_accumulator(b);
        if (b >> 7) & 0xFF == 0xFF {
            assert!(got.is_nan());
        } else {
            assert_eq!(got.to_bits(), bf16_to_f32(b).to_bits(), "{b:#06x}");
        }
    }
}

/// Round-to-nearest-even of an exactly representable f64 to an integer, written out.
fn ref_round_even(x: f64) -> f64 {
    let f = x.floor();
    let diff = x - f;
    if diff > 0.5 {
        f + 1.0
    } else if diff < 0.5 {
        f
    } else if f % 2.0 == 0.0 {
        f
    } else {
        f + 1.0
    }
}

#[test]
fn bf16_to_int8_all_patterns() {
    for chip in Chip::ALL {
        for b in 0..=u16::MAX {
            for signed in [false, true] {
                for rnd in [Int8Rounding::NearestEven, Int8Rounding::TowardZero] {
                    let (lo, hi) = if signed { (-128.0, 127.0) } else { (0.0, 255.0) };
                    let exp = (b >> 7) & 0xFF;
                    let neg = b & 0x8000 != 0;
                    let want: f64 = if exp == 0xFF && b & 0x7F != 0 {
                        if neg {
                            lo
                        } else {
                            hi
                        }
                    } else if chip.quirks().bf16_to_int8_huge_is_zero && exp >= 0xFE {
                        0.0
                    } else if exp == 0xFF {
                        if neg {
                            lo
                        } else {
                            hi
                        }
                    } else if exp == 0 {
                        0.0 // subnormals are below 1 in magnitude
                    } else {
                        let v = ref_bf16_value(b);
                        let r = match rnd {
                            Int8Rounding::NearestEven => ref_round_even(v),
                            Int8Rounding::TowardZero => v.trunc(),
                        };
                        r.clamp(lo, hi)
                    };
                    let got = bf16_to_int8(b, signed, rnd, chip);
                    let got = if signed { got as i8 as f64 } else { got as f64 };
                    assert_eq!(got, want, "{chip} {b:#06x} signed {signed} {rnd:?}");
                }
            }
        }
    }
}

#[test]
fn int8_to_bf16_all_values() {
    for v in 0..=255u8 {
        assert_eq!(bf16_to_f32(u8_to_bf16(v)), v as f32);
        assert_eq!(bf16_to_f32(i8_to_bf16(v as i8)), v as i8 as f32);
        assert_eq!(int8_to_bf16(v, true), i8_to_bf16(v as i8));
        assert_eq!(int8_to_bf16(v, false), u8_to_bf16(v));
    }
    assert_eq!(i8_to_bf16(0), 0);
}

fn f32_edge() -> impl Strategy<Value = f32> {
    prop_oneof![
        any::<u32>().prop_map(f32::from_bits),
        // Exactly halfway between two bf16 values, and one ulp either side.
        (any::<u16>(), -1i32..=1)
            .prop_map(|(b, d)| f32::from_bits((((b as u32) << 16) | 0x8000).wrapping_add(d as u32))),
        // Around the smallest normal and the largest finite value.
        (0u32..0x0100_0000).prop_map(f32::from_bits),
        (0x7F00_0000u32..0x7F80_0000).prop_map(f32::from_bits),
        any::<f32>(),
    ]
}

proptest! {
    #![proptest_config(cfg(20000))]

    #[test]
    fn rne_matches_half(x in f32_edge()) {
        if !x.is_nan() {
            prop_assert_eq!(f32_to_bf16_rne(x), half::bf16::from_f32(x).to_bits(), "{:#010x}", x.to_bits());
        } else {
            prop_assert_eq!(f32_to_bf16_rne(x), 0x7FC0);
        }
    }

    #[test]
    fn result_write_rules(x in f32_edge()) {
        let got = bf16_result(x);
        let rounded = half::bf16::from_f32(x);
        let want = if x.is_nan() || rounded.is_infinite() || rounded.is_nan() {
            BF16_SATURATED
        } else if rounded.to_bits() & 0x7F80 == 0 {
            0
        } else {
            rounded.to_bits()
        };
        prop_assert_eq!(got, want, "{:#010x}", x.to_bits());
        // What the TPU writes is never -0, subnormal, infinite or NaN.
        prop_assert!(got != 0x8000);
        prop_assert!(got & 0x7F80 != 0x7F80);
        prop_assert!(got & 0x7F80 != 0 || got == 0);
    }
}
