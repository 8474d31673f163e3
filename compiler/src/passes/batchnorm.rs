//! BatchNormalization folded into the Conv or FullyConnected before it (weights and bias
//! rescaled per output channel), or, alone, turned into a `Scale`.

use super::absorb;
use super::channel::{foldable_producer, scale_producer};
use crate::ir::{Graph, Op, Value};
use ndarray::{ArrayD, IxDyn};

pub fn fold(g: &mut Graph) -> bool {
    let mut changed = false;
    let mut i = 0;
    while i < g.nodes.len() {
        let Op::BatchNormalization { epsilon } = g.nodes[i].op else {
            i += 1;
            continue;
        };
        let n = &g.nodes[i];
        let params: Option<Vec<Vec<f32>>> = n.inputs[1..5].iter().map(|&t| g.value(t).map(Value::floats)).collect();
        let Some(p) = params else {
            i += 1;
            continue;
        };
        let s: Vec<f32> = (0..p[0].len()).map(|c| p[0][c] / (p[3][c] + epsilon).sqrt()).collect();
        let b: Vec<f32> = (0..p[0].len()).map(|c| p[1][c] - p[2][c] * s[c]).collect();
        let x = n.inputs[0];
        let rank = g.tensors[x].shape.len();
        let producer = foldable_producer(g, x, i).filter(|&q| {
            matches!(g.nodes[q].op, Op::Conv { .. })
                || (matches!(g.nodes[q].op, Op::FullyConnected { .. }) && rank == 2)
        });
        if let Some(q) = producer {
            scale_producer(g, q, &s, &b);
            absorb(g, q, i);
        } else {
            let c = s.len();
            let name = n.name.clone();
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
            i += 1;
        }
        changed = true;
    }
    changed
}
