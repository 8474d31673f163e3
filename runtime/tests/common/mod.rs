//! Locating the shared conformance corpus (`../shared/conformance` next to the workspace).
//!
//! A test that reads it carries `#[cfg_attr(no_corpus, ignore = "...")]` (the cfg comes from
//! `build/test_prereqs.rs`), so that it is reported as ignored where the corpus is absent; here the
//! corpus is therefore required, and a missing case is a failure.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub fn corpus_dir() -> PathBuf {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/conformance"));
    assert!(dir.is_dir(), "conformance corpus not found at {}", dir.display());
    dir.to_path_buf()
}

/// Every `model.cvimodel` in the corpus as (case name relative to the corpus, path), sorted; never
/// empty.
pub fn corpus_models() -> Vec<(String, PathBuf)> {
    let root = corpus_dir();
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out.sort();
    assert!(!out.is_empty(), "no model.cvimodel under {}", root.display());
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

/// One corpus case's model by the case's name (e.g. `ops/cv181x_int8/Div_0`).
pub fn corpus_case(case: &str) -> PathBuf {
    let p = corpus_dir().join(case).join("model.cvimodel");
    assert!(p.is_file(), "corpus case {case} not found: {}", p.display());
    p
}
