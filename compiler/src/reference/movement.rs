//! Ops that move elements without computing on them, for any element type: the fp32 reference
//! and the integer constant folding of shape subgraphs share them.

use crate::ir::Op;
use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Slice};

/// Evaluates a data-movement op; `None` when `op` computes rather than moves (and for `Gather`,
/// whose indices are integers: [`gather_by`]).
pub fn eval<T: Clone + Default>(
    op: &Op,
    inputs: &[ArrayViewD<'_, T>],
    out_shapes: &[Vec<usize>],
) -> Option<Vec<ArrayD<T>>> {
    let x = inputs.first()?;
    let reshaped = |shape: &[usize]| -> ArrayD<T> {
        let v: Vec<T> = x.iter().cloned().collect();
        ArrayD::from_shape_vec(IxDyn(shape), v).unwrap_or_else(|_| ArrayD::default(IxDyn(shape)))
    };
    Some(match op {
        Op::Reshape { .. } | Op::Squeeze { .. } | Op::Unsqueeze { .. } | Op::Identity => vec![reshaped(&out_shapes[0])],
        Op::Transpose { perm } => vec![x.view().permuted_axes(IxDyn(perm)).as_standard_layout().into_owned()],
        Op::Concat { axis } => {
            let views: Vec<ArrayViewD<'_, T>> = inputs.iter().map(|v| v.view()).collect();
            vec![ndarray::concatenate(Axis(*axis), &views).ok()?]
        }
        Op::Split { axis, sizes } => {
            let mut start = 0;
            sizes
                .iter()
                .map(|&n| {
                    let part = x.slice_axis(Axis(*axis), Slice::from(start..start + n)).to_owned();
                    start += n;
                    part
                })
                .collect()
        }
        Op::Slice { starts, ends, axes, steps } => {
            let mut v = x.view();
            for i in 0..axes.len() {
                let d = x.shape()[axes[i]] as i64;
                let s = if steps[i] > 0 {
                    let (a, b) = (starts[i].clamp(0, d), ends[i].clamp(0, d));
                    Slice::new(a as isize, Some(b.max(a) as isize), steps[i] as isize)
                } else {
                    // ONNX walks down from `start` to just above `end`; ndarray walks the range
                    // [end+1, start+1) backwards.
                    let (a, b) = (starts[i].clamp(-1, d - 1), ends[i].clamp(-1, d - 1));
                    Slice::new((b + 1) as isize, Some((a + 1).max(b + 1) as isize), steps[i] as isize)
                };
                v.slice_axis_inplace(Axis(axes[i]), s);
            }
            vec![v.to_owned()]
        }
        Op::ChannelShuffle { groups } => {
            let s = x.shape();
            let (n, c, h, w) = (s[0], s[1], s[2], s[3]);
            let v: Vec<T> = x.iter().cloned().collect();
            let a = ndarray::Array5::from_shape_vec((n, *groups, c / groups, h, w), v).ok()?;
            let t = a.permuted_axes([0, 2, 1, 3, 4]).as_standard_layout().into_owned();
            vec![t.into_shape_with_order(IxDyn(&[n, c, h, w])).ok()?]
        }
        _ => return None,
    })
}

/// `Gather` with integer indices (negative ones count from the end).
pub fn gather_by<T: Clone + Default>(
    x: ArrayViewD<'_, T>,
    indices: &[i64],
    index_shape: &[usize],
    axis: usize,
) -> Option<ArrayD<T>> {
    let d = x.shape()[axis] as i64;
    let mut parts = Vec::with_capacity(indices.len());
    for &i in indices {
        let i = if i < 0 { i + d } else { i };
        if !(0..d).contains(&i) {
            return None;
        }
        parts.push(x.index_axis(Axis(axis), i as usize).insert_axis(Axis(axis)));
    }
    let joined = if parts.is_empty() {
        let mut s = x.shape().to_vec();
        s[axis] = 0;
        ArrayD::default(IxDyn(&s))
    } else {
        ndarray::concatenate(Axis(axis), &parts).ok()?
    };
    let mut out = x.shape()[..axis].to_vec();
    out.extend_from_slice(index_shape);
    out.extend_from_slice(&x.shape()[axis + 1..]);
    let v: Vec<T> = joined.as_standard_layout().iter().cloned().collect();
    ArrayD::from_shape_vec(IxDyn(&out), v).ok()
}
