//! `cvsim conformance DIR...`: run every case, compare every output byte for byte.

use super::case::{self, Case};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// The outcome of one case.
#[derive(Clone, Debug)]
pub struct CaseOutcome {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    pub seconds: f64,
    /// The chip and mode the case was compiled for (`cv181x`, `int8`), for the summary table.
    pub chip: String,
    pub mode: String,
}

/// Run every case under `paths`, `jobs` at a time (0: one per core); the report lists the cases
/// in their sorted order, whichever finished first, and ends with `N passed, M failed`.
pub fn run(paths: &[PathBuf], progress: bool, jobs: usize) -> Result<(Vec<CaseOutcome>, String), String> {
    let cases = case::find(paths);
    if cases.is_empty() {
        return Err(format!(
            "no conformance cases (folders with model.cvimodel, input.npz and expected.npz) under {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ));
    }
    let root = if paths.len() == 1 { paths[0].clone() } else { PathBuf::new() };
    let bar = (progress && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(cases.len() as u64);
        b.set_style(indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}").expect("template"));
        b
    });
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, CaseOutcome)>> = Mutex::new(Vec::new());
    let jobs = if jobs == 0 { cvsim_sim::par::Workers::host_threads() } else { jobs };
    let threads = jobs.min(cases.len());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= cases.len() {
                    break;
                }
                let c: &Case = &cases[i];
                let t = Instant::now();
                let r = case::run(c);
                let (ok, detail) = match r {
                    Ok(None) => (true, String::new()),
                    Ok(Some(why)) => (false, why),
                    Err(e) => (false, format!("error: {e}")),
                };
                let name = c.name(&root);
                let (chip, mode) = chip_and_mode(&c.dir);
                if let Some(b) = &bar {
                    b.set_message(name.clone());
                    b.inc(1);
                }
                results
                    .lock()
                    .expect("lock")
                    .push((i, CaseOutcome { name, ok, detail, seconds: t.elapsed().as_secs_f64(), chip, mode }));
            });
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut results = results.into_inner().expect("lock");
    results.sort_by_key(|r| r.0);
    let outcomes: Vec<CaseOutcome> = results.into_iter().map(|r| r.1).collect();
    let out = report(&outcomes, false);
    Ok((outcomes, out))
}

/// One line per case, optionally the per-chip-and-mode table, and the closing `N passed, M failed`.
pub fn report(outcomes: &[CaseOutcome], with_summary: bool) -> String {
    let mut out = String::new();
    for o in outcomes {
        if o.ok {
            out.push_str(&format!("PASS {} ({:.2} s)\n", o.name, o.seconds));
        } else {
            out.push_str(&format!("FAIL {} ({:.2} s): {}\n", o.name, o.seconds, o.detail));
        }
    }
    if with_summary {
        out.push_str(&summary(outcomes));
    }
    let pass = outcomes.iter().filter(|o| o.ok).count();
    out.push_str(&format!("{} passed, {} failed\n", pass, outcomes.len() - pass));
    out
}

/// The chip and mode of a case: from its `manifest.json` (`chip`, and the first word of
/// `quantize`: `INT8 (symmetric)` is int8, `MIX (mixed INT8/BF16)` is mix), else the chip the
/// model header names and mode `?`.
pub fn chip_and_mode(dir: &Path) -> (String, String) {
    let manifest: Option<serde_json::Value> =
        std::fs::read(dir.join("manifest.json")).ok().and_then(|b| serde_json::from_slice(&b).ok());
    let field = |k: &str| manifest.as_ref().and_then(|m| m.get(k)).and_then(|v| v.as_str()).map(str::to_string);
    let chip = field("chip")
        .or_else(|| {
            cvsim_runtime::Model::from_file(dir.join("model.cvimodel")).ok().map(|m| m.chip().name().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let mode = field("quantize")
        .and_then(|q| q.split(|c: char| !c.is_ascii_alphanumeric()).next().map(str::to_ascii_lowercase))
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "?".into());
    (chip, mode)
}

/// Passed/total per chip and mode (rows) and per group (columns: the first folder of each case
/// name, e.g. `models`, `ops`; `-` for cases directly under a given folder), with totals.
pub fn summary(outcomes: &[CaseOutcome]) -> String {
    let group = |o: &CaseOutcome| match o.name.split_once('/') {
        Some((g, _)) => g.to_string(),
        None => "-".to_string(),
    };
    let mut groups: Vec<String> = outcomes.iter().map(group).collect();
    groups.sort();
    groups.dedup();
    let mut rows: Vec<(String, String)> = outcomes.iter().map(|o| (o.chip.clone(), o.mode.clone())).collect();
    rows.sort();
    rows.dedup();
    let cell = |pick: &dyn Fn(&CaseOutcome) -> bool| {
        let (mut pass, mut total) = (0, 0);
        for o in outcomes.iter().filter(|o| pick(o)) {
            total += 1;
            pass += o.ok as usize;
        }
        if total == 0 {
            "-".to_string()
        } else {
            format!("{pass}/{total}")
        }
    };
    let mut table: Vec<Vec<String>> = Vec::new();
    let mut head = vec!["chip".to_string(), "mode".to_string()];
    head.extend(groups.iter().cloned());
    head.push("all".into());
    table.push(head);
    for (chip, mode) in &rows {
        let mut line = vec![chip.clone(), mode.clone()];
        for g in &groups {
            line.push(cell(&|o| &o.chip == chip && &o.mode == mode && &group(o) == g));
        }
        line.push(cell(&|o| &o.chip == chip && &o.mode == mode));
        table.push(line);
    }
    let mut total = vec!["all".to_string(), String::new()];
    for g in &groups {
        total.push(cell(&|o| &group(o) == g));
    }
    total.push(cell(&|_| true));
    table.push(total);
    let widths: Vec<usize> = (0..table[0].len()).map(|i| table.iter().map(|r| r[i].len()).max().unwrap_or(0)).collect();
    let mut out = String::from("\npassed/total by chip and mode:\n");
    for r in &table {
        let line: Vec<String> = r.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(name: &str, ok: bool, chip: &str, mode: &str) -> CaseOutcome {
        CaseOutcome {
            name: name.into(),
            ok,
            detail: if ok { String::new() } else { "tensor `y`: first differing index 0".into() },
            seconds: 0.5,
            chip: chip.into(),
            mode: mode.into(),
        }
    }

    #[test]
    fn report_with_summary_keeps_the_closing_line_last() {
        let outcomes = vec![
            outcome("models/a", true, "cv181x", "int8"),
            outcome("models/b", false, "cv181x", "mix"),
            outcome("ops/cv181x_int8/Add", true, "cv181x", "int8"),
            outcome("ops/cv183x_bf16/Gemm", false, "cv183x", "bf16"),
            outcome("loose", true, "cv180x", "?"),
        ];
        insta::assert_snapshot!(report(&outcomes, true));
        assert_eq!(report(&outcomes, false).lines().last(), Some("3 passed, 2 failed"));
    }

    #[test]
    fn chip_and_mode_come_from_the_manifest() {
        let dir = std::env::temp_dir().join(format!("cvsim-chip-mode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("manifest.json"), r#"{"chip": "cv183x", "quantize": "INT8 (symmetric)"}"#).unwrap();
        assert_eq!(chip_and_mode(&dir), ("cv183x".into(), "int8".into()));
        std::fs::write(dir.join("manifest.json"), r#"{"chip": "cv181x", "quantize": "MIX (mixed INT8/BF16)"}"#)
            .unwrap();
        assert_eq!(chip_and_mode(&dir), ("cv181x".into(), "mix".into()));
        std::fs::remove_file(dir.join("manifest.json")).unwrap();
        assert_eq!(chip_and_mode(&dir), ("?".into(), "?".into()));
        std::fs::remove_dir(&dir).unwrap();
    }
}
