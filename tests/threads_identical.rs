//! `cvsim run --threads 1` and the default (the host's cores) give the same bytes on every corpus
//! case: a descriptor split across threads writes exactly what one thread writes. Three threads
//! on the networks too, so that parts of unequal size are exercised on any host.

use cvsim::commands::tensors;
use cvsim::npz;
use cvsim_runtime::session::{Instance, LoadedModel};
use cvsim_sim::par::Workers;
use std::path::{Path, PathBuf};

fn cases(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.join("model.cvimodel").is_file() && p.join("input.npz").is_file() {
            out.push(p);
        } else if p.is_dir() {
            cases(&p, out);
        }
    }
}

/// Every output tensor of the case's program 0, run on `threads` threads.
fn outputs(dir: &Path, threads: usize) -> Vec<npz::Array> {
    let loaded = LoadedModel::from_file(dir.join("model.cvimodel")).unwrap();
    let mut inst = Instance::new(loaded, 0).unwrap();
    inst.machine.lmem.workers = Workers::new(threads);
    tensors::set_inputs_from_npz(&mut inst, &dir.join("input.npz")).unwrap();
    inst.forward().unwrap();
    tensors::outputs(&inst).unwrap()
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn one_thread_and_the_default_give_the_same_bytes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance");
    let mut all = Vec::new();
    for group in ["networks", "models", "ops", "features"] {
        cases(&root.join(group), &mut all);
    }
    assert!(all.len() >= 80, "found only {} corpus cases under {}", all.len(), root.display());
    let default = Workers::host_threads();
    for dir in &all {
        let case = dir.strip_prefix(&root).unwrap_or(dir).display().to_string();
        let one = outputs(dir, 1);
        let mut counts = vec![default];
        if case.starts_with("networks") {
            counts.push(3);
        }
        for t in counts {
            let many = outputs(dir, t);
            assert_eq!(one.len(), many.len(), "{case}");
            for (a, b) in one.iter().zip(&many) {
                assert!(a == b, "{case}: output `{}` differs between 1 and {t} threads", a.name);
            }
        }
    }
}
