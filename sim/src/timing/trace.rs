//! A Chrome / Perfetto trace (JSON "Trace Event Format") of a schedule: one track per engine with a
//! slice per descriptor named by its operation, layer markers from the layer ids the descriptors
//! carry, and the DRAM bandwidth TDMA uses as a counter track. Times are in microseconds.

use super::chrome::ChromeTrace;
use super::schedule::Schedule;
use cvsim_isa::disasm::tiu_op_name;
use cvsim_isa::{Command, Desc, Engine};
use serde_json::{json, Value};
use std::collections::HashMap;

const PID: u32 = 1;
const TID_TIU: u32 = 1;
const TID_TDMA: u32 = 2;
const TID_LAYERS: u32 = 3;
const TID_ROUTINES: u32 = 4;

/// One TPU routine's schedule, as a part of a trace.
pub struct TracePart<'a> {
    /// Shown on the routines track, e.g. `routine 1 (subfunc_0)`.
    pub name: String,
    pub schedule: &'a Schedule,
    /// The command list the schedule was made from.
    pub cmds: &'a [Command],
    /// Names of layer ids where the model lets one derive them (e.g. the tensor a layer writes).
    pub layer_names: &'a HashMap<u32, String>,
}

/// The trace of one routine's schedule. `cmds` must be the command list it was made from.
pub fn chrome_trace(s: &Schedule, cmds: &[Command]) -> Value {
    let names = HashMap::new();
    chrome_trace_parts(&[TracePart { name: "routine".into(), schedule: s, cmds, layer_names: &names }])
}

/// The trace of several TPU routines run one after another. CPU routines between them take no
/// time here: their host time is outside the TPU model (as it is outside the PMU figures).
pub fn chrome_trace_parts(parts: &[TracePart]) -> Value {
    let mut tr = ChromeTrace::new();
    let Some(first) = parts.first() else {
        return tr.finish("ns", None);
    };
    let (chip, clock_hz) = (first.schedule.chip, first.schedule.clock_hz);
    tr.process_name(PID, format!("{chip} TPU @ {} MHz", clock_hz / 1_000_000));
    tr.thread_name(PID, TID_TIU, "TIU".into());
    tr.thread_name(PID, TID_TDMA, "TDMA".into());
    tr.thread_name(PID, TID_LAYERS, "layers".into());
    tr.thread_name(PID, TID_ROUTINES, "routines".into());
    let mut offset = 0u64;
    let mut run = 0u32;
    for p in parts {
        add_part(&mut tr, p, offset, &mut run);
        offset += p.schedule.totals.cycles;
    }
    let other = json!({
        "chip": chip.name(),
        "tpu_clock_hz": clock_hz,
        "cycles": offset,
        "ms": offset as f64 / clock_hz as f64 * 1e3,
    });
    tr.finish("ns", Some(other))
}

fn add_part(tr: &mut ChromeTrace, p: &TracePart, offset: u64, run: &mut u32) {
    let (s, cmds) = (p.schedule, p.cmds);
    let us = |cycles: u64| (cycles + offset) as f64 * 1e6 / s.clock_hz as f64;
    let dur = |cycles: u64| cycles as f64 * 1e6 / s.clock_hz as f64;
    let args = json!({"cycles": s.totals.cycles, "descriptors": s.entries.len()});
    tr.slice(PID, TID_ROUTINES, &p.name, "routine", us(0), dur(s.totals.cycles), args);
    for e in &s.entries {
        let desc = &cmds[e.index as usize].desc;
        let (tid, name) = match desc {
            Desc::Tiu(d) => (TID_TIU, tiu_op_name(s.chip, d)),
            Desc::Tdma(d) => (TID_TDMA, d.op().name()),
            Desc::Cpu(_) => continue,
        };
        let mut args =
            json!({"index": e.index, "id": e.id, "layer": e.layer, "cycles": e.cycles(), "segment": e.segment});
        if e.engine == Engine::Tdma {
            args["dram_read_bytes"] = json!(e.read_bytes);
            args["dram_write_bytes"] = json!(e.write_bytes);
        }
        tr.slice(PID, tid, &name, e.engine.name(), us(e.start), dur(e.cycles()), args);
    }

    // Layer markers: each run of consecutive descriptors (command order) with one layer id spans
    // from its earliest start to its latest end. Runs of neighbouring layers overlap where loads for
    // the next layer are prefetched, so they are async slices, which may overlap.
    let mut k = 0;
    while k < s.entries.len() {
        let layer = s.entries[k].layer;
        let (mut start, mut end) = (u64::MAX, 0);
        let first = k;
        while k < s.entries.len() && s.entries[k].layer == layer {
            start = start.min(s.entries[k].start);
            end = end.max(s.entries[k].end);
            k += 1;
        }
        let name = match p.layer_names.get(&layer) {
            Some(n) => format!("layer {layer}: {n}"),
            None => format!("layer {layer}"),
        };
        let args = json!({"layer": layer, "descriptors": k - first});
        tr.async_slice(PID, TID_LAYERS, *run, &name, "layer", (us(start), us(end)), args);
        *run += 1;
    }

    // DRAM bandwidth (MB/s, MB = 10⁶ bytes as in DDR figures): TDMA is one engine, so its transfers
    // never overlap and the counter is a step per transfer.
    for e in s.entries.iter().filter(|e| e.engine == Engine::Tdma && e.bytes() > 0) {
        let mbs = e.bytes() as f64 / (e.cycles() as f64 / s.clock_hz as f64) / 1e6;
        tr.counter(PID, "DDR bandwidth", us(e.start), json!({"MB/s": mbs}));
        tr.counter(PID, "DDR bandwidth", us(e.end), json!({"MB/s": 0.0}));
    }
}
