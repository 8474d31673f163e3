//! One node in fp32: the per-op arithmetic of the reference interpreter.

use super::conv::{self, Geometry};
use super::{movement, pool};
use crate::ir::{Activation, DType, Op, PadMode};
use ndarray::{ArrayD, ArrayView2, ArrayViewD, Axis, IxDyn, Zip};

/// Applies a fused activation in place.
pub fn activate(y: &mut ArrayD<f32>, act: Activation) {
    match act {
        Activation::None => {}
        Activation::Relu => y.mapv_inplace(|v| v.max(0.0)),
        Activation::Clip(lo, hi) => y.mapv_inplace(|v| v.max(lo).min(hi)),
        Activation::LeakyRelu(a) => y.mapv_inplace(|v| if v < 0.0 { v * a } else { v }),
    }
}

fn binary(a: &ArrayD<f32>, b: &ArrayD<f32>, out: &[usize], f: impl Fn(f32, f32) -> f32) -> Result<ArrayD<f32>, String> {
    let ab = a.broadcast(IxDyn(out)).ok_or("operand does not broadcast")?;
    let bb = b.broadcast(IxDyn(out)).ok_or("operand does not broadcast")?;
    Ok(Zip::from(&ab).and(&bb).map_collect(|&x, &y| f(x, y)))
}

fn channel_param(p: Option<&&ArrayD<f32>>) -> Option<Vec<f32>> {
    p.map(|a| a.iter().copied().collect())
}

/// Per channel (axis 1): `x * s[c] + b[c]`.
fn per_channel(x: &ArrayD<f32>, s: &[f32], b: &[f32]) -> ArrayD<f32> {
    let mut y = x.as_standard_layout().into_owned();
    let c = x.shape()[1];
    let inner: usize = x.shape()[2..].iter().product();
    if let Some(ys) = y.as_slice_mut() {
        for (i, chunk) in ys.chunks_mut(inner.max(1)).enumerate() {
            let (sv, bv) = (s[i % c], b[i % c]);
            chunk.iter_mut().for_each(|v| *v = *v * sv + bv);
        }
    }
    y
}

fn matmul(a: &ArrayD<f32>, b: &ArrayD<f32>, out: &[usize]) -> Result<ArrayD<f32>, String> {
    let a2 = if a.ndim() == 1 { a.view().insert_axis(Axis(0)) } else { a.view() };
    let b2 = if b.ndim() == 1 { b.view().insert_axis(Axis(1)) } else { b.view() };
    let (m, k, n) = (a2.shape()[a2.ndim() - 2], a2.shape()[a2.ndim() - 1], b2.shape()[b2.ndim() - 1]);
    let batch =
        crate::ir::shape::broadcast(&a2.shape()[..a2.ndim() - 2], &b2.shape()[..b2.ndim() - 2]).map_err(|e| e.0)?;
    let nb: usize = batch.iter().product();
    let mut sa = batch.clone();
    sa.extend([m, k]);
    let mut sb = batch.clone();
    sb.extend([k, n]);
    let ab = a2.broadcast(IxDyn(&sa)).ok_or("MatMul operand does not broadcast")?.as_standard_layout().into_owned();
    let bb = b2.broadcast(IxDyn(&sb)).ok_or("MatMul operand does not broadcast")?.as_standard_layout().into_owned();
    let (asl, bsl) = (ab.as_slice().ok_or("layout")?, bb.as_slice().ok_or("layout")?);
    let mut y = Vec::with_capacity(nb * m * n);
    for i in 0..nb {
        let am = ArrayView2::from_shape((m, k), &asl[i * m * k..][..m * k]).map_err(|e| e.to_string())?;
        let bm = ArrayView2::from_shape((k, n), &bsl[i * k * n..][..k * n]).map_err(|e| e.to_string())?;
        y.extend(am.dot(&bm).iter());
    }
    ArrayD::from_shape_vec(IxDyn(out), y).map_err(|e| e.to_string())
}

fn softmax(x: &ArrayD<f32>, axis: usize) -> ArrayD<f32> {
    let mut y = x.as_standard_layout().into_owned();
    for mut lane in y.lanes_mut(Axis(axis)) {
        let m = lane.fold(f32::NEG_INFINITY, |a, &v| a.max(v));
        lane.mapv_inplace(|v| (v - m).exp());
        let s = lane.sum();
        lane.mapv_inplace(|v| v / s);
    }
    y
}

fn pad(x: &ArrayD<f32>, pads: &[usize], mode: PadMode, value: f32, out: &[usize]) -> ArrayD<f32> {
    let r = x.ndim();
    let xs = x.shape().to_vec();
    ArrayD::from_shape_fn(IxDyn(out), |idx| {
        let mut src = Vec::with_capacity(r);
        for i in 0..r {
            let p = idx[i] as isize - pads[i] as isize;
            let n = xs[i] as isize;
            let q = if (0..n).contains(&p) {
                p
            } else {
                match mode {
                    PadMode::Constant => return value,
                    PadMode::Edge => p.clamp(0, n - 1),
                    PadMode::Reflect => {
                        let period = (2 * (n - 1)).max(1);
                        let m = p.rem_euclid(period);
                        if m < n {
                            m
                        } else {
                            period - m
                        }
                    }
                }
            };
            src.push(q as usize);
        }
        x[IxDyn(&src)]
    })
}

/// Evaluates `op` on fp32 inputs into outputs of the given shapes.
pub fn eval(op: &Op, inputs: &[&ArrayD<f32>], out: &[Vec<usize>]) -> Result<Vec<ArrayD<f32>>, String> {
    let views: Vec<ArrayViewD<'_, f32>> = inputs.iter().map(|a| a.view()).collect();
    if let Some(v) = movement::eval(op, &views, out) {
        return Ok(v);
    }
    let x = *inputs.first().ok_or("no input")?;
    let o = &out[0];
    let one = |a: ArrayD<f32>| Ok(vec![a]);
    let std_x = x.as_standard_layout();
    let xsl = std_x.as_slice().ok_or("layout")?;
    match op {
        Op::Conv { kernel, strides, pads, dilations, group, act } => {
            let w = inputs[1].as_standard_layout();
            let b = inputs.get(2).map(|b| b.as_standard_layout());
            let g = Geometry { kernel: *kernel, strides: *strides, pads: *pads, dilations: *dilations, group: *group };
            let mut y =
                conv::conv(xsl, x.shape(), w.as_slice().ok_or("layout")?, b.as_ref().and_then(|b| b.as_slice()), &g, o);
            activate(&mut y, *act);
            one(y)
        }
        Op::ConvTranspose { kernel, strides, pads, dilations, group, .. } => {
            let w = inputs[1].as_standard_layout();
            let b = inputs.get(2).map(|b| b.as_standard_layout());
            let g = Geometry { kernel: *kernel, strides: *strides, pads: *pads, dilations: *dilations, group: *group };
            one(conv::conv_transpose(
                xsl,
                x.shape(),
                w.as_slice().ok_or("layout")?,
                b.as_ref().and_then(|b| b.as_slice()),
                &g,
                o,
            ))
        }
        Op::FullyConnected { act } => {
            let w = inputs[1];
            let k = w.shape()[0];
            let rows = x.len() / k.max(1);
            let xm = ArrayView2::from_shape((rows, k), xsl).map_err(|e| e.to_string())?;
            let wm = w.view().into_dimensionality::<ndarray::Ix2>().map_err(|e| e.to_string())?;
            let mut y = xm.dot(&wm);
            if let Some(b) = inputs.get(2) {
                let b = b.view().into_shape_with_order(w.shape()[1]).map_err(|e| e.to_string())?;
                y += &b;
            }
            let mut y = y.into_dyn().into_shape_with_order(IxDyn(o)).map_err(|e| e.to_string())?;
            activate(&mut y, *act);
            one(y)
        }
        Op::MatMul => one(matmul(x, inputs[1], o)?),
        Op::Add => one(binary(x, inputs[1], o, |a, b| a + b)?),
        Op::Sub => one(binary(x, inputs[1], o, |a, b| a - b)?),
        Op::Mul => one(binary(x, inputs[1], o, |a, b| a * b)?),
        Op::Div => one(binary(x, inputs[1], o, |a, b| a / b)?),
        Op::Pow => one(binary(x, inputs[1], o, |a, b| if b == 2.0 { a * a } else { a.powf(b) })?),
        Op::Sqrt => one(x.mapv(f32::sqrt)),
        Op::Exp => one(x.mapv(f32::exp)),
        Op::Relu => one(x.mapv(|v| v.max(0.0))),
        Op::Clip { min, max } => one(x.mapv(|v| v.max(*min).min(*max))),
        Op::LeakyRelu { alpha } => one(x.mapv(|v| if v < 0.0 { v * alpha } else { v })),
        Op::Sigmoid => one(x.mapv(|v| 1.0 / (1.0 + (-v).exp()))),
        Op::Tanh => one(x.mapv(f32::tanh)),
        Op::HardSigmoid { alpha, beta } => one(x.mapv(|v| (alpha * v + beta).clamp(0.0, 1.0))),
        Op::HardSwish => one(x.mapv(|v| v * (v / 6.0 + 0.5).clamp(0.0, 1.0))),
        Op::Softmax { axis } => one(softmax(x, *axis)),
        Op::GlobalAveragePool | Op::GlobalMaxPool => {
            let inner: usize = x.shape()[2..].iter().product();
            let max = matches!(op, Op::GlobalMaxPool);
            let v: Vec<f32> = xsl
                .chunks(inner.max(1))
                .map(|c| {
                    if max {
                        c.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b))
                    } else {
                        c.iter().sum::<f32>() / inner as f32
                    }
                })
                .collect();
            one(ArrayD::from_shape_vec(IxDyn(o), v).map_err(|e| e.to_string())?)
        }
        Op::AveragePool { kernel, strides, pads, count_include_pad } => {
            one(pool::pool(xsl, x.shape(), *kernel, *strides, *pads, false, *count_include_pad, o))
        }
        Op::MaxPool { kernel, strides, pads } => {
            one(pool::pool(xsl, x.shape(), *kernel, *strides, *pads, true, false, o))
        }
        Op::ReduceMean { axes, .. } => {
            let mut y = x.clone();
            let mut sorted = axes.clone();
            sorted.sort_unstable_by(|a, b| b.cmp(a));
            for &a in &sorted {
                y = y.mean_axis(Axis(a)).ok_or("mean of an empty axis")?;
            }
            one(y.into_shape_with_order(IxDyn(o)).map_err(|e| e.to_string())?)
        }
        Op::Pad { pads, mode, value } => one(pad(x, pads, *mode, *value, o)),
        Op::Resize { mode, .. } => one(pool::resize(xsl, x.shape(), *mode, o)),
        Op::BatchNormalization { epsilon } => {
            let p: Vec<Vec<f32>> = (1..5).map(|i| channel_param(inputs.get(i)).unwrap_or_default()).collect();
            let s: Vec<f32> = (0..p[0].len()).map(|c| p[0][c] / (p[3][c] + epsilon).sqrt()).collect();
            let b: Vec<f32> = (0..p[0].len()).map(|c| p[1][c] - p[2][c] * s[c]).collect();
            one(per_channel(x, &s, &b))
        }
        Op::Scale => {
            let s = channel_param(inputs.get(1)).unwrap_or_default();
            let b = channel_param(inputs.get(2)).unwrap_or_else(|| vec![0.0; s.len()]);
            one(per_channel(x, &s, &b))
        }
        Op::Shape => one(ArrayD::from_shape_vec(IxDyn(o), x.shape().iter().map(|&d| d as f32).collect())
            .map_err(|e| e.to_string())?),
        Op::Gather { axis } => {
            let idx: Vec<i64> = inputs[1].iter().map(|&v| v as i64).collect();
            one(movement::gather_by(x.view(), &idx, inputs[1].shape(), *axis).ok_or("Gather index out of range")?)
        }
        Op::Cast { to } => one(match to {
            DType::F32 => x.clone(),
            DType::I64 => x.mapv(f32::trunc),
            DType::Bool => x.mapv(|v| (v != 0.0) as u8 as f32),
        }),
        _ => Err(format!("{} has no fp32 reference", op.name())),
    }
}
