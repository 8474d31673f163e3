//! The timing side of `cvsim run` (`--pmu`, `--pmu-csv`, `--trace`, `--timing-only`) and the
//! `timing-config` subcommand. Timing reads the decoded command buffers only, never tensor data, so
//! it runs the same whether or not the functional emulator ran.

use cvsim_isa::{Chip, Command, CommandStream, Desc};
use cvsim_runtime::cvimodel::{Program, RoutineKind};
use cvsim_runtime::memory::tensor_mem_size;
use cvsim_runtime::session::LoadedModel;
use cvsim_sim::timing::{self, pmu, PmuSummary, Schedule, TimingConfig, TracePart};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// One TPU routine's schedule.
pub struct RoutineTiming {
    /// Index of the routine in the program.
    pub routine: usize,
    pub section: String,
    /// The routine's stream: the CSV and trace writers look descriptors up by index.
    pub cmds: Arc<CommandStream>,
    pub schedule: Schedule,
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

/// Schedule every TPU routine of a program, in routine order.
pub fn time_program(loaded: &LoadedModel, program: usize, cfg: &TimingConfig) -> Result<Vec<RoutineTiming>, String> {
    let model = &loaded.model;
    let chip = model.chip();
    let p = model.program(program).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (i, r) in p.routines.iter().enumerate() {
        if !matches!(r.kind, RoutineKind::Tpu { .. }) {
            continue;
        }
        let section = r.tpu_section().unwrap_or_default().to_string();
        let cmds = loaded.cmdbufs.get(&section).ok_or_else(|| format!("section `{section}` not loaded"))?.clone();
        let schedule = timing::schedule(chip, cmds.commands(), cfg)
            .map_err(|e| format!("routine {i} (TPU, section `{section}`): {e}"))?;
        out.push(RoutineTiming { routine: i, section, cmds, schedule });
    }
    Ok(out)
}

/// The summaries the vendor runtime prints with `TPU_ENABLE_PMU=1`, one per TPU routine.
pub fn pmu_text(timings: &[RoutineTiming]) -> String {
    timings.iter().map(|t| pmu::summary_text(&t.schedule)).collect()
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

/// Names for layer ids: the tensor of the program's tensor map that the layer's last store writes
/// into. The cvimodel has no table from layer id to op name (`runtime.md` §3.2), but the store's
/// base register and offset locate the tensor in its region.
pub fn layer_names(program: &Program, chip: Chip, cmds: &[Command]) -> HashMap<u32, String> {
    // (region, start, end, name), sorted by region and start.
    let mut spans: Vec<(u32, u64, u64, &str)> = program
        .tensor_map
        .iter()
        .filter_map(|t| {
            let r = t.region? as u32;
            let size = tensor_mem_size(chip, t)?.0;
            (size > 0).then_some((r, t.region_offset, t.region_offset + size, t.name.as_str()))
        })
        .collect();
    spans.sort_by_key(|s| (s.0, s.1));
    let mut names = HashMap::new();
    for c in cmds {
        let Desc::Tdma(d) = &c.desc else { continue };
        if !d.op().dir.dst_is_global() {
            continue;
        }
        let (r, a) = (d.dst_base_reg_sel, d.dst_addr());
        // The last tensor of the region starting at or below the address, if it covers it.
        let k = spans.partition_point(|s| (s.0, s.1) <= (r, a));
        if let Some(&(sr, _, end, name)) = k.checked_sub(1).map(|k| &spans[k]) {
            if sr == r && a < end {
                names.insert(d.layer_id, name.to_string());
            }
        }
    }
    names
}

/// Write the trace of every TPU routine, one after another.
pub fn write_trace(path: &Path, loaded: &LoadedModel, program: usize, timings: &[RoutineTiming]) -> Result<(), String> {
    let model = &loaded.model;
    let p = model.program(program).map_err(|e| e.to_string())?;
    let names: Vec<HashMap<u32, String>> =
        timings.iter().map(|t| layer_names(p, model.chip(), t.cmds.commands())).collect();
    let parts: Vec<TracePart> = timings
        .iter()
        .zip(&names)
        .map(|(t, n)| TracePart {
            name: format!("routine {} ({})", t.routine, t.section),
            schedule: &t.schedule,
            cmds: t.cmds.commands(),
            layer_names: n,
        })
        .collect();
    let v = timing::chrome_trace_parts(&parts);
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

/// Summary figures of every routine (for callers that want numbers rather than text).
pub fn summaries(timings: &[RoutineTiming]) -> Vec<PmuSummary> {
    timings.iter().map(|t| PmuSummary::from_schedule(&t.schedule)).collect()
}
