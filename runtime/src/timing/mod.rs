//! Program-level timing: every TPU routine of a program scheduled by the timing model, layers
//! named by the tensors they store, and the reports made from the schedules. Used by the CLI
//! (`run --pmu`, `--pmu-csv`, `--trace`, `--timing-only`), the Rust API and through it the C ABI.

pub mod calibration;

use crate::cvimodel::{Program, RoutineKind};
use crate::memory::tensor_mem_size;
use crate::session::LoadedModel;
use cvsim_isa::{Chip, Command, CommandStream, Desc};
use cvsim_sim::timing::{self, pmu, PmuSummary, Schedule, TimingConfig, TracePart};
use std::collections::HashMap;
use std::sync::Arc;

/// One TPU routine's schedule.
pub struct RoutineTiming {
    /// Index of the routine in the program.
    pub routine: usize,
    pub section: String,
    /// The routine's stream: the CSV and trace writers look descriptors up by index.
    pub cmds: Arc<CommandStream>,
    pub schedule: Schedule,
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
        let schedule =
            timing::schedule(chip, cmds.commands(), cfg).map_err(|e| format!("routine {i} (TPU, section `{section}`): {e}"))?;
        out.push(RoutineTiming { routine: i, section, cmds, schedule });
    }
    Ok(out)
}

/// The summaries the vendor runtime prints with `TPU_ENABLE_PMU=1`, one per TPU routine.
pub fn pmu_text(timings: &[RoutineTiming]) -> String {
    timings.iter().map(|t| pmu::summary_text(&t.schedule)).collect()
}

/// The PMU summary text of one cmdbuf section, or why there is none.
pub fn section_pmu_text(loaded: &LoadedModel, section: &str, cfg: &TimingConfig) -> String {
    match loaded.cmdbufs.get(section) {
        Some(stream) => match timing::schedule(loaded.model.chip(), stream.commands(), cfg) {
            Ok(s) => pmu::summary_text(&s),
            Err(e) => format!("cvsim: no PMU summary for section `{section}`: {e}\n"),
        },
        None => format!("cvsim: no PMU summary: section `{section}` is not loaded\n"),
    }
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
            let r = t.region?.number() as u32;
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

/// The Chrome/Perfetto trace of every TPU routine, one after another, layers named by
/// [`layer_names`].
pub fn trace(loaded: &LoadedModel, program: usize, timings: &[RoutineTiming]) -> Result<serde_json::Value, String> {
    let model = &loaded.model;
    let p = model.program(program).map_err(|e| e.to_string())?;
    let names: Vec<HashMap<u32, String>> = timings.iter().map(|t| layer_names(p, model.chip(), t.cmds.commands())).collect();
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
    Ok(timing::chrome_trace_parts(&parts))
}

/// Summary figures of every routine (for callers that want numbers rather than text).
pub fn summaries(timings: &[RoutineTiming]) -> Vec<PmuSummary> {
    timings.iter().map(|t| PmuSummary::from_schedule(&t.schedule)).collect()
}
