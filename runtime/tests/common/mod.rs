//! Locating the shared conformance corpus (`../shared/conformance` next to the workspace).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn corpus_dir() -> Option<PathBuf> {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/conformance"));
    dir.is_dir().then(|| dir.to_path_buf())
}

/// Every `model.cvimodel` in the corpus as (case name relative to the corpus, path), sorted.
/// Prints why and returns nothing when the corpus is absent, so that the calling test passes
/// vacuously rather than failing on a machine without it.
pub fn corpus_models(test: &str) -> Vec<(String, PathBuf)> {
    let Some(root) = corpus_dir() else {
        eprintln!("SKIP {test}: conformance corpus not found at ../shared/conformance");
        return Vec::new();
    };
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort();
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out);
        } else if p.file_name().is_some_and(|n| n == "model.cvimodel") {
            let case = p.parent().unwrap().strip_prefix(root).unwrap().display().to_string();
            out.push((case, p));
        }
    }
}

/// One corpus case by its name (e.g. `ops/cv181x_int8/Div_0`), if present.
pub fn corpus_case(test: &str, case: &str) -> Option<PathBuf> {
    let Some(root) = corpus_dir() else {
        eprintln!("SKIP {test}: conformance corpus not found at ../shared/conformance");
        return None;
    };
    let p = root.join(case).join("model.cvimodel");
    if !p.is_file() {
        eprintln!("SKIP {test}: corpus case {case} not found");
        return None;
    }
    Some(p)
}
