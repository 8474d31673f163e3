//! Histograms of |x| as the vendor builds them, across samples.
//!
//! The vendor makes one pass over the samples, in order: the first sample's histogram has 2048
//! bins over [0, its |x| max]; a later sample whose running |x| max exceeds the histogram's range
//! grows it by whole bins of the old step (`range / bins`) and the old counts are added to the new
//! histogram bin for bin from index 0. Because the growth depends only on the running maxima, the
//! range and bin count each sample is histogrammed with ([`HistogramPlan`]) can be fixed after a
//! first pass that collects every sample's min and max. The second pass then histograms samples in
//! any order, on any thread, and sums the counts by index: the same histogram as the vendor's
//! sequential pass, with no activation kept between samples.

/// How one sample's values are binned: bin `k` holds the non-zero |x| with
/// `floor(|x| / width + 0.5) == k` for k < `bins`, `width = range / (bins - 1)` (as f32).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Binning {
    /// The histogram's range (f64, as the vendor's numpy arithmetic carries it after a growth).
    pub range: f64,
    pub bins: usize,
}

impl Binning {
    pub fn width(&self) -> f32 {
        (self.range / (self.bins - 1) as f64) as f32
    }
}

/// The per-sample binnings of one tensor and what the accumulated histogram means.
#[derive(Clone, Debug, PartialEq)]
pub struct HistogramPlan {
    /// One per sample, in sample order.
    pub per_sample: Vec<Binning>,
    /// Samples before this index are dropped: the vendor restarts the histogram when growing it
    /// would need more than 8,000,000 bins.
    pub first_kept: usize,
    /// Length of the final histogram.
    pub bins: usize,
    /// The bin width the threshold search uses (f64; the vendor narrows it to f32 there).
    pub width: f64,
    /// The final |x| max: max(|min|, |max|) over all samples.
    pub abs_max: f32,
}

/// Growing past this many bins restarts the histogram (the vendor warns that the calibration
/// images differ too much).
const MAX_GROWN_BINS: usize = 8_000_000;

impl HistogramPlan {
    /// The plan for a tensor whose per-sample (min, max) are given in sample order, with the
    /// vendor's initial bin count (2048).
    pub fn new(min_max: &[(f32, f32)], initial_bins: usize) -> HistogramPlan {
        assert!(!min_max.is_empty(), "at least one sample");
        assert!(initial_bins >= 2, "at least two bins");
        let (mut run_min, mut run_max) = min_max[0];
        let abs0 = run_min.abs().max(run_max.abs());
        let mut range = abs0 as f64;
        let mut bins = initial_bins;
        let mut width = range / (bins - 1) as f64;
        let mut per_sample = vec![Binning { range, bins }];
        let mut first_kept = 0;
        for (k, &(mn, mx)) in min_max.iter().enumerate().skip(1) {
            run_min = run_min.min(mn);
            run_max = run_max.max(mx);
            let new_th = run_min.abs().max(run_max.abs()) as f64;
            if new_th <= range {
                per_sample.push(Binning { range, bins });
                continue;
            }
            let old_step = range / bins as f64;
            // Python's float floor division of an f32 difference by an f64 step, then int().
            let diff = (run_min.abs().max(run_max.abs()) - range as f32) as f64;
            let grown = (py_floor_div(diff, old_step) + 1.0) as usize;
            let new_bins = grown + bins;
            if new_bins > MAX_GROWN_BINS {
                range = new_th;
                bins = initial_bins;
                width = range / (bins - 1) as f64;
                first_kept = k;
                per_sample.push(Binning { range, bins });
                continue;
            }
            range += grown as f64 * old_step;
            bins = new_bins;
            width = range / (bins - 1) as f64;
            per_sample.push(Binning { range, bins });
        }
        let abs_max = run_min.abs().max(run_max.abs());
        HistogramPlan { per_sample, first_kept, bins, width, abs_max }
    }
}

/// Python's `a // b` for floats (numpy's `npy_divmod` rounding).
fn py_floor_div(a: f64, b: f64) -> f64 {
    let m = a % b;
    let mut div = (a - m) / b;
    if m != 0.0 && ((b < 0.0) != (m < 0.0)) {
        div -= 1.0;
    }
    if div == 0.0 {
        return 0.0f64.copysign(a / b);
    }
    let mut f = div.floor();
    if div - f > 0.5 {
        f += 1.0;
    }
    f
}

/// Add one sample's values to `hist` (whose length may exceed `binning.bins`: the sample's bins
/// are its first `binning.bins`). Zeros are not counted; values beyond the last bin are dropped, as
/// `numpy.histogram` drops values outside its range.
pub fn accumulate(values: impl Iterator<Item = f32>, binning: Binning, hist: &mut [u64]) {
    let width = binning.width();
    let last = binning.bins.min(hist.len());
    for v in values {
        let t = v.abs();
        if t == 0.0 || t.is_nan() {
            continue;
        }
        let k = (t / width + 0.5).floor();
        if k >= 0.0 && (k as usize) < last {
            hist[k as usize] += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vendor's sequential algorithm, transcribed directly (numpy semantics of the vendor's
    /// environment), to check that planning plus index-aligned sums gives the same histogram.
    fn sequential(samples: &[Vec<f32>], bins0: usize) -> (Vec<u64>, f64) {
        let mm = |s: &Vec<f32>| {
            (s.iter().cloned().fold(f32::INFINITY, f32::min), s.iter().cloned().fold(f32::NEG_INFINITY, f32::max))
        };
        let hist_of = |s: &Vec<f32>, th: f64, n: usize| {
            let mut h = vec![0u64; n];
            accumulate(s.iter().copied(), Binning { range: th, bins: n }, &mut h);
            h
        };
        let (mut mn, mut mx) = mm(&samples[0]);
        let mut th = mn.abs().max(mx.abs()) as f64;
        let mut hist = hist_of(&samples[0], th, bins0);
        let mut width = th / (bins0 - 1) as f64;
        for s in &samples[1..] {
            let (a, b) = mm(s);
            mn = mn.min(a);
            mx = mx.max(b);
            let new_th = mn.abs().max(mx.abs());
            if (new_th as f64) <= th {
                let h = hist_of(s, th, hist.len());
                for (x, y) in hist.iter_mut().zip(h) {
                    *x += y;
                }
            } else {
                let step = th / hist.len() as f64;
                let grown = (py_floor_div((new_th - th as f32) as f64, step) + 1.0) as usize;
                let n = grown + hist.len();
                th = grown as f64 * step + th;
                let mut h = hist_of(s, th, n);
                for (i, &c) in hist.iter().enumerate() {
                    h[i] += c;
                }
                hist = h;
                width = th / (n - 1) as f64;
            }
        }
        (hist, width)
    }

    fn planned(samples: &[Vec<f32>], bins0: usize) -> (Vec<u64>, f64) {
        let mm: Vec<(f32, f32)> = samples
            .iter()
            .map(|s| {
                (s.iter().cloned().fold(f32::INFINITY, f32::min), s.iter().cloned().fold(f32::NEG_INFINITY, f32::max))
            })
            .collect();
        let plan = HistogramPlan::new(&mm, bins0);
        let mut hist = vec![0u64; plan.bins];
        // Any order: reversed here.
        for (k, s) in samples.iter().enumerate().rev() {
            accumulate(s.iter().copied(), plan.per_sample[k], &mut hist);
        }
        (hist, plan.width)
    }

    #[test]
    fn planned_histogram_equals_the_sequential_one() {
        let mut seed = 0x1234_5678u64;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        let samples: Vec<Vec<f32>> = (0..6)
            .map(|k| (0..5000).map(|_| ((rnd() - 0.3) * (1.0 + k as f64 * 0.7) * 3.0) as f32).collect())
            .collect();
        let (a, wa) = sequential(&samples, 2048);
        let (b, wb) = planned(&samples, 2048);
        assert!(a.len() > 2048, "the test should grow the histogram");
        assert_eq!(a, b);
        assert_eq!(wa, wb);
    }

    #[test]
    fn binning_rounds_to_nearest_and_skips_zeros() {
        let mut h = vec![0u64; 11];
        accumulate([0.0, 0.04, 0.05, -0.16, 1.0, 2.0].into_iter(), Binning { range: 1.0, bins: 11 }, &mut h);
        assert_eq!(h[0], 1); // 0.04 → 0.4 → bin 0
        assert_eq!(h[1], 1); // 0.05 → 0.5 + 0.5 → bin 1
        assert_eq!(h[2], 1); // 0.16 → 1.6 → bin 2
        assert_eq!(h[10], 1); // 1.0 → bin 10; 2.0 is beyond the range
        assert_eq!(h.iter().sum::<u64>(), 4);
    }

    #[test]
    fn floor_div_matches_python() {
        assert_eq!(py_floor_div(7.0, 2.0), 3.0);
        assert_eq!(py_floor_div(0.3, 0.1), 2.0); // Python: 0.3 // 0.1 == 2.0
        assert_eq!(py_floor_div(1.0, 0.1), 9.0); // Python: 1.0 // 0.1 == 9.0
    }
}
