//! Symbol remapping before Golomb-Rice coding (§4.4 "Symbol remapping", §9.19), as 256-entry
//! tables: the encoder maps a byte (int8) or an exponent (bf16) to a symbol, the decoder back.

/// Which remapping a stream uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Remap {
    /// uint8: symbols are the bytes.
    Identity,
    /// Signed int8: two-side circular shift by (bias0, bias1), then zigzag.
    Signed { bias0: u8, bias1: u8 },
    /// bf16 exponent byte: centre shift around bias0, zero guard.
    Exponent { bias0: u8, zero_guard: bool },
}

impl Remap {
    pub(super) fn new(signed: bool, bf16: bool, bias0: u8, bias1: u8, zero_guard: bool) -> Remap {
        if bf16 {
            Remap::Exponent { bias0, zero_guard }
        } else if signed {
            Remap::Signed { bias0, bias1: bias1 & 0x7F }
        } else {
            Remap::Identity
        }
    }

    /// value → symbol, for all 256 values.
    pub(super) fn encode_table(self) -> [u8; 256] {
        let mut t = [0u8; 256];
        for (v, s) in t.iter_mut().enumerate() {
            let v = v as u8;
            *s = match self {
                Remap::Identity => v,
                Remap::Signed { bias0, bias1 } => signed_symbol(v as i8, bias0, bias1),
                Remap::Exponent { bias0, zero_guard } => exponent_symbol(v, bias0, zero_guard),
            };
        }
        t
    }

    /// symbol → value, for all 256 symbols (each map is a bijection on 0..=255).
    pub(super) fn decode_table(self) -> [u8; 256] {
        let mut t = [0u8; 256];
        for (s, v) in t.iter_mut().enumerate() {
            let s = s as u8;
            *v = match self {
                Remap::Identity => s,
                Remap::Signed { bias0, bias1 } => signed_value(s, bias0, bias1) as u8,
                Remap::Exponent { bias0, zero_guard } => exponent_value(s, bias0, zero_guard),
            };
        }
        t
    }
}

#[inline]
fn zigzag(d: i32) -> i32 {
    if d >= 0 {
        2 * d
    } else {
        -2 * d - 1
    }
}

#[inline]
fn unzigzag(u: i32) -> i32 {
    if u & 1 == 0 {
        u >> 1
    } else {
        -((u + 1) >> 1)
    }
}

/// Two-side circular shift then zigzag. A positive value v becomes `v - bias0`, plus 127 when that
/// is not positive; a negative one has `bias1` taken from its magnitude, plus 128 when that is not
/// positive; zigzag turns the shifted positives into even and the negatives into odd symbols. The
/// shift is written modulo 127 / 128, which is the rule of §4.4 for biases up to 127 and stays a
/// bijection for bias0 above 127 (the header allows 8 bits).
pub(super) fn signed_symbol(v: i8, bias0: u8, bias1: u8) -> u8 {
    let v = v as i32;
    let a = if v > 0 {
        (v - 1 - bias0 as i32).rem_euclid(127) + 1
    } else if v < 0 {
        -((-v - 1 - (bias1 & 0x7F) as i32).rem_euclid(128) + 1)
    } else {
        0
    };
    zigzag(a) as u8
}

/// Inverse of [`signed_symbol`].
pub(super) fn signed_value(s: u8, bias0: u8, bias1: u8) -> i8 {
    let a = unzigzag(s as i32);
    let v = if a > 0 {
        (a - 1 + bias0 as i32).rem_euclid(127) + 1
    } else if a < 0 {
        -((-a - 1 + (bias1 & 0x7F) as i32).rem_euclid(128) + 1)
    } else {
        0
    };
    v as i8
}

/// Centre shift of a bf16 exponent byte `e` around `bias0` with zero guard `z` (§9.19):
/// with z, 0 stays 0; if bias0 <= 128, e >= 2·bias0 passes through; if bias0 > 128,
/// e < 2·bias0 − 255 becomes 255 − e + z; otherwise zigzag(e − bias0) + z.
pub(super) fn exponent_symbol(e: u8, bias0: u8, zero_guard: bool) -> u8 {
    let (e, b, z) = (e as i32, bias0 as i32, zero_guard as i32);
    if zero_guard && e == 0 {
        return 0;
    }
    let s = if b <= 128 {
        if e >= 2 * b {
            e
        } else {
            zigzag(e - b) + z
        }
    } else if e < 2 * b - 255 {
        255 - e + z
    } else {
        zigzag(e - b) + z
    };
    s as u8
}

/// Inverse of [`exponent_symbol`]. Inside values take the symbols z..=2r−1+z (bias0 <= 128,
/// r = bias0) or z..=2r+z (bias0 > 128, r = 255 − bias0); the rest are the pass-through or
/// reflected exponents.
pub(super) fn exponent_value(s: u8, bias0: u8, zero_guard: bool) -> u8 {
    let (s, b, z) = (s as i32, bias0 as i32, zero_guard as i32);
    if zero_guard && s == 0 {
        return 0;
    }
    let e = if b <= 128 {
        if s >= 2 * b {
            s
        } else {
            b + unzigzag(s - z)
        }
    } else if s - z <= 2 * (255 - b) {
        b + unzigzag(s - z)
    } else {
        255 - s + z
    };
    e as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_bijection(r: Remap) {
        let enc = r.encode_table();
        let dec = r.decode_table();
        let mut seen = [false; 256];
        for v in 0..256 {
            let s = enc[v] as usize;
            assert!(!seen[s], "{r:?}: symbol {s} used twice");
            seen[s] = true;
            assert_eq!(dec[s] as usize, v, "{r:?}: value {v} → symbol {s} → {}", dec[s]);
        }
    }

    #[test]
    fn every_map_is_a_bijection() {
        check_bijection(Remap::Identity);
        for b0 in 0..=255u8 {
            for b1 in 0..=127u8 {
                check_bijection(Remap::Signed { bias0: b0, bias1: b1 });
            }
            check_bijection(Remap::Exponent { bias0: b0, zero_guard: false });
            check_bijection(Remap::Exponent { bias0: b0, zero_guard: true });
        }
    }

    #[test]
    fn described_examples() {
        // Plain zigzag with zero biases.
        assert_eq!(signed_symbol(1, 0, 0), 2);
        assert_eq!(signed_symbol(-1, 0, 0), 1);
        assert_eq!(signed_symbol(127, 0, 0), 254);
        assert_eq!(signed_symbol(-128, 0, 0), 255);
        // v - bias0 <= 0 wraps by 127: 3 - 5 + 127 = 125 → 250.
        assert_eq!(signed_symbol(3, 5, 0), 250);
        // |v| - bias1 <= 0 wraps by 128: 2 - 4 + 128 = 126 → 251.
        assert_eq!(signed_symbol(-2, 0, 4), 251);
        // §9.15: a padded exponent 0 with bias0 127 and no zero guard is symbol 253.
        assert_eq!(exponent_symbol(0, 127, false), 253);
        assert_eq!(exponent_symbol(127, 127, true), 1);
        assert_eq!(exponent_symbol(0, 127, true), 0);
        // bias0 > 128: exponents below 2·bias0 − 255 are reflected.
        assert_eq!(exponent_symbol(1, 200, false), 254);
        assert_eq!(exponent_symbol(1, 200, true), 255);
    }
}
