//! Running the fp32 graph over the samples and turning what it produces into thresholds: a first
//! pass for every tensor's per-sample min and max, a second for the histograms (binned as the
//! vendor's single ordered pass would bin them, see [`super::histogram`]), then the KL threshold
//! of each histogram clamped to the tensor's |x| max. Samples are spread over worker threads;
//! each worker keeps only per-tensor numbers and histograms, never a sample's activations.

use super::histogram::{accumulate, HistogramPlan};
use super::kld::{kl_threshold, INT8_LEVELS};
use crate::ir::{Graph, TensorId};
use ndarray::{ArrayD, ArrayViewD};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// One calibration input: a value for each graph input, by the input tensor's name.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Shown in errors (the file it came from).
    pub label: String,
    pub inputs: Vec<(String, ArrayD<f32>)>,
}

/// Where samples come from. Each is loaded when a worker needs it, once per pass.
pub trait SampleSource: Sync {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn sample(&self, index: usize) -> Result<Sample, Box<dyn std::error::Error + Send + Sync>>;
}

impl SampleSource for Vec<Sample> {
    fn len(&self) -> usize {
        <[Sample]>::len(self)
    }
    fn sample(&self, index: usize) -> Result<Sample, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self[index].clone())
    }
}

/// Runs the fp32 graph on a sample and shows each activation it produces to the visitor (node
/// outputs; graph inputs may be shown too). The calibrator takes graph inputs from the sample.
pub type RunFn<'a> = dyn Fn(&Sample, &mut dyn FnMut(TensorId, ArrayViewD<'_, f32>)) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
    + Sync
    + 'a;

#[derive(Clone, Debug)]
pub struct Options {
    /// Initial bins of each histogram (the vendor's `--histogram_bin_num`, 2048).
    pub histogram_bins: usize,
    /// Worker threads; 0 = one per available core.
    pub threads: usize,
    /// Draw a progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { histogram_bins: 2048, threads: 0, progress: true }
    }
}

/// One tensor's result, in the table's terms.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TensorResult {
    pub tensor: TensorId,
    pub threshold: f32,
    pub min: f32,
    pub max: f32,
    /// max(|min|, |max|), floored at 1e-5.
    pub abs_max: f32,
    /// The KL threshold before it was clamped to `abs_max`.
    pub kl: f32,
    /// Bins of the final histogram.
    pub bins: usize,
}

#[derive(Clone, Debug)]
pub struct Calibration {
    /// Graph inputs first, then node outputs in node order (the vendor's table order).
    pub tensors: Vec<TensorResult>,
    pub samples: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum CalibrateError {
    #[error("no calibration samples")]
    NoSamples,
    #[error("sample {index}: {source}")]
    Load { index: usize, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("sample {index} ({label}): graph input {input:?} is missing")]
    MissingInput { index: usize, label: String, input: String },
    #[error("sample {index} ({label}): the fp32 graph failed: {source}")]
    Run { index: usize, label: String, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("sample {index} ({label}): tensor {tensor:?} was not produced, though the first sample produced it")]
    Missing { index: usize, label: String, tensor: String },
}

/// The smallest threshold the vendor writes; all-zero tensors get it.
const MIN_THRESHOLD: f32 = 1e-5;

/// Calibrate every activation tensor of `graph` over `samples`.
pub fn calibrate(
    graph: &Graph,
    samples: &dyn SampleSource,
    run: &RunFn<'_>,
    opts: &Options,
) -> Result<Calibration, CalibrateError> {
    let n = samples.len();
    if n == 0 {
        return Err(CalibrateError::NoSamples);
    }
    let order = activation_order(graph);
    let slot: HashMap<TensorId, usize> = order.iter().enumerate().map(|(i, &t)| (t, i)).collect();
    let threads =
        if opts.threads == 0 { std::thread::available_parallelism().map_or(1, |p| p.get()) } else { opts.threads }
            .clamp(1, n);
    let bar = progress_bar(opts.progress, 2 * n as u64);

    // Pass 1: per-sample min and max of every tensor.
    bar.set_message("min/max");
    let minmax: Vec<Vec<Option<(f32, f32)>>> = parallel_samples(samples, threads, &bar, |sample, index| {
        let mut mm: Vec<Option<(f32, f32)>> = vec![None; order.len()];
        visit_sample(graph, sample, index, run, &slot, &mut |s, view| {
            let (lo, hi) = view.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            mm[s] = Some(match mm[s] {
                Some((a, b)) => (a.min(lo), b.max(hi)),
                None => (lo, hi),
            });
        })?;
        Ok(mm)
    })?;

    // Tensors the first sample produced are the ones calibrated; every sample must produce them.
    let present: Vec<usize> = (0..order.len()).filter(|&s| minmax[0][s].is_some()).collect();
    let mut plans: Vec<Option<HistogramPlan>> = vec![None; order.len()];
    for &s in &present {
        let mut mm = Vec::with_capacity(n);
        for (index, per) in minmax.iter().enumerate() {
            match per[s] {
                Some(v) => mm.push(v),
                None => {
                    let label = samples.sample(index).map(|x| x.label).unwrap_or_default();
                    return Err(CalibrateError::Missing { index, label, tensor: graph.tensors[order[s]].name.clone() });
                }
            }
        }
        plans[s] = Some(HistogramPlan::new(&mm, opts.histogram_bins));
    }

    // Pass 2: histograms, summed by index across samples.
    bar.set_message("histograms");
    let totals: Mutex<Vec<Vec<u64>>> =
        Mutex::new(plans.iter().map(|p| vec![0; p.as_ref().map_or(0, |p| p.bins)]).collect());
    let next = AtomicUsize::new(0);
    let first_error: Mutex<Option<(usize, CalibrateError)>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut local: Vec<Vec<u64>> =
                    plans.iter().map(|p| vec![0; p.as_ref().map_or(0, |p| p.bins)]).collect();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= n || first_error.lock().unwrap().is_some() {
                        break;
                    }
                    let result = samples
                        .sample(index)
                        .map_err(|source| CalibrateError::Load { index, source })
                        .and_then(|sample| {
                            visit_sample(graph, &sample, index, run, &slot, &mut |s, view| {
                                if let Some(plan) = &plans[s] {
                                    if index >= plan.first_kept {
                                        accumulate(view.iter().copied(), plan.per_sample[index], &mut local[s]);
                                    }
                                }
                            })
                        });
                    if let Err(e) = result {
                        let mut fe = first_error.lock().unwrap();
                        if fe.as_ref().map_or(true, |(i, _)| index < *i) {
                            *fe = Some((index, e));
                        }
                        break;
                    }
                    bar.inc(1);
                }
                let mut t = totals.lock().unwrap();
                for (acc, h) in t.iter_mut().zip(local) {
                    for (a, b) in acc.iter_mut().zip(h) {
                        *a += b;
                    }
                }
            });
        }
    });
    if let Some((_, e)) = first_error.into_inner().unwrap() {
        bar.abandon();
        return Err(e);
    }
    let totals = totals.into_inner().unwrap();
    bar.finish_and_clear();

    let mut tensors = Vec::with_capacity(present.len());
    for &s in &present {
        let plan = plans[s].as_ref().expect("planned");
        let (mut min, mut max) = minmax.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), per| {
            let (lo, hi) = per[s].expect("checked");
            (a.min(lo), b.max(hi))
        });
        let mut abs_max = plan.abs_max;
        if abs_max <= MIN_THRESHOLD {
            min = if min < 0.0 { -MIN_THRESHOLD } else { 0.0 };
            max = MIN_THRESHOLD;
            abs_max = MIN_THRESHOLD;
        }
        let kl = kl_threshold(&totals[s], plan.width, INT8_LEVELS);
        let mut threshold = kl.min(abs_max);
        if threshold.is_nan() || threshold <= MIN_THRESHOLD {
            threshold = MIN_THRESHOLD;
        }
        tensors.push(TensorResult { tensor: order[s], threshold, min, max, abs_max, kl, bins: plan.bins });
    }
    Ok(Calibration { tensors, samples: n })
}

/// Graph inputs, then every node output that is not a constant, in node order.
fn activation_order(graph: &Graph) -> Vec<TensorId> {
    let mut seen = vec![false; graph.tensors.len()];
    let mut order = Vec::new();
    for &t in graph.inputs.iter().chain(graph.nodes.iter().flat_map(|n| n.outputs.iter())) {
        if graph.tensors[t].value.is_none() && !seen[t] {
            seen[t] = true;
            order.push(t);
        }
    }
    order
}

/// Show a sample's inputs and every activation the run produces, each tensor once.
fn visit_sample(
    graph: &Graph,
    sample: &Sample,
    index: usize,
    run: &RunFn<'_>,
    slot: &HashMap<TensorId, usize>,
    f: &mut dyn FnMut(usize, ArrayViewD<'_, f32>),
) -> Result<(), CalibrateError> {
    let mut shown = vec![false; slot.len()];
    for &input in &graph.inputs {
        let name = &graph.tensors[input].name;
        let Some((_, value)) = sample.inputs.iter().find(|(k, _)| k == name) else {
            return Err(CalibrateError::MissingInput { index, label: sample.label.clone(), input: name.clone() });
        };
        if let Some(&s) = slot.get(&input) {
            shown[s] = true;
            f(s, value.view());
        }
    }
    run(sample, &mut |t, view| {
        if let Some(&s) = slot.get(&t) {
            if !shown[s] {
                shown[s] = true;
                f(s, view);
            }
        }
    })
    .map_err(|source| CalibrateError::Run { index, label: sample.label.clone(), source })
}

/// Run `work` on every sample on `threads` workers; results in sample order. The first failing
/// sample (lowest index among those that failed) is the error returned.
fn parallel_samples<T: Send>(
    samples: &dyn SampleSource,
    threads: usize,
    bar: &indicatif::ProgressBar,
    work: impl Fn(&Sample, usize) -> Result<T, CalibrateError> + Sync,
) -> Result<Vec<T>, CalibrateError> {
    let n = samples.len();
    let results: Mutex<Vec<Option<Result<T, CalibrateError>>>> = Mutex::new((0..n).map(|_| None).collect());
    let next = AtomicUsize::new(0);
    let failed = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= n || failed.load(Ordering::Relaxed) {
                    break;
                }
                let r = samples
                    .sample(index)
                    .map_err(|source| CalibrateError::Load { index, source })
                    .and_then(|s| work(&s, index));
                if r.is_err() {
                    failed.store(true, Ordering::Relaxed);
                }
                results.lock().unwrap()[index] = Some(r);
                bar.inc(1);
            });
        }
    });
    let mut out = Vec::with_capacity(n);
    for r in results.into_inner().unwrap() {
        match r {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => return Err(e),
            // Skipped after another sample failed: that failure comes first or later in the list.
            None => continue,
        }
    }
    Ok(out)
}

fn progress_bar(enabled: bool, total: u64) -> indicatif::ProgressBar {
    if !enabled {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::stderr());
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("calibrate {msg:>10} [{bar:30}] {pos}/{len} samples·passes {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

impl Calibration {
    /// The table in the vendor's format, entries named by `name_of` (see
    /// [`super::table::vendor_names`]).
    pub fn to_table(&self, header: Vec<String>, name_of: &dyn Fn(TensorId) -> String) -> super::Table {
        let entries = self
            .tensors
            .iter()
            .map(|t| super::Entry {
                name: name_of(t.tensor),
                threshold: t.threshold as f64,
                min: t.min as f64,
                max: t.max as f64,
            })
            .collect();
        super::Table { header, entries, extra: Vec::new() }
    }

    /// Record the thresholds on the graph's tensors.
    pub fn apply(&self, graph: &mut Graph) {
        for t in &self.tensors {
            graph.tensors[t.tensor].calibration =
                Some(crate::ir::Calibration { threshold: t.threshold, min: t.min, max: t.max });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{DType, Node, Op, Tensor, Value};
    use ndarray::IxDyn;

    fn tensor(name: &str, shape: &[usize], value: Option<Value>) -> Tensor {
        Tensor { name: name.into(), shape: shape.to_vec(), dtype: DType::F32, value, calibration: None }
    }

    /// x → Relu → r; r · c → y, with c a constant.
    fn graph() -> Graph {
        let c = Value::F32(ArrayD::from_elem(IxDyn(&[1]), 0.5));
        Graph {
            tensors: vec![
                tensor("x", &[1, 1, 8, 8], None),
                tensor("r", &[1, 1, 8, 8], None),
                tensor("c", &[1], Some(c)),
                tensor("y", &[1, 1, 8, 8], None),
            ],
            nodes: vec![
                Node { name: "relu".into(), op: Op::Relu, inputs: vec![0], outputs: vec![1] },
                Node { name: "mul".into(), op: Op::Mul, inputs: vec![1, 2], outputs: vec![3] },
            ],
            inputs: vec![0],
            outputs: vec![3],
        }
    }

    /// The tiny evaluator the test stands in for the reference interpreter with.
    fn run(
        sample: &Sample,
        visit: &mut dyn FnMut(TensorId, ArrayViewD<'_, f32>),
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let x = &sample.inputs[0].1;
        let r = x.mapv(|v| v.max(0.0));
        visit(1, r.view());
        let y = r.mapv(|v| v * 0.5);
        visit(3, y.view());
        Ok(())
    }

    fn samples(n: usize) -> Vec<Sample> {
        (0..n)
            .map(|k| {
                let data: Vec<f32> =
                    (0..64).map(|i| ((i * 7 + k * 13) % 64) as f32 / 8.0 - 2.0 - k as f32 * 0.25).collect();
                Sample {
                    label: format!("s{k}"),
                    inputs: vec![("x".into(), ArrayD::from_shape_vec(IxDyn(&[1, 1, 8, 8]), data).unwrap())],
                }
            })
            .collect()
    }

    #[test]
    fn every_activation_gets_min_max_and_a_threshold_within_it() {
        let g = graph();
        let s = samples(5);
        let cal = calibrate(&g, &s, &run, &Options { progress: false, ..Options::default() }).unwrap();
        let ids: Vec<TensorId> = cal.tensors.iter().map(|t| t.tensor).collect();
        assert_eq!(ids, vec![0, 1, 3]);
        let x = cal.tensors[0];
        assert_eq!((x.min, x.max), (-3.0, 5.875));
        let r = cal.tensors[1];
        assert_eq!(r.min, 0.0);
        for t in &cal.tensors {
            assert!(t.threshold > 0.0 && t.threshold <= t.abs_max, "{t:?}");
        }
        // y = r/2 exactly: the same histogram shape at half the width, so half the threshold.
        assert_eq!(cal.tensors[2].threshold, r.threshold * 0.5);
    }

    #[test]
    fn threads_do_not_change_the_result() {
        let g = graph();
        let s = samples(7);
        let one = calibrate(&g, &s, &run, &Options { threads: 1, progress: false, ..Options::default() }).unwrap();
        let three = calibrate(&g, &s, &run, &Options { threads: 3, progress: false, ..Options::default() }).unwrap();
        assert_eq!(one.tensors, three.tensors);
    }

    #[test]
    fn a_single_sample_matches_a_direct_histogram() {
        let g = graph();
        let s = samples(1);
        let cal = calibrate(&g, &s, &run, &Options { progress: false, ..Options::default() }).unwrap();
        let x: Vec<f32> = s[0].inputs[0].1.iter().copied().collect();
        let abs = x.iter().fold(0f32, |m, v| m.max(v.abs()));
        let width = abs as f64 / 2047.0;
        let mut h = vec![0u64; 2048];
        for v in &x {
            let t = v.abs();
            if t != 0.0 {
                h[(t / width as f32 + 0.5).floor() as usize] += 1;
            }
        }
        let kl = kl_threshold(&h, width, 128);
        assert_eq!(cal.tensors[0].kl, kl);
        assert_eq!(cal.tensors[0].threshold, kl.min(abs));
    }

    #[test]
    fn errors_name_the_sample() {
        let g = graph();
        let mut s = samples(3);
        s[2].inputs[0].0 = "other".into();
        let e = calibrate(&g, &s, &run, &Options { progress: false, ..Options::default() }).unwrap_err();
        assert_eq!(e.to_string(), "sample 2 (s2): graph input \"x\" is missing");
        let failing = |_: &Sample,
                       _: &mut dyn FnMut(TensorId, ArrayViewD<'_, f32>)|
         -> Result<(), Box<dyn std::error::Error + Send + Sync>> { Err("boom".into()) };
        let e = calibrate(&g, &samples(2), &failing, &Options { threads: 1, progress: false, ..Options::default() })
            .unwrap_err();
        assert_eq!(e.to_string(), "sample 0 (s0): the fp32 graph failed: boom");
    }
}
