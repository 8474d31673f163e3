//! 256-entry int8 lookup tables for element-wise functions, as the vendor builds them for the
//! TIU's LUT op: entry `i as u8` holds the function of the int8 input `i`.

/// The element-wise functions the int8 lowering turns into tables, each written as the vendor
/// writes it (operation order matters for the rare input that lands on a rounding tie).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LutFn {
    Sigmoid,
    Tanh,
    Exp,
    /// `x · max(0, min(1, x/6 + 0.5))`.
    HardSwish,
    /// `max(0, min(1, alpha·x + beta))`.
    HardSigmoid {
        alpha: f64,
        beta: f64,
    },
    /// `x / (1 + e^-x)`.
    Silu,
    /// Multiplication by a constant (the vendor lowers `MulConst` to a table).
    MulConst(f64),
}

impl LutFn {
    pub fn eval(self, x: f64) -> f64 {
        match self {
            LutFn::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            LutFn::Tanh => x.tanh(),
            LutFn::Exp => x.exp(),
            LutFn::HardSwish => x * (x / 6.0 + 0.5).min(1.0).max(0.0),
            LutFn::HardSigmoid { alpha, beta } => (alpha * x + beta).min(1.0).max(0.0),
            LutFn::Silu => x / (1.0 + (-x).exp()),
            LutFn::MulConst(c) => x * c,
        }
    }
}

/// The table for a signed int8 input with threshold `in_threshold` and a signed int8 output with
/// threshold `out_threshold` (the vendor's `create_lookup_table`): for each input `i` in
/// -128..=127, `round(f(i · t_in/127) / (t_out/127))` half away from zero, saturated, at index
/// `i as u8`. Arithmetic in f64.
pub fn int8_lut(in_threshold: f64, out_threshold: f64, f: impl Fn(f64) -> f64) -> [i8; 256] {
    let in_scale = in_threshold / 127.0;
    let out_scale = out_threshold / 127.0;
    let mut table = [0i8; 256];
    for i in -128i32..=127 {
        let y = f(i as f64 * in_scale) / out_scale;
        table[(i as i8) as u8 as usize] = super::rounding::round_half_away_i8(y);
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_table_with_equal_thresholds() {
        let t = int8_lut(3.0, 3.0, |x| x);
        for i in -128i32..=127 {
            assert_eq!(t[(i as i8) as u8 as usize] as i32, i);
        }
    }

    #[test]
    fn sigmoid_table_is_monotonic_and_saturates() {
        let t = int8_lut(8.0, 1.0, |x| LutFn::Sigmoid.eval(x));
        assert_eq!(t[0], 64); // sigmoid(0) = 0.5 → 63.5 rounds away from zero
        assert_eq!(t[127], 127);
        assert_eq!(t[128], 0); // i = -128
        let signed: Vec<i8> = (-128i32..=127).map(|i| t[(i as i8) as u8 as usize]).collect();
        assert!(signed.windows(2).all(|w| w[0] <= w[1]));
    }
}
