//! `cvsim vectors PATH...`: run per-instruction conformance vectors.

use cvsim_sim::vectors::{find_files, run_file, VectorResult};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Run every vector file under `paths` on all cores. Returns (report text, passed, failed).
pub fn run(paths: &[PathBuf]) -> Result<(String, usize, usize), String> {
    let files = find_files(paths);
    if files.is_empty() {
        return Err(format!(
            "no .jsonl vector files under {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        ));
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<Vec<VectorResult>, String>)>> = Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(files.len());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= files.len() {
                    break;
                }
                let r = run_file(&files[i]);
                results.lock().expect("no poisoned lock").push((i, r));
            });
        }
    });
    let mut results = results.into_inner().expect("no poisoned lock");
    results.sort_by_key(|r| r.0);
    let (mut pass, mut fail) = (0, 0);
    let mut out = String::new();
    for (i, r) in results {
        match r {
            Ok(rs) => {
                for r in rs {
                    match r.failure_line() {
                        Some(l) => {
                            fail += 1;
                            out.push_str(&l);
                            out.push('\n');
                        }
                        None => pass += 1,
                    }
                }
            }
            Err(e) => {
                fail += 1;
                out.push_str(&format!("FAIL {}: {e}\n", files[i].display()));
            }
        }
    }
    out.push_str(&format!("{pass} passed, {fail} failed\n"));
    Ok((out, pass, fail))
}
