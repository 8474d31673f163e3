//! The Chrome / Perfetto trace file (JSON "Trace Event Format"): the one writer of its event
//! shapes, used by the schedule trace and the threads timeline. Times are in microseconds.

use serde_json::{json, Value};

/// A trace being written: its events in order.
#[derive(Default)]
pub struct ChromeTrace {
    events: Vec<Value>,
}

impl ChromeTrace {
    pub fn new() -> ChromeTrace {
        ChromeTrace::default()
    }

    /// Name a process's track group.
    pub fn process_name(&mut self, pid: u32, name: String) {
        self.events.push(json!({"ph": "M", "pid": pid, "name": "process_name", "args": {"name": name}}));
    }

    /// Name a track.
    pub fn thread_name(&mut self, pid: u32, tid: u32, name: String) {
        self.events.push(json!({"ph": "M", "pid": pid, "tid": tid, "name": "thread_name", "args": {"name": name}}));
    }

    /// A slice on a track ("complete" event).
    #[allow(clippy::too_many_arguments)]
    pub fn slice(&mut self, pid: u32, tid: u32, name: &str, cat: &str, ts: f64, dur: f64, args: Value) {
        self.events.push(json!({
            "ph": "X", "pid": pid, "tid": tid, "name": name, "cat": cat, "ts": ts, "dur": dur, "args": args,
        }));
    }

    /// An async slice from `start` to `end`, which may overlap others on its track; `args` go
    /// with its beginning.
    #[allow(clippy::too_many_arguments)]
    pub fn async_slice(
        &mut self,
        pid: u32,
        tid: u32,
        id: u32,
        name: &str,
        cat: &str,
        (start, end): (f64, f64),
        args: Value,
    ) {
        self.events.push(
            json!({"ph": "b", "pid": pid, "tid": tid, "cat": cat, "id": id, "name": name, "ts": start, "args": args}),
        );
        self.events.push(json!({"ph": "e", "pid": pid, "tid": tid, "cat": cat, "id": id, "name": name, "ts": end}));
    }

    /// A counter's value from `ts` on.
    pub fn counter(&mut self, pid: u32, name: &str, ts: f64, args: Value) {
        self.events.push(json!({"ph": "C", "pid": pid, "name": name, "ts": ts, "args": args}));
    }

    /// The trace file's JSON: the events, the unit the viewer displays (`ns`, `ms`), and
    /// `otherData` (shown as metadata) if any.
    pub fn finish(self, display_unit: &str, other_data: Option<Value>) -> Value {
        let mut v = json!({"displayTimeUnit": display_unit, "traceEvents": self.events});
        if let Some(o) = other_data {
            v["otherData"] = o;
        }
        v
    }
}
