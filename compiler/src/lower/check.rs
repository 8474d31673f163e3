//! [`Network::check`]: every mistake a network builder can make, named by layer.

use super::{DType, Layer, Network, PoolKind, TensorRef};

/// What is wrong with one layer.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LayerProblem {
    #[error("tensor reference {0} is out of range ({1} tensors)")]
    NoSuchTensor(TensorRef, usize),
    #[error("tensor `{tensor}` is {found}, expected {expected}")]
    DType { tensor: String, found: &'static str, expected: &'static str },
    #[error("tensor `{tensor}` has shape {found:?}, expected {expected:?}")]
    Shape { tensor: String, found: [usize; 4], expected: [usize; 4] },
    #[error("{what} has {found} values, expected {expected}")]
    ParamCount { what: &'static str, found: usize, expected: usize },
    #[error("{0}")]
    Invalid(String),
    #[error("not supported by the back end: {0}")]
    Unsupported(String),
    #[error("tensor `{0}` is written by an earlier layer too")]
    WrittenTwice(String),
    #[error("tensor `{0}` is read before any layer writes it and is not a network input")]
    NotYetWritten(String),
}

/// A network the back end cannot compile.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetworkError {
    #[error("layer {index} ({kind}): {problem}")]
    Layer { index: usize, kind: &'static str, problem: LayerProblem },
    #[error("network {what} {index}: tensor reference {tensor} is out of range ({count} tensors)")]
    NoSuchIo { what: &'static str, index: usize, tensor: TensorRef, count: usize },
    #[error("network output `{0}` is never written")]
    OutputNotWritten(String),
    #[error("network input `{0}` is {1}; inputs are fp32 (then Quantize) or int8")]
    InputDType(String, &'static str),
    #[error("the network has no {0}")]
    Empty(&'static str),
}

type P = LayerProblem;

struct Ctx<'a> {
    net: &'a Network,
}

impl Ctx<'_> {
    fn dtype(&self, t: TensorRef, expected: DType) -> Result<(), P> {
        let d = &self.net.tensors[t];
        if d.dtype != expected {
            return Err(P::DType { tensor: d.name.clone(), found: d.dtype.name(), expected: expected.name() });
        }
        Ok(())
    }

    fn shape(&self, t: TensorRef, expected: [usize; 4]) -> Result<(), P> {
        let d = &self.net.tensors[t];
        if d.shape != expected {
            return Err(P::Shape { tensor: d.name.clone(), found: d.shape, expected });
        }
        Ok(())
    }

    fn s(&self, t: TensorRef) -> [usize; 4] {
        self.net.tensors[t].shape
    }
}

fn count(what: &'static str, found: usize, expected: usize) -> Result<(), P> {
    if found != expected {
        return Err(P::ParamCount { what, found, expected });
    }
    Ok(())
}

fn shifts(chip: super::Chip, shifts: impl Iterator<Item = i8>) -> Result<(), P> {
    for s in shifts {
        if !(-32..=31).contains(&s) {
            return Err(P::Invalid(format!("shift {s} does not fit the 6-bit QM shift (-32..=31)")));
        }
        // CV183x reads the shift byte as a plain right shift (isa.md §3.6.1).
        if s < 0 && !chip.layout().signed_shifts() {
            return Err(P::Unsupported(format!("left shift {s} on {chip} (right shifts only)")));
        }
    }
    Ok(())
}

/// The hardware window and stride fields (isa.md §3.1, §3.3).
fn window(chip: super::Chip, kernel: [usize; 2], stride: [usize; 2], pads: super::Pads) -> Result<(), P> {
    let max_stride = if chip.layout().signed_shifts() { 31 } else { 15 };
    if stride.iter().any(|&s| s == 0 || s > max_stride) {
        return Err(P::Unsupported(format!("stride {stride:?} (1..={max_stride})")));
    }
    if kernel.iter().any(|&k| k == 0 || k > 4063) {
        return Err(P::Invalid(format!("kernel {kernel:?}")));
    }
    if [pads.top, pads.bottom, pads.left, pads.right].iter().any(|&p| p > 15) {
        return Err(P::Unsupported(format!("padding {pads:?} (at most 15 per side)")));
    }
    Ok(())
}

fn layer(cx: &Ctx, l: &Layer) -> Result<(), P> {
    let n = cx.net.tensors.len();
    for t in l.inputs().into_iter().chain([l.output()]) {
        if t >= n {
            return Err(P::NoSuchTensor(t, n));
        }
    }
    let chip = cx.net.chip;
    match l {
        Layer::Quantize { input, output, scale } => {
            cx.dtype(*input, DType::F32)?;
            if cx.net.tensors[*output].dtype == DType::Bf16 {
                if *scale != 1.0 {
                    return Err(P::Invalid(format!("scale {scale}: quantising to bf16 takes scale 1")));
                }
            } else {
                cx.dtype(*output, DType::I8)?;
            }
            cx.shape(*output, cx.s(*input))?;
            if !scale.is_finite() || *scale <= 0.0 {
                return Err(P::Invalid(format!("scale {scale}")));
            }
        }
        Layer::Dequantize { input, output, scale } => {
            if cx.net.tensors[*input].dtype == DType::Bf16 {
                if *scale != 1.0 {
                    return Err(P::Invalid(format!("scale {scale}: a bf16 tensor is dequantised as it is (scale 1)")));
                }
            } else {
                cx.dtype(*input, DType::I8)?;
            }
            cx.dtype(*output, DType::F32)?;
            cx.shape(*output, cx.s(*input))?;
            if !scale.is_finite() || *scale <= 0.0 {
                return Err(P::Invalid(format!("scale {scale}")));
            }
        }
        Layer::Conv(c) => {
            cx.dtype(c.input, DType::I8)?;
            cx.dtype(c.output, DType::I8)?;
            let [n, ic, ih, iw] = cx.s(c.input);
            let oc = cx.s(c.output)[1];
            if c.group != 1 && !(c.group == ic && c.group == oc) {
                return Err(P::Unsupported(format!(
                    "group {} with {ic} → {oc} channels (only 1 or depthwise)",
                    c.group
                )));
            }
            window(chip, c.kernel, c.stride, c.pads)?;
            if c.dilation.iter().any(|&d| d == 0 || d > 16) {
                return Err(P::Unsupported(format!("dilation {:?} (1..=16)", c.dilation)));
            }
            if c.group > 1 && c.dilation != [1, 1] && chip.quirks().depthwise_qm_ignores_dilation {
                return Err(P::Unsupported(format!("dilated depthwise convolution on {chip}")));
            }
            let oh = super::window_out(ih, c.pads.top, c.pads.bottom, c.kernel[0], c.stride[0], c.dilation[0]);
            let ow = super::window_out(iw, c.pads.left, c.pads.right, c.kernel[1], c.stride[1], c.dilation[1]);
            let (Some(oh), Some(ow)) = (oh, ow) else {
                return Err(P::Invalid("the kernel is larger than the padded input".into()));
            };
            cx.shape(c.output, [n, oc, oh, ow])?;
            count("weight", c.weight.len(), oc * (ic / c.group) * c.kernel[0] * c.kernel[1])?;
            count("quant", c.quant.len(), oc)?;
            shifts(chip, c.quant.iter().map(|q| q.shift))?;
        }
        Layer::FullyConnected(f) => {
            cx.dtype(f.input, DType::I8)?;
            cx.dtype(f.output, DType::I8)?;
            let [m, k, h, w] = cx.s(f.input);
            if h != 1 || w != 1 {
                return Err(P::Invalid(format!(
                    "input shape {:?}: an FC reads [M, K, 1, 1] (put a Reshape before it)",
                    cx.s(f.input)
                )));
            }
            let nout = cx.s(f.output)[1];
            cx.shape(f.output, [m, nout, 1, 1])?;
            count("weight", f.weight.len(), nout * k)?;
            count("quant", f.quant.len(), nout)?;
            shifts(chip, f.quant.iter().map(|q| q.shift))?;
        }
        Layer::Lut { input, output, .. } => {
            cx.dtype(*input, DType::I8)?;
            cx.dtype(*output, DType::I8)?;
            cx.shape(*output, cx.s(*input))?;
        }
        Layer::Add { a, b, output, rshift, .. } => {
            for t in [*a, *b, *output] {
                cx.dtype(t, DType::I8)?;
            }
            cx.shape(*b, cx.s(*a))?;
            cx.shape(*output, cx.s(*a))?;
            if *rshift > 15 {
                return Err(P::Invalid(format!("rshift {rshift} (mac allows 0..=15)")));
            }
        }
        Layer::Mul { a, b, output, shift, .. } => {
            for t in [*a, *b, *output] {
                cx.dtype(t, DType::I8)?;
            }
            let sa = cx.s(*a);
            let sb = cx.s(*b);
            if sb != sa && sb != [sa[0], sa[1], 1, 1] {
                return Err(P::Shape {
                    tensor: cx.net.tensors[*b].name.clone(),
                    found: sb,
                    expected: [sa[0], sa[1], 1, 1],
                });
            }
            cx.shape(*output, sa)?;
            shifts(chip, [*shift].into_iter())?;
        }
        Layer::Pool(p) => {
            let dt = cx.net.tensors[p.input].dtype;
            match (dt, p.kind) {
                (DType::I8, PoolKind::Max | PoolKind::Avg { .. }) | (DType::Bf16, PoolKind::Max | PoolKind::Mean) => {}
                _ => return Err(P::Unsupported(format!("{:?} pooling of a {} tensor", p.kind, dt.name()))),
            }
            cx.dtype(p.output, dt)?;
            window(chip, p.kernel, p.stride, p.pads)?;
            let [n, c, ih, iw] = cx.s(p.input);
            let oh = super::window_out(ih, p.pads.top, p.pads.bottom, p.kernel[0], p.stride[0], 1);
            let ow = super::window_out(iw, p.pads.left, p.pads.right, p.kernel[1], p.stride[1], 1);
            let (Some(oh), Some(ow)) = (oh, ow) else {
                return Err(P::Invalid("the window is larger than the padded input".into()));
            };
            cx.shape(p.output, [n, c, oh, ow])?;
            if let PoolKind::Avg { rshift, .. } = p.kind {
                if rshift > 31 {
                    return Err(P::Invalid(format!("rshift {rshift}")));
                }
            }
        }
        Layer::Concat { inputs, output, rescale } => {
            let dt = cx.net.tensors[*output].dtype;
            if dt == DType::F32 || (dt == DType::Bf16 && rescale.iter().any(Option::is_some)) {
                return Err(P::Unsupported(format!(
                    "{} concat{}",
                    dt.name(),
                    if dt == DType::Bf16 { " with a rescale" } else { "" }
                )));
            }
            count("rescale", rescale.len(), inputs.len())?;
            if inputs.is_empty() {
                return Err(P::Invalid("no inputs".into()));
            }
            let [n, _, h, w] = cx.s(*output);
            let mut c = 0;
            for &t in inputs {
                cx.dtype(t, dt)?;
                let s = cx.s(t);
                if (s[0], s[2], s[3]) != (n, h, w) {
                    return Err(P::Shape {
                        tensor: cx.net.tensors[t].name.clone(),
                        found: s,
                        expected: [n, s[1], h, w],
                    });
                }
                c += s[1];
            }
            cx.shape(*output, [n, c, h, w])?;
            for r in rescale.iter().flatten() {
                if r.rshift > 31 {
                    return Err(P::Invalid(format!("rshift {}", r.rshift)));
                }
            }
        }
        Layer::Softmax { input, output, scale } => {
            let bf16_in = cx.net.tensors[*input].dtype == DType::Bf16;
            if !bf16_in {
                cx.dtype(*input, DType::I8)?;
            }
            cx.dtype(*output, DType::Bf16)?;
            let [n, c, h, w] = cx.s(*input);
            if h != 1 || w != 1 {
                return Err(P::Unsupported(format!(
                    "softmax of {:?}: only over the channels of [N, C, 1, 1]",
                    cx.s(*input)
                )));
            }
            if n > 4095 || c > 4063 {
                return Err(P::Unsupported(format!("softmax of {:?}", cx.s(*input))));
            }
            cx.shape(*output, [n, c, 1, 1])?;
            if !bf16_in && (!scale.is_finite() || *scale <= 0.0 || scale * 255.0 >= 80.0) {
                return Err(P::Invalid(format!("scale {scale} (0 < scale·255 < 80)")));
            }
        }
        Layer::Slice { input, output, c0 } => {
            let (si, so) = (cx.s(*input), cx.s(*output));
            cx.dtype(*output, cx.net.tensors[*input].dtype)?;
            if (si[0], si[2], si[3]) != (so[0], so[2], so[3]) || c0 + so[1] > si[1] {
                return Err(P::Invalid(format!("channels {c0}..{} of {si:?} into {so:?}", c0 + so[1])));
            }
        }
        Layer::ChannelShuffle { input, output, groups } => {
            cx.dtype(*output, cx.net.tensors[*input].dtype)?;
            cx.shape(*output, cx.s(*input))?;
            if *groups == 0 || cx.s(*input)[1] % groups != 0 {
                return Err(P::Invalid(format!("{groups} groups of {} channels", cx.s(*input)[1])));
            }
        }
        Layer::ConvBf16(c) => {
            cx.dtype(c.input, DType::Bf16)?;
            cx.dtype(c.output, DType::Bf16)?;
            let [n, ic, ih, iw] = cx.s(c.input);
            let oc = cx.s(c.output)[1];
            if c.group != 1 && !(c.group == ic && c.group == oc) {
                return Err(P::Unsupported(format!(
                    "group {} with {ic} → {oc} channels (only 1 or depthwise)",
                    c.group
                )));
            }
            window(chip, c.kernel, c.stride, c.pads)?;
            if c.dilation.iter().any(|&d| d == 0 || d > 16) {
                return Err(P::Unsupported(format!("dilation {:?} (1..=16)", c.dilation)));
            }
            let oh = super::window_out(ih, c.pads.top, c.pads.bottom, c.kernel[0], c.stride[0], c.dilation[0]);
            let ow = super::window_out(iw, c.pads.left, c.pads.right, c.kernel[1], c.stride[1], c.dilation[1]);
            let (Some(oh), Some(ow)) = (oh, ow) else {
                return Err(P::Invalid("the kernel is larger than the padded input".into()));
            };
            cx.shape(c.output, [n, oc, oh, ow])?;
            count("weight", c.weight.len(), oc * (ic / c.group) * c.kernel[0] * c.kernel[1])?;
            count("bias", c.bias.len(), oc)?;
        }
        Layer::FullyConnectedBf16 { input, output, weight, bias, .. } => {
            cx.dtype(*input, DType::Bf16)?;
            cx.dtype(*output, DType::Bf16)?;
            let [m, k, h, w] = cx.s(*input);
            if h != 1 || w != 1 {
                return Err(P::Invalid(format!("input shape {:?}: an FC reads [M, K, 1, 1]", cx.s(*input))));
            }
            let nout = cx.s(*output)[1];
            cx.shape(*output, [m, nout, 1, 1])?;
            count("weight", weight.len(), nout * k)?;
            count("bias", bias.len(), nout)?;
        }
        Layer::AddBf16 { a, b, output, .. } => {
            for t in [*a, *b, *output] {
                cx.dtype(t, DType::Bf16)?;
            }
            cx.shape(*b, cx.s(*a))?;
            cx.shape(*output, cx.s(*a))?;
        }
        Layer::MulBf16 { a, b, output } => {
            for t in [*a, *b, *output] {
                cx.dtype(t, DType::Bf16)?;
            }
            let (sa, sb) = (cx.s(*a), cx.s(*b));
            if sb != sa && sb != [sa[0], sa[1], 1, 1] {
                return Err(P::Shape {
                    tensor: cx.net.tensors[*b].name.clone(),
                    found: sb,
                    expected: [sa[0], sa[1], 1, 1],
                });
            }
            cx.shape(*output, sa)?;
        }
        Layer::ActBf16 { input, output, .. } => {
            cx.dtype(*input, DType::Bf16)?;
            cx.dtype(*output, DType::Bf16)?;
            cx.shape(*output, cx.s(*input))?;
        }
        Layer::LutBf16 { input, output, table } => {
            cx.dtype(*input, DType::Bf16)?;
            cx.dtype(*output, DType::Bf16)?;
            cx.shape(*output, cx.s(*input))?;
            let bf16 = f32::from_bits((crate::quantize::f32_to_bf16(table.scale) as u32) << 16);
            if !(table.scale > 0.0 && table.scale.is_finite() && bf16 == table.scale) {
                return Err(P::Invalid(format!("table scale {} is not a positive bf16 value", table.scale)));
            }
        }
        Layer::Reshape { input, output } => {
            let (i, o) = (&cx.net.tensors[*input], &cx.net.tensors[*output]);
            if i.dtype != o.dtype || i.count() != o.count() {
                return Err(P::Invalid(format!(
                    "`{}` {} {:?} and `{}` {} {:?} differ in element type or count",
                    i.name,
                    i.dtype.name(),
                    i.shape,
                    o.name,
                    o.dtype.name(),
                    o.shape
                )));
            }
        }
    }
    Ok(())
}

pub(super) fn check(net: &Network) -> Result<(), NetworkError> {
    let n = net.tensors.len();
    if net.inputs.is_empty() {
        return Err(NetworkError::Empty("inputs"));
    }
    if net.outputs.is_empty() {
        return Err(NetworkError::Empty("outputs"));
    }
    for (what, list) in [("input", &net.inputs), ("output", &net.outputs)] {
        for (index, &tensor) in list.iter().enumerate() {
            if tensor >= n {
                return Err(NetworkError::NoSuchIo { what, index, tensor, count: n });
            }
        }
    }
    for &t in &net.inputs {
        let d = &net.tensors[t];
        if d.dtype == DType::Bf16 {
            return Err(NetworkError::InputDType(d.name.clone(), d.dtype.name()));
        }
    }
    let cx = Ctx { net };
    let mut written = vec![false; n];
    for &t in &net.inputs {
        written[t] = true;
    }
    for (index, l) in net.layers.iter().enumerate() {
        let err = |problem| NetworkError::Layer { index, kind: l.kind(), problem };
        layer(&cx, l).map_err(err)?;
        for t in l.inputs() {
            if !written[t] {
                return Err(err(P::NotYetWritten(net.tensors[t].name.clone())));
            }
        }
        let o = l.output();
        if written[o] {
            return Err(err(P::WrittenTwice(net.tensors[o].name.clone())));
        }
        written[o] = true;
    }
    for &t in &net.outputs {
        if !written[t] {
            return Err(NetworkError::OutputNotWritten(net.tensors[t].name.clone()));
        }
    }
    Ok(())
}
