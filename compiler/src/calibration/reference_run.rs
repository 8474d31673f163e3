//! Calibration with the compiler's own fp32 reference interpreter: the graph prepared as the
//! vendor's importer leaves it, the run and node-evaluation closures over [`crate::reference`],
//! KL thresholds and the vendor's tuning.

use super::collect::{calibrate, CalibrateError, Calibration, Options, Sample, SampleSource};
use super::tune::{tune, TuneError, TuneOptions, Tuned};
use crate::ir::{Graph, Op, TensorId};
use crate::reference;
use ndarray::{ArrayD, ArrayViewD};
use std::collections::HashMap;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Calibrate(#[from] CalibrateError),
    #[error(transparent)]
    Tune(#[from] TuneError),
}

/// The vendor's importer drops Identity nodes (and Dropout, which cvsim's importer makes an
/// Identity), so the op after one reads, names and is tuned against the tensor before it. This
/// makes the same graph: readers of an Identity's output read its input instead (an Identity
/// producing a graph output stays), then dead nodes and tensors go.
pub fn drop_identities(g: &mut Graph) {
    let mut root: HashMap<TensorId, TensorId> = HashMap::new();
    let pairs: Vec<(TensorId, TensorId)> = g
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::Identity) && n.inputs.len() == 1 && n.outputs.len() == 1)
        .map(|n| (n.outputs[0], n.inputs[0]))
        .filter(|(out, _)| !g.outputs.contains(out))
        .collect();
    for (out, input) in pairs {
        let to = root.get(&input).copied().unwrap_or(input);
        root.insert(out, to);
        g.replace_uses(out, to);
    }
    g.remove_dead();
}

/// Calibrate `graph` on `samples` with the fp32 reference, then tune (when `tune_opts.samples`
/// is not 0). Returns the calibration and the thresholds tuning raised.
pub fn calibrate_with_reference(
    graph: &Graph,
    samples: &dyn SampleSource,
    opts: &Options,
    tune_opts: &TuneOptions,
) -> Result<(Calibration, Vec<Tuned>), Error> {
    let run = |sample: &Sample, visit: &mut dyn FnMut(TensorId, ArrayViewD<'_, f32>)| -> Result<(), BoxError> {
        reference::run_with(graph, &sample.inputs, |id, v| visit(id, v.view()))?;
        Ok(())
    };
    let mut cal = calibrate(graph, samples, &run, opts)?;
    let tuned = if tune_opts.samples > 0 {
        let out_shapes: Vec<Vec<Vec<usize>>> =
            graph.nodes.iter().map(|n| n.outputs.iter().map(|&o| graph.tensors[o].shape.clone()).collect()).collect();
        let eval = |node: usize, inputs: &[&ArrayD<f32>]| -> Result<Vec<ArrayD<f32>>, BoxError> {
            Ok(reference::eval::eval(&graph.nodes[node].op, inputs, &out_shapes[node])?)
        };
        tune(graph, samples, &eval, &mut cal, tune_opts)?
    } else {
        Vec::new()
    };
    Ok((cal, tuned))
}
