//! Both simulators on one model: `vendor_run.py` (the oracle, a child process) and cvsim in this
//! process, with the same npz files.

use cvsim::commands::tensors;
use cvsim::npz::{self, Array};
use cvsim_runtime::session::{Instance, LoadedModel};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Where `vendor_run.py` lives: `$CVSIM_VENDOR_RUN`, else the shared checkout next to the repo.
pub fn vendor_run_script() -> PathBuf {
    std::env::var_os("CVSIM_VENDOR_RUN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/oracle/vendor_run.py"))
}

/// What one simulator made of a model.
#[derive(Debug)]
pub enum Outcome {
    Outputs(Vec<Array>),
    /// It refused or aborted; the text says how (the last lines of its error output).
    Failed(String),
}

pub struct Run {
    pub outcome: Outcome,
    pub seconds: f64,
}

/// The vendor simulator on `model` with `input`; its outputs go to `out`.
pub fn vendor(model: &Path, input: &Path, out: &Path) -> Run {
    let t0 = Instant::now();
    let _ = std::fs::remove_file(out);
    // The vendor simulator can loop on a descriptor: `timeout` ends it after a bound.
    let res = Command::new("timeout")
        .arg("--kill-after=5")
        .arg(std::env::var("DESCFUZZ_VENDOR_TIMEOUT").unwrap_or_else(|_| "300".into()))
        .arg("python3")
        .arg(vendor_run_script())
        .arg(model)
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(out)
        .output();
    let seconds = t0.elapsed().as_secs_f64();
    let outcome = match res {
        Err(e) => Outcome::Failed(format!("cannot start vendor_run.py: {e}")),
        Ok(o) if !o.status.success() || !out.exists() => {
            let err = String::from_utf8_lossy(&o.stderr);
            let tail: Vec<&str> = err.lines().rev().take(3).collect();
            Outcome::Failed(format!("{} ({})", tail.into_iter().rev().collect::<Vec<_>>().join(" | "), o.status))
        }
        Ok(_) => match npz::read(out) {
            Ok(a) => Outcome::Outputs(a),
            Err(e) => Outcome::Failed(e),
        },
    };
    Run { outcome, seconds }
}

/// cvsim on the model's bytes with these inputs.
pub fn cvsim(model_bytes: &[u8], inputs: &[Array]) -> Run {
    let t0 = Instant::now();
    let outcome = (|| {
        let model = cvsim_runtime::Model::from_bytes(model_bytes).map_err(|e| e.to_string())?;
        let loaded = LoadedModel::new(model).map_err(|e| e.to_string())?;
        let mut inst = Instance::new(loaded, 0).map_err(|e| e.to_string())?;
        tensors::set_inputs(&mut inst, inputs)?;
        inst.forward().map_err(|e| e.to_string())?;
        tensors::outputs(&inst)
    })();
    let outcome = match outcome {
        Ok(a) => Outcome::Outputs(a),
        Err(e) => Outcome::Failed(e),
    };
    Run { outcome, seconds: t0.elapsed().as_secs_f64() }
}

/// The first differing byte of two output sets, by tensor: `None` when every byte is equal.
pub fn first_difference(ours: &[Array], theirs: &[Array]) -> Option<(String, usize, u8, u8)> {
    for t in theirs {
        let Some(o) = ours.iter().find(|o| o.name == t.name) else {
            return Some((t.name.clone(), 0, 0, 0));
        };
        if let Some(i) = (0..o.data.len().max(t.data.len())).find(|&i| o.data.get(i) != t.data.get(i)) {
            return Some((t.name.clone(), i, o.data.get(i).copied().unwrap_or(0), t.data.get(i).copied().unwrap_or(0)));
        }
    }
    None
}
