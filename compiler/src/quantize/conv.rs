//! Per-channel int8 convolution (and depthwise, and FC lowered as a 1×1 convolution): int8
//! weights, int32 bias and one QM record per output channel.

use super::multiplier::{bias_qscale, filter_qscale, qdm_multiplier, Qdm};
use super::rounding::{round_half_even, round_half_even_i8, saturate_i32};

/// One output channel's requantisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelQuant {
    pub qdm: Qdm,
    /// The int32 bias, `None` for a convolution without one.
    pub bias: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvQuant {
    /// Same layout as the fp32 weights given (output channel outermost).
    pub weights: Vec<i8>,
    pub channels: Vec<ChannelQuant>,
}

/// Quantise a convolution per output channel as the vendor's CV18xx int8 lowering does.
///
/// `weights` holds `oc` equal runs, one per output channel (OIHW or any layout with O
/// outermost); `bias` has `oc` values. Per channel: the scale that maps the largest |w| to 127
/// ([`filter_qscale`]); if the bias needs a larger scale to fit int32 and that scale is below 1,
/// the bias's; clamped below 1; decomposed into a QDM multiplier and shift; then weights and bias
/// quantised against that exact multiplier so the rounding of the multiplier is compensated.
pub fn quantize_conv_per_channel(
    weights: &[f32],
    oc: usize,
    bias: Option<&[f32]>,
    in_threshold: f32,
    out_threshold: f32,
) -> ConvQuant {
    assert!(oc > 0 && weights.len() % oc == 0, "weights ({}) must split into {oc} output channels", weights.len());
    if let Some(b) = bias {
        assert_eq!(b.len(), oc, "one bias value per output channel");
    }
    let inner = weights.len() / oc;
    let mut out = Vec::with_capacity(weights.len());
    let mut channels = Vec::with_capacity(oc);
    for c in 0..oc {
        let w = &weights[c * inner..(c + 1) * inner];
        let w_max = w.iter().fold(0.0f32, |m, &x| if x.abs() > m { x.abs() } else { m });
        let mut qscale = filter_qscale(w_max, out_threshold, in_threshold);
        if qscale >= 1.0 {
            qscale = 0.999999;
        }
        if let Some(b) = bias {
            let qb = bias_qscale(b[c].abs(), out_threshold);
            if qb > qscale && qb < 1.0 {
                qscale = qb;
            }
        }
        let qdm = qdm_multiplier(qscale);
        out.extend(w.iter().map(|&x| quantize_filter_i8(x, out_threshold, in_threshold, qdm)));
        let bias = bias.map(|b| quantize_bias_i32(b[c], out_threshold, qdm));
        channels.push(ChannelQuant { qdm, bias });
    }
    ConvQuant { weights: out, channels }
}

/// One weight against a channel's multiplier (`quantizeFilterRShiftAndMultiplier`, QDM): the
/// factor `(threshold_x / threshold_y) · 2^(rshift+31) / multiplier` is formed in f64 from an f32
/// threshold ratio, applied in f32, and rounded half to even.
pub fn quantize_filter_i8(w: f32, threshold_y: f32, threshold_x: f32, qdm: Qdm) -> i8 {
    let factor = if qdm.multiplier == 0 {
        0.0
    } else {
        (threshold_x / threshold_y) as f64 * (1u64 << (qdm.rshift as u32 + 31)) as f64 / qdm.multiplier as f64
    };
    round_half_even_i8((w * factor as f32) as f64)
}

/// A bias against its channel's multiplier (`quantizeBiasRShiftAndMultiplier`, QDM):
/// `b · (127 / threshold_y) · 2^(rshift+31) / multiplier`, all in f64 (unlike the weights' factor,
/// whose threshold ratio is an f32), rounded half to even, saturated.
pub fn quantize_bias_i32(b: f32, threshold_y: f32, qdm: Qdm) -> i32 {
    let factor = if qdm.multiplier == 0 {
        0.0
    } else {
        (127.0 / threshold_y as f64) * (1u64 << (qdm.rshift as u32 + 31)) as f64 / qdm.multiplier as f64
    };
    saturate_i32(round_half_even(b as f64 * factor))
}

/// The QM records the TIU reads for a QM convolution, channel by channel: with bias, 9 bytes
/// (int32 bias LE, u32 multiplier LE, shift byte); without, 5 bytes (multiplier, shift). The shift
/// byte is the 6-bit two's-complement field (isa.md §3.6.1), positive = right shift.
pub fn pack_qm_records(channels: &[ChannelQuant]) -> Vec<u8> {
    let mut out = Vec::with_capacity(channels.len() * 9);
    for ch in channels {
        if let Some(b) = ch.bias {
            out.extend_from_slice(&b.to_le_bytes());
        }
        out.extend_from_slice(&ch.qdm.multiplier.to_le_bytes());
        out.push((ch.qdm.rshift as u8) & 0x3f);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_weight_maps_to_127() {
        let w = [0.3f32, -1.0, 0.25, 0.0, 2.0, -0.5];
        let q = quantize_conv_per_channel(&w, 2, Some(&[0.1, -0.2]), 1.0, 4.0);
        assert_eq!(q.weights[1], -127);
        assert_eq!(q.weights[4], 127);
        assert_eq!(q.weights[0], 38); // 0.3 · 127 = 38.1
        assert_eq!(q.weights[2], 32);
        // Channel 0: qscale = 1·1/(127·4); bias 0.1 · 127/4 / qscale = 0.1 · 127 · 127 = 1612.9.
        assert_eq!(q.channels[0].bias, Some(1613));
        let back = q.channels[0].qdm.multiplier as f64 / 2f64.powi(31 + q.channels[0].qdm.rshift as i32);
        // The scale is formed in f32, so it agrees with 1/508 to f32 precision.
        assert!((back * 508.0 - 1.0).abs() < 1e-7);
    }

    #[test]
    fn records_are_nine_or_five_bytes() {
        let ch = ChannelQuant { qdm: Qdm { multiplier: 0x6f52_d000, rshift: 10 }, bias: Some(20881) };
        assert_eq!(pack_qm_records(&[ch]), [0x91, 0x51, 0, 0, 0x00, 0xd0, 0x52, 0x6f, 10]);
        let nb = ChannelQuant { bias: None, ..ch };
        assert_eq!(pack_qm_records(&[nb, nb]).len(), 10);
    }
}
