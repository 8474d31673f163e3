//! Models forwarding from several threads at once on the one TPU, as on a board, and how long each
//! forward waits for the TPU (`cvsim threads`; any front end can call [`run`]).
//!
//! Every thread forwards its own clone of a model (shared weights and command buffers) through the
//! vendor-style API, so the emulator really queues the threads on its one TPU. Two timelines are
//! reported: the board estimate, where TPU routines take the timing model's inference time and the
//! TPU is given first come, first served (`sim::timing::queue`), and the emulator's own wall
//! clock. Inputs are zero: neither the timing nor the queueing depends on data.

use crate::api::{Config, ForwardStats, ModelHandle, Runtime};
use crate::cvimodel::RoutineKind;
use crate::timing::time_program;
use cvsim_sim::timing::chrome::ChromeTrace;
use cvsim_sim::timing::queue::{simulate, ForwardSpan, SliceKind, Step, Timeline};
use cvsim_sim::timing::{PmuSummary, TimingConfig};
use std::fmt::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What to run: each model on `threads` threads, `forwards` passes each, all with `program`.
#[derive(Clone, Debug)]
pub struct Options {
    /// The model files and their names in the report.
    pub models: Vec<(PathBuf, String)>,
    pub threads: usize,
    pub forwards: usize,
    pub program: usize,
}

/// What one thread did on the emulator.
pub struct ThreadRun {
    pub model: usize,
    pub stats: Vec<ForwardStats>,
    /// Wall-clock start and end of each forward, from the common start.
    pub spans: Vec<(Duration, Duration)>,
    /// Whether every forward gave the outputs of the model's first thread's first forward.
    pub same_outputs: bool,
}

/// Both timelines of a run.
pub struct Report {
    pub options: Options,
    /// The board estimate.
    pub timeline: Timeline,
    /// The emulator: one entry per thread, model by model.
    pub runs: Vec<ThreadRun>,
    /// Wall-clock time of the whole run on the emulator.
    pub wall: Duration,
    /// Whether every forward of a model gave the same bytes.
    pub same: bool,
}

fn outputs(h: &ModelHandle) -> Result<Vec<Vec<u8>>, String> {
    let (_, outs) = h.tensors().map_err(|e| e.to_string())?;
    outs.iter().map(|t| h.tensor_bytes(&t.name).map_err(|e| e.to_string())).collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Run every model's threads on one [`Runtime`]; errors name the model file.
pub fn run(a: Options, cfg: &TimingConfig) -> Result<Report, String> {
    if a.threads == 0 || a.forwards == 0 {
        return Err("the thread and forward counts must be at least 1".into());
    }
    let rt = Runtime::new();
    // Per model: the TPU time of each TPU routine (board estimate), None for a CPU routine.
    let mut tpu_ms: Vec<Vec<Option<f64>>> = Vec::new();
    let mut handles: Vec<(usize, ModelHandle)> = Vec::new();
    for (m, (path, _)) in a.models.iter().enumerate() {
        let at = |e: String| format!("{}: {e}", path.display());
        let root = rt.register_file(path).map_err(|e| at(e.to_string()))?;
        let timings = time_program(root.loaded_model(), a.program, cfg).map_err(at)?;
        let prog = root.model().program(a.program).map_err(|e| at(e.to_string()))?;
        let mut per = Vec::new();
        for (i, r) in prog.routines.iter().enumerate() {
            per.push(match r.kind {
                RoutineKind::Tpu { .. } => Some(
                    timings
                        .iter()
                        .find(|t| t.routine == i)
                        .map(|t| PmuSummary::from_schedule(&t.schedule).inference_ms())
                        .ok_or_else(|| at(format!("routine {i} has no schedule")))?,
                ),
                _ => None,
            });
        }
        tpu_ms.push(per);
        // The clones share the root's weights and command streams; it may go once they exist.
        for _ in 0..a.threads {
            let h = root.clone_model();
            h.set_config(Config::ProgramIndex(a.program)).map_err(|e| at(e.to_string()))?;
            let (ins, _) = h.tensors().map_err(|e| at(e.to_string()))?;
            for t in &ins {
                h.set_input(&t.name, &vec![0; t.mem_size as usize]).map_err(|e| at(e.to_string()))?;
            }
            handles.push((m, h));
        }
    }

    let epoch = Instant::now();
    let runs: Vec<Result<ThreadRun, String>> = std::thread::scope(|s| {
        let joins: Vec<_> = handles
            .iter()
            .map(|(m, h)| {
                let forwards = a.forwards;
                s.spawn(move || -> Result<ThreadRun, String> {
                    let mut run = ThreadRun { model: *m, stats: Vec::new(), spans: Vec::new(), same_outputs: true };
                    let mut first: Option<Vec<Vec<u8>>> = None;
                    for _ in 0..forwards {
                        let start = epoch.elapsed();
                        let st = h.forward().map_err(|e| e.to_string())?;
                        run.spans.push((start, epoch.elapsed()));
                        run.stats.push(st);
                        let out = outputs(h)?;
                        match &first {
                            None => first = Some(out),
                            Some(f) => run.same_outputs &= *f == out,
                        }
                    }
                    Ok(run)
                })
            })
            .collect();
        joins.into_iter().map(|j| j.join().unwrap_or_else(|_| Err("a forward thread panicked".into()))).collect()
    });
    let wall = epoch.elapsed();
    let runs = runs.into_iter().collect::<Result<Vec<_>, _>>()?;
    // Across threads of one model: compare the last outputs of each clone.
    let mut same = runs.iter().all(|r| r.same_outputs);
    for m in 0..a.models.len() {
        let outs: Vec<Vec<Vec<u8>>> =
            handles.iter().filter(|(hm, _)| *hm == m).map(|(_, h)| outputs(h)).collect::<Result<_, _>>()?;
        same &= outs.windows(2).all(|w| w[0] == w[1]);
    }

    // Board estimate: each thread's pass as steps; a CPU routine takes its mean host time.
    let steps: Vec<Vec<Step>> = runs
        .iter()
        .map(|r| {
            tpu_ms[r.model]
                .iter()
                .enumerate()
                .map(|(i, t)| match t {
                    Some(tpu) => Step::Tpu { ms: *tpu },
                    None => {
                        let total: Duration = r.stats.iter().map(|s| s.routine_times.get(i).copied().unwrap_or_default()).sum();
                        Step::Cpu { ms: ms(total) / r.stats.len() as f64 }
                    }
                })
                .collect()
        })
        .collect();
    let timeline = simulate(&steps, a.forwards);
    Ok(Report { options: a, timeline, runs, wall, same })
}

impl Report {
    /// The name of thread `t` in the report: its model's name and its number among the model's
    /// threads.
    pub fn label(&self, t: usize) -> String {
        format!("{} #{}", self.options.models[self.runs[t].model].1, t % self.options.threads)
    }

    /// The board estimate as a Chrome/Perfetto trace: one track per thread with its CPU routines,
    /// TPU routines and waits for the TPU.
    pub fn trace(&self) -> serde_json::Value {
        trace(&self.timeline, &|t| self.label(t))
    }

    /// The text `cvsim threads` prints.
    pub fn render(&self) -> String {
        render(self.options.forwards, &self.timeline.forwards, &self.runs, self.wall, &|t| self.label(t), self.same)
    }
}

/// The board estimate as Chrome trace events (times in µs): a track per thread.
fn trace(timeline: &Timeline, label: &dyn Fn(usize) -> String) -> serde_json::Value {
    let mut tr = ChromeTrace::new();
    let threads = timeline.slices.iter().map(|s| s.thread + 1).max().unwrap_or(0);
    for t in 0..threads {
        tr.thread_name(0, t as u32, format!("thread {t}: {}", label(t)));
    }
    for s in &timeline.slices {
        let (name, cat) = match s.kind {
            SliceKind::Wait => (format!("wait for TPU (routine {})", s.routine), "wait"),
            SliceKind::Tpu => (format!("TPU routine {}", s.routine), "tpu"),
            SliceKind::Cpu => (format!("CPU routine {}", s.routine), "cpu"),
        };
        let args = serde_json::json!({ "forward": s.forward });
        tr.slice(0, s.thread as u32, &name, cat, s.start_ms * 1e3, (s.end_ms - s.start_ms) * 1e3, args);
    }
    tr.finish("ms", None)
}

fn render(
    forwards: usize,
    board: &[ForwardSpan],
    runs: &[ThreadRun],
    wall: Duration,
    label: &dyn Fn(usize) -> String,
    same: bool,
) -> String {
    let mut s = String::new();
    let threads = runs.len();
    let _ = writeln!(
        s,
        "board estimate: {threads} threads on one TPU, {} forwards each (TPU routines: the timing model's inference time; CPU routines: the host's time)",
        forwards
    );
    let w = (0..threads).map(|t| label(t).len()).max().unwrap_or(6).max(6);
    let _ = writeln!(
        s,
        "{:>6}  {:<w$}  {:>7}  {:>10}  {:>10}  {:>10}  {:>10}  {:>10}",
        "thread", "model", "forward", "start_ms", "wait_ms", "tpu_ms", "cpu_ms", "latency_ms"
    );
    let mut by_start: Vec<&ForwardSpan> = board.iter().collect();
    by_start.sort_by(|x, y| x.start_ms.total_cmp(&y.start_ms).then(x.thread.cmp(&y.thread)));
    for f in by_start {
        let _ = writeln!(
            s,
            "{:>6}  {:<w$}  {:>7}  {:>10.3}  {:>10.3}  {:>10.3}  {:>10.3}  {:>10.3}",
            f.thread,
            label(f.thread),
            f.forward,
            f.start_ms,
            f.wait_ms,
            f.tpu_ms,
            f.cpu_ms,
            f.latency_ms()
        );
    }
    for t in 0..threads {
        let mine: Vec<&ForwardSpan> = board.iter().filter(|f| f.thread == t).collect();
        let n = mine.len().max(1) as f64;
        let _ = writeln!(
            s,
            "thread {t} ({}): latency mean {:.3} ms, max {:.3} ms; waiting for the TPU mean {:.3} ms, max {:.3} ms",
            label(t),
            mine.iter().map(|f| f.latency_ms()).sum::<f64>() / n,
            mine.iter().map(|f| f.latency_ms()).fold(0.0, f64::max),
            mine.iter().map(|f| f.wait_ms).sum::<f64>() / n,
            mine.iter().map(|f| f.wait_ms).fold(0.0, f64::max),
        );
    }
    let end = board.iter().map(|f| f.end_ms).fold(0.0, f64::max);
    let busy: f64 = board.iter().map(|f| f.tpu_ms).sum();
    let wait: f64 = board.iter().map(|f| f.wait_ms).sum();
    let _ = writeln!(
        s,
        "TPU busy {busy:.3} ms of {end:.3} ms ({:.1}%): {} forwards, {:.1} per second; waiting for the TPU {wait:.3} ms in all, {:.3} ms per forward",
        if end > 0.0 { 100.0 * busy / end } else { 0.0 },
        board.len(),
        if end > 0.0 { board.len() as f64 / end * 1e3 } else { 0.0 },
        wait / board.len().max(1) as f64,
    );
    let stats = runs.iter().flat_map(|r| &r.stats);
    let (held, waited) = stats.fold((Duration::ZERO, Duration::ZERO), |(h, w), st| (h + st.tpu_run, w + st.tpu_wait));
    let slowest = runs.iter().flat_map(|r| &r.spans).map(|(b, e)| *e - *b).max().unwrap_or_default();
    let _ = writeln!(
        s,
        "emulator (wall clock): {} forwards in {:.1} ms; the emulated TPU was held {:.1} ms, threads waited {:.1} ms for it in all ({:.1} ms per forward; slowest forward {:.1} ms)",
        board.len(),
        ms(wall),
        ms(held),
        ms(waited),
        ms(waited) / board.len().max(1) as f64,
        ms(slowest),
    );
    let _ = writeln!(
        s,
        "outputs: {}",
        if same { "every forward of a model gave the same bytes" } else { "DIFFER between forwards of one model" }
    );
    s
}
