//! `cvsim conformance DIR...`: run every case, compare every output byte for byte.

use super::case::{self, Case};
use std::io::IsTerminal;
use std::path::PathBuf;
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
}

/// Run every case under `paths` on all cores; the report ends with `N passed, M failed`.
pub fn run(paths: &[PathBuf], progress: bool) -> Result<(Vec<CaseOutcome>, String), String> {
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
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(cases.len());
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
                if let Some(b) = &bar {
                    b.set_message(name.clone());
                    b.inc(1);
                }
                results
                    .lock()
                    .expect("lock")
                    .push((i, CaseOutcome { name, ok, detail, seconds: t.elapsed().as_secs_f64() }));
            });
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let mut results = results.into_inner().expect("lock");
    results.sort_by_key(|r| r.0);
    let outcomes: Vec<CaseOutcome> = results.into_iter().map(|r| r.1).collect();
    let mut out = String::new();
    for o in &outcomes {
        if o.ok {
            out.push_str(&format!("PASS {} ({:.2} s)\n", o.name, o.seconds));
        } else {
            out.push_str(&format!("FAIL {}: {}\n", o.name, o.detail));
        }
    }
    let pass = outcomes.iter().filter(|o| o.ok).count();
    out.push_str(&format!("{} passed, {} failed\n", pass, outcomes.len() - pass));
    Ok((outcomes, out))
}
