//! Rewrites of the IR after import, each in its own module named for what it rewrites, run in a
//! fixed order by [`run`]. Every pass keeps the graph outputs' tensor names: a fused node writes
//! the tensor its last op wrote.

mod activation;
mod batchnorm;
mod channel;
mod cleanup;
mod const_fold;
mod hardswish;
mod pad;
mod pointwise;
mod reshape;

use crate::ir::{Graph, TensorId};

pub use const_fold::fold_constants;

/// Runs every pass in order, until none changes the graph.
pub fn run(graph: &mut Graph) {
    for _ in 0..8 {
        let mut changed = fold_constants(graph);
        changed |= cleanup::remove_no_ops(graph);
        changed |= reshape::simplify(graph);
        changed |= hardswish::recognise(graph);
        changed |= batchnorm::fold(graph);
        changed |= channel::fold_into_producer(graph);
        changed |= channel::to_scale(graph);
        changed |= channel::into_following_fc(graph);
        changed |= pad::fold(graph);
        changed |= activation::fuse(graph);
        changed |= pointwise::merge(graph);
        graph.remove_dead();
        if !changed {
            break;
        }
    }
}

/// The value of a one-element constant.
fn scalar(g: &Graph, t: TensorId) -> Option<f32> {
    g.value(t).and_then(|v| v.scalar_f32())
}

/// The per-channel values of a constant that broadcasts against `x_shape` along axis 1 only
/// (shapes [C], [1,C,1,1], [C,1,1] for NCHW): `None` otherwise.
fn per_channel(g: &Graph, t: TensorId, x_shape: &[usize]) -> Option<Vec<f32>> {
    let v = g.value(t)?;
    let s = v.shape();
    if x_shape.len() < 2 || s.len() > x_shape.len() {
        return None;
    }
    let c = x_shape[1];
    let pad = x_shape.len() - s.len();
    for (i, &d) in s.iter().enumerate() {
        let axis = i + pad;
        if d != 1 && !(axis == 1 && d == c) {
            return None;
        }
    }
    let vals = v.floats();
    match vals.len() {
        1 => Some(vec![vals[0]; c]),
        n if n == c => Some(vals),
        _ => None,
    }
}

/// Whether `t` is read by exactly one node and is not a graph output (so its producer may be
/// fused with that reader).
fn sole_reader(g: &Graph, t: TensorId) -> Option<usize> {
    if g.outputs.contains(&t) {
        return None;
    }
    let mut reader = None;
    for (i, n) in g.nodes.iter().enumerate() {
        for &u in &n.inputs {
            if u == t {
                if reader.is_some() {
                    return None;
                }
                reader = Some(i);
            }
        }
    }
    reader
}

/// Removes node `i` whose single output equals its first input in value. Readers of the output
/// read the input instead; when the output is a graph output, the input's producer writes it
/// directly (if nothing else reads the input). Returns whether the node was removed.
fn bypass(g: &mut Graph, i: usize) -> bool {
    let (x, y) = (g.nodes[i].inputs[0], g.nodes[i].outputs[0]);
    if !g.outputs.contains(&y) {
        g.nodes.remove(i);
        g.replace_uses(y, x);
        return true;
    }
    let producer = g.nodes.iter().position(|n| n.outputs.contains(&x));
    let only_here = g.nodes.iter().enumerate().all(|(k, n)| k == i || !n.inputs.contains(&x));
    match producer {
        Some(p) if only_here && !g.outputs.contains(&x) && !g.inputs.contains(&x) => {
            for o in &mut g.nodes[p].outputs {
                if *o == x {
                    *o = y;
                }
            }
            g.tensors[y].shape = g.tensors[x].shape.clone();
            g.nodes.remove(i);
            true
        }
        _ => false,
    }
}

/// Makes node `a` write the output of node `b` (which reads `a`'s output) and removes `b`: `b`'s
/// effect must already be merged into `a`.
fn absorb(g: &mut Graph, a: usize, b: usize) {
    let y = g.nodes[b].outputs[0];
    g.nodes[a].outputs[0] = y;
    g.nodes.remove(b);
}
