//! A conformance case: a folder with `model.cvimodel`, `input.npz` and `expected.npz` (and, for a
//! multi-program model, `input_programN.npz` / `expected_programN.npz`).

use super::tensors;
use crate::npz;
use cvsim_runtime::session::{Instance, LoadedModel};
use std::path::{Path, PathBuf};

/// One runnable case: a folder and a program index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    pub dir: PathBuf,
    pub program: usize,
    pub input: PathBuf,
    pub expected: PathBuf,
}

impl Case {
    pub fn name(&self, root: &Path) -> String {
        let rel = self.dir.strip_prefix(root).unwrap_or(&self.dir).display().to_string();
        let rel = if rel.is_empty() {
            self.dir.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default()
        } else {
            rel
        };
        if self.program == 0 {
            rel
        } else {
            format!("{rel}#program{}", self.program)
        }
    }
}

/// Every case under the given folders, sorted by path.
pub fn find(paths: &[PathBuf]) -> Vec<Case> {
    let mut out = Vec::new();
    fn walk(p: &Path, out: &mut Vec<Case>) {
        if !p.is_dir() {
            return;
        }
        let model = p.join("model.cvimodel");
        if model.is_file() && p.join("input.npz").is_file() && p.join("expected.npz").is_file() {
            out.push(Case {
                dir: p.to_path_buf(),
                program: 0,
                input: p.join("input.npz"),
                expected: p.join("expected.npz"),
            });
            for k in 1..16 {
                let (i, e) = (p.join(format!("input_program{k}.npz")), p.join(format!("expected_program{k}.npz")));
                if i.is_file() && e.is_file() {
                    out.push(Case { dir: p.to_path_buf(), program: k, input: i, expected: e });
                }
            }
            return;
        }
        if let Ok(rd) = std::fs::read_dir(p) {
            let mut v: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            v.sort();
            for e in v {
                walk(&e, out);
            }
        }
    }
    for p in paths {
        walk(p, &mut out);
    }
    out
}

/// Run a case; `Ok(None)` when every output is byte-identical, `Ok(Some(why))` on a mismatch.
pub fn run(case: &Case) -> Result<Option<String>, String> {
    let loaded = LoadedModel::from_file(case.dir.join("model.cvimodel")).map_err(|e| e.to_string())?;
    let mut inst = Instance::new(loaded, case.program).map_err(|e| e.to_string())?;
    let inputs = npz::read(&case.input)?;
    tensors::set_inputs(&mut inst, &inputs)?;
    inst.forward().map_err(|e| e.to_string())?;
    let actual = tensors::outputs(&inst)?;
    let expected = npz::read(&case.expected)?;
    let mut problems = Vec::new();
    for e in &expected {
        match actual.iter().find(|a| a.name == e.name) {
            None => problems.push(format!("tensor `{}`: not an output of the model", e.name)),
            Some(a) => problems.extend(tensors::compare(e, a)),
        }
    }
    Ok(if problems.is_empty() { None } else { Some(problems.join("; ")) })
}
