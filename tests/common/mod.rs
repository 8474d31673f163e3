//! Running the `cvsim` binary and locating the shared conformance corpus
//! (`../shared/conformance` next to the workspace).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn cvsim<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cvsim")).args(args).output().expect("cvsim runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The corpus folder. A test that reads it carries `#[cfg_attr(no_corpus, ignore = "...")]` (the
/// cfg comes from `build/test_prereqs.rs`), so it is reported as ignored where the corpus is absent
/// and the corpus is required here.
pub fn corpus_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance");
    assert!(dir.is_dir(), "conformance corpus not found at {}", dir.display());
    dir
}

/// Every `model.cvimodel` under the corpus as (case name relative to it, path), sorted.
pub fn corpus_models(root: &Path) -> Vec<(String, PathBuf)> {
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
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}
