//! The vendor's threshold tuning after KL (`run_calibration.py --tune_num`, 5 by default): for
//! each op in order, the threshold of its input is tried at 22 evenly spaced points from the KL
//! threshold up to the input's |x| max; at each, every activation input of the op is
//! fake-quantised to int8 with that threshold (`round(x·127/t)` clamped, scaled back), the op is run
//! in fp32, and the distance `‖y_ref − y‖₂ / ‖y_ref‖₁` is averaged over the first tune samples.
//! The point with the smallest distance wins when it beats the KL threshold; a tensor read by
//! several ops keeps the largest winner. Thresholds only ever grow.
//!
//! The vendor also fake-quantises weights for this (`fake_quant_weight`), but its routine rounds a
//! copy of each weight and leaves the weights themselves unchanged, so the ops run with fp32
//! weights; this does the same.

use super::collect::{Calibration, SampleSource};
use crate::ir::{Graph, TensorId};
use ndarray::ArrayD;
use std::collections::HashMap;

/// Evaluates node `index` of the graph in fp32 on the given inputs (one per node input, constants
/// included), returning its outputs.
pub type EvalNodeFn<'a> =
    dyn Fn(usize, &[&ArrayD<f32>]) -> Result<Vec<ArrayD<f32>>, Box<dyn std::error::Error + Send + Sync>> + Sync + 'a;

#[derive(Clone, Debug)]
pub struct TuneOptions {
    /// Samples used (the first of the dataset's order); the vendor's `--tune_num`, 5.
    pub samples: usize,
    /// Intervals between the KL threshold and |x| max (the vendor's 21, so 22 points).
    pub steps: usize,
    /// Ranges narrower than this are not tuned (the vendor's `min_tuned_diff`).
    pub min_diff: f64,
    /// Worker threads for the candidate points; 0 = one per core.
    pub threads: usize,
}

impl Default for TuneOptions {
    fn default() -> Self {
        TuneOptions { samples: 5, steps: 21, min_diff: 0.01, threads: 0 }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TuneError {
    #[error("tune sample {index}: {source}")]
    Load { index: usize, source: Box<dyn std::error::Error + Send + Sync> },
    #[error("tune sample {index}: graph input {input:?} is missing")]
    MissingInput { index: usize, input: String },
    #[error("node {node:?}: {source}")]
    Eval { node: String, source: Box<dyn std::error::Error + Send + Sync> },
}

/// One tuned threshold.
#[derive(Clone, Debug, PartialEq)]
pub struct Tuned {
    pub tensor: TensorId,
    pub before: f32,
    pub after: f32,
    /// The op whose output decided it.
    pub by_node: String,
}

/// Tune `calibration`'s thresholds in place; returns the ones that changed.
pub fn tune(
    graph: &Graph,
    samples: &dyn SampleSource,
    eval: &EvalNodeFn<'_>,
    calibration: &mut Calibration,
    opts: &TuneOptions,
) -> Result<Vec<Tuned>, TuneError> {
    let n = opts.samples.min(samples.len());
    if n == 0 {
        return Ok(Vec::new());
    }
    let slot: HashMap<TensorId, usize> = calibration.tensors.iter().enumerate().map(|(i, t)| (t.tensor, i)).collect();
    // The vendor starts from the KL table as written (7 decimals) and tunes against each tensor's
    // |x| max.
    let initial: Vec<f64> = calibration
        .tensors
        .iter()
        .map(|t| format!("{:.7}", t.threshold).parse::<f64>().unwrap_or(t.threshold as f64))
        .collect();
    let mut best: Vec<f64> = initial.clone();
    let mut tuned_by: Vec<Option<String>> = vec![None; calibration.tensors.len()];

    // Reference activations of the tune samples, made op by op and dropped after their last use.
    let mut last_use = vec![0usize; graph.tensors.len()];
    for (i, node) in graph.nodes.iter().enumerate() {
        for &t in &node.inputs {
            last_use[t] = i;
        }
    }
    for &o in &graph.outputs {
        last_use[o] = usize::MAX;
    }
    let mut refs: HashMap<TensorId, Vec<ArrayD<f32>>> = HashMap::new();
    for index in 0..n {
        let sample = samples.sample(index).map_err(|source| TuneError::Load { index, source })?;
        for &input in &graph.inputs {
            let name = &graph.tensors[input].name;
            let (_, v) = sample
                .inputs
                .iter()
                .find(|(k, _)| k == name)
                .ok_or_else(|| TuneError::MissingInput { index, input: name.clone() })?;
            refs.entry(input).or_default().push(v.clone());
        }
    }
    let constants: HashMap<TensorId, ArrayD<f32>> =
        graph.tensors.iter().enumerate().filter_map(|(i, t)| t.value.as_ref().map(|v| (i, v.to_f32()))).collect();

    let threads =
        if opts.threads == 0 { std::thread::available_parallelism().map_or(1, |p| p.get()) } else { opts.threads };
    let mut tuned_list: Vec<TensorId> = Vec::new();
    for (ni, node) in graph.nodes.iter().enumerate() {
        let err = |source| TuneError::Eval { node: node.name.clone(), source };
        // This node's reference outputs.
        let mut outs_per_sample = Vec::with_capacity(n);
        for s in 0..n {
            let inputs: Vec<&ArrayD<f32>> =
                node.inputs.iter().map(|t| constants.get(t).unwrap_or_else(|| &refs[t][s])).collect();
            outs_per_sample.push(eval(ni, &inputs).map_err(err)?);
        }
        for (k, &o) in node.outputs.iter().enumerate() {
            let v: Vec<ArrayD<f32>> = outs_per_sample.iter_mut().map(|outs| std::mem::take(&mut outs[k])).collect();
            refs.insert(o, v);
        }

        // The calibrated activations this node reads, in operand order, each once.
        let mut pre: Vec<TensorId> = Vec::new();
        for &t in &node.inputs {
            if slot.contains_key(&t) && !pre.contains(&t) {
                pre.push(t);
            }
        }
        if node.outputs.is_empty() {
            continue;
        }
        if !pre.is_empty() {
            let targets: Vec<TensorId> = if pre.iter().all(|t| tuned_list.contains(t)) {
                vec![pre[0]]
            } else {
                pre.iter().copied().filter(|t| !tuned_list.contains(t)).collect()
            };
            for t in targets {
                let s = slot[&t];
                let th_min = initial[s];
                let abs_max = calibration.tensors[s].abs_max as f64;
                let step = (abs_max - th_min) / opts.steps as f64;
                let mut winner = th_min;
                if step > 0.0 && (abs_max - th_min).abs() > opts.min_diff {
                    let points: Vec<f64> = (0..=opts.steps).map(|i| th_min + step * i as f64).collect();
                    let distances =
                        distances_at(node, ni, &pre, &points, n, &refs, &constants, eval, threads).map_err(err)?;
                    let mut prev = distances[0];
                    for (i, &d) in distances.iter().enumerate().skip(1) {
                        if d < prev {
                            prev = d;
                            winner = points[i];
                        }
                    }
                }
                if winner > best[s] {
                    best[s] = winner;
                    tuned_by[s] = Some(node.name.clone());
                }
                tuned_list.push(t);
            }
        }
        for &t in &node.inputs {
            if last_use[t] == ni {
                refs.remove(&t);
            }
        }
    }

    let mut changed = Vec::new();
    for (s, t) in calibration.tensors.iter_mut().enumerate() {
        if let Some(by) = tuned_by[s].take() {
            let after = best[s] as f32;
            changed.push(Tuned { tensor: t.tensor, before: t.threshold, after, by_node: by });
            t.threshold = after;
        }
    }
    Ok(changed)
}

/// The mean distance over the tune samples at each candidate threshold, candidates spread over
/// threads.
#[allow(clippy::too_many_arguments)]
fn distances_at(
    node: &crate::ir::Node,
    ni: usize,
    pre: &[TensorId],
    points: &[f64],
    n: usize,
    refs: &HashMap<TensorId, Vec<ArrayD<f32>>>,
    constants: &HashMap<TensorId, ArrayD<f32>>,
    eval: &EvalNodeFn<'_>,
    threads: usize,
) -> Result<Vec<f64>, Box<dyn std::error::Error + Send + Sync>> {
    let out = node.outputs[0];
    let one = |th: f64| -> Result<f64, Box<dyn std::error::Error + Send + Sync>> {
        let mut total = 0.0;
        for s in 0..n {
            let quantised: Vec<ArrayD<f32>> = pre.iter().map(|t| fake_quant(&refs[t][s], th)).collect();
            let inputs: Vec<&ArrayD<f32>> = node
                .inputs
                .iter()
                .map(|t| match pre.iter().position(|p| p == t) {
                    Some(k) => &quantised[k],
                    None => constants.get(t).unwrap_or_else(|| &refs[t][s]),
                })
                .collect();
            let y = eval(ni, &inputs)?.swap_remove(0);
            let r = &refs[&out][s];
            let (mut l2, mut l1) = (0f64, 0f64);
            for (&a, &b) in r.iter().zip(y.iter()) {
                let d = (a - b) as f64;
                l2 += d * d;
                l1 += (a as f64).abs();
            }
            total += l2.sqrt() / l1;
        }
        Ok(total / n as f64)
    };
    let threads = threads.clamp(1, points.len());
    if threads == 1 {
        return points.iter().map(|&p| one(p)).collect();
    }
    let results: Vec<std::sync::Mutex<Option<Result<f64, String>>>> =
        points.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= points.len() {
                    break;
                }
                *results[i].lock().unwrap() = Some(one(points[i]).map_err(|e| e.to_string()));
            });
        }
    });
    results.into_iter().map(|m| m.into_inner().unwrap().expect("every point evaluated").map_err(Into::into)).collect()
}

/// The vendor's `import_quant_bias`: int8 with threshold `th` and back, in f32 (`x · (127/th)`
/// rounded half to even, clamped to [-128, 127], divided by the same scale).
pub fn fake_quant(x: &ArrayD<f32>, th: f64) -> ArrayD<f32> {
    let scale = (127.0 / th) as f32;
    x.mapv(|v| (v * scale).round_ties_even().clamp(-128.0, 127.0) / scale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibration::collect::{calibrate, Options, Sample};
    use crate::ir::{DType, Node, Op, Tensor};
    use ndarray::{ArrayViewD, IxDyn};

    fn tensor(name: &str) -> Tensor {
        Tensor { name: name.into(), shape: vec![1, 1, 1, LEN], dtype: DType::F32, value: None, calibration: None }
    }

    /// x → Relu → y.
    fn graph() -> Graph {
        Graph {
            tensors: vec![tensor("x"), tensor("y")],
            nodes: vec![Node { name: "relu".into(), op: Op::Relu, inputs: vec![0], outputs: vec![1] }],
            inputs: vec![0],
            outputs: vec![1],
        }
    }

    fn eval(_: usize, inputs: &[&ArrayD<f32>]) -> Result<Vec<ArrayD<f32>>, Box<dyn std::error::Error + Send + Sync>> {
        Ok(vec![inputs[0].mapv(|v| v.max(0.0))])
    }

    fn run(
        sample: &Sample,
        visit: &mut dyn FnMut(TensorId, ArrayViewD<'_, f32>),
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let y = eval(0, &[&sample.inputs[0].1])?.remove(0);
        visit(1, y.view());
        Ok(())
    }

    const LEN: usize = 4096;

    /// A Laplace-like body (|x| up to about 12) and one outlier at 45 per sample: KL clips the
    /// body's far tail along with the outlier.
    fn samples() -> Vec<Sample> {
        (0..6)
            .map(|k| {
                let data: Vec<f32> = (0..LEN)
                    .map(|i| {
                        if i == 17 * k + 5 {
                            return 45.0;
                        }
                        let u = ((i * 7919 + k * 131) % LEN + 1) as f64 / (LEN + 1) as f64;
                        let v = -u.ln() * 1.5;
                        (if i % 2 == 0 { v } else { -v }) as f32
                    })
                    .collect();
                Sample {
                    label: format!("s{k}"),
                    inputs: vec![("x".into(), ArrayD::from_shape_vec(IxDyn(&[1, 1, 1, LEN]), data).unwrap())],
                }
            })
            .collect()
    }

    #[test]
    fn fake_quant_rounds_half_to_even_and_saturates() {
        let x = ArrayD::from_shape_vec(IxDyn(&[4]), vec![0.5f32, 1.5, 200.0, -200.0]).unwrap();
        let q = fake_quant(&x, 127.0);
        assert_eq!(q.as_slice().unwrap(), &[0.0, 2.0, 127.0, -128.0]);
    }

    #[test]
    fn tuning_only_raises_thresholds_and_stays_within_abs_max() {
        let g = graph();
        let s = samples();
        let mut cal = calibrate(&g, &s, &run, &Options { progress: false, ..Options::default() }).unwrap();
        // KL keeps this data's whole range; start x from a threshold that clips its body.
        cal.tensors[0].threshold = 3.0;
        let before = cal.clone();
        let changed = tune(&g, &s, &eval, &mut cal, &TuneOptions { threads: 2, ..TuneOptions::default() }).unwrap();
        for (b, a) in before.tensors.iter().zip(&cal.tensors) {
            assert!(a.threshold >= b.threshold && a.threshold <= a.abs_max * 1.000001, "{b:?} → {a:?}");
        }
        // The Relu of x fake-quantised at 3 loses the body's tail; the tuner raises x's threshold
        // to one of its 22 points between 3 and 45.
        assert_eq!(changed.len(), 1, "{changed:?}");
        assert_eq!(changed[0].tensor, 0);
        let step = (45.0 - 3.0) / 21.0;
        let k = (changed[0].after as f64 - 3.0) / step;
        assert!(k >= 1.0 && (k - k.round()).abs() < 1e-4, "{changed:?}");
        let one =
            tune(&g, &s, &eval, &mut before.clone(), &TuneOptions { threads: 1, ..TuneOptions::default() }).unwrap();
        assert_eq!(one, changed);
    }
}
