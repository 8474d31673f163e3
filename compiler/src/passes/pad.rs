//! A zero Pad over height and width folded into the Conv or AveragePool that alone reads it (and
//! a -inf Pad into MaxPool).

use super::sole_reader;
use crate::ir::{Graph, Op, PadMode};

pub fn fold(g: &mut Graph) -> bool {
    let mut changed = false;
    let mut i = 0;
    while i < g.nodes.len() {
        let Op::Pad { pads, mode: PadMode::Constant, value } = &g.nodes[i].op else {
            i += 1;
            continue;
        };
        let (pads, value) = (pads.clone(), *value);
        let y = g.nodes[i].outputs[0];
        // Only height and width of an NCHW tensor.
        let hw_only = pads.len() == 8 && pads[0] == 0 && pads[1] == 0 && pads[4] == 0 && pads[5] == 0;
        let add = [pads[2], pads[3], pads[6], pads[7]];
        let Some(r) = sole_reader(g, y).filter(|_| hw_only) else {
            i += 1;
            continue;
        };
        let reads_data = g.nodes[r].inputs[0] == y && !g.nodes[r].inputs[1..].contains(&y);
        let folded = match &mut g.nodes[r].op {
            Op::Conv { pads: p, .. } if value == 0.0 && reads_data => {
                (0..4).for_each(|k| p[k] += add[k]);
                true
            }
            Op::AveragePool { pads: p, count_include_pad, .. }
                if value == 0.0 && (*count_include_pad || *p == [0; 4]) =>
            {
                (0..4).for_each(|k| p[k] += add[k]);
                *count_include_pad = true;
                true
            }
            Op::MaxPool { pads: p, .. } if value == f32::NEG_INFINITY => {
                (0..4).for_each(|k| p[k] += add[k]);
                true
            }
            _ => false,
        };
        if folded {
            let x = g.nodes[i].inputs[0];
            g.nodes[r].inputs[0] = x;
            g.nodes.remove(i);
            changed = true;
            continue;
        }
        i += 1;
    }
    changed
}
