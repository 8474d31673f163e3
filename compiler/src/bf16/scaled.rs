//! Which HardSigmoid and HardSwish outputs the bf16 lowering stores scaled by `1/alpha`.
//!
//! `alpha` (1/6 for HardSwish) has no exact bf16 value, and rounding it biases every activation
//! the same way; across a network of them that is the largest error of a bf16 build. Since
//! `HardSigmoid(x) = alpha · min(max(x + beta/alpha, 0), 1/alpha)`, the TIU can compute the right
//! side with exact constants (3 and 6 for HardSwish) if something downstream multiplies by
//! `alpha` for free: a convolution, fully connected layer or per-channel affine map folds it into
//! its fp32 weights before they are rounded. Between the activation and that consumer the factor
//! may pass through layers that commute with a positive scale (pooling, reshapes, ReLU, channel
//! moves) and multiply through an element-wise product of two activations.

use crate::ir::{Graph, Op, TensorId};
use crate::quantize::f32_to_bf16;

/// `factor[t]`: the stored bf16 value of IR tensor `t` is `factor[t]` times its true value.
pub fn factors(g: &Graph) -> Vec<f32> {
    let consumers = g.consumers();
    let mut factor = vec![1.0f32; g.tensors.len()];
    for node in &g.nodes {
        let out = node.outputs[0];
        let ins: Vec<f32> = node.inputs.iter().map(|&t| factor[t]).collect();
        match &node.op {
            Op::HardSwish | Op::HardSigmoid { .. } if ins[0] == 1.0 => {
                let (alpha, beta) = alpha_beta(&node.op);
                if exact(1.0 / alpha) && exact(beta / alpha) && absorbed(g, &consumers, out) {
                    factor[out] = 1.0 / alpha;
                }
            }
            op if passes(op) => {
                for &o in &node.outputs {
                    factor[o] = ins[0];
                }
            }
            Op::Mul if node.inputs.iter().all(|&t| g.tensors[t].value.is_none()) => {
                factor[out] = ins.iter().product();
            }
            _ => {}
        }
    }
    factor
}

/// HardSigmoid's `(alpha, beta)`; HardSwish's is (1/6, 1/2).
pub fn alpha_beta(op: &Op) -> (f32, f32) {
    match op {
        Op::HardSigmoid { alpha, beta } => (*alpha, *beta),
        _ => (1.0 / 6.0, 0.5),
    }
}

fn exact(v: f32) -> bool {
    v.is_finite() && v > 0.0 && f32::from_bits((f32_to_bf16(v) as u32) << 16) == v
}

/// Layers whose output is their (first) input's stored scale times its true value.
fn passes(op: &Op) -> bool {
    matches!(
        op,
        Op::GlobalAveragePool
            | Op::ReduceMean { .. }
            | Op::AveragePool { .. }
            | Op::MaxPool { .. }
            | Op::Relu
            | Op::LeakyRelu { .. }
            | Op::Reshape { .. }
            | Op::Squeeze { .. }
            | Op::Unsqueeze { .. }
            | Op::Identity
            | Op::Slice { .. }
            | Op::Split { .. }
            | Op::ChannelShuffle { .. }
    )
}

/// How a node treats a scaled input `t`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Divides the scale out of its fp32 weights (conv, FC, per-channel affine by constants).
    Removes,
    /// Its output carries the scale on (layers that commute with a positive scale, and a product
    /// of two activations, which multiplies the scales).
    PassesOn,
    /// Needs its input unscaled.
    Cannot,
}

/// How `node` reads its input `t` (`None`: any input).
fn reading(g: &Graph, node: &crate::ir::Node, t: Option<TensorId>) -> Reading {
    let constant = |i: &TensorId| g.tensors[*i].value.is_some();
    let first_only = t.is_none_or(|t| node.inputs[0] == t && !node.inputs[1..].contains(&t));
    match &node.op {
        Op::Conv { .. } | Op::FullyConnected { .. } | Op::Scale | Op::BatchNormalization { .. }
            if first_only && node.inputs[1..].iter().all(constant) =>
        {
            Reading::Removes
        }
        Op::Add | Op::Mul if node.inputs.iter().filter(|i| constant(i)).count() == 1 => Reading::Removes,
        Op::Mul => Reading::PassesOn,
        op if passes(op) && first_only => Reading::PassesOn,
        _ => Reading::Cannot,
    }
}

/// Whether `node`'s lowering handles scaled inputs (removes the scale or passes it on).
pub fn reads_scaled(g: &Graph, node: &crate::ir::Node) -> bool {
    reading(g, node, None) != Reading::Cannot
}

/// Whether every reader of `t` removes a scale on it, directly or further down.
fn absorbed(g: &Graph, consumers: &[Vec<usize>], t: TensorId) -> bool {
    if g.outputs.contains(&t) || consumers[t].is_empty() {
        return false;
    }
    consumers[t].iter().all(|&k| {
        let n = &g.nodes[k];
        match reading(g, n, Some(t)) {
            Reading::Removes => true,
            Reading::PassesOn => n.outputs.iter().all(|&o| absorbed(g, consumers, o)),
            Reading::Cannot => false,
        }
    })
}
