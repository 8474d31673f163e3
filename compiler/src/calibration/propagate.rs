//! Thresholds moved across ops before int8 quantisation, as the vendor's CV18xx lowering moves
//! them (tpu-mlir's calibration step of TopToTpu) so that an op needs no requantisation.
//!
//! A channel concat whose inputs carry its own threshold only merges channels: each producer
//! requantises straight to the concat's scale and can store into its channel range of the
//! concat's output, and the concat moves nothing. The vendor does this when every input is read
//! by the concat alone (or also by max pooling), not a model output, and all inputs have the
//! same sign; when the inputs already agree with each other, the output takes their threshold
//! instead. Ops that cannot requantise (slices, reshapes, max pooling) keep passing their input's
//! threshold on, so an input such an op writes still needs a rescale in the concat.

use crate::ir::{Calibration, Graph, Op};

/// Each tensor's calibration after the vendor's concat rule, indexed by tensor id.
pub fn concat_thresholds(g: &Graph) -> Vec<Option<Calibration>> {
    let mut cali: Vec<Option<Calibration>> = g.tensors.iter().map(|t| t.calibration).collect();
    let consumers = g.consumers();
    // A concat reading another concat's output is settled first, so a chain ends on the last
    // one's threshold (the vendor rewrites to a fixed point with the same result).
    for (ni, node) in g.nodes.iter().enumerate().rev() {
        if !matches!(node.op, Op::Concat { .. }) || node.inputs.is_empty() {
            continue;
        }
        let out = node.outputs[0];
        let Some(out_c) = cali[out] else { continue };
        let mut ins = Vec::with_capacity(node.inputs.len());
        let sole_reader = node.inputs.iter().all(|&t| {
            let other_readers = consumers[t].iter().all(|&k| k == ni || matches!(g.nodes[k].op, Op::MaxPool { .. }));
            let one_use = consumers[t].len() == 1;
            (one_use || other_readers) && !g.outputs.contains(&t)
        });
        if !sole_reader {
            continue;
        }
        for &t in &node.inputs {
            match cali[t] {
                Some(c) => ins.push(c),
                None => break,
            }
        }
        if ins.len() != node.inputs.len() {
            continue;
        }
        let unsigned = |c: &Calibration| c.min >= 0.0;
        if ins.iter().any(|c| unsigned(c) != unsigned(&ins[0])) {
            continue;
        }
        // The vendor's calibrated type: `[−threshold or 0, threshold]`.
        let same = |a: &Calibration, b: &Calibration| a.threshold == b.threshold && unsigned(a) == unsigned(b);
        if ins.iter().all(|c| same(c, &ins[0])) {
            if !same(&out_c, &ins[0]) {
                cali[out] = Some(ins[0]);
            }
            continue;
        }
        for &t in &node.inputs {
            cali[t] = Some(out_c);
        }
    }
    cali
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{DType, Node, TensorId};

    fn cal(threshold: f32, min: f32) -> Option<Calibration> {
        Some(Calibration { threshold, min, max: threshold })
    }

    /// `x → Relu → a`, `x → Relu → b`, `concat(a, b) → y`, plus `extra` readers of `a`.
    fn graph(extra: Op) -> (Graph, [TensorId; 3]) {
        let mut g = Graph::default();
        let t = |g: &mut Graph, n: &str| g.add_tensor(n, vec![1, 4, 2, 2], DType::F32);
        let x = t(&mut g, "x");
        let a = t(&mut g, "a");
        let b = t(&mut g, "b");
        let y = t(&mut g, "y");
        let z = t(&mut g, "z");
        g.nodes.push(Node { name: "ra".into(), op: Op::Relu, inputs: vec![x], outputs: vec![a] });
        g.nodes.push(Node { name: "rb".into(), op: Op::Relu, inputs: vec![x], outputs: vec![b] });
        g.nodes.push(Node { name: "cat".into(), op: Op::Concat { axis: 1 }, inputs: vec![a, b], outputs: vec![y] });
        g.nodes.push(Node { name: "other".into(), op: extra, inputs: vec![a], outputs: vec![z] });
        g.inputs.push(x);
        g.outputs.extend([y, z]);
        g.tensors[a].calibration = cal(3.0, 0.0);
        g.tensors[b].calibration = cal(5.0, 0.0);
        g.tensors[y].calibration = cal(4.0, 0.0);
        (g, [a, b, y])
    }

    #[test]
    fn inputs_read_by_the_concat_or_max_pooling_take_its_threshold() {
        let (g, [a, b, y]) = graph(Op::MaxPool { kernel: [2, 2], strides: [2, 2], pads: [0; 4] });
        let c = concat_thresholds(&g);
        assert_eq!((c[a], c[b], c[y]), (cal(4.0, 0.0), cal(4.0, 0.0), cal(4.0, 0.0)));
    }

    #[test]
    fn an_input_with_another_reader_keeps_every_threshold() {
        let (g, [a, b, y]) = graph(Op::Sigmoid);
        let c = concat_thresholds(&g);
        assert_eq!((c[a], c[b], c[y]), (cal(3.0, 0.0), cal(5.0, 0.0), cal(4.0, 0.0)));
    }

    #[test]
    fn inputs_of_different_signs_keep_their_thresholds() {
        let (mut g, [a, b, _]) = graph(Op::MaxPool { kernel: [2, 2], strides: [2, 2], pads: [0; 4] });
        g.tensors[b].calibration = cal(5.0, -1.0);
        let c = concat_thresholds(&g);
        assert_eq!((c[a], c[b]), (cal(3.0, 0.0), cal(5.0, -1.0)));
    }

    #[test]
    fn agreeing_inputs_give_the_output_their_threshold() {
        let (mut g, [a, b, y]) = graph(Op::MaxPool { kernel: [2, 2], strides: [2, 2], pads: [0; 4] });
        g.tensors[b].calibration = cal(3.0, 0.0);
        let c = concat_thresholds(&g);
        assert_eq!((c[a], c[b], c[y]), (cal(3.0, 0.0), cal(3.0, 0.0), cal(3.0, 0.0)));
    }
}
