//! Shape-only ops simplified: Squeeze and Unsqueeze as Reshape (shapes are static), consecutive
//! reshapes merged, reshapes to the same shape and identity transposes removed, consecutive
//! transposes composed, and Reshape → Transpose → Reshape that shuffles channel groups
//! recognised as `ChannelShuffle`.

use super::{bypass, sole_reader};
use crate::ir::{Graph, Op};

fn producer(g: &Graph, t: usize) -> Option<usize> {
    g.nodes.iter().position(|n| n.outputs.contains(&t))
}

pub fn simplify(g: &mut Graph) -> bool {
    let mut changed = false;
    let mut i = 0;
    while i < g.nodes.len() {
        let x = g.nodes[i].inputs.first().copied().unwrap_or(0);
        let y = g.nodes[i].outputs[0];
        let out_shape = g.tensors[y].shape.clone();
        match &g.nodes[i].op {
            Op::Squeeze { .. } | Op::Unsqueeze { .. } => {
                g.nodes[i].op = Op::Reshape { shape: out_shape };
                changed = true;
                continue;
            }
            Op::Reshape { .. } => {
                if g.tensors[x].shape == out_shape && bypass(g, i) {
                    changed = true;
                    continue;
                }
                if let Some(p) = producer(g, x) {
                    if matches!(g.nodes[p].op, Op::Reshape { .. }) && sole_reader(g, x) == Some(i) {
                        g.nodes[i].inputs[0] = g.nodes[p].inputs[0];
                        g.nodes.remove(p);
                        changed = true;
                        continue;
                    }
                    if channel_shuffle(g, p, i) {
                        changed = true;
                        continue;
                    }
                }
            }
            Op::Transpose { perm } => {
                let perm = perm.clone();
                if perm.iter().enumerate().all(|(k, &p)| k == p) && bypass(g, i) {
                    changed = true;
                    continue;
                }
                if let Some(p) = producer(g, x) {
                    if let Op::Transpose { perm: first } = &g.nodes[p].op {
                        if sole_reader(g, x) == Some(i) {
                            let composed: Vec<usize> = perm.iter().map(|&k| first[k]).collect();
                            g.nodes[i].op = Op::Transpose { perm: composed };
                            g.nodes[i].inputs[0] = g.nodes[p].inputs[0];
                            g.nodes.remove(p);
                            changed = true;
                            continue;
                        }
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    changed
}

/// Node `last` is a Reshape back to [N,C,H,W] of Transpose `t` (perm [0,2,1,3,4]) of a Reshape of
/// [N,C,H,W] into [N,g,C/g,H,W]: becomes `ChannelShuffle { g }` reading the original tensor.
fn channel_shuffle(g: &mut Graph, t: usize, last: usize) -> bool {
    if g.nodes[t].op != (Op::Transpose { perm: vec![0, 2, 1, 3, 4] })
        || sole_reader(g, g.nodes[t].outputs[0]) != Some(last)
    {
        return false;
    }
    let mid = g.nodes[t].inputs[0];
    let Some(first) = producer(g, mid) else { return false };
    if !matches!(g.nodes[first].op, Op::Reshape { .. }) || sole_reader(g, mid) != Some(t) {
        return false;
    }
    let x = g.nodes[first].inputs[0];
    let (xs, ms, ys) = (&g.tensors[x].shape, &g.tensors[mid].shape, &g.tensors[g.nodes[last].outputs[0]].shape);
    let ok = xs.len() == 4
        && xs == ys
        && ms.len() == 5
        && ms[0] == xs[0]
        && ms[1] * ms[2] == xs[1]
        && ms[3] == xs[2]
        && ms[4] == xs[3];
    if !ok {
        return false;
    }
    let groups = ms[1];
    g.nodes[last].op = Op::ChannelShuffle { groups };
    g.nodes[last].inputs = vec![x];
    true
}
