//! bf16 as the vendor's CV18xx compiler makes it: f32 → bf16 rounding for weights and tables, and
//! the two bf16 lookup-table schemes of the TIU (isa.md §3.6, LUT): a base/slope pair for smooth
//! functions over a fixed range, and an exponent/mantissa pair for powers and logarithms.

/// Entries of one bf16 table: (1, NPU, 32, 8) per lane.
pub const LUT_ENTRIES: usize = 256;

/// f32 → bf16 bits with the CV18xx compiler's rounding: add `0x7fff + lsb` to the f32 pattern and
/// keep the top half (round half to even on the 16 dropped bits); a result whose exponent is all
/// ones (±inf, NaN, or an overflow from rounding) becomes 0x7f7f, the largest positive finite
/// bf16, whatever the sign, as the hardware does.
pub fn f32_to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    let lsb = (bits >> 16) & 1;
    let hi = (bits.wrapping_add(0x7fff + lsb) >> 16) as u16;
    if hi & 0x7f80 == 0x7f80 {
        0x7f7f
    } else {
        hi
    }
}

pub fn bf16_to_f32(b: u16) -> f32 {
    f32::from_bits((b as u32) << 16)
}

/// The f32 value of [`f32_to_bf16`] (the vendor's `BF16(x)`).
pub fn bf16_round(x: f32) -> f32 {
    bf16_to_f32(f32_to_bf16(x))
}

/// The truncating conversion the vendor uses to compare table entries.
fn bf16_truncate(x: f32) -> u16 {
    (x.to_bits() >> 16) as u16
}

/// Base and slope tables for `f` on `[range_start, range_end]` (symmetric around 0), the
/// vendor's `bf16_gen_base_slope_table`: the hardware scales x to an int8 index
/// `i = trunc((x - offset) · 256 / (end - start))`, reads `base[i]` and `slope[i]` (index as u8,
/// so negative i wrap to 128..255) and computes `base + (frac) · slope`.
#[derive(Clone, Debug, PartialEq)]
pub struct Bf16SlopeTables {
    pub base: [u16; LUT_ENTRIES],
    pub slope: [u16; LUT_ENTRIES],
}

impl Bf16SlopeTables {
    pub fn new(range_start: f32, range_end: f32, f: impl Fn(f64) -> f64) -> Bf16SlopeTables {
        let n = LUT_ENTRIES;
        let half = n / 2;
        // The vendor takes the range's width as an int, so a fractional range is truncated.
        let range = (range_end - range_start).abs() as i32;
        let interval = range as f32 / n as f32;
        let offset = (range_start + range_end) / 2.0;
        let mut base = [0f32; LUT_ENTRIES];
        for (i, b) in base.iter_mut().enumerate().take(half) {
            let x = offset + i as f32 * interval;
            *b = bf16_round(f(x as f64) as f32);
        }
        for (j, b) in base.iter_mut().enumerate().skip(half) {
            let x = range_start + (j - half) as f32 * interval;
            *b = bf16_round(f(x as f64) as f32);
        }

        let scale = n as f32 / (range_end - range_start);
        let mut slope = [0f32; LUT_ENTRIES];
        for i in 0..half - 1 {
            let (x0, x1) = (base[i], base[i + 1]);
            slope[i] = if bf16_truncate(x0) == bf16_truncate(x1) { 0.0 } else { bf16_round(x1 - x0) };
        }
        let end_slope = (f((3.0 * range_end) as f64) - f(range_end as f64)) / (2.0 * range_end * scale) as f64;
        slope[half - 1] = bf16_round(end_slope as f32);
        for i in (half + 1..n).rev() {
            let (x0, x1) = (base[i], base[i - 1]);
            slope[i] = if bf16_truncate(x0) == bf16_truncate(x1) { 0.0 } else { bf16_round(x0 - x1) };
        }
        let start_slope = (f((3.0 * range_start) as f64) - f(range_start as f64)) / (2.0 * range_start * scale) as f64;
        slope[half] = bf16_round(start_slope as f32);

        Bf16SlopeTables { base: base.map(f32_to_bf16), slope: slope.map(f32_to_bf16) }
    }
}

/// Exponent and mantissa tables (the vendor's `bf16_gen_exponent_mantissa_table`): the hardware
/// indexes `exponent` by the input's power of two (0 for zero, `floor(log2 x) + 63` for x > 0,
/// `+ 191` for x < 0) and `mantissa` by the bf16 pattern's low byte, then multiplies (pow) or adds
/// (log) the two entries.
#[derive(Clone, Debug, PartialEq)]
pub struct Bf16ExpMantissaTables {
    pub exponent: [u16; LUT_ENTRIES],
    pub mantissa: [u16; LUT_ENTRIES],
}

const EXP_START: i32 = -62;
const BF16_MAX: u16 = 0x7f7f;
const BF16_NEG_MAX: u16 = 0xff7f;

impl Bf16ExpMantissaTables {
    /// `x^power` (the reciprocal of softmax is `power = -1`).
    pub fn pow(power: f32) -> Bf16ExpMantissaTables {
        let half = LUT_ENTRIES / 2;
        let at_zero = if power < 0.0 {
            BF16_MAX
        } else if power == 0.0 {
            f32_to_bf16(1.0)
        } else {
            0
        };
        let mut exponent = [0u16; LUT_ENTRIES];
        exponent[0] = at_zero;
        for i in 0..half - 1 {
            let e = (EXP_START + i as i32) as f32;
            exponent[1 + i] = f32_to_bf16(2f64.powf((power * e) as f64) as f32);
        }
        exponent[half] = at_zero;
        // Negative inputs have a defined power only for integer exponents; odd ones flip the sign.
        // For a fractional power the vendor leaves the negative half zero.
        if power == power.trunc() {
            let sign = if (power as i32) % 2 == 0 { 1.0f32 } else { -1.0 };
            for i in 0..half - 1 {
                let e = (EXP_START + i as i32) as f32;
                exponent[half + 1 + i] = f32_to_bf16(sign * 2f64.powf((power * e) as f64) as f32);
            }
        }
        let mut mantissa = [0u16; LUT_ENTRIES];
        for i in 0..half {
            let d = (1.0 + i as f64 / 128.0) as f32;
            let v = f32_to_bf16((d as f64).powf(power as f64) as f32);
            mantissa[i] = v;
            mantissa[half + i] = v;
        }
        Bf16ExpMantissaTables { exponent, mantissa }
    }

    /// Natural logarithm (mantissa entries are added to exponent entries).
    pub fn log() -> Bf16ExpMantissaTables {
        let half = LUT_ENTRIES / 2;
        let mut exponent = [0u16; LUT_ENTRIES];
        exponent[0] = BF16_NEG_MAX;
        for i in 0..half - 1 {
            let e = (EXP_START + i as i32) as f32;
            exponent[1 + i] = f32_to_bf16((e as f64 * std::f64::consts::LN_2) as f32);
            exponent[half + 1 + i] = BF16_NEG_MAX;
        }
        let mut mantissa = [0u16; LUT_ENTRIES];
        for i in 0..half {
            let d = (1.0 + i as f64 / 128.0) as f32;
            let v = f32_to_bf16((d as f64).ln() as f32);
            mantissa[i] = v;
            mantissa[half + i] = v;
        }
        Bf16ExpMantissaTables { exponent, mantissa }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_to_even_with_overflow_to_max() {
        assert_eq!(f32_to_bf16(1.0), 0x3f80);
        // 1 + 2^-8 is halfway between 1.0 and the next bf16: ties to even (1.0).
        assert_eq!(f32_to_bf16(f32::from_bits(0x3f80_8000)), 0x3f80);
        // 0x3f81_8000 is halfway with an odd lsb: rounds up.
        assert_eq!(f32_to_bf16(f32::from_bits(0x3f81_8000)), 0x3f82);
        assert_eq!(f32_to_bf16(f32::from_bits(0x3f80_8001)), 0x3f81);
        assert_eq!(f32_to_bf16(f32::INFINITY), 0x7f7f);
        assert_eq!(f32_to_bf16(f32::NEG_INFINITY), 0x7f7f);
        assert_eq!(f32_to_bf16(f32::MAX), 0x7f7f);
        assert_eq!(f32_to_bf16(-2.0), 0xc000);
    }

    #[test]
    fn reciprocal_tables_reconstruct_one_over_x() {
        let t = Bf16ExpMantissaTables::pow(-1.0);
        for &x in &[1.0f32, 3.0, 0.37, -5.5, 1000.0] {
            let b = f32_to_bf16(x);
            let e = x.abs().log2().floor() as i32 + if x > 0.0 { 63 } else { 191 };
            let y = bf16_to_f32(t.exponent[e as usize]) * bf16_to_f32(t.mantissa[(b & 0xff) as usize]);
            let want = 1.0 / bf16_to_f32(b);
            assert!(((y - want) / want).abs() < 0.01, "{x}: {y} vs {want}");
        }
    }

    #[test]
    fn slope_table_interpolates_exp() {
        let t = Bf16SlopeTables::new(-15.0, 15.0, f64::exp);
        // Entry 0 is f(0); index 128 is f(range_start).
        assert_eq!(t.base[0], f32_to_bf16(1.0));
        assert_eq!(t.base[128], f32_to_bf16((-15f64).exp() as f32));
    }
}
