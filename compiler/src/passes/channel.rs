//! Per-channel affine maps: `Mul`/`Add`/`Sub`/`Div` by per-channel constants (and `Scale`)
//! folded into the Conv or FullyConnected before them when nothing else reads its output, and
//! otherwise kept as one clear `Scale` op (which the quantiser folds or lowers as a depthwise
//! multiply-add).

use super::{absorb, per_channel, sole_reader};
use crate::ir::{Activation, Graph, Op, TensorId, Value};
use ndarray::{ArrayD, Axis, IxDyn};

/// `x * s + b` per channel, read from a Mul/Add/Sub/Div/Scale node on a tensor of shape `x_shape`
/// (channels on axis 1, or on the last axis when `last_axis`): the data input and the map.
fn affine_of(g: &Graph, i: usize, last_axis: bool) -> Option<(TensorId, Vec<f32>, Vec<f32>)> {
    let n = &g.nodes[i];
    let out_shape = &g.tensors[*n.outputs.first()?].shape;
    let chan = |t: TensorId, x: TensorId| -> Option<Vec<f32>> {
        let xs = &g.tensors[x].shape;
        if xs != out_shape {
            return None;
        }
        if last_axis {
            let v = g.value(t)?;
            let c = *xs.last()?;
            let s = v.shape();
            if s.len() > xs.len()
                || s.iter().rev().skip(1).any(|&d| d != 1)
                || s.last().is_some_and(|&d| d != c && d != 1)
            {
                return None;
            }
            let f = v.floats();
            return Some(if f.len() == 1 { vec![f[0]; c] } else { f });
        }
        per_channel(g, t, xs)
    };
    let pick = |commutes: bool| -> Option<(TensorId, Vec<f32>)> {
        let (a, b) = (n.inputs[0], n.inputs[1]);
        if !g.tensors[a].is_const() {
            chan(b, a).map(|v| (a, v))
        } else if commutes && !g.tensors[b].is_const() {
            chan(a, b).map(|v| (b, v))
        } else {
            None
        }
    };
    match n.op {
        Op::Mul => pick(true).map(|(x, s)| (x, s.clone(), vec![0.0; s.len()])),
        Op::Div => pick(false).map(|(x, s)| (x, s.iter().map(|v| 1.0 / v).collect(), vec![0.0; s.len()])),
        Op::Add => pick(true).map(|(x, b)| (x, vec![1.0; b.len()], b)),
        Op::Sub => pick(false).map(|(x, b)| (x, vec![1.0; b.len()], b.iter().map(|v| -v).collect())),
        Op::Scale if !last_axis => {
            let s = g.value(n.inputs[1])?.floats();
            let b = n.inputs.get(2).and_then(|&t| g.value(t)).map_or_else(|| vec![0.0; s.len()], |v| v.floats());
            Some((n.inputs[0], s, b))
        }
        _ => None,
    }
}

/// Replaces the weight (OIHW, or [K, N]) and bias of Conv/FullyConnected node `p` by `w * s` and `bias * s + b`
/// per output channel. New constants are made, so shared weights stay intact.
pub(super) fn scale_producer(g: &mut Graph, p: usize, s: &[f32], b: &[f32]) {
    let (axis, out_ch) = match g.nodes[p].op {
        Op::Conv { .. } => (0, g.tensors[g.nodes[p].outputs[0]].shape[1]),
        _ => (1, *g.tensors[g.nodes[p].outputs[0]].shape.last().unwrap_or(&0)),
    };
    let wid = g.nodes[p].inputs[1];
    let mut w = g.value(wid).map(|v| v.to_f32()).unwrap_or_else(|| ArrayD::zeros(IxDyn(&[0])));
    for (c, mut lane) in w.axis_iter_mut(Axis(axis)).enumerate() {
        lane.mapv_inplace(|v| v * s[c]);
    }
    let bias: Vec<f32> = match g.nodes[p].inputs.get(2).and_then(|&t| g.value(t)) {
        Some(v) => v.floats().iter().enumerate().map(|(c, &v)| v * s[c] + b[c]).collect(),
        None => b.to_vec(),
    };
    // A weight only this node reads is rewritten in place and keeps its name.
    let readers = g.nodes.iter().flat_map(|n| &n.inputs).filter(|&&t| t == wid).count();
    let new_w = if readers == 1 && !g.outputs.contains(&wid) {
        g.tensors[wid].value = Some(Value::F32(w));
        wid
    } else {
        let wname = g.tensors[wid].name.clone();
        g.add_const(g.fresh_name(&wname), Value::F32(w))
    };
    let node_name = g.nodes[p].name.clone();
    let new_b = g.add_const(
        g.fresh_name(&format!("{node_name}/bias")),
        Value::F32(ArrayD::from_shape_vec(IxDyn(&[out_ch]), bias).unwrap_or_else(|_| ArrayD::zeros(IxDyn(&[out_ch])))),
    );
    let inputs = &mut g.nodes[p].inputs;
    inputs[1] = new_w;
    inputs.truncate(2);
    inputs.push(new_b);
}

/// A Conv or FullyConnected without a fused activation that writes `x` and whose output only
/// node `i` reads.
pub(super) fn foldable_producer(g: &Graph, x: TensorId, i: usize) -> Option<usize> {
    let p = g.nodes.iter().position(|n| n.outputs.contains(&x))?;
    let ok = match &g.nodes[p].op {
        Op::Conv { act, .. } | Op::FullyConnected { act } => *act == Activation::None,
        _ => false,
    };
    let w_const = g.nodes[p].inputs.get(1).is_some_and(|&w| g.tensors[w].is_const());
    (ok && w_const && sole_reader(g, x) == Some(i)).then_some(p)
}

pub fn fold_into_producer(g: &mut Graph) -> bool {
    let mut changed = false;
    let mut i = 0;
    while i < g.nodes.len() {
        if matches!(g.nodes[i].op, Op::Mul | Op::Add | Op::Sub | Op::Div | Op::Scale) {
            for last_axis in [false, true] {
                let Some((x, s, b)) = affine_of(g, i, last_axis) else { continue };
                let Some(p) = foldable_producer(g, x, i) else { continue };
                let fc = matches!(g.nodes[p].op, Op::FullyConnected { .. });
                let rank = g.tensors[x].shape.len();
                // Conv channels are axis 1; FullyConnected's are the last axis.
                if (fc && !(last_axis || rank == 2)) || (!fc && last_axis) {
                    continue;
                }
                scale_producer(g, p, &s, &b);
                absorb(g, p, i);
                changed = true;
                i = p;
                break;
            }
        }
        i += 1;
    }
    changed
}

/// Mul/Add/Sub/Div by per-channel constants on NCHW tensors become `Scale`; two `Scale` in a
/// row become one.
pub fn to_scale(g: &mut Graph) -> bool {
    let mut changed = false;
    let mut i = 0;
    while i < g.nodes.len() {
        let rank4 = g.nodes[i].outputs.first().is_some_and(|&o| g.tensors[o].shape.len() == 4);
        if rank4 && matches!(g.nodes[i].op, Op::Mul | Op::Add | Op::Sub | Op::Div | Op::Scale) {
            if let Some((x, mut s, mut b)) = affine_of(g, i, false) {
                let mut x = x;
                // Merge with a Scale before it that only this node reads.
                if let Some(p) = g.nodes.iter().position(|n| n.outputs.contains(&x) && matches!(n.op, Op::Scale)) {
                    if sole_reader(g, x) == Some(i) {
                        if let Some((px, ps, pb)) = affine_of(g, p, false) {
                            b = pb.iter().zip(&s).zip(&b).map(|((pb, s), b)| pb * s + b).collect();
                            s = ps.iter().zip(&s).map(|(a, c)| a * c).collect();
                            x = px;
                            g.nodes[p].op = Op::Identity;
                        }
                    }
                }
                if matches!(g.nodes[i].op, Op::Scale) && x == g.nodes[i].inputs[0] {
                    i += 1;
                    continue;
                }
                let c = s.len();
                let name = g.nodes[i].name.clone();
                let sid = g.add_const(
                    g.fresh_name(&format!("{name}/scale")),
                    Value::F32(ArrayD::from_shape_vec(IxDyn(&[c]), s).unwrap_or_default()),
                );
                let bid = g.add_const(
                    g.fresh_name(&format!("{name}/bias")),
                    Value::F32(ArrayD::from_shape_vec(IxDyn(&[c]), b).unwrap_or_default()),
                );
                g.nodes[i].op = Op::Scale;
                g.nodes[i].inputs = vec![x, sid, bid];
                changed = true;
            }
        }
        i += 1;
    }
    changed
}

/// A `Scale` whose output is only flattened (Reshape [N,C,H,W] → [N, C·H·W]) into a
/// FullyConnected folds into that layer's weight rows and bias (a dropout-style `x * 0.8`
/// before a classifier, for instance).
pub fn into_following_fc(g: &mut Graph) -> bool {
    let mut changed = false;
    let mut i = 0;
    while i < g.nodes.len() {
        if let Some(done) = try_into_fc(g, i) {
            if done {
                changed = true;
                continue;
            }
        }
        i += 1;
    }
    changed
}

fn try_into_fc(g: &mut Graph, i: usize) -> Option<bool> {
    if g.nodes[i].op != Op::Scale {
        return None;
    }
    let (x, y) = (g.nodes[i].inputs[0], g.nodes[i].outputs[0]);
    let xs = g.tensors[x].shape.clone();
    let r = sole_reader(g, y)?;
    let z = g.nodes[r].outputs[0];
    let zs = &g.tensors[z].shape;
    if !matches!(g.nodes[r].op, Op::Reshape { .. }) || xs.len() < 2 || zs.len() != 2 || zs[0] != xs[0] {
        return None;
    }
    let f = sole_reader(g, z)?;
    if !matches!(g.nodes[f].op, Op::FullyConnected { .. }) || g.nodes[f].inputs[0] != z {
        return None;
    }
    let w = g.value(g.nodes[f].inputs[1])?.to_f32();
    let (s, b) = {
        let (_, s, b) = affine_of(g, i, false)?;
        (s, b)
    };
    let inner: usize = xs[2..].iter().product();
    let (k, n) = (w.shape()[0], w.shape()[1]);
    if k != s.len() * inner {
        return Some(false);
    }
    let mut bias = g.nodes[f].inputs.get(2).and_then(|&t| g.value(t)).map_or_else(|| vec![0.0; n], |v| v.floats());
    let mut w2 = w.clone();
    for row in 0..k {
        let c = row / inner.max(1);
        for col in 0..n {
            bias[col] += b[c] * w[[row, col]];
            w2[[row, col]] *= s[c];
        }
    }
    let old_w = g.nodes[f].inputs[1];
    let fname = g.nodes[f].name.clone();
    let readers = g.nodes.iter().flat_map(|n| &n.inputs).filter(|&&t| t == old_w).count();
    let wid = if readers == 1 {
        g.tensors[old_w].value = Some(Value::F32(w2));
        old_w
    } else {
        let wname = g.tensors[old_w].name.clone();
        g.add_const(g.fresh_name(&wname), Value::F32(w2))
    };
    let bid = g
        .add_const(g.fresh_name(&format!("{fname}/bias")), Value::F32(ArrayD::from_shape_vec(IxDyn(&[n]), bias).ok()?));
    g.nodes[f].inputs.truncate(1);
    g.nodes[f].inputs.extend([wid, bid]);
    g.nodes[r].inputs[0] = x;
    g.nodes.remove(i);
    Some(true)
}
