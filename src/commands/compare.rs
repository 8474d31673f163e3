//! `cvsim compare`: per-tensor similarity of two npz files, the minimum over tensors, and
//! pass/fail against a tolerance, as the vendor's compare tool reports it.

use crate::npz::{Array, ElemType};
use crate::similarity::{judge, Similarity, Tolerance, Verdict};
use std::fmt::Write;

/// How to read `uint16` arrays: cvsim and the vendor store bf16 tensors as uint16 bit patterns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum U16As {
    Bf16,
    Int,
}

/// The elements of an array as numbers.
pub fn values(a: &Array, u16_as: U16As) -> Vec<f64> {
    let d = &a.data;
    match a.elem {
        ElemType::F32 => d.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        ElemType::I32 => d.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        ElemType::U32 => d.chunks_exact(4).map(|c| u32::from_le_bytes(c.try_into().unwrap()) as f64).collect(),
        ElemType::I16 => d.chunks_exact(2).map(|c| i16::from_le_bytes([c[0], c[1]]) as f64).collect(),
        ElemType::U16 => d
            .chunks_exact(2)
            .map(|c| {
                let v = u16::from_le_bytes([c[0], c[1]]);
                match u16_as {
                    U16As::Bf16 => f32::from_bits((v as u32) << 16) as f64,
                    U16As::Int => v as f64,
                }
            })
            .collect(),
        ElemType::I8 => d.iter().map(|&b| b as i8 as f64).collect(),
        ElemType::U8 => d.iter().map(|&b| b as f64).collect(),
    }
}

/// Options of a comparison.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub tolerance: Tolerance,
    /// Judge int8 tensors by similarity instead of requiring equality (vendor
    /// `--int8_tensor_close 0`).
    pub int8_similar: bool,
    pub u16_as: U16As,
}

impl Default for Options {
    fn default() -> Self {
        Options { tolerance: Tolerance::DEFAULT, int8_similar: false, u16_as: U16As::Bf16 }
    }
}

/// One compared tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub name: String,
    pub verdict: Verdict,
}

/// Compare one target array with its reference.
pub fn compare_arrays(target: &Array, reference: &Array, opts: &Options) -> Verdict {
    let int8 = target.elem == ElemType::I8 && reference.elem == ElemType::I8;
    judge(
        &values(target, opts.u16_as),
        &values(reference, opts.u16_as),
        target.elem == reference.elem && target.data == reference.data,
        int8 && !opts.int8_similar,
        &opts.tolerance,
    )
}

/// The figures a table shows for a verdict: computed ones, or those of identical tensors.
pub fn figures(v: &Verdict) -> Option<Similarity> {
    match v {
        Verdict::Equal | Verdict::Close { .. } => Some(Similarity::IDENTICAL),
        Verdict::NotMatch => None,
        v => v.figures(),
    }
}

/// The result of comparing two files.
#[derive(Clone, Debug)]
pub struct Report {
    pub rows: Vec<Row>,
    /// Names only in the target / only in the reference.
    pub only_target: Vec<String>,
    pub only_reference: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.rows.iter().all(|r| r.verdict.passed())
    }

    /// Minimum of each figure over the tensors whose figures were computed (as the vendor tool,
    /// which leaves EQUAL and CLOSE tensors out).
    pub fn minimum(&self) -> Option<Similarity> {
        self.rows.iter().filter_map(|r| r.verdict.figures()).reduce(Similarity::min)
    }
}

/// Compare every tensor the two files share, in the target's order.
pub fn compare(target: &[Array], reference: &[Array], opts: &Options) -> Report {
    let mut rows = Vec::new();
    let mut only_target = Vec::new();
    for t in target {
        match reference.iter().find(|r| r.name == t.name) {
            Some(r) => rows.push(Row { name: t.name.clone(), verdict: compare_arrays(t, r, opts) }),
            None => only_target.push(t.name.clone()),
        }
    }
    let only_reference =
        reference.iter().filter(|r| !target.iter().any(|t| t.name == r.name)).map(|r| r.name.clone()).collect();
    Report { rows, only_target, only_reference }
}

fn fig(x: f64) -> String {
    if x.is_infinite() {
        if x > 0.0 { "inf" } else { "-inf" }.to_string()
    } else {
        format!("{x:.6}")
    }
}

/// Table header and one line per verdict; shared with `cvsim diff`.
pub fn table_header(o: &mut String, name_width: usize) {
    let _ = writeln!(
        o,
        "{:<w$}  {:<11}  {:>10}  {:>11}  {:>10}  {:>10}",
        "tensor",
        "result",
        "cosine",
        "correlation",
        "euclidean",
        "sqnr",
        w = name_width
    );
}

pub fn table_row(o: &mut String, name_width: usize, name: &str, v: &Verdict) {
    let result = match v {
        Verdict::Close { order } => format!("CLOSE(1e-{order})"),
        v => v.name().to_string(),
    };
    match figures(v) {
        Some(s) => {
            let _ = writeln!(
                o,
                "{:<w$}  {:<11}  {:>10}  {:>11}  {:>10}  {:>10}",
                name,
                result,
                fig(s.cosine),
                fig(s.correlation),
                fig(s.euclidean),
                fig(s.sqnr),
                w = name_width
            );
        }
        None => {
            let _ = writeln!(o, "{:<w$}  {:<11}  (element counts differ)", name, result, w = name_width);
        }
    }
}

/// The text report.
pub fn render(r: &Report, opts: &Options) -> String {
    let mut o = String::new();
    let w = r.rows.iter().map(|r| r.name.len()).max().unwrap_or(6).clamp(6, 48);
    table_header(&mut o, w);
    for row in &r.rows {
        table_row(&mut o, w, &row.name, &row.verdict);
    }
    for n in &r.only_target {
        let _ = writeln!(o, "{n}: only in the target file");
    }
    for n in &r.only_reference {
        let _ = writeln!(o, "{n}: only in the reference file");
    }
    let count = |f: &dyn Fn(&Verdict) -> bool| r.rows.iter().filter(|x| f(&x.verdict)).count();
    let passed = count(&|v| v.passed());
    let _ = writeln!(
        o,
        "{} compared, {} passed ({} equal, {} close, {} similar), {} failed ({} not equal, {} not similar, {} not matching)",
        r.rows.len(),
        passed,
        count(&|v| matches!(v, Verdict::Equal)),
        count(&|v| matches!(v, Verdict::Close { .. })),
        count(&|v| matches!(v, Verdict::Similar(_))),
        r.rows.len() - passed,
        count(&|v| matches!(v, Verdict::NotEqual(_))),
        count(&|v| matches!(v, Verdict::NotSimilar(_))),
        count(&|v| matches!(v, Verdict::NotMatch)),
    );
    let min = r.minimum();
    match &min {
        Some(m) => {
            let _ = writeln!(
                o,
                "min similarity: cosine {}, correlation {}, euclidean {}, sqnr {}",
                fig(m.cosine),
                fig(m.correlation),
                fig(m.euclidean),
                fig(m.sqnr)
            );
        }
        None => {
            let _ = writeln!(o, "min similarity: (every compared tensor is equal or close)");
        }
    }
    let t = opts.tolerance;
    if r.passed() {
        let _ = writeln!(o, "PASSED (tolerance cosine > {}, euclidean > {})", t.cosine, t.euclidean);
    } else {
        let _ = writeln!(o, "FAILED (tolerance cosine > {}, euclidean > {})", t.cosine, t.euclidean);
        let not_equal = count(&|v| matches!(v, Verdict::NotEqual(_)));
        let mismatched = count(&|v| matches!(v, Verdict::NotMatch));
        if mismatched > 0 {
            let _ = writeln!(o, "no tolerance passes: {mismatched} tensor(s) differ in element count");
        } else if let Some(m) = &min {
            let pass = Tolerance::that_passes(m);
            let int8 = if not_equal > 0 { " --int8-similar" } else { "" };
            let _ = writeln!(o, "would pass with: --tolerance {:.3},{:.3}{int8}", pass.cosine, pass.euclidean);
        }
    }
    o
}

/// `cvsim compare` arguments.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The target (e.g. cvsim's output).
    pub target: std::path::PathBuf,
    /// The reference (e.g. the vendor's).
    pub reference: std::path::PathBuf,
    /// Minimum similarities, `COSINE,EUCLIDEAN` (a tensor passes when both are exceeded).
    #[arg(long, default_value = "0.99,0.90", value_parser = Tolerance::parse)]
    pub tolerance: Tolerance,
    /// Judge int8 tensors by similarity (the vendor's default requires them equal).
    #[arg(long)]
    pub int8_similar: bool,
    /// How to read uint16 arrays.
    #[arg(long, value_enum, default_value = "bf16")]
    pub uint16: U16As,
}

pub fn main(a: Args) -> Result<std::process::ExitCode, String> {
    let opts = Options { tolerance: a.tolerance, int8_similar: a.int8_similar, u16_as: a.uint16 };
    let target = crate::npz::read(&a.target)?;
    let reference = crate::npz::read(&a.reference)?;
    let report = compare(&target, &reference, &opts);
    print!("{}", render(&report, &opts));
    Ok(if report.passed() { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(1) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32s(name: &str, v: &[f32]) -> Array {
        Array {
            name: name.into(),
            elem: ElemType::F32,
            shape: vec![v.len() as u64],
            data: v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }
    fn i8s(name: &str, v: &[i8]) -> Array {
        Array {
            name: name.into(),
            elem: ElemType::I8,
            shape: vec![v.len() as u64],
            data: v.iter().map(|&x| x as u8).collect(),
        }
    }

    fn sample() -> (Vec<Array>, Vec<Array>) {
        let target = vec![
            f32s("same", &[1.0, 2.0, 3.0]),
            f32s("close", &[1.0, 2.0, 3.00001]),
            f32s("off", &[1.0, 2.0, 4.0]),
            i8s("q", &[1, 2, 3, 4]),
            f32s("extra", &[0.0]),
        ];
        let reference = vec![
            f32s("same", &[1.0, 2.0, 3.0]),
            f32s("close", &[1.0, 2.0, 3.0]),
            f32s("off", &[1.0, 2.0, 3.0]),
            i8s("q", &[1, 2, 3, 5]),
            f32s("missing", &[0.0]),
        ];
        (target, reference)
    }

    #[test]
    fn minimum_and_suggestion() {
        let (t, r) = sample();
        let opts = Options::default();
        let rep = compare(&t, &r, &opts);
        assert!(!rep.passed());
        assert_eq!(rep.only_target, ["extra"]);
        assert_eq!(rep.only_reference, ["missing"]);
        // Minimum over "off" (cos 17/√294 = 0.991460, euc 1 − 1/√17.25 = 0.759231) and "q" (int8,
        // figures for information): (1,2,3,4) vs (1,2,3,5): cos = 34/√(30·39) = 0.993995,
        // euc = 1 − 1/√34.25 = 0.829128.
        let m = rep.minimum().unwrap();
        assert!((m.cosine - 17.0 / 294f64.sqrt()).abs() < 1e-12);
        assert!((m.euclidean - (1.0 - 1.0 / (17.25f64.sqrt() + 1e-7))).abs() < 1e-12);
        let q = rep.rows.iter().find(|r| r.name == "q").unwrap().verdict.figures().unwrap();
        assert!((q.cosine - 34.0 / 1170f64.sqrt()).abs() < 1e-12);
        assert!((q.euclidean - (1.0 - 1.0 / (34.25f64.sqrt() + 1e-7))).abs() < 1e-12);
        let s = Tolerance::that_passes(&m);
        assert!((s.cosine - 0.991).abs() < 1e-12);
        assert!((s.euclidean - 0.759).abs() < 1e-12);
        // With that tolerance and int8 judged by similarity, everything passes.
        let loose = Options { tolerance: s, int8_similar: true, ..opts };
        assert!(compare(&t, &r, &loose).passed());
    }

    #[test]
    fn report_format() {
        let (t, r) = sample();
        let opts = Options::default();
        insta::assert_snapshot!(render(&compare(&t, &r, &opts), &opts));
        let loose = Options { tolerance: Tolerance { cosine: 0.9, euclidean: 0.5 }, int8_similar: true, ..opts };
        insta::assert_snapshot!("report_format_passed", render(&compare(&t, &r, &loose), &loose));
    }

    #[test]
    fn bf16_as_uint16() {
        // 0x3f80 is bf16 1.0; 0x4000 is 2.0.
        let a = Array { name: "b".into(), elem: ElemType::U16, shape: vec![2], data: vec![0x80, 0x3f, 0x00, 0x40] };
        assert_eq!(values(&a, U16As::Bf16), [1.0, 2.0]);
        assert_eq!(values(&a, U16As::Int), [16256.0, 16384.0]);
    }
}
