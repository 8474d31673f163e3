//! HardSwish and HardSigmoid recognised from the element-wise patterns exporters write:
//! `x * clip(x + 3, 0, 6) / 6` (division by 6 or multiplication by 1/6, either operand order),
//! `clip(x + 3, 0, 6) / 6` as HardSigmoid(1/6, 1/2), and `x * HardSigmoid(x; 1/6, 1/2)`.

use super::{scalar, sole_reader};
use crate::ir::{Graph, Op, TensorId};

fn producer(g: &Graph, t: TensorId) -> Option<usize> {
    g.nodes.iter().position(|n| n.outputs.contains(&t))
}

fn near(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

/// Node `i` divides a tensor by 6 (or multiplies it by 1/6): that tensor.
fn over_six(g: &Graph, i: usize) -> Option<TensorId> {
    let n = &g.nodes[i];
    match n.op {
        Op::Div if scalar(g, n.inputs[1]).is_some_and(|v| v == 6.0) => Some(n.inputs[0]),
        Op::Mul => {
            let (a, b) = (n.inputs[0], n.inputs[1]);
            if scalar(g, b).is_some_and(|v| near(v, 1.0 / 6.0)) {
                Some(a)
            } else if scalar(g, a).is_some_and(|v| near(v, 1.0 / 6.0)) {
                Some(b)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// `t` is `clip(x + 3, 0, 6)` computed only for `reader`: `x`.
fn relu6_of_plus_three(g: &Graph, t: TensorId, reader: usize) -> Option<TensorId> {
    let c = producer(g, t)?;
    if g.nodes[c].op != (Op::Clip { min: 0.0, max: 6.0 }) || sole_reader(g, t) != Some(reader) {
        return None;
    }
    let s = g.nodes[c].inputs[0];
    let a = producer(g, s)?;
    if g.nodes[a].op != Op::Add || sole_reader(g, s) != Some(c) {
        return None;
    }
    let (p, q) = (g.nodes[a].inputs[0], g.nodes[a].inputs[1]);
    let x = if scalar(g, q) == Some(3.0) {
        p
    } else if scalar(g, p) == Some(3.0) {
        q
    } else {
        return None;
    };
    (g.tensors[x].shape == g.tensors[t].shape && !g.tensors[x].is_const()).then_some(x)
}

pub fn recognise(g: &mut Graph) -> bool {
    let mut changed = false;
    for i in 0..g.nodes.len() {
        let rewrite = if let Some(m) = over_six(g, i) {
            let direct = relu6_of_plus_three(g, m, i).map(|x| (Op::HardSigmoid { alpha: 1.0 / 6.0, beta: 0.5 }, x));
            direct.or_else(|| {
                let mp = producer(g, m)?;
                if g.nodes[mp].op != Op::Mul || sole_reader(g, m) != Some(i) {
                    return None;
                }
                let (a, b) = (g.nodes[mp].inputs[0], g.nodes[mp].inputs[1]);
                let x = match (relu6_of_plus_three(g, b, mp), relu6_of_plus_three(g, a, mp)) {
                    (Some(x), _) if x == a => x,
                    (_, Some(x)) if x == b => x,
                    _ => return None,
                };
                Some((Op::HardSwish, x))
            })
        } else if g.nodes[i].op == Op::Mul {
            let (a, b) = (g.nodes[i].inputs[0], g.nodes[i].inputs[1]);
            let hsig_of = |t: TensorId| -> Option<TensorId> {
                let h = producer(g, t)?;
                match g.nodes[h].op {
                    Op::HardSigmoid { alpha, beta }
                        if near(alpha, 1.0 / 6.0) && beta == 0.5 && sole_reader(g, t) == Some(i) =>
                    {
                        Some(g.nodes[h].inputs[0])
                    }
                    _ => None,
                }
            };
            match (hsig_of(b), hsig_of(a)) {
                (Some(x), _) if x == a => Some((Op::HardSwish, x)),
                (_, Some(x)) if x == b => Some((Op::HardSwish, x)),
                _ => None,
            }
        } else {
            None
        };
        if let Some((op, x)) = rewrite {
            g.nodes[i].op = op;
            g.nodes[i].inputs = vec![x];
            changed = true;
        }
    }
    changed
}
