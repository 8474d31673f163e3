//! Nodes that do nothing: Identity (and Dropout, imported as Identity), Cast to the type the
//! tensor already has, multiplication or division by a constant 1 and addition or subtraction of
//! a constant 0 that do not broadcast.

use super::{bypass, scalar};
use crate::ir::{Graph, Op};

pub fn remove_no_ops(g: &mut Graph) -> bool {
    let mut changed = false;
    let mut i = 0;
    while i < g.nodes.len() {
        let n = &g.nodes[i];
        let same_shape = |t: usize| g.tensors[t].shape == g.tensors[n.outputs[0]].shape;
        let no_op = match &n.op {
            Op::Identity => true,
            Op::Cast { to } => g.tensors[n.inputs[0]].dtype == *to,
            Op::Mul | Op::Div | Op::Add | Op::Sub => {
                let neutral = if matches!(n.op, Op::Mul | Op::Div) { 1.0 } else { 0.0 };
                let right = scalar(g, n.inputs[1]) == Some(neutral)
                    && same_shape(n.inputs[0])
                    && !g.tensors[n.inputs[0]].is_const();
                let left = matches!(n.op, Op::Mul | Op::Add)
                    && scalar(g, n.inputs[0]) == Some(neutral)
                    && same_shape(n.inputs[1]);
                if left && !right {
                    g.nodes[i].inputs.swap(0, 1);
                }
                left || right
            }
            _ => false,
        };
        if no_op && bypass(g, i) {
            changed = true;
            continue;
        }
        i += 1;
    }
    changed
}
