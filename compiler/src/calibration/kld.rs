//! The threshold that minimises the KL divergence between a tensor's |x| histogram and its
//! 128-level quantisation, as the vendor's calibration library computes it: candidate thresholds
//! at every multiple of 128 bins; for each, P is the histogram up to it with the tail folded into
//! the last bin, and Q spreads each group of `i/128` bins' total evenly over the group's non-empty
//! bins. The sums run in f32 and the logarithms in f64, in the vendor's order, so thresholds agree
//! to the bit with the vendor's for the same histogram.

/// Quantisation levels of int8 (the vendor also has 8, for int4).
pub const INT8_LEVELS: usize = 128;

/// The vendor caps a histogram at this many bins by summing neighbouring pairs (doubling the
/// width) until it fits.
const MAX_BINS: usize = 64 * 2048;

/// The KL threshold of a histogram of |x| whose bin `k` holds the values that round to `k·width`.
/// Pads the histogram with empty bins to a multiple of `levels`, halves it while it has more than
/// 131072 bins, then evaluates every candidate. Returns 0 for an empty histogram's first candidate
/// (the caller clamps and floors thresholds).
pub fn kl_threshold(hist: &[u64], width: f64, levels: usize) -> f32 {
    assert!(levels > 0, "levels must be positive");
    let mut h: Vec<u64> = hist.to_vec();
    let mut width = width;
    pad(&mut h, levels);
    while h.len() > MAX_BINS {
        h = h.chunks(2).map(|p| p.iter().sum()).collect();
        pad(&mut h, levels);
        width *= 2.0;
    }
    kl_threshold_padded(&h, width as f32, levels)
}

fn pad(h: &mut Vec<u64>, levels: usize) {
    let rem = h.len() % levels;
    if rem != 0 {
        h.resize(h.len() + levels - rem, 0);
    }
}

/// The vendor's `kl_diversity_hist` on a histogram whose length is a multiple of `levels`.
fn kl_threshold_padded(hist: &[u64], width: f32, levels: usize) -> f32 {
    let n = hist.len();
    if n == 0 {
        return 0.0;
    }
    let count: u64 = hist.iter().sum();
    let hf: Vec<f32> = hist.iter().map(|&c| c as f32).collect();
    let mut best = (0usize, f32::INFINITY);
    let mut p = vec![0f32; n];
    let mut q = vec![0f32; n];
    for (m, i) in (levels..=n).step_by(levels).enumerate() {
        let kl = divergence(&hf, i, levels, count, &mut p[..i], &mut q[..i]);
        // The first minimum wins, as in the vendor's search.
        if m == 0 || kl < best.1 {
            best = (m, kl);
        }
    }
    width * (best.0 as f32 + 1.0) * levels as f32
}

/// KL(P‖Q) for the candidate that keeps the first `i` bins.
fn divergence(hist: &[f32], i: usize, levels: usize, count: u64, p: &mut [f32], q: &mut [f32]) -> f32 {
    p.fill(0.0);
    for (j, &c) in hist.iter().enumerate() {
        p[j.min(i - 1)] += c;
    }
    let count = count as f32;
    for v in p.iter_mut() {
        *v /= count;
    }
    let mut sum = 0f32;
    for &c in &hist[..i] {
        sum += c;
    }
    let expand = i / levels;
    for g in 0..levels {
        let group = &hist[g * expand..(g + 1) * expand];
        let mut sum_bin = 0f32;
        let mut positive = 0f32;
        for &c in group {
            sum_bin += c;
            positive += if c > 0.0 { 1.0 } else { 0.0 };
        }
        if positive == 0.0 {
            positive = 1.0;
        }
        let base = sum_bin / positive / sum;
        for (k, &c) in group.iter().enumerate() {
            q[g * expand + k] = if c != 0.0 { base } else { 0.0 };
        }
    }
    let mut kl = 0f32;
    for (&pv, &qv) in p.iter().zip(q.iter()) {
        let term = pv as f64 * ((pv as f64 + 1e-30).log10() - (qv as f64 + 1e-30).log10());
        kl = (kl as f64 + term) as f32;
    }
    kl
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A direct transcription of the definition in f64, to check the f32 implementation's choice
    /// of candidate on histograms where f32 rounding cannot matter.
    fn reference_candidate(hist: &[u64], levels: usize) -> usize {
        let n = hist.len();
        let total: f64 = hist.iter().map(|&c| c as f64).sum();
        let mut best = (0, f64::INFINITY);
        for (m, i) in (levels..=n).step_by(levels).enumerate() {
            let mut p: Vec<f64> = hist[..i].iter().map(|&c| c as f64).collect();
            p[i - 1] += hist[i..].iter().map(|&c| c as f64).sum::<f64>();
            let kept: f64 = hist[..i].iter().map(|&c| c as f64).sum();
            let e = i / levels;
            let mut kl = 0.0;
            for g in 0..levels {
                let grp = &hist[g * e..(g + 1) * e];
                let s: f64 = grp.iter().map(|&c| c as f64).sum();
                let nz = grp.iter().filter(|&&c| c > 0).count().max(1) as f64;
                for (k, &c) in grp.iter().enumerate() {
                    let pv = p[g * e + k] / total;
                    let qv = if c > 0 { s / nz / kept } else { 0.0 };
                    kl += pv * ((pv + 1e-30).log10() - (qv + 1e-30).log10());
                }
            }
            if kl < best.1 {
                best = (m, kl);
            }
        }
        best.0
    }

    #[test]
    fn hand_made_histogram_picks_the_knee() {
        // 2048 bins: a dense body in the first 300 bins, two outliers far out.
        let mut h = vec![0u64; 2048];
        for (k, v) in h.iter_mut().enumerate().take(300) {
            *v = 100_000 - 300 * k as u64;
        }
        h[1500] = 1;
        h[2047] = 1;
        let m = reference_candidate(&h, 128);
        let t = kl_threshold(&h, 0.01, 128);
        assert_eq!(t, 0.01f32 * (m as f32 + 1.0) * 128.0);
        // The outliers are clipped: the threshold stays near the body's end.
        assert!(m < 4, "{m}");
    }

    #[test]
    fn uniform_histogram_keeps_everything() {
        let h = vec![10u64; 2048];
        assert_eq!(kl_threshold(&h, 1.0, 128), 2048.0);
    }

    #[test]
    fn oversized_histograms_are_halved() {
        let mut h = vec![0u64; MAX_BINS * 2];
        h[..1000].fill(5);
        // After one halving the body occupies 500 bins of width 2.
        let t = kl_threshold(&h, 1.0, 128);
        assert_eq!(t % 256.0, 0.0);
        assert!(t >= 512.0 && t <= 1024.0, "{t}");
    }

    proptest! {
        #[test]
        fn threshold_is_a_candidate_within_range(counts in proptest::collection::vec(0u64..1000, 128..1024), width in 1e-4f64..10.0) {
            let t = kl_threshold(&counts, width, 128);
            let padded = counts.len().div_ceil(128) * 128;
            prop_assert!(t > 0.0);
            prop_assert!(t <= (width as f32) * padded as f32 * 1.0001);
        }

        #[test]
        fn matches_the_f64_definition(counts in proptest::collection::vec(1u64..50, 256..=768)) {
            let n = counts.len() / 128 * 128;
            let h = &counts[..n];
            let m = reference_candidate(h, 128);
            let t = kl_threshold(h, 1.0, 128);
            prop_assert_eq!(t, (m as f32 + 1.0) * 128.0);
        }

        #[test]
        fn scaling_the_width_scales_the_threshold(counts in proptest::collection::vec(0u64..1000, 256..=1024), k in 1u32..8) {
            let a = kl_threshold(&counts, 0.5, 128);
            let b = kl_threshold(&counts, 0.5 * k as f64, 128);
            prop_assert_eq!(b, a * k as f32);
        }
    }
}
