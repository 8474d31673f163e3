//! The timing side of `cvsim run` (`--pmu`, `--pmu-csv`, `--trace`, `--timing-only`) and the
//! `timing-config` subcommand. Timing reads the decoded command buffers only, never tensor data, so
//! it runs the same whether or not the functional emulator ran.

use cvsim_isa::Chip;
use cvsim_runtime::session::LoadedModel;
pub use cvsim_runtime::timing::{layer_names, pmu_text, summaries, time_program, trace, RoutineTiming};
use cvsim_sim::timing::{pmu, TimingConfig};
use std::path::{Path, PathBuf};

/// What `run` was asked to report about timing.
#[derive(Clone, Debug, Default)]
pub struct TimingRequest {
    /// Print the vendor runtime's PMU summary after each TPU routine.
    pub pmu: bool,
    /// Write `<prefix>_des.csv` and `<prefix>_layer.csv`.
    pub pmu_csv: Option<PathBuf>,
    /// Write a Chrome/Perfetto trace.
    pub trace: Option<PathBuf>,
}

impl TimingRequest {
    pub fn any(&self) -> bool {
        self.pmu || self.pmu_csv.is_some() || self.trace.is_some()
    }
}

/// The effective config: the defaults, then a config file's overrides, then `--ddr-load`.
pub fn load_config(file: Option<&Path>, ddr_load: Option<f64>) -> Result<TimingConfig, String> {
    let mut cfg = match file {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            TimingConfig::from_json(&text).map_err(|e| format!("{}: {e}", p.display()))?
        }
        None => TimingConfig::default(),
    };
    if let Some(x) = ddr_load {
        cfg.ddr_load = x;
        cfg.validate().map_err(|e| format!("--ddr-load {x}: {e}"))?;
    }
    Ok(cfg)
}

/// `cvsim timing-config [--chip C]`: the defaults in the format `--timing-config` reads.
pub fn config_text(chip: Option<Chip>) -> String {
    let cfg = TimingConfig::default();
    let mut s = match chip {
        Some(c) => cfg.to_json_for(c),
        None => cfg.to_json(),
    };
    s.push('\n');
    s
}

/// Write the CSV files for `prefix`. Like the vendor runtime, which rewrites them after every TPU
/// routine, the files end up holding the last routine.
pub fn write_csv(prefix: &Path, timings: &[RoutineTiming]) -> Result<(), String> {
    let Some(t) = timings.last() else {
        return Err("--pmu-csv: the program has no TPU routine".into());
    };
    let name = |suffix: &str| {
        let mut s = prefix.as_os_str().to_owned();
        s.push(suffix);
        PathBuf::from(s)
    };
    for (path, text) in [
        (name("_des.csv"), pmu::des_csv(&t.schedule, t.cmds.commands())),
        (name("_layer.csv"), pmu::layer_csv(&t.schedule, t.cmds.commands())),
    ] {
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Write the trace of every TPU routine, one after another.
pub fn write_trace(path: &Path, loaded: &LoadedModel, program: usize, timings: &[RoutineTiming]) -> Result<(), String> {
    let v = trace(loaded, program, timings)?;
    let text = serde_json::to_string(&v).map_err(|e| e.to_string())?;
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Everything `run` reports about timing, given the schedules; returns the text for stdout.
pub fn report(
    loaded: &LoadedModel,
    program: usize,
    timings: &[RoutineTiming],
    req: &TimingRequest,
) -> Result<String, String> {
    if let Some(prefix) = &req.pmu_csv {
        write_csv(prefix, timings)?;
    }
    if let Some(path) = &req.trace {
        write_trace(path, loaded, program, timings)?;
    }
    Ok(if req.pmu { pmu_text(timings) } else { String::new() })
}
