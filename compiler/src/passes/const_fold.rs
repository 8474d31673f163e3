//! Constant folding: a node whose inputs are all constant is evaluated (integers exactly, floats
//! with the fp32 reference) and its outputs become constants.

use crate::ir::{Graph, Value};
use crate::reference::fold::fold;

pub fn fold_constants(g: &mut Graph) -> bool {
    let mut changed = false;
    let mut i = 0;
    while i < g.nodes.len() {
        let n = &g.nodes[i];
        if !n.inputs.is_empty() && g.node_inputs_const(n) {
            let vals: Vec<&Value> = n.inputs.iter().filter_map(|&t| g.value(t)).collect();
            let shapes: Vec<Vec<usize>> = n.outputs.iter().map(|&t| g.tensors[t].shape.clone()).collect();
            if let Ok(Some(outs)) = fold(&n.op, &vals, &shapes) {
                let outputs = n.outputs.clone();
                for (t, v) in outputs.into_iter().zip(outs) {
                    g.tensors[t].dtype = v.dtype();
                    g.tensors[t].value = Some(v);
                }
                g.nodes.remove(i);
                changed = true;
                continue;
            }
        }
        i += 1;
    }
    changed
}
