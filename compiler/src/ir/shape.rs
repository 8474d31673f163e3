//! Output shapes and types of every op from its input shapes (and, for `Shape`, nothing else:
//! shapes are static once the inputs are fixed).

use super::{DType, Op};

/// Why an op cannot take inputs of these shapes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct ShapeError(pub String);

/// Largest number of elements one tensor may have; shapes beyond it are refused rather than
/// allocated.
pub const MAX_ELEMENTS: usize = 1 << 28;

macro_rules! bail {
    ($($t:tt)*) => { return Err(ShapeError(format!($($t)*))) };
}

fn need(inputs: &[&[usize]], n: usize, op: &str) -> Result<(), ShapeError> {
    if inputs.len() < n {
        bail!("{op} needs {n} inputs, has {}", inputs.len());
    }
    Ok(())
}

fn rank(s: &[usize], r: usize, what: &str) -> Result<(), ShapeError> {
    if s.len() != r {
        bail!("{what} must have rank {r}, has shape {s:?}");
    }
    Ok(())
}

/// NumPy-style broadcast of two shapes.
pub fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, ShapeError> {
    let r = a.len().max(b.len());
    let mut out = vec![0; r];
    for i in 0..r {
        let da = if i + a.len() >= r { a[i + a.len() - r] } else { 1 };
        let db = if i + b.len() >= r { b[i + b.len() - r] } else { 1 };
        out[i] = match (da, db) {
            (x, y) if x == y => x,
            (1, y) => y,
            (x, 1) => x,
            _ => bail!("shapes {a:?} and {b:?} do not broadcast"),
        };
    }
    Ok(out)
}

/// Output size of a window of `k` (dilated to `d*(k-1)+1`) sliding by `s` over `n + pads`.
fn window(n: usize, k: usize, s: usize, d: usize, pad: usize) -> Result<usize, ShapeError> {
    let ek = d.saturating_mul(k.max(1) - 1).saturating_add(1);
    let padded = n.saturating_add(pad);
    if s == 0 || padded < ek {
        bail!("window {k} (dilation {d}, stride {s}) does not fit {n} + {pad} padding");
    }
    Ok((padded - ek) / s + 1)
}

fn check_size(s: &[usize]) -> Result<(), ShapeError> {
    let mut n: usize = 1;
    for &d in s {
        n = match n.checked_mul(d) {
            Some(v) if v <= MAX_ELEMENTS => v,
            _ => bail!("shape {s:?} has more than {MAX_ELEMENTS} elements"),
        };
    }
    Ok(())
}

/// Elements in row-major order of a slice along one axis: start, step, count.
pub fn slice_len(dim: usize, start: i64, end: i64, step: i64) -> usize {
    let d = dim as i64;
    if step > 0 {
        let (s, e) = (start.clamp(0, d), end.clamp(0, d));
        if e > s {
            ((e - s + step - 1) / step) as usize
        } else {
            0
        }
    } else {
        let (s, e) = (start.clamp(-1, d - 1), end.clamp(-1, d - 1));
        if s > e {
            ((s - e + (-step) - 1) / (-step)) as usize
        } else {
            0
        }
    }
}

impl Op {
    /// The shapes of the op's outputs for inputs of the given shapes.
    pub fn infer(&self, inputs: &[&[usize]], n_outputs: usize) -> Result<Vec<Vec<usize>>, ShapeError> {
        let out = self.infer_unchecked(inputs, n_outputs)?;
        for s in &out {
            check_size(s)?;
        }
        Ok(out)
    }

    fn infer_unchecked(&self, inputs: &[&[usize]], n_outputs: usize) -> Result<Vec<Vec<usize>>, ShapeError> {
        let name = self.name();
        need(inputs, 1, name)?;
        let x = inputs[0];
        let one = |s: Vec<usize>| Ok(vec![s]);
        match self {
            Op::Conv { kernel, strides, pads, dilations, group, .. } => {
                need(inputs, 2, name)?;
                rank(x, 4, "Conv input")?;
                let w = inputs[1];
                rank(w, 4, "Conv weight")?;
                if *group == 0 || x[1] != w[1] * group || w[0] % group != 0 || w[2..] != kernel[..] {
                    bail!("Conv input {x:?}, weight {w:?}, kernel {kernel:?} and group {group} disagree");
                }
                if let Some(b) = inputs.get(2) {
                    if numel(b) != w[0] {
                        bail!("Conv bias {b:?} for {} output channels", w[0]);
                    }
                }
                let h = window(x[2], kernel[0], strides[0], dilations[0], pads[0] + pads[2])?;
                let wd = window(x[3], kernel[1], strides[1], dilations[1], pads[1] + pads[3])?;
                one(vec![x[0], w[0], h, wd])
            }
            Op::ConvTranspose { kernel, strides, pads, dilations, output_padding, group } => {
                need(inputs, 2, name)?;
                rank(x, 4, "ConvTranspose input")?;
                let w = inputs[1];
                rank(w, 4, "ConvTranspose weight")?;
                if *group == 0 || x[1] != w[0] || w[0] % group != 0 || w[2..] != kernel[..] {
                    bail!("ConvTranspose input {x:?}, weight {w:?}, kernel {kernel:?} and group {group} disagree");
                }
                let mut hw = [0; 2];
                for i in 0..2 {
                    let full =
                        strides[i] * (x[2 + i].max(1) - 1) + output_padding[i] + dilations[i] * (kernel[i] - 1) + 1;
                    hw[i] = full
                        .checked_sub(pads[i] + pads[i + 2])
                        .filter(|&v| v > 0)
                        .ok_or_else(|| ShapeError(format!("ConvTranspose pads {pads:?} exceed output {full}")))?;
                }
                one(vec![x[0], w[1] * group, hw[0], hw[1]])
            }
            Op::FullyConnected { .. } => {
                need(inputs, 2, name)?;
                let w = inputs[1];
                rank(w, 2, "FullyConnected weight")?;
                if x.last() != Some(&w[0]) {
                    bail!("FullyConnected input {x:?} and weight {w:?} disagree");
                }
                if let Some(b) = inputs.get(2) {
                    if numel(b) != w[1] {
                        bail!("FullyConnected bias {b:?} for {} outputs", w[1]);
                    }
                }
                let mut s = x.to_vec();
                *s.last_mut().unwrap_or(&mut 0) = w[1];
                one(s)
            }
            Op::MatMul => {
                need(inputs, 2, name)?;
                let (a, b) = (x, inputs[1]);
                if a.is_empty() || b.is_empty() {
                    bail!("MatMul of scalars");
                }
                let a2: Vec<usize> = if a.len() == 1 { vec![1, a[0]] } else { a.to_vec() };
                let b2: Vec<usize> = if b.len() == 1 { vec![b[0], 1] } else { b.to_vec() };
                let (m, k) = (a2[a2.len() - 2], a2[a2.len() - 1]);
                let (k2, n) = (b2[b2.len() - 2], b2[b2.len() - 1]);
                if k != k2 {
                    bail!("MatMul of {a:?} and {b:?}: inner dimensions differ");
                }
                let mut s = broadcast(&a2[..a2.len() - 2], &b2[..b2.len() - 2])?;
                if a.len() > 1 {
                    s.push(m);
                }
                if b.len() > 1 {
                    s.push(n);
                }
                one(s)
            }
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Pow => {
                need(inputs, 2, name)?;
                one(broadcast(x, inputs[1])?)
            }
            Op::Scale => {
                rank_at_least(x, 2, "Scale input")?;
                for s in &inputs[1..] {
                    if numel(s) != x[1] {
                        bail!("Scale parameter {s:?} for {} channels", x[1]);
                    }
                }
                one(x.to_vec())
            }
            Op::BatchNormalization { .. } => {
                need(inputs, 5, name)?;
                rank_at_least(x, 2, "BatchNormalization input")?;
                for s in &inputs[1..5] {
                    if numel(s) != x[1] {
                        bail!("BatchNormalization parameter {s:?} for {} channels", x[1]);
                    }
                }
                one(x.to_vec())
            }
            Op::Sqrt
            | Op::Exp
            | Op::Relu
            | Op::Clip { .. }
            | Op::LeakyRelu { .. }
            | Op::Sigmoid
            | Op::Tanh
            | Op::HardSigmoid { .. }
            | Op::HardSwish
            | Op::Cast { .. }
            | Op::Identity => one(x.to_vec()),
            Op::Softmax { axis } => {
                if *axis >= x.len() {
                    bail!("Softmax axis {axis} of shape {x:?}");
                }
                one(x.to_vec())
            }
            Op::ChannelShuffle { groups } => {
                rank(x, 4, "ChannelShuffle input")?;
                if *groups == 0 || x[1] % groups != 0 {
                    bail!("ChannelShuffle of {} channels in {groups} groups", x[1]);
                }
                one(x.to_vec())
            }
            Op::GlobalAveragePool | Op::GlobalMaxPool => {
                rank_at_least(x, 3, "global pooling input")?;
                let mut s = x[..2].to_vec();
                s.resize(x.len(), 1);
                one(s)
            }
            Op::AveragePool { kernel, strides, pads, .. } | Op::MaxPool { kernel, strides, pads } => {
                rank(x, 4, "pooling input")?;
                let h = window(x[2], kernel[0], strides[0], 1, pads[0] + pads[2])?;
                let w = window(x[3], kernel[1], strides[1], 1, pads[1] + pads[3])?;
                one(vec![x[0], x[1], h, w])
            }
            Op::ReduceMean { axes, keepdims } => {
                let mut s = Vec::new();
                for (i, &d) in x.iter().enumerate() {
                    if axes.contains(&i) {
                        if *keepdims {
                            s.push(1);
                        }
                    } else {
                        s.push(d);
                    }
                }
                if axes.iter().any(|&a| a >= x.len()) {
                    bail!("ReduceMean axes {axes:?} of shape {x:?}");
                }
                one(s)
            }
            Op::Concat { axis } => {
                if *axis >= x.len() {
                    bail!("Concat axis {axis} of shape {x:?}");
                }
                let mut s = x.to_vec();
                for other in &inputs[1..] {
                    if other.len() != x.len() || other.iter().zip(x).enumerate().any(|(i, (a, b))| i != *axis && a != b)
                    {
                        bail!("Concat along {axis} of {x:?} and {other:?}");
                    }
                    s[*axis] += other[*axis];
                }
                one(s)
            }
            Op::Split { axis, sizes } => {
                if *axis >= x.len() || sizes.iter().sum::<usize>() != x[*axis] || sizes.len() != n_outputs {
                    bail!("Split of {x:?} along {axis} into {sizes:?} ({n_outputs} outputs)");
                }
                Ok(sizes
                    .iter()
                    .map(|&n| {
                        let mut s = x.to_vec();
                        s[*axis] = n;
                        s
                    })
                    .collect())
            }
            Op::Slice { starts, ends, axes, steps } => {
                let mut s = x.to_vec();
                for i in 0..axes.len() {
                    let a = axes[i];
                    if a >= x.len() || steps[i] == 0 {
                        bail!("Slice axis {a} (step {}) of shape {x:?}", steps[i]);
                    }
                    s[a] = slice_len(x[a], starts[i], ends[i], steps[i]);
                }
                one(s)
            }
            Op::Reshape { shape } => {
                if numel(shape) != numel(x) {
                    bail!("Reshape of {x:?} to {shape:?}");
                }
                one(shape.clone())
            }
            Op::Transpose { perm } => {
                let mut seen = vec![false; x.len()];
                if perm.len() != x.len() || perm.iter().any(|&p| p >= x.len() || std::mem::replace(&mut seen[p], true))
                {
                    bail!("Transpose perm {perm:?} of shape {x:?}");
                }
                one(perm.iter().map(|&p| x[p]).collect())
            }
            Op::Pad { pads, .. } => {
                if pads.len() != 2 * x.len() {
                    bail!("Pad pads {pads:?} for shape {x:?}");
                }
                one(x
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| d.saturating_add(pads[i]).saturating_add(pads[i + x.len()]))
                    .collect())
            }
            Op::Resize { out_hw, .. } => {
                rank(x, 4, "Resize input")?;
                one(vec![x[0], x[1], out_hw[0], out_hw[1]])
            }
            Op::Shape => one(vec![x.len()]),
            Op::Gather { axis } => {
                need(inputs, 2, name)?;
                if *axis >= x.len() {
                    bail!("Gather axis {axis} of shape {x:?}");
                }
                let mut s = x[..*axis].to_vec();
                s.extend_from_slice(inputs[1]);
                s.extend_from_slice(&x[axis + 1..]);
                one(s)
            }
            Op::Unsqueeze { axes } => {
                let r = x.len() + axes.len();
                if axes.iter().any(|&a| a >= r) || (1..axes.len()).any(|i| axes[..i].contains(&axes[i])) {
                    bail!("Unsqueeze axes {axes:?} of shape {x:?}");
                }
                let mut it = x.iter();
                one((0..r).map(|i| if axes.contains(&i) { 1 } else { *it.next().unwrap_or(&1) }).collect())
            }
            Op::Squeeze { axes } => {
                if axes.iter().any(|&a| a >= x.len() || x[a] != 1) {
                    bail!("Squeeze axes {axes:?} of shape {x:?}");
                }
                one(x.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect())
            }
        }
    }

    /// Element type of output `i` given the first input's.
    pub fn out_dtype(&self, input: DType) -> DType {
        match self {
            Op::Shape => DType::I64,
            Op::Cast { to } => *to,
            _ => input,
        }
    }
}

/// Elements of a shape, saturating (a saturated count fails every size check).
pub fn numel(s: &[usize]) -> usize {
    s.iter().fold(1usize, |a, &d| a.saturating_mul(d))
}

fn rank_at_least(s: &[usize], r: usize, what: &str) -> Result<(), ShapeError> {
    if s.len() < r {
        bail!("{what} must have rank at least {r}, has shape {s:?}");
    }
    Ok(())
}
