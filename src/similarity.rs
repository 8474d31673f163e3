//! Tensor similarity as the vendor's compare tools measure it (spec `runtime.md` §4): cosine,
//! correlation, euclidean similarity and SQNR, and the EQUAL / CLOSE / SIMILAR verdict.

/// The four figures of one comparison.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    pub cosine: f64,
    pub correlation: f64,
    pub euclidean: f64,
    /// Decibels; `f64::INFINITY` when either variance is 0.
    pub sqnr: f64,
}

impl Similarity {
    /// What identical tensors give.
    pub const IDENTICAL: Similarity = Similarity { cosine: 1.0, correlation: 1.0, euclidean: 1.0, sqnr: f64::INFINITY };

    /// Each figure the smaller of the two.
    pub fn min(self, o: Similarity) -> Similarity {
        Similarity {
            cosine: self.cosine.min(o.cosine),
            correlation: self.correlation.min(o.correlation),
            euclidean: self.euclidean.min(o.euclidean),
            sqnr: self.sqnr.min(o.sqnr),
        }
    }
}

/// The vendor's sanitising before similarity: NaN → 0, ±inf → ±10000.
pub fn sanitise(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else if x.is_infinite() {
        10000f64.copysign(x)
    } else {
        x
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// a·b / (‖a‖‖b‖), 0 if either is all zero (tpu-mlir `tensor_compare.py`).
pub fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let (na, nb) = (dot(a, a).sqrt(), dot(b, b).sqrt());
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot(a, b) / (na * nb)
}

/// The runtime C tool's "correlation": the uncentered correlation Σuv/√(Σu²Σv²), computed after
/// replacing every |x| < 0.001 by 0.001 in an array where more than 90 % of the values are that
/// small (so a near-zero tensor does not divide by ~0).
pub fn correlation(a: &[f64], b: &[f64]) -> f64 {
    fn lifted(v: &[f64]) -> Option<Vec<f64>> {
        let small = v.iter().filter(|x| x.abs() < 0.001).count();
        (small * 10 > v.len() * 9).then(|| v.iter().map(|&x| if x.abs() < 0.001 { 0.001 } else { x }).collect())
    }
    let (la, lb) = (lifted(a), lifted(b));
    let (a, b) = (la.as_deref().unwrap_or(a), lb.as_deref().unwrap_or(b));
    let d = (dot(a, a) * dot(b, b)).sqrt();
    if d == 0.0 {
        return 0.0;
    }
    dot(a, b) / d
}

/// 1 − ‖a − b‖ / (‖(a + b)/2‖ + 1e-7) (tpu-mlir; the epsilon keeps two zero tensors finite).
pub fn euclidean(a: &[f64], b: &[f64]) -> f64 {
    let dist: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt();
    let mid: f64 = a.iter().zip(b).map(|(x, y)| ((x + y) / 2.0).powi(2)).sum::<f64>().sqrt();
    1.0 - dist / (mid + 1e-7)
}

/// 10·log10(Σ(a − ā)² / Σ(n − n̄)²) with n = a − b; `a` is the signal, so the figure is not
/// symmetric. Infinite when either variance is 0.
pub fn sqnr(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() {
        return f64::INFINITY;
    }
    let len = a.len() as f64;
    let mean_a = a.iter().sum::<f64>() / len;
    let mean_n = a.iter().zip(b).map(|(x, y)| x - y).sum::<f64>() / len;
    let var_a: f64 = a.iter().map(|x| (x - mean_a).powi(2)).sum();
    let var_n: f64 = a.iter().zip(b).map(|(x, y)| (x - y - mean_n).powi(2)).sum();
    if var_a == 0.0 || var_n == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (var_a / var_n).log10()
}

/// All four figures. The vendor's `npz_compare` takes the first file (the target) as the SQNR
/// signal, and so does this.
pub fn similarity(target: &[f64], reference: &[f64]) -> Similarity {
    Similarity {
        cosine: cosine(target, reference),
        correlation: correlation(target, reference),
        euclidean: euclidean(target, reference),
        sqnr: sqnr(target, reference),
    }
}

/// The pass thresholds: a tensor is SIMILAR when cosine > `cosine` and euclidean > `euclidean`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    pub cosine: f64,
    pub euclidean: f64,
}

impl Tolerance {
    /// The runtime tool's defaults (cosine 0.99, euclidean 0.90).
    pub const DEFAULT: Tolerance = Tolerance { cosine: 0.99, euclidean: 0.90 };

    /// Parse `COS,EUC` as the vendor's `--tolerance` takes it.
    pub fn parse(s: &str) -> Result<Tolerance, String> {
        let parts: Vec<&str> = s.split(',').map(str::trim).collect();
        let num = |p: &str| p.parse::<f64>().map_err(|e| format!("tolerance `{s}`: `{p}` is not a number ({e})"));
        match parts.as_slice() {
            [c, e] => Ok(Tolerance { cosine: num(c)?, euclidean: num(e)? }),
            _ => Err(format!("tolerance `{s}`: expected two numbers, `COSINE,EUCLIDEAN`")),
        }
    }

    pub fn passes(&self, s: &Similarity) -> bool {
        s.cosine > self.cosine && s.euclidean > self.euclidean
    }

    /// A tolerance the minima pass: each figure rounded down to three decimals, one step lower
    /// where rounding lands on the figure itself (the test is strict).
    pub fn that_passes(min: &Similarity) -> Tolerance {
        let below = |x: f64| {
            let t = (x * 1000.0).floor() / 1000.0;
            if t < x {
                t
            } else {
                t - 0.001
            }
        };
        Tolerance { cosine: below(min.cosine), euclidean: below(min.euclidean) }
    }
}

/// The verdict on one pair of tensors.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Verdict {
    /// Byte-identical.
    Equal,
    /// `allclose` with rtol 10^-k, atol 1e-8 (k = 5, 4 or 3).
    Close {
        order: u32,
    },
    Similar(Similarity),
    NotSimilar(Similarity),
    /// int8 tensors must be equal (the vendor default); the figures are given for information.
    NotEqual(Similarity),
    /// Element counts differ.
    NotMatch,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        matches!(self, Verdict::Equal | Verdict::Close { .. } | Verdict::Similar(_))
    }

    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Equal => "EQUAL",
            Verdict::Close { .. } => "CLOSE",
            Verdict::Similar(_) => "SIMILAR",
            Verdict::NotSimilar(_) => "NOT_SIMILAR",
            Verdict::NotEqual(_) => "NOT_EQUAL",
            Verdict::NotMatch => "NOT_MATCH",
        }
    }

    /// The similarity figures behind the verdict (identical ones for EQUAL and CLOSE are computed
    /// all the same, so a table shows every tensor).
    pub fn figures(&self) -> Option<Similarity> {
        match self {
            Verdict::Similar(s) | Verdict::NotSimilar(s) | Verdict::NotEqual(s) => Some(*s),
            _ => None,
        }
    }
}

/// Compare a target with a reference. `same_bytes` says whether their raw bytes are identical;
/// `int8_exact` applies the vendor's rule that int8 tensors must match exactly.
pub fn judge(target: &[f64], reference: &[f64], same_bytes: bool, int8_exact: bool, tol: &Tolerance) -> Verdict {
    if target.len() != reference.len() {
        return Verdict::NotMatch;
    }
    if same_bytes {
        return Verdict::Equal;
    }
    let t: Vec<f64> = target.iter().copied().map(sanitise).collect();
    let r: Vec<f64> = reference.iter().copied().map(sanitise).collect();
    let s = similarity(&t, &r);
    if int8_exact {
        return Verdict::NotEqual(s);
    }
    for order in [5u32, 4, 3] {
        let rtol = 10f64.powi(-(order as i32));
        let close = target
            .iter()
            .zip(reference)
            .all(|(&x, &y)| (x.is_nan() && y.is_nan()) || x == y || (x - y).abs() <= 1e-8 + rtol * y.abs());
        if close {
            return Verdict::Close { order };
        }
    }
    if tol.passes(&s) {
        Verdict::Similar(s)
    } else {
        Verdict::NotSimilar(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn near(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-12, "{a} != {b}");
    }

    // Hand computation: a = (1, 2, 3), b = (1, 2, 4).
    // a·b = 17, ‖a‖ = √14, ‖b‖ = √21: cosine = 17/√294 = 0.991460...
    // a − b = (0, 0, −1): ‖·‖ = 1; (a + b)/2 = (1, 2, 3.5): ‖·‖ = √17.25.
    // SQNR with signal a: ā = 2, Σ(a − ā)² = 2; n = a − b = (0, 0, −1), n̄ = −1/3,
    // Σ(n − n̄)² = 2/3; ratio 3, 10·log10 3 = 4.7712...
    #[test]
    fn hand_computed_figures() {
        let (a, b) = ([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]);
        let s = similarity(&a, &b);
        near(s.cosine, 17.0 / 294f64.sqrt());
        near(s.correlation, 17.0 / 294f64.sqrt());
        near(s.euclidean, 1.0 - 1.0 / (17.25f64.sqrt() + 1e-7));
        near(s.sqnr, 10.0 * 3f64.log10());
        assert!((s.cosine - 0.991460).abs() < 1e-6);
        assert!((s.sqnr - 4.771213).abs() < 1e-6);
    }

    #[test]
    fn zero_and_constant_tensors() {
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
        // Constant signal: zero variance, SQNR infinite.
        assert_eq!(sqnr(&[3.0, 3.0], &[1.0, 2.0]), f64::INFINITY);
        // Opposite vectors.
        near(cosine(&[1.0, -1.0], &[-1.0, 1.0]), -1.0);
        // ‖a − b‖ = 2√2, mean is zero: 1 − 2√2 / 1e-7.
        near(euclidean(&[1.0, -1.0], &[-1.0, 1.0]), 1.0 - 8f64.sqrt() / 1e-7);
    }

    // 11 values, 10 of them below 0.001 (> 90 %): each small one becomes 0.001 before the product.
    #[test]
    fn correlation_lifts_near_zero_tensors() {
        let mut a = vec![0.0; 11];
        a[0] = 1.0;
        let mut b = vec![0.0; 11];
        b[0] = 1.0;
        b[1] = 0.0005;
        // Both become (1, 0.001 × 10): identical, correlation 1, though the raw b differs.
        near(correlation(&a, &b), 1.0);
        // Without the lift (exactly 80 % small, not more than 90 %) the raw values are used.
        let c = [1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let d = [1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        near(correlation(&c, &d), 0.0);
    }

    #[test]
    fn sanitises_nan_and_inf() {
        assert_eq!(sanitise(f64::NAN), 0.0);
        assert_eq!(sanitise(f64::NEG_INFINITY), -10000.0);
        assert_eq!(sanitise(2.5), 2.5);
    }

    #[test]
    fn verdicts() {
        let tol = Tolerance::DEFAULT;
        let a = [1.0, 2.0, 3.0];
        assert_eq!(judge(&a, &a, true, false, &tol), Verdict::Equal);
        assert_eq!(judge(&a, &[1.0, 2.0], false, false, &tol), Verdict::NotMatch);
        assert_eq!(judge(&[1.0, 2.0, 3.00001], &a, false, false, &tol), Verdict::Close { order: 5 });
        assert_eq!(judge(&[1.0, 2.0, 3.002], &a, false, false, &tol), Verdict::Close { order: 3 });
        // cosine 0.99146 > 0.99, euclidean 1 − 1/√17.25 = 0.75923 < 0.90.
        let v = judge(&[1.0, 2.0, 4.0], &a, false, false, &tol);
        assert!(matches!(v, Verdict::NotSimilar(_)), "{v:?}");
        let loose = Tolerance { cosine: 0.9, euclidean: 0.7 };
        assert!(matches!(judge(&[1.0, 2.0, 4.0], &a, false, false, &loose), Verdict::Similar(_)));
        assert!(matches!(judge(&[1.0, 2.0, 4.0], &a, false, true, &loose), Verdict::NotEqual(_)));
    }

    #[test]
    fn tolerance_that_passes() {
        let min = Similarity { cosine: 0.9534, correlation: 0.9534, euclidean: 0.871, sqnr: 10.0 };
        let t = Tolerance::that_passes(&min);
        near(t.cosine, 0.953);
        assert!(t.euclidean < 0.871 && t.euclidean > 0.8699);
        assert!(t.passes(&min));
        assert_eq!(Tolerance::parse("0.99, 0.9").unwrap(), Tolerance::DEFAULT);
        assert!(Tolerance::parse("0.99").is_err());
        assert!(Tolerance::parse("a,b").is_err());
    }
}
