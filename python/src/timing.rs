//! `Model.timing`: the schedules `cvsim run --pmu` prints, as numbers: the vendor summary of each
//! TPU routine, their totals, and the per-layer rows of `--pmu-csv`'s layer file.

use crate::model::Model;
use crate::EmulationError;
use cvsim::commands::timing::{self, RoutineTiming};
use cvsim_sim::timing::pmu::{self, PmuSummary};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

fn summary_into(d: &Bound<'_, PyDict>, s: &PmuSummary) -> PyResult<()> {
    d.set_item("clock_hz", s.effective_clock_hz())?;
    d.set_item("tdma_exe_tick", s.tdma_exe_tick)?;
    d.set_item("tiu_exe_tick", s.tiu_exe_tick)?;
    d.set_item("inference_tick", s.inference_tick)?;
    d.set_item("load_bytes", s.load_bytes)?;
    d.set_item("store_bytes", s.store_bytes)?;
    d.set_item("tdma_exe_ms", s.tdma_exe_ms())?;
    d.set_item("tiu_exe_ms", s.tiu_exe_ms())?;
    d.set_item("inference_ms", s.inference_ms())?;
    d.set_item("inference_data_mb", s.inference_data_mb())?;
    d.set_item("inference_bw", s.inference_bw())?;
    d.set_item("tdma_exe_percent", s.tdma_exe_percent())?;
    d.set_item("tiu_exe_percent", s.tiu_exe_percent())?;
    d.set_item("parallelism_percent", s.parallelism_percent())?;
    Ok(())
}

fn layers<'py>(py: Python<'py>, m: &Model, t: &RoutineTiming) -> PyResult<Bound<'py, PyList>> {
    let program = &m.loaded.model.programs[m.program];
    let names = timing::layer_names(program, m.loaded.model.chip(), t.cmds.commands());
    let clock = if t.schedule.clock_hz == 0 { 750_000_000 } else { t.schedule.clock_hz } as f64;
    let out = PyList::empty(py);
    for l in pmu::layer_slots(&t.schedule, t.cmds.commands()) {
        let d = PyDict::new(py);
        d.set_item("routine", t.routine)?;
        d.set_item("layer", l.layer)?;
        d.set_item("name", names.get(&l.layer))?;
        d.set_item("start", l.start)?;
        d.set_item("end", l.end)?;
        d.set_item("duration", l.duration())?;
        d.set_item("duration_ms", l.duration() as f64 / clock * 1000.0)?;
        d.set_item("tiu", l.tiu)?;
        d.set_item("tdma", l.tdma)?;
        d.set_item("load_neuron", l.load_neuron)?;
        d.set_item("load_weight", l.load_weight)?;
        d.set_item("store_neuron", l.store_neuron)?;
        d.set_item("bytes", l.bytes)?;
        d.set_item("last_des_id", l.last_des_id)?;
        out.append(d)?;
    }
    Ok(out)
}

pub fn timing<'py>(m: &Model, py: Python<'py>, ddr_load: f64) -> PyResult<Bound<'py, PyDict>> {
    let cfg = timing::load_config(None, Some(ddr_load)).map_err(PyValueError::new_err)?;
    let timings = py
        .detach(|| timing::time_program(&m.loaded, m.program, &cfg))
        .map_err(|e| EmulationError::new_err(m.err(e)))?;
    let summaries = timing::summaries(&timings);
    let out = PyDict::new(py);
    // Totals over the TPU routines (most models have one, and then they are its figures).
    let sum = |f: fn(&PmuSummary) -> f64| summaries.iter().map(f).sum::<f64>();
    out.set_item("tdma_exe_ms", sum(PmuSummary::tdma_exe_ms))?;
    out.set_item("tiu_exe_ms", sum(PmuSummary::tiu_exe_ms))?;
    out.set_item("inference_ms", sum(PmuSummary::inference_ms))?;
    out.set_item("ddr_load", ddr_load)?;
    let routines = PyList::empty(py);
    let all_layers = PyList::empty(py);
    for (t, s) in timings.iter().zip(&summaries) {
        let d = PyDict::new(py);
        d.set_item("routine", t.routine)?;
        d.set_item("section", &t.section)?;
        summary_into(&d, s)?;
        d.set_item("summary_text", s.render(t.schedule.chip))?;
        let ls = layers(py, m, t)?;
        for l in ls.iter() {
            all_layers.append(l)?;
        }
        d.set_item("layers", ls)?;
        routines.append(d)?;
    }
    out.set_item("routines", routines)?;
    out.set_item("layers", all_layers)?;
    Ok(out)
}
