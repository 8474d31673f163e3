//! `cvsim threads`: models forwarding from several threads at once on the one TPU, as on a board,
//! and how long each forward waits for the TPU. The work is `cvsim_runtime::threads`; this module
//! reads the flags and prints the report.

use crate::commands::timing::load_config;
use cvsim_runtime::threads::{self, Options};
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The models; each runs on --threads threads.
    #[arg(required = true)]
    pub models: Vec<PathBuf>,
    /// Threads per model, each forwarding its own clone.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Forward passes per thread.
    #[arg(long, default_value_t = 3)]
    pub forwards: usize,
    /// Program (shape variant) of every model.
    #[arg(long, default_value_t = 0)]
    pub program: usize,
    /// Timing constants to override (JSON, as printed by `cvsim timing-config`).
    #[arg(long, value_name = "FILE")]
    pub timing_config: Option<PathBuf>,
    /// Share of DDR bandwidth taken by other bus masters (0 <= x < 1).
    #[arg(long, value_name = "SHARE")]
    pub ddr_load: Option<f64>,
    /// Write the board estimate as a Chrome/Perfetto trace (JSON): one track per thread with its
    /// CPU routines, TPU routines and waits for the TPU.
    #[arg(long, value_name = "FILE.json")]
    pub trace: Option<PathBuf>,
}

/// A model's name in the report: its file's stem, or its folder's name for a case folder's
/// `model.cvimodel`.
fn model_label(path: &std::path::Path) -> String {
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    match stem.as_deref() {
        Some("model") => path.parent().and_then(|d| d.file_name()).map(|d| d.to_string_lossy().into_owned()),
        _ => stem,
    }
    .unwrap_or_else(|| path.display().to_string())
}

pub fn main(a: Args) -> Result<std::process::ExitCode, String> {
    let (text, ok) = run(&a)?;
    print!("{text}");
    Ok(if ok { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::from(1) })
}

/// The report, and whether every forward of a model gave the same bytes.
pub fn run(a: &Args) -> Result<(String, bool), String> {
    if a.threads == 0 || a.forwards == 0 {
        return Err("--threads and --forwards must be at least 1".into());
    }
    let cfg = load_config(a.timing_config.as_deref(), a.ddr_load)?;
    let models = a.models.iter().map(|p| (p.clone(), model_label(p))).collect();
    let report = threads::run(Options { models, threads: a.threads, forwards: a.forwards, program: a.program }, &cfg)?;
    if let Some(path) = &a.trace {
        let text = serde_json::to_string(&report.trace()).map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok((report.render(), report.same))
}
