//! The reference: each layer of the example network written plainly from the spec's arithmetic
//! (`isa.md` §3.6, §3.7 and the errata of §9), independent of the emulator. Tensors are dense
//! NCHW; loops are the obvious ones.

use super::layout::{FC_K, FC_N, IC, IH, IW, KH, KW, OC, PH, PW};
use super::params::Params;

/// Rounding right shift, round half up: `((x >> (r−1)) + 1) >> 1` (isa.md §3.7).
pub fn rshr(x: i64, r: u32) -> i64 {
    if r == 0 {
        x
    } else {
        ((x >> (r - 1)) + 1) >> 1
    }
}

pub fn sat8(x: i64) -> i8 {
    x.clamp(i8::MIN as i64, i8::MAX as i64) as i8
}

pub fn sat16(x: i64) -> i16 {
    x.clamp(i16::MIN as i64, i16::MAX as i64) as i16
}

/// TFLite's SaturatingRoundingDoublingHighMul: (a·b + nudge) / 2^31, truncating toward zero.
fn srdhm(a: i32, b: i32) -> i32 {
    let p = a as i64 * b as i64;
    let nudge = if p >= 0 { 1i64 << 30 } else { 1 - (1i64 << 30) };
    // i64 division truncates toward zero, as C's does. Only a = b = INT32_MIN would overflow.
    ((p + nudge) / (1i64 << 31)) as i32
}

/// TFLite's RoundingDivideByPOT: round half away from zero.
fn rounding_divide_by_pot(x: i32, e: u32) -> i32 {
    let mask = ((1i64 << e) - 1) as i32;
    let rem = x & mask;
    let threshold = (mask >> 1) + i32::from(x < 0);
    (x >> e) + i32::from(rem > threshold)
}

/// Per-channel (QM) requantisation of a 32-bit accumulator (isa.md §3.7, §9 items 1–2): a
/// positive shift is a rounding right shift after the doubling high multiply; a negative one
/// shifts left first, wrapping to 32 bits as the vendor simulator does. The multiplier is used as
/// an int32.
pub fn qm_requant(acc: i32, multiplier: u32, shift: i8) -> i32 {
    let (left, right) = if shift > 0 { (0, shift as u32) } else { ((-(shift as i32)) as u32, 0) };
    let x = ((acc as i64) << left) as i32;
    rounding_divide_by_pot(srdhm(x, multiplier as i32), right)
}

/// Every layer's output for one input, NCHW.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Activations {
    /// Layer 1: QM conv 3×3 pad 1 + ReLU, (1, 16, 12, 12).
    pub conv: Vec<i8>,
    /// Layer 2: max pool 2×2 stride 2, (1, 16, 6, 6).
    pub pool: Vec<i8>,
    /// Layer 3a: pool × m0 as a 16-bit accumulator, (1, 16, 6, 6).
    pub mul16: Vec<i16>,
    /// Layer 3b: (pool × m1 + mul16) rounded right by the add shift, int8, (1, 16, 6, 6).
    pub add: Vec<i8>,
    /// Layer 4: FC over the flattened add output, (1, 10, 1, 1).
    pub fc: Vec<i8>,
}

/// The 32-bit conv sums (with bias, before requantisation), `[oc][y][x]`.
pub fn conv_accumulators(p: &Params, input: &[i8]) -> Vec<i32> {
    assert_eq!(input.len(), IC * IH * IW, "input must be (1, {IC}, {IH}, {IW})");
    let mut out = vec![0i32; OC * IH * IW];
    for oc in 0..OC {
        for y in 0..IH {
            for x in 0..IW {
                let mut acc = 0i32;
                for ky in 0..KH {
                    for kx in 0..KW {
                        // Padding 1 on every side; padded positions are 0.
                        let (iy, ix) = ((y + ky) as isize - 1, (x + kx) as isize - 1);
                        if iy < 0 || ix < 0 || iy >= IH as isize || ix >= IW as isize {
                            continue;
                        }
                        for ic in 0..IC {
                            let v = input[(ic * IH + iy as usize) * IW + ix as usize] as i32;
                            let w = p.conv_weight[((oc * KH + ky) * KW + kx) * IC + ic] as i32;
                            acc += v * w;
                        }
                    }
                }
                out[(oc * IH + y) * IW + x] = acc.wrapping_add(p.conv_bias[oc]);
            }
        }
    }
    out
}

/// The 32-bit FC sums (with bias, before the shift) for a flattened int8 input.
pub fn fc_accumulators(p: &Params, flat: &[i8]) -> Vec<i32> {
    assert_eq!(flat.len(), FC_K);
    (0..FC_N)
        .map(|n| {
            let dot: i32 = (0..FC_K).map(|k| flat[k] as i32 * p.fc_weight[k * FC_N + n] as i32).sum();
            dot + p.fc_bias[n] as i32
        })
        .collect()
}

/// Run the whole network.
pub fn run(p: &Params, input: &[i8]) -> Activations {
    let conv: Vec<i8> = conv_accumulators(p, input)
        .iter()
        .enumerate()
        .map(|(i, &acc)| {
            let oc = i / (IH * IW);
            let q = qm_requant(acc, p.conv_multiplier[oc], p.conv_shift[oc]).clamp(-128, 127);
            q.max(0) as i8 // ReLU
        })
        .collect();

    let mut pool = vec![0i8; OC * PH * PW];
    for c in 0..OC {
        for y in 0..PH {
            for x in 0..PW {
                let at = |dy: usize, dx: usize| conv[(c * IH + 2 * y + dy) * IW + 2 * x + dx];
                pool[(c * PH + y) * PW + x] = at(0, 0).max(at(0, 1)).max(at(1, 0)).max(at(1, 1));
            }
        }
    }

    // The int8 add lowering (isa.md §7): a mul by m0 into a 16-bit accumulator (no shift), then a
    // mac by m1 onto it with a rounding right shift and an 8-bit result. Both operands are `pool`.
    let mul16: Vec<i16> = pool.iter().map(|&a| sat16(a as i64 * p.add_m0 as i64)).collect();
    let add: Vec<i8> = pool
        .iter()
        .zip(&mul16)
        // The mac's left shift of the old value is 0.
        .map(|(&a, &old)| sat8(rshr(a as i64 * p.add_m1 as i64 + old as i64, p.add_rshift as u32)))
        .collect();

    // Flattening NCHW gives k = c·36 + h·6 + w, the FC's row order.
    let fc = fc_accumulators(p, &add).iter().map(|&acc| sat8(rshr(acc as i64, p.fc_rshift as u32))).collect();
    Activations { conv, pool, mul16, add, fc }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_shift_is_round_half_up() {
        assert_eq!([rshr(5, 1), rshr(-5, 1), rshr(6, 2), rshr(-6, 2), rshr(7, 0)], [3, -2, 2, -1, 7]);
    }

    #[test]
    fn qm_matches_hand_computed_values() {
        // 1000 · 0.5 / 2^2 = 125; 1000 · 0.5 = 500 with no shift.
        assert_eq!(qm_requant(1000, 1 << 30, 2), 125);
        assert_eq!(qm_requant(1000, 1 << 30, 0), 500);
        // -3 · 0.5 = -1.5: the negative nudge is 1 − 2^30, so SRDHM gives -1 ...
        assert_eq!(qm_requant(-3, 1 << 30, 0), -1);
        // ... and -6 · 0.5 / 2 = -1.5 → round half away from zero → -2.
        assert_eq!(qm_requant(-6, 1 << 30, 1), -2);
        // Left shift by 1 before the multiply; it wraps to 32 bits (vendor erratum).
        assert_eq!(qm_requant(100, 1 << 30, -1), 100);
        assert_eq!(qm_requant(i32::MAX, 1 << 30, -1), srdhm(-2, 1 << 30));
    }
}
