//! Two 1×1 convolutions in a row, the first without activation and read only by the second,
//! become one: `W = W2·W1`, `b = W2·b1 + b2`, with the first one's strides and padding (a padded
//! position gives `b1`, then `W2·b1 + b2`, which is what the merged bias gives there). The vendor's
//! compiler does the same (MobileNetV2's linear projection and the next block's expansion), so its
//! calibration tables name only the second convolution's output.

use super::channel::foldable_producer;
use crate::ir::{Graph, Op, Value};
use ndarray::{ArrayD, IxDyn};

/// The strides and pads of a 1×1, undilated, group-1 convolution.
fn pointwise(op: &Op) -> Option<([usize; 2], [usize; 4])> {
    match op {
        Op::Conv { kernel: [1, 1], dilations: [1, 1], group: 1, strides, pads, .. } => Some((*strides, *pads)),
        _ => None,
    }
}

pub fn merge(g: &mut Graph) -> bool {
    let mut changed = false;
    let mut i = 0;
    while i < g.nodes.len() {
        let b_node = &g.nodes[i];
        let second = pointwise(&b_node.op) == Some(([1, 1], [0, 0, 0, 0]));
        let Some(p) = second.then(|| foldable_producer(g, b_node.inputs[0], i)).flatten() else {
            i += 1;
            continue;
        };
        let Some((strides, pads)) = pointwise(&g.nodes[p].op) else {
            i += 1;
            continue;
        };
        let (a, b) = (&g.nodes[p], &g.nodes[i]);
        let (Some(w1), Some(w2)) = (g.value(a.inputs[1]), g.value(b.inputs[1])) else {
            i += 1;
            continue;
        };
        let (w1, w2) = (w1.floats(), w2.floats());
        let bias = |n: &crate::ir::Node| n.inputs.get(2).and_then(|&t| g.value(t)).map(Value::floats);
        let (b1, b2) = (bias(a), bias(b));
        let (m, o) = (g.tensors[a.outputs[0]].shape[1], g.tensors[b.outputs[0]].shape[1]);
        let ic = g.tensors[a.inputs[0]].shape[1];
        if w1.len() != m * ic || w2.len() != o * m {
            i += 1;
            continue;
        }
        let mut w = vec![0f32; o * ic];
        let mut bv = vec![0f32; o];
        for oc in 0..o {
            for k in 0..ic {
                w[oc * ic + k] = (0..m).map(|j| w2[oc * m + j] as f64 * w1[j * ic + k] as f64).sum::<f64>() as f32;
            }
            let from_b1 =
                b1.as_ref().map_or(0.0, |b1| (0..m).map(|j| w2[oc * m + j] as f64 * b1[j] as f64).sum::<f64>());
            bv[oc] = (from_b1 + b2.as_ref().map_or(0.0, |b2| b2[oc] as f64)) as f32;
        }
        let x = a.inputs[0];
        let name = b.name.clone();
        let wid = g.add_const(
            g.fresh_name(&format!("{name}/merged_weight")),
            Value::F32(ArrayD::from_shape_vec(IxDyn(&[o, ic, 1, 1]), w).unwrap_or_default()),
        );
        let bid = g.add_const(
            g.fresh_name(&format!("{name}/merged_bias")),
            Value::F32(ArrayD::from_shape_vec(IxDyn(&[o]), bv).unwrap_or_default()),
        );
        if let Op::Conv { strides: s, pads: pd, .. } = &mut g.nodes[i].op {
            (*s, *pd) = (strides, pads);
        }
        g.nodes[i].inputs = vec![x, wid, bid];
        g.nodes.remove(p);
        changed = true;
    }
    changed
}
