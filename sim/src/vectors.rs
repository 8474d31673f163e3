//! Per-instruction conformance vectors (`conformance/vectors/<chip>/<family>.jsonl`): write the
//! initial global memory, run the command buffer, compare every expected region byte for byte.

use crate::machine::Machine;
use cvsim_isa::{Chip, CommandStream};
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
pub struct MemRegion {
    pub addr: u64,
    pub hex: String,
}

/// One vector as stored in the JSONL files.
#[derive(Debug, Clone, Deserialize)]
pub struct Vector {
    pub id: String,
    pub chip: String,
    #[serde(default)]
    pub op: String,
    #[serde(default)]
    pub params: serde_json::Value,
    pub cmdbuf_hex: String,
    pub gmem_init: Vec<MemRegion>,
    pub gmem_expect: Vec<MemRegion>,
}

/// The first difference in one expected region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub region_addr: u64,
    pub first_index: usize,
    pub expected: u8,
    pub actual: u8,
    pub differing: usize,
    pub len: usize,
}

/// What happened to one vector.
#[derive(Debug, Clone)]
pub enum Outcome {
    Pass,
    Mismatch(Vec<Mismatch>),
    Error(String),
}

#[derive(Debug, Clone)]
pub struct VectorResult {
    pub id: String,
    pub file: PathBuf,
    pub outcome: Outcome,
}

fn decode_hex(s: &str, what: &str) -> Result<Vec<u8>, String> {
    hex::decode(s).map_err(|e| format!("{what}: bad hex: {e}"))
}

/// Run one vector on a fresh machine and compare.
pub fn run_vector(v: &Vector) -> Outcome {
    match try_run(v) {
        Ok(m) if m.is_empty() => Outcome::Pass,
        Ok(m) => Outcome::Mismatch(m),
        Err(e) => Outcome::Error(e),
    }
}

fn try_run(v: &Vector) -> Result<Vec<Mismatch>, String> {
    let chip: Chip = v.chip.parse().map_err(|e| format!("{e}"))?;
    let cmdbuf = decode_hex(&v.cmdbuf_hex, "cmdbuf_hex")?;
    let cmds = CommandStream::from_vec(cmdbuf, Some(chip)).map_err(|e| format!("cmdbuf: {e}"))?;
    let mut m = Machine::new(chip);
    // One region spanning everything the vector names; no vector relies on memory outside it.
    let mut regions = Vec::new();
    for r in v.gmem_init.iter().chain(&v.gmem_expect) {
        regions.push((r.addr & crate::memory::DDR_MASK, r.hex.len() as u64 / 2));
    }
    let lo = regions.iter().map(|r| r.0).min().ok_or("vector names no memory")?;
    let hi = regions.iter().map(|r| r.0 + r.1).max().unwrap_or(lo);
    if hi - lo > 64 << 20 {
        return Err(format!("vector memory spans {} bytes", hi - lo));
    }
    m.gmem.add_region("vector", lo, (hi - lo) as usize);
    for r in &v.gmem_init {
        let bytes = decode_hex(&r.hex, "gmem_init")?;
        m.gmem.write(r.addr, &bytes).ok_or("gmem_init outside region")?;
    }
    m.run(&cmds).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for r in &v.gmem_expect {
        let want = decode_hex(&r.hex, "gmem_expect")?;
        let got = m.gmem.read(r.addr, want.len()).ok_or("gmem_expect outside region")?;
        let diffs: Vec<usize> = (0..want.len()).filter(|&i| want[i] != got[i]).collect();
        if let Some(&first) = diffs.first() {
            out.push(Mismatch {
                region_addr: r.addr,
                first_index: first,
                expected: want[first],
                actual: got[first],
                differing: diffs.len(),
                len: want.len(),
            });
        }
    }
    Ok(out)
}

/// All `.jsonl` files under the given paths (files or folders), sorted.
pub fn find_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    fn walk(p: &Path, out: &mut Vec<PathBuf>) {
        if p.is_dir() {
            if let Ok(rd) = std::fs::read_dir(p) {
                let mut v: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
                v.sort();
                for e in v {
                    walk(&e, out);
                }
            }
        } else if p.extension().is_some_and(|e| e == "jsonl") {
            out.push(p.to_path_buf());
        }
    }
    for p in paths {
        walk(p, &mut out);
    }
    out
}

/// Load every vector of one file.
pub fn load_file(path: &Path) -> Result<Vec<Vector>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1)))
        .collect()
}

/// Run every vector of one file.
pub fn run_file(path: &Path) -> Result<Vec<VectorResult>, String> {
    Ok(load_file(path)?
        .iter()
        .map(|v| VectorResult { id: v.id.clone(), file: path.to_path_buf(), outcome: run_vector(v) })
        .collect())
}

impl VectorResult {
    /// One line describing a failure, or None for a pass.
    pub fn failure_line(&self) -> Option<String> {
        match &self.outcome {
            Outcome::Pass => None,
            Outcome::Error(e) => Some(format!("FAIL {}: error: {e}", self.id)),
            Outcome::Mismatch(ms) => Some(
                ms.iter()
                    .map(|m| {
                        format!(
                            "FAIL {}: region {:#x}: first differing byte {} (of {}): expected {:#04x}, actual {:#04x}; {} bytes differ",
                            self.id, m.region_addr, m.first_index, m.len, m.expected, m.actual, m.differing
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
        }
    }
}
