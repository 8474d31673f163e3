//! The example's weights and quantisation parameters: drawn from a tiny seeded PRNG, with the
//! shifts chosen ("calibrated") on the example input so that outputs use the int8 range instead
//! of saturating or vanishing.

use super::layout::*;
use super::reference::{conv_accumulators, fc_accumulators, qm_requant, run};

/// SplitMix64: small, seedable, and the same on every platform.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi` (the tiny modulo bias does not matter here).
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    pub fn i8s(&mut self, n: usize, lo: i8, hi: i8) -> Vec<i8> {
        (0..n).map(|_| self.range(lo as i64, hi as i64) as i8).collect()
    }
}

/// Everything the network computes with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    /// `[oc][kh][kw][ic]`, the order the TIU reads per output channel.
    pub conv_weight: Vec<i8>,
    pub conv_bias: Vec<i32>,
    /// In [2^30, 2^31), as real per-channel multipliers are.
    pub conv_multiplier: Vec<u32>,
    /// 6-bit two's complement: positive = rounding right shift, negative = left shift.
    pub conv_shift: Vec<i8>,
    /// The add lowering's constants: out = rshr(x·m0 + x·m1, rshift).
    pub add_m0: i8,
    pub add_m1: i8,
    pub add_rshift: u8,
    /// `[k][n]`, k = c·36 + h·6 + w of the (1, 16, 6, 6) add output.
    pub fc_weight: Vec<i8>,
    pub fc_bias: Vec<i16>,
    pub fc_rshift: u8,
}

/// Largest output magnitude the calibration aims for.
const TARGET: i64 = 120;

/// Draw the weights, then pick the shifts on `input`.
pub fn generate(rng: &mut SplitMix64, input: &[i8]) -> Params {
    let mut p = Params {
        conv_weight: rng.i8s(W_CONV_FILTER_BYTES, -127, 127),
        conv_bias: (0..OC).map(|_| rng.range(-4096, 4096) as i32).collect(),
        conv_multiplier: (0..OC).map(|_| rng.range(1 << 30, (1 << 31) - 1) as u32).collect(),
        conv_shift: vec![0; OC],
        add_m0: rng.range(20, 44) as i8,
        add_m1: rng.range(20, 44) as i8,
        add_rshift: 6,
        fc_weight: rng.i8s(W_FC_FILTER_BYTES, -127, 127),
        fc_bias: (0..FC_N).map(|_| rng.range(-4096, 4096) as i16).collect(),
        fc_rshift: 0,
    };

    // Per channel: the smallest shift (left shifts allowed, down to -8) that keeps the largest
    // accumulator of the example input within TARGET.
    let acc = conv_accumulators(&p, input);
    for oc in 0..OC {
        let plane = &acc[oc * IH * IW..(oc + 1) * IH * IW];
        let peak = plane.iter().map(|&a| (a as i64).abs()).max().unwrap_or(0) as i32;
        let m = p.conv_multiplier[oc];
        // A left shift that would wrap the peak is not a candidate.
        let fits = |s: i8| s >= 0 || (peak as i64) << -s <= i32::MAX as i64;
        p.conv_shift[oc] = (-8i8..=31).find(|&s| fits(s) && qm_requant(peak, m, s) as i64 <= TARGET).unwrap_or(31);
    }

    let flat = run(&p, input).add;
    let peak = fc_accumulators(&p, &flat).iter().map(|&a| (a as i64).abs()).max().unwrap_or(0);
    p.fc_rshift = (0u8..31).find(|&r| super::reference::rshr(peak, r as u32) <= TARGET).unwrap_or(31);
    p
}

impl Params {
    /// The WEIGHT section: conv filter, packed QM records, FC filter and the FC bias as two byte
    /// rows, at the offsets of [`super::layout`].
    pub fn weight_bytes(&self) -> Vec<u8> {
        let mut w = vec![0u8; WEIGHT_BYTES];
        let put =
            |w: &mut Vec<u8>, at: u64, bytes: &[u8]| w[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
        put(&mut w, W_CONV_FILTER, &self.conv_weight.iter().map(|&v| v as u8).collect::<Vec<_>>());
        let mut records = Vec::with_capacity(W_CONV_QUANT_BYTES);
        for oc in 0..OC {
            records.extend_from_slice(&self.conv_bias[oc].to_le_bytes());
            records.extend_from_slice(&self.conv_multiplier[oc].to_le_bytes());
            // The shift byte holds the 6-bit two's-complement value.
            records.push(self.conv_shift[oc] as u8 & 0x3F);
        }
        put(&mut w, W_CONV_QUANT, &records);
        put(&mut w, W_FC_FILTER, &self.fc_weight.iter().map(|&v| v as u8).collect::<Vec<_>>());
        let lo: Vec<u8> = self.fc_bias.iter().map(|&b| b as u16 as u8).collect();
        let hi: Vec<u8> = self.fc_bias.iter().map(|&b| (b as u16 >> 8) as u8).collect();
        put(&mut w, W_FC_BIAS, &lo);
        put(&mut w, W_FC_BIAS + FC_N as u64, &hi);
        w
    }
}
