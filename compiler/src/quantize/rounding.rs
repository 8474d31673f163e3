//! The rounding and saturation steps the vendor's quantiser uses.

/// Round half to even (the vendor's `ROUNDING_HALF_TO_EVEN`, used for weights and biases).
pub fn round_half_even(x: f64) -> f64 {
    x.round_ties_even()
}

/// Round half to even, then clamp to int8.
pub fn round_half_even_i8(x: f64) -> i8 {
    sat_i8(round_half_even(x))
}

/// Round half away from zero (C `round`, the vendor's `ROUNDING_HALF_AWAY_FROM_ZERO`, used for
/// lookup tables), then clamp to int8.
pub fn round_half_away_i8(x: f64) -> i8 {
    sat_i8(x.round())
}

/// Clamp to int32 (NaN gives 0).
pub fn saturate_i32(x: f64) -> i32 {
    if x.is_nan() {
        0
    } else {
        x.clamp(i32::MIN as f64, i32::MAX as f64) as i32
    }
}

fn sat_i8(x: f64) -> i8 {
    if x.is_nan() {
        0
    } else {
        x.clamp(-128.0, 127.0) as i8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_and_saturation() {
        assert_eq!(round_half_even_i8(2.5), 2);
        assert_eq!(round_half_even_i8(-2.5), -2);
        assert_eq!(round_half_even_i8(3.5), 4);
        assert_eq!(round_half_away_i8(2.5), 3);
        assert_eq!(round_half_away_i8(-2.5), -3);
        assert_eq!(round_half_away_i8(300.0), 127);
        assert_eq!(round_half_away_i8(-300.0), -128);
        assert_eq!(saturate_i32(1e12), i32::MAX);
        assert_eq!(saturate_i32(-1e12), i32::MIN);
    }
}
