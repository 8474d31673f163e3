//! The fp32 reference: an interpreter of the IR (NCHW, ndarray) that calibration runs for the
//! statistics of every tensor and that validation compares the compiled model against.

mod conv;
pub mod eval;
pub mod fold;
pub mod movement;
mod pool;

use crate::ir::{Graph, TensorId};
use ndarray::{ArrayD, IxDyn};
use std::borrow::Cow;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("graph input `{0}` not given")]
    MissingInput(String),
    #[error("input `{name}` has shape {got:?}, the graph takes {expected:?}")]
    InputShape { name: String, expected: Vec<usize>, got: Vec<usize> },
    #[error("input `{0}` is not an input of the graph")]
    UnknownInput(String),
    #[error("node `{node}` ({op}): {msg}")]
    Node { node: String, op: &'static str, msg: String },
}

/// Runs the graph and returns every tensor's value, indexed by [`TensorId`] (constants too, as
/// fp32). Holds every activation at once: [`run_with`] is the bounded-memory form.
pub fn run(graph: &Graph, inputs: &[(String, ArrayD<f32>)]) -> Result<Vec<Option<ArrayD<f32>>>, Error> {
    let mut all: Vec<Option<ArrayD<f32>>> = vec![None; graph.tensors.len()];
    let keep_all = vec![usize::MAX; graph.tensors.len()];
    execute(graph, inputs, &keep_all, |id, a| all[id] = Some(a.clone()))?;
    for (i, t) in graph.tensors.iter().enumerate() {
        if let Some(v) = &t.value {
            all[i] = Some(v.to_f32());
        }
    }
    Ok(all)
}

/// Runs the graph, calling `visit` with each graph input and each node output as it is produced,
/// and freeing every activation after its last reader. Returns the graph outputs in order.
pub fn run_with(
    graph: &Graph,
    inputs: &[(String, ArrayD<f32>)],
    mut visit: impl FnMut(TensorId, &ArrayD<f32>),
) -> Result<Vec<ArrayD<f32>>, Error> {
    let mut last_use = vec![0usize; graph.tensors.len()];
    for (i, n) in graph.nodes.iter().enumerate() {
        for &t in &n.inputs {
            last_use[t] = i;
        }
    }
    for &o in &graph.outputs {
        last_use[o] = usize::MAX;
    }
    let mut outs: Vec<Option<ArrayD<f32>>> = vec![None; graph.outputs.len()];
    let values = execute(graph, inputs, &last_use, |id, a| {
        visit(id, a);
    })?;
    for (k, &o) in graph.outputs.iter().enumerate() {
        outs[k] = values[o].clone().or_else(|| graph.tensors[o].value.as_ref().map(|v| v.to_f32()));
    }
    Ok(outs.into_iter().map(|o| o.unwrap_or_else(|| ArrayD::zeros(IxDyn(&[0])))).collect())
}

/// The interpreter loop: `last_use[t]` is the index of the last node reading `t` (after which it
/// is dropped), `usize::MAX` to keep it.
fn execute(
    graph: &Graph,
    inputs: &[(String, ArrayD<f32>)],
    last_use: &[usize],
    mut visit: impl FnMut(TensorId, &ArrayD<f32>),
) -> Result<Vec<Option<ArrayD<f32>>>, Error> {
    let mut vals: Vec<Option<ArrayD<f32>>> = vec![None; graph.tensors.len()];
    for (name, a) in inputs {
        let id = graph
            .inputs
            .iter()
            .copied()
            .find(|&i| graph.tensors[i].name == *name)
            .ok_or_else(|| Error::UnknownInput(name.clone()))?;
        if a.shape() != graph.tensors[id].shape.as_slice() {
            return Err(Error::InputShape {
                name: name.clone(),
                expected: graph.tensors[id].shape.clone(),
                got: a.shape().to_vec(),
            });
        }
        visit(id, a);
        vals[id] = Some(a.as_standard_layout().into_owned());
    }
    for &i in &graph.inputs {
        if vals[i].is_none() {
            return Err(Error::MissingInput(graph.tensors[i].name.clone()));
        }
    }
    for (ni, node) in graph.nodes.iter().enumerate() {
        let err = |msg: String| Error::Node { node: node.name.clone(), op: node.op.name(), msg };
        let args: Vec<Cow<'_, ArrayD<f32>>> = node
            .inputs
            .iter()
            .map(|&t| match (&vals[t], &graph.tensors[t].value) {
                (Some(a), _) => Ok(Cow::Borrowed(a)),
                (None, Some(crate::ir::Value::F32(a))) => Ok(Cow::Borrowed(a)),
                (None, Some(v)) => Ok(Cow::Owned(v.to_f32())),
                (None, None) => Err(err(format!("input `{}` has no value", graph.tensors[t].name))),
            })
            .collect::<Result<_, _>>()?;
        let refs: Vec<&ArrayD<f32>> = args.iter().map(|c| c.as_ref()).collect();
        let shapes: Vec<Vec<usize>> = node.outputs.iter().map(|&t| graph.tensors[t].shape.clone()).collect();
        let outs = eval::eval(&node.op, &refs, &shapes).map_err(err)?;
        drop(args);
        for (&t, a) in node.outputs.iter().zip(outs) {
            if a.shape() != graph.tensors[t].shape.as_slice() {
                return Err(err(format!(
                    "produced {:?} for `{}` of shape {:?}",
                    a.shape(),
                    graph.tensors[t].name,
                    graph.tensors[t].shape
                )));
            }
            visit(t, &a);
            if last_use[t] > ni {
                vals[t] = Some(a);
            }
        }
        for &t in &node.inputs {
            if last_use[t] == ni {
                vals[t] = None;
            }
        }
    }
    Ok(vals)
}
