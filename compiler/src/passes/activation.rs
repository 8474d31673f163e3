//! ReLU, Clip and LeakyRelu fused into the Conv or FullyConnected that produces their input,
//! when nothing else reads the convolution's output.

use super::{absorb, sole_reader};
use crate::ir::{Activation, Graph, Op};

pub fn fuse(g: &mut Graph) -> bool {
    let mut changed = false;
    let mut i = 0;
    while i < g.nodes.len() {
        let act = match g.nodes[i].op {
            Op::Relu => Activation::Relu,
            Op::Clip { min, max } => Activation::Clip(min, max),
            Op::LeakyRelu { alpha } => Activation::LeakyRelu(alpha),
            _ => {
                i += 1;
                continue;
            }
        };
        let x = g.nodes[i].inputs[0];
        let p = g.nodes.iter().position(|n| n.outputs.contains(&x));
        if let Some(p) = p.filter(|_| sole_reader(g, x) == Some(i)) {
            let slot = match &mut g.nodes[p].op {
                Op::Conv { act, .. } | Op::FullyConnected { act } if *act == Activation::None => Some(act),
                _ => None,
            };
            if let Some(slot) = slot {
                *slot = act;
                absorb(g, p, i);
                changed = true;
                continue;
            }
        }
        i += 1;
    }
    changed
}
