//! `cvsim run --check` on every correct corpus model: no finding. The corpus holds the compiler
//! idioms the checker must not mistake for bugs (xor-zeroing, a padded input channel with zero
//! weights, lookup tables loaded only into the lanes used, 16-bit results as byte planes, bf16
//! lookup-table indices whose unread high bytes were never written).

use cvsim::commands::{check, tensors};
use cvsim::npz;
use cvsim_runtime::session::{Instance, LoadedModel};
use std::path::Path;

/// Every case folder (a `model.cvimodel` with `input.npz` and `expected.npz`) under `dir`.
fn cases(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    let mut entries: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.join("model.cvimodel").is_file() && p.join("input.npz").is_file() && p.join("expected.npz").is_file() {
            out.push(p);
        } else if p.is_dir() {
            cases(&p, out);
        }
    }
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn correct_models_give_no_finding() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance");
    let mut all = Vec::new();
    for group in ["models", "networks", "ops", "features"] {
        cases(&root.join(group), &mut all);
    }
    assert!(all.len() >= 80, "found only {} corpus cases under {}", all.len(), root.display());
    for dir in &all {
        let case = dir.strip_prefix(&root).unwrap_or(dir).display().to_string();
        let loaded = LoadedModel::from_file(dir.join("model.cvimodel")).unwrap();
        let mut inst = Instance::new(loaded, 0).unwrap();
        tensors::set_inputs(&mut inst, &npz::read(&dir.join("input.npz")).unwrap()).unwrap();
        let findings = check::forward(&mut inst).unwrap();
        assert!(findings.is_empty(), "{case}:\n{}", check::render(&findings));
        // The checked run computes the same outputs.
        let expected = npz::read(&dir.join("expected.npz")).unwrap();
        let actual = tensors::outputs(&inst).unwrap();
        for e in &expected {
            let a = actual.iter().find(|a| a.name == e.name).unwrap();
            assert_eq!(tensors::compare(e, a), None, "{case}");
        }
    }
}
