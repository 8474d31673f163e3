//! A Chrome / Perfetto trace (JSON "Trace Event Format") of a schedule: one track per engine with a
//! slice per descriptor named by its operation, layer markers from the layer ids the descriptors
//! carry, and the DRAM bandwidth TDMA uses as a counter track. Times are in microseconds.

use super::schedule::Schedule;
use cvsim_isa::disasm::tiu_op_name;
use cvsim_isa::{Command, Desc, Engine};
use serde_json::{json, Value};

const PID: u32 = 1;
const TID_TIU: u32 = 1;
const TID_TDMA: u32 = 2;
const TID_LAYERS: u32 = 3;

/// The trace of one routine's schedule. `cmds` must be the command list it was made from.
pub fn chrome_trace(s: &Schedule, cmds: &[Command]) -> Value {
    let us = |cycles: u64| cycles as f64 * 1e6 / s.clock_hz as f64;
    let mut ev: Vec<Value> = Vec::with_capacity(s.entries.len() * 2 + 16);
    let meta = |tid: Option<u32>, name: &str, value: String| {
        let mut m = json!({"ph": "M", "pid": PID, "name": name, "args": {"name": value}});
        if let Some(t) = tid {
            m["tid"] = json!(t);
        }
        m
    };
    ev.push(meta(None, "process_name", format!("{} TPU @ {} MHz", s.chip, s.clock_hz / 1_000_000)));
    ev.push(meta(Some(TID_TIU), "thread_name", "TIU".into()));
    ev.push(meta(Some(TID_TDMA), "thread_name", "TDMA".into()));
    ev.push(meta(Some(TID_LAYERS), "thread_name", "layers".into()));

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
        ev.push(json!({
            "ph": "X", "pid": PID, "tid": tid, "name": name, "cat": e.engine.name(),
            "ts": us(e.start), "dur": us(e.cycles()), "args": args,
        }));
    }

    // Layer markers: each run of consecutive descriptors (command order) with one layer id spans
    // from its earliest start to its latest end. Runs of neighbouring layers overlap where loads for
    // the next layer are prefetched, so they are async slices, which may overlap.
    let mut k = 0;
    let mut run = 0u32;
    while k < s.entries.len() {
        let layer = s.entries[k].layer;
        let (mut start, mut end) = (u64::MAX, 0);
        let first = k;
        while k < s.entries.len() && s.entries[k].layer == layer {
            start = start.min(s.entries[k].start);
            end = end.max(s.entries[k].end);
            k += 1;
        }
        let name = format!("layer {layer}");
        let args = json!({"layer": layer, "descriptors": k - first});
        ev.push(json!({"ph": "b", "pid": PID, "tid": TID_LAYERS, "cat": "layer", "id": run, "name": name, "ts": us(start), "args": args}));
        ev.push(
            json!({"ph": "e", "pid": PID, "tid": TID_LAYERS, "cat": "layer", "id": run, "name": name, "ts": us(end)}),
        );
        run += 1;
    }

    // DRAM bandwidth (MB/s, MB = 10⁶ bytes as in DDR figures): TDMA is one engine, so its transfers
    // never overlap and the counter is a step per transfer.
    for e in s.entries.iter().filter(|e| e.engine == Engine::Tdma && e.bytes() > 0) {
        let mbs = e.bytes() as f64 / (e.cycles() as f64 / s.clock_hz as f64) / 1e6;
        ev.push(json!({"ph": "C", "pid": PID, "name": "DDR bandwidth", "ts": us(e.start), "args": {"MB/s": mbs}}));
        ev.push(json!({"ph": "C", "pid": PID, "name": "DDR bandwidth", "ts": us(e.end), "args": {"MB/s": 0.0}}));
    }

    json!({
        "displayTimeUnit": "ns",
        "otherData": {
            "chip": s.chip.name(),
            "tpu_clock_hz": s.clock_hz,
            "cycles": s.totals.cycles,
            "ms": s.ms(),
        },
        "traceEvents": ev,
    })
}
