//! One ONNX node to IR nodes, its attributes normalised: pads as [top, left, bottom, right],
//! auto_pad resolved, negative axes resolved, attribute-like inputs read from constants, Gemm and
//! MatMul by a constant as FullyConnected, opset differences (attributes that became inputs)
//! absorbed.

use super::attrs::Attrs;
use super::{tensor, Builder, ImportError, SUPPORTED};
use crate::ir::shape::slice_len;
use crate::ir::{DType, Op, PadMode, ResizeMode, TensorId, Value};
use ndarray::{ArrayD, IxDyn};
use onnx_protobuf::NodeProto;

type R<T> = Result<T, String>;

/// Resolves a possibly negative axis against a rank.
fn axis(a: i64, rank: usize) -> R<usize> {
    let r = rank as i64;
    let v = if a < 0 { a + r } else { a };
    if !(0..r).contains(&v) {
        return Err(format!("axis {a} out of range for rank {rank}"));
    }
    Ok(v as usize)
}

fn axes(a: &[i64], rank: usize) -> R<Vec<usize>> {
    a.iter().map(|&v| axis(v, rank)).collect()
}

/// Non-negative attribute values (kernel, strides, pads, sizes), bounded so that the window
/// arithmetic on them cannot overflow.
fn usizes(v: &[i64], what: &str) -> R<Vec<usize>> {
    v.iter()
        .map(|&x| match usize::try_from(x) {
            Ok(u) if u <= 1 << 24 => Ok(u),
            _ => Err(format!("{what} {v:?} must be between 0 and 2^24")),
        })
        .collect()
}

fn pair(v: &[usize], what: &str) -> R<[usize; 2]> {
    match v {
        [a, b] if what == "output_padding" || (*a > 0 && *b > 0) => Ok([*a, *b]),
        [_, _] => Err(format!("{what} {v:?} must be positive")),
        _ => Err(format!("{what} {v:?}: only 2-D (NCHW) is supported")),
    }
}

/// Pads [top, left, bottom, right] from `pads`/`auto_pad` for a 2-D window.
fn window_pads(
    at: &Attrs<'_>,
    in_hw: [usize; 2],
    kernel: [usize; 2],
    strides: [usize; 2],
    dil: [usize; 2],
) -> R<[usize; 4]> {
    let auto = at.string("auto_pad").unwrap_or_default();
    match auto.as_str() {
        "" | "NOTSET" => {
            let p = usizes(&at.ints("pads").unwrap_or_else(|| vec![0; 4]), "pads")?;
            match p.as_slice() {
                [t, l, b, r] => Ok([*t, *l, *b, *r]),
                _ => Err(format!("pads {p:?}: only 2-D is supported")),
            }
        }
        "VALID" => Ok([0; 4]),
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut p = [0; 4];
            for i in 0..2 {
                let out = in_hw[i].div_ceil(strides[i].max(1));
                let need = ((out.max(1) - 1) * strides[i] + dil[i] * (kernel[i] - 1) + 1).saturating_sub(in_hw[i]);
                let (small, big) = (need / 2, need - need / 2);
                (p[i], p[i + 2]) = if auto == "SAME_UPPER" { (small, big) } else { (big, small) };
            }
            Ok(p)
        }
        other => Err(format!("auto_pad `{other}` is not known")),
    }
}

impl Builder {
    fn shape(&self, t: TensorId) -> &[usize] {
        &self.g.tensors[t].shape
    }

    /// The constant value of an attribute-like input; an error when it is computed at run time.
    fn const_input(&self, t: Option<TensorId>, what: &str) -> R<Option<&Value>> {
        match t {
            None => Ok(None),
            Some(t) => self
                .g
                .value(t)
                .map(Some)
                .ok_or_else(|| format!("{what} (`{}`) must be a constant", self.g.tensors[t].name)),
        }
    }

    /// Ints from an attribute (older opsets) or a constant input (newer).
    fn ints_from(&self, at: &Attrs<'_>, attr: &str, input: Option<TensorId>) -> R<Option<Vec<i64>>> {
        if let Some(v) = self.const_input(input, attr)? {
            return Ok(Some(v.ints()));
        }
        Ok(at.ints(attr))
    }

    pub(super) fn convert(&mut self, node: &NodeProto) -> Result<(), ImportError> {
        let name =
            if node.name.is_empty() { node.output.first().cloned().unwrap_or_default() } else { node.name.clone() };
        let op_type = node.op_type.as_str();
        if !(node.domain.is_empty() || node.domain == "ai.onnx") || !SUPPORTED.contains(&op_type) {
            return Err(ImportError::Unsupported {
                node: name,
                op_type: op_type.to_string(),
                domain: node.domain.clone(),
            });
        }
        self.convert_known(node, &name).map_err(|msg| ImportError::Node {
            node: name.clone(),
            op_type: op_type.to_string(),
            msg,
        })
    }

    fn convert_known(&mut self, node: &NodeProto, name: &str) -> R<()> {
        let at = Attrs(&node.attribute);
        let mut ins: Vec<Option<TensorId>> = Vec::with_capacity(node.input.len());
        for i in &node.input {
            if i.is_empty() {
                ins.push(None);
            } else {
                ins.push(Some(
                    *self.names.get(i).ok_or_else(|| format!("input `{i}` is not produced before this node"))?,
                ));
            }
        }
        let outs: Vec<String> = node.output.clone();
        let first_out = outs.first().cloned().ok_or("node has no output")?;
        let x = ins.first().copied().flatten();
        let req =
            |i: usize| -> R<TensorId> { ins.get(i).copied().flatten().ok_or_else(|| format!("input {i} is missing")) };
        let opset = self.opset;
        let single = |b: &mut Builder, op: Op, inputs: Vec<TensorId>| -> R<()> {
            b.emit(name, op, inputs, &outs[..1])?;
            Ok(())
        };
        match node.op_type.as_str() {
            "Constant" => {
                let v = if let Some(t) = at.tensor("value") {
                    tensor::decode(t)?
                } else if let Some(f) = at.floats("value_floats").filter(|_| at.has("value_floats")) {
                    Value::F32(ArrayD::from_shape_vec(IxDyn(&[f.len()]), f).map_err(|e| e.to_string())?)
                } else if let Some(i) = at.ints("value_ints").filter(|_| at.has("value_ints")) {
                    Value::I64(ArrayD::from_shape_vec(IxDyn(&[i.len()]), i).map_err(|e| e.to_string())?)
                } else if let Some(f) = at.float("value_float") {
                    Value::F32(ArrayD::from_elem(IxDyn(&[]), f))
                } else if let Some(i) = at.int("value_int") {
                    Value::I64(ArrayD::from_elem(IxDyn(&[]), i))
                } else {
                    return Err("Constant without a supported value attribute".into());
                };
                self.constant(&first_out, v);
            }
            "ConstantOfShape" => {
                let shape = self.const_input(Some(req(0)?), "shape")?.map(|v| v.ints()).unwrap_or_default();
                let (shape, n) = tensor::shape_of(&shape)?;
                if n > crate::ir::shape::MAX_ELEMENTS {
                    return Err(format!("shape {shape:?} is too large"));
                }
                let v = match at.tensor("value").map(tensor::decode).transpose()? {
                    Some(Value::I64(a)) => {
                        Value::I64(ArrayD::from_elem(IxDyn(&shape), a.iter().next().copied().unwrap_or(0)))
                    }
                    Some(Value::F32(a)) => {
                        Value::F32(ArrayD::from_elem(IxDyn(&shape), a.iter().next().copied().unwrap_or(0.0)))
                    }
                    None => Value::F32(ArrayD::zeros(IxDyn(&shape))),
                };
                self.constant(&first_out, v);
            }
            "Shape" => {
                let s = self.shape(req(0)?).to_vec();
                let r = s.len() as i64;
                let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
                let start = clampi(at.int("start").unwrap_or(0));
                let end = clampi(at.int("end").unwrap_or(r));
                let v: Vec<i64> = s[start..end.max(start)].iter().map(|&d| d as i64).collect();
                self.constant(
                    &first_out,
                    Value::I64(ArrayD::from_shape_vec(IxDyn(&[v.len()]), v).map_err(|e| e.to_string())?),
                );
            }
            "Identity" | "Dropout" => {
                if outs.len() > 1 && !outs[1].is_empty() {
                    return Err("Dropout's mask output is not supported".into());
                }
                single(self, Op::Identity, vec![req(0)?])?;
            }
            "Conv" | "ConvTranspose" => {
                let (xi, wi) = (req(0)?, req(1)?);
                let (xs, ws) = (self.shape(xi).to_vec(), self.shape(wi).to_vec());
                if xs.len() != 4 || ws.len() != 4 {
                    return Err(format!("input {xs:?} and weight {ws:?}: only 2-D convolution is supported"));
                }
                let kernel = pair(
                    &usizes(
                        &at.ints("kernel_shape").unwrap_or_else(|| vec![ws[2] as i64, ws[3] as i64]),
                        "kernel_shape",
                    )?,
                    "kernel_shape",
                )?;
                let strides = pair(&usizes(&at.ints("strides").unwrap_or_else(|| vec![1, 1]), "strides")?, "strides")?;
                let dilations =
                    pair(&usizes(&at.ints("dilations").unwrap_or_else(|| vec![1, 1]), "dilations")?, "dilations")?;
                let group = usize::try_from(at.int("group").unwrap_or(1)).map_err(|_| "negative group")?;
                let mut inputs = vec![xi, wi];
                inputs.extend(ins.get(2).copied().flatten());
                let op = if node.op_type == "Conv" {
                    let pads = window_pads(&at, [xs[2], xs[3]], kernel, strides, dilations)?;
                    Op::Conv { kernel, strides, pads, dilations, group, act: Default::default() }
                } else {
                    let output_padding = pair(
                        &usizes(&at.ints("output_padding").unwrap_or_else(|| vec![0, 0]), "output_padding")?,
                        "output_padding",
                    )?;
                    let pads = if let Some(os) = at.ints("output_shape") {
                        let os = usizes(&os, "output_shape")?;
                        let os = &os[os.len().saturating_sub(2)..];
                        let mut p = [0; 4];
                        let upper = at.string("auto_pad").as_deref() != Some("SAME_LOWER");
                        for i in 0..2 {
                            let full = strides[i] * (xs[2 + i].max(1) - 1)
                                + output_padding[i]
                                + dilations[i] * (kernel[i] - 1)
                                + 1;
                            let total = full
                                .checked_sub(*os.get(i).unwrap_or(&full))
                                .ok_or("output_shape larger than the full output")?;
                            (p[i], p[i + 2]) =
                                if upper { (total / 2, total - total / 2) } else { (total - total / 2, total / 2) };
                        }
                        p
                    } else {
                        match at.string("auto_pad").as_deref() {
                            Some("SAME_UPPER") | Some("SAME_LOWER") => {
                                let upper = at.string("auto_pad").as_deref() == Some("SAME_UPPER");
                                let mut p = [0; 4];
                                for i in 0..2 {
                                    let full = strides[i] * (xs[2 + i].max(1) - 1)
                                        + output_padding[i]
                                        + dilations[i] * (kernel[i] - 1)
                                        + 1;
                                    let total = full.saturating_sub(xs[2 + i] * strides[i]);
                                    (p[i], p[i + 2]) = if upper {
                                        (total / 2, total - total / 2)
                                    } else {
                                        (total - total / 2, total / 2)
                                    };
                                }
                                p
                            }
                            _ => window_pads(&at, [xs[2], xs[3]], kernel, strides, dilations)?,
                        }
                    };
                    Op::ConvTranspose { kernel, strides, pads, dilations, output_padding, group }
                };
                single(self, op, inputs)?;
            }
            "Gemm" => {
                let (a, bt) = (req(0)?, req(1)?);
                let alpha = at.float("alpha").unwrap_or(1.0);
                let beta = at.float("beta").unwrap_or(1.0);
                let bv = self.const_input(Some(bt), "Gemm's B")?.cloned().ok_or("B must be constant")?;
                let mut w = bv.to_f32();
                if w.ndim() != 2 {
                    return Err(format!("B of shape {:?} is not a matrix", w.shape()));
                }
                if at.int("transB").unwrap_or(0) != 0 {
                    w = w.t().as_standard_layout().into_owned();
                }
                if alpha != 1.0 {
                    w.mapv_inplace(|v| v * alpha);
                }
                let n = w.shape()[1];
                let mut xin = a;
                if at.int("transA").unwrap_or(0) != 0 {
                    let t = format!("{name}/transposed_a");
                    xin = self.emit(&t, Op::Transpose { perm: vec![1, 0] }, vec![a], &[t.clone()])?[0];
                }
                let wid = self.g.add_const(format!("{name}/w"), Value::F32(w));
                let mut inputs = vec![xin, wid];
                let mut late_c = None;
                if let Some(c) = ins.get(2).copied().flatten() {
                    let cv = self.const_input(Some(c), "Gemm's C")?.map(|v| v.to_f32());
                    match cv {
                        // A C that is one row (or a scalar) is a bias; a full matrix is added after.
                        Some(cv)
                            if cv.len() == n && (cv.ndim() <= 1 || cv.shape().last() == Some(&n)) || cv.len() == 1 =>
                        {
                            let cv = if cv.len() == 1 {
                                ArrayD::from_elem(IxDyn(&[n]), cv.iter().next().copied().unwrap_or(0.0))
                            } else {
                                cv
                            };
                            let b: Vec<f32> = cv.iter().map(|v| v * beta).collect();
                            inputs.push(self.g.add_const(
                                format!("{name}/bias"),
                                Value::F32(ArrayD::from_shape_vec(IxDyn(&[n]), b).map_err(|e| e.to_string())?),
                            ));
                        }
                        _ => late_c = Some(c),
                    }
                }
                match late_c {
                    None => single(self, Op::FullyConnected { act: Default::default() }, inputs)?,
                    Some(c) => {
                        if beta != 1.0 {
                            return Err("a non-constant or full-matrix C with beta != 1 is not supported".into());
                        }
                        let mid = format!("{name}/product");
                        let p = self.emit(name, Op::FullyConnected { act: Default::default() }, inputs, &[mid])?[0];
                        self.emit(&format!("{name}/add_c"), Op::Add, vec![p, c], &outs[..1])?;
                    }
                }
            }
            "MatMul" => {
                let (a, bt) = (req(0)?, req(1)?);
                let b_const = self.g.value(bt).is_some_and(|v| v.shape().len() == 2) && self.shape(a).len() >= 2;
                if b_const {
                    if let Some(Value::I64(v)) = self.g.value(bt) {
                        let f = v.mapv(|x| x as f32);
                        let id = self.g.add_const(format!("{name}/w"), Value::F32(f));
                        single(self, Op::FullyConnected { act: Default::default() }, vec![a, id])?;
                    } else {
                        single(self, Op::FullyConnected { act: Default::default() }, vec![a, bt])?;
                    }
                } else {
                    single(self, Op::MatMul, vec![a, bt])?;
                }
            }
            "Add" | "Sub" | "Mul" | "Div" | "Pow" => {
                let op = match node.op_type.as_str() {
                    "Add" => Op::Add,
                    "Sub" => Op::Sub,
                    "Mul" => Op::Mul,
                    "Div" => Op::Div,
                    _ => Op::Pow,
                };
                if opset < 7 {
                    return Err("legacy broadcast attribute".into());
                }
                single(self, op, vec![req(0)?, req(1)?])?;
            }
            "Sqrt" => single(self, Op::Sqrt, vec![req(0)?])?,
            "Exp" => single(self, Op::Exp, vec![req(0)?])?,
            "Relu" => single(self, Op::Relu, vec![req(0)?])?,
            "Sigmoid" => single(self, Op::Sigmoid, vec![req(0)?])?,
            "Tanh" => single(self, Op::Tanh, vec![req(0)?])?,
            "HardSwish" => single(self, Op::HardSwish, vec![req(0)?])?,
            "LeakyRelu" => single(self, Op::LeakyRelu { alpha: at.float("alpha").unwrap_or(0.01) }, vec![req(0)?])?,
            "HardSigmoid" => {
                let op =
                    Op::HardSigmoid { alpha: at.float("alpha").unwrap_or(0.2), beta: at.float("beta").unwrap_or(0.5) };
                single(self, op, vec![req(0)?])?
            }
            "Clip" => {
                let (min, max) = if opset < 11 {
                    (at.float("min").unwrap_or(f32::NEG_INFINITY), at.float("max").unwrap_or(f32::INFINITY))
                } else {
                    let lo = self.const_input(ins.get(1).copied().flatten(), "min")?.and_then(|v| v.scalar_f32());
                    let hi = self.const_input(ins.get(2).copied().flatten(), "max")?.and_then(|v| v.scalar_f32());
                    (lo.unwrap_or(f32::NEG_INFINITY), hi.unwrap_or(f32::INFINITY))
                };
                single(self, Op::Clip { min, max }, vec![req(0)?])?;
            }
            "Softmax" => {
                let xi = req(0)?;
                let s = self.shape(xi).to_vec();
                let a = axis(at.int("axis").unwrap_or(if opset < 13 { 1 } else { -1 }), s.len())?;
                // Before opset 13 Softmax normalises over all axes from `axis` on.
                if opset < 13 && s[a + 1..].iter().any(|&d| d != 1) {
                    return Err(format!(
                        "Softmax (opset {opset}) over axes {a}.. of {s:?} is not supported; only over one axis"
                    ));
                }
                single(self, Op::Softmax { axis: a }, vec![xi])?;
            }
            "GlobalAveragePool" => single(self, Op::GlobalAveragePool, vec![req(0)?])?,
            "GlobalMaxPool" => single(self, Op::GlobalMaxPool, vec![req(0)?])?,
            "AveragePool" | "MaxPool" => {
                let xi = req(0)?;
                let xs = self.shape(xi).to_vec();
                if xs.len() != 4 {
                    return Err(format!("input {xs:?}: only 2-D pooling is supported"));
                }
                if outs.len() > 1 && !outs[1].is_empty() {
                    return Err("MaxPool's indices output is not supported".into());
                }
                let kernel = pair(
                    &usizes(&at.ints("kernel_shape").ok_or("kernel_shape is missing")?, "kernel_shape")?,
                    "kernel_shape",
                )?;
                let strides = pair(&usizes(&at.ints("strides").unwrap_or_else(|| vec![1, 1]), "strides")?, "strides")?;
                if at.ints("dilations").is_some_and(|d| d.iter().any(|&v| v != 1)) {
                    return Err("dilated pooling is not supported".into());
                }
                let mut pads = window_pads(&at, [xs[2], xs[3]], kernel, strides, [1, 1])?;
                let count_include_pad = at.int("count_include_pad").unwrap_or(0) != 0;
                if at.int("ceil_mode").unwrap_or(0) != 0 {
                    for i in 0..2 {
                        let padded = xs[2 + i] + pads[i] + pads[i + 2];
                        if padded < kernel[i] || strides[i] == 0 {
                            return Err("window larger than the padded input".into());
                        }
                        let mut out = (padded - kernel[i]).div_ceil(strides[i]) + 1;
                        // A last window starting in the end padding is dropped.
                        if (out - 1) * strides[i] >= xs[2 + i] + pads[i] {
                            out -= 1;
                        }
                        let extra = ((out - 1) * strides[i] + kernel[i]).saturating_sub(padded);
                        if extra > 0 && count_include_pad && node.op_type == "AveragePool" {
                            return Err("ceil_mode with count_include_pad is not supported".into());
                        }
                        pads[i + 2] += extra;
                    }
                }
                let op = if node.op_type == "MaxPool" {
                    Op::MaxPool { kernel, strides, pads }
                } else {
                    Op::AveragePool { kernel, strides, pads, count_include_pad }
                };
                single(self, op, vec![xi])?;
            }
            "ReduceMean" => {
                let xi = req(0)?;
                let r = self.shape(xi).len();
                let a = if opset >= 18 {
                    self.ints_from(&at, "axes", ins.get(1).copied().flatten())?
                } else {
                    at.ints("axes")
                };
                let a = match a {
                    Some(a) if !a.is_empty() => axes(&a, r)?,
                    _ if at.int("noop_with_empty_axes").unwrap_or(0) != 0 => {
                        single(self, Op::Identity, vec![xi])?;
                        return Ok(());
                    }
                    _ => (0..r).collect(),
                };
                single(self, Op::ReduceMean { axes: a, keepdims: at.int("keepdims").unwrap_or(1) != 0 }, vec![xi])?;
            }
            "Concat" => {
                let inputs: Vec<TensorId> = ins.iter().copied().flatten().collect();
                let r = inputs.first().map(|&t| self.shape(t).len()).ok_or("no inputs")?;
                let a = axis(at.int("axis").ok_or("axis is missing")?, r)?;
                single(self, Op::Concat { axis: a }, inputs)?;
            }
            "Split" => {
                let xi = req(0)?;
                let s = self.shape(xi).to_vec();
                let a = axis(at.int("axis").unwrap_or(0), s.len())?;
                let given = if opset >= 13 {
                    self.ints_from(&at, "split", ins.get(1).copied().flatten())?
                } else {
                    at.ints("split")
                };
                let sizes = match given {
                    Some(v) if !v.is_empty() => usizes(&v, "split")?,
                    _ => {
                        let k = at.int("num_outputs").map_or(outs.len(), |v| v.max(1) as usize);
                        let each = s[a].div_ceil(k.max(1));
                        (0..k).map(|i| each.min(s[a].saturating_sub(i * each))).collect()
                    }
                };
                self.emit(name, Op::Split { axis: a, sizes }, vec![xi], &outs)?;
            }
            "Slice" => {
                let xi = req(0)?;
                let s = self.shape(xi).to_vec();
                let get = |b: &Builder, attr: &str, i: usize| -> R<Option<Vec<i64>>> {
                    if opset < 10 {
                        Ok(at.ints(attr))
                    } else {
                        Ok(b.const_input(ins.get(i).copied().flatten(), attr)?.map(|v| v.ints()))
                    }
                };
                let starts = get(self, "starts", 1)?.ok_or("starts are missing")?;
                let ends = get(self, "ends", 2)?.ok_or("ends are missing")?;
                let ax = match get(self, "axes", 3)? {
                    Some(a) => axes(&a, s.len())?,
                    None => (0..starts.len()).collect(),
                };
                let steps = get(self, "steps", 4)?.unwrap_or_else(|| vec![1; starts.len()]);
                if starts.len() != ends.len() || starts.len() != ax.len() || steps.len() != ax.len() {
                    return Err("starts, ends, axes and steps differ in length".into());
                }
                let (mut st, mut en) = (Vec::new(), Vec::new());
                for i in 0..ax.len() {
                    let d = s[ax[i]] as i64;
                    if steps[i] == 0 {
                        return Err("a step of 0".into());
                    }
                    let fix = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
                    let (a, b) = (fix(starts[i]), fix(ends[i]));
                    if steps[i] > 0 {
                        st.push(a.clamp(0, d));
                        en.push(b.clamp(0, d));
                    } else {
                        st.push(a.clamp(0, (d - 1).max(0)));
                        en.push(b.clamp(-1, d - 1));
                    }
                    let _ = slice_len(s[ax[i]], st[i], en[i], steps[i]);
                }
                single(self, Op::Slice { starts: st, ends: en, axes: ax, steps }, vec![xi])?;
            }
            "Reshape" | "Flatten" => {
                let xi = req(0)?;
                let s = self.shape(xi).to_vec();
                let total = crate::ir::shape::numel(&s);
                let shape = if node.op_type == "Flatten" {
                    let a = at.int("axis").unwrap_or(1);
                    let a = if a < 0 { a + s.len() as i64 } else { a };
                    if !(0..=s.len() as i64).contains(&a) {
                        return Err(format!("axis {a} out of range"));
                    }
                    vec![crate::ir::shape::numel(&s[..a as usize]), crate::ir::shape::numel(&s[a as usize..])]
                } else {
                    let want = if opset < 5 {
                        at.ints("shape")
                    } else {
                        self.const_input(Some(req(1)?), "shape")?.map(|v| v.ints())
                    };
                    let want = want.ok_or("shape is missing")?;
                    let allowzero = at.int("allowzero").unwrap_or(0) != 0;
                    let mut out = Vec::with_capacity(want.len());
                    let mut infer = None;
                    for (i, &d) in want.iter().enumerate() {
                        out.push(match d {
                            -1 if infer.is_none() => {
                                infer = Some(i);
                                1
                            }
                            0 if !allowzero => *s.get(i).ok_or("0 in shape beyond the input's rank")?,
                            d if d >= 0 => d as usize,
                            _ => return Err(format!("shape {want:?} is not valid")),
                        });
                    }
                    if let Some(i) = infer {
                        let known = crate::ir::shape::numel(&out);
                        if known == 0 || total % known != 0 {
                            return Err(format!("cannot reshape {s:?} to {want:?}"));
                        }
                        out[i] = total / known;
                    }
                    out
                };
                single(self, Op::Reshape { shape }, vec![xi])?;
            }
            "Transpose" => {
                let xi = req(0)?;
                let r = self.shape(xi).len();
                let perm = match at.ints("perm") {
                    Some(p) => axes(&p, r)?,
                    None => (0..r).rev().collect(),
                };
                single(self, Op::Transpose { perm }, vec![xi])?;
            }
            "Pad" => {
                let xi = req(0)?;
                let r = self.shape(xi).len();
                let mode = match at.string("mode").as_deref().unwrap_or("constant") {
                    "constant" => PadMode::Constant,
                    "reflect" => PadMode::Reflect,
                    "edge" => PadMode::Edge,
                    m => return Err(format!("mode `{m}` is not supported")),
                };
                let (raw, value) = if opset < 11 {
                    (at.ints("pads").ok_or("pads are missing")?, at.float("value").unwrap_or(0.0))
                } else {
                    let p = self.const_input(Some(req(1)?), "pads")?.map(|v| v.ints()).unwrap_or_default();
                    let v =
                        self.const_input(ins.get(2).copied().flatten(), "constant_value")?.and_then(|v| v.scalar_f32());
                    (p, v.unwrap_or(0.0))
                };
                let mut pads = vec![0; 2 * r];
                let ax = match self.const_input(ins.get(3).copied().flatten(), "axes")? {
                    Some(a) => axes(&a.ints(), r)?,
                    None => (0..r).collect(),
                };
                if raw.len() != 2 * ax.len() {
                    return Err(format!("pads {raw:?} for {} axes", ax.len()));
                }
                let raw = usizes(&raw, "pads")?;
                for (i, &a) in ax.iter().enumerate() {
                    pads[a] = raw[i];
                    pads[a + r] = raw[i + ax.len()];
                }
                single(self, Op::Pad { pads, mode, value }, vec![xi])?;
            }
            "Resize" => {
                let xi = req(0)?;
                let xs = self.shape(xi).to_vec();
                if xs.len() != 4 {
                    return Err(format!("input {xs:?}: only NCHW resizing is supported"));
                }
                let (scales, sizes) = if opset < 11 {
                    (self.const_input(ins.get(1).copied().flatten(), "scales")?.map(|v| v.floats()), None)
                } else {
                    (
                        self.const_input(ins.get(2).copied().flatten(), "scales")?.map(|v| v.floats()),
                        self.const_input(ins.get(3).copied().flatten(), "sizes")?.map(|v| v.ints()),
                    )
                };
                let out: Vec<usize> = match (sizes.filter(|s| !s.is_empty()), scales.filter(|s| !s.is_empty())) {
                    (Some(s), _) if s.len() == 4 => usizes(&s, "sizes")?,
                    (_, Some(sc)) if sc.len() == 4 => {
                        xs.iter().zip(&sc).map(|(&d, &f)| (d as f32 * f).floor() as usize).collect()
                    }
                    _ => return Err("neither 4 scales nor 4 sizes are given".into()),
                };
                if out[0] != xs[0] || out[1] != xs[1] || out[2] == 0 || out[3] == 0 {
                    return Err(format!("resizing {xs:?} to {out:?}: only height and width may change"));
                }
                let coord = at.string("coordinate_transformation_mode").unwrap_or_else(|| {
                    if opset < 11 {
                        "asymmetric".into()
                    } else {
                        "half_pixel".into()
                    }
                });
                let mode = match at.string("mode").as_deref().unwrap_or("nearest") {
                    "nearest" => {
                        let integer_up = out[2] % xs[2] == 0 && out[3] % xs[3] == 0;
                        let nearest = at.string("nearest_mode").unwrap_or_else(|| "round_prefer_floor".into());
                        if integer_up && coord != "align_corners" || coord == "asymmetric" && nearest == "floor" {
                            ResizeMode::Nearest
                        } else {
                            return Err(format!(
                                "nearest resizing with `{coord}` and `{nearest}` at {xs:?} → {out:?} is not supported"
                            ));
                        }
                    }
                    "linear" | "bilinear" => match coord.as_str() {
                        "half_pixel" | "pytorch_half_pixel" => ResizeMode::Linear { align_corners: false },
                        "align_corners" => ResizeMode::Linear { align_corners: true },
                        c => return Err(format!("linear resizing with `{c}` is not supported")),
                    },
                    m => return Err(format!("mode `{m}` is not supported")),
                };
                single(self, Op::Resize { mode, out_hw: [out[2], out[3]] }, vec![xi])?;
            }
            "BatchNormalization" => {
                if outs.iter().skip(1).any(|o| !o.is_empty()) {
                    return Err("training-mode outputs are not supported".into());
                }
                let inputs = (0..5).map(req).collect::<R<Vec<_>>>()?;
                single(self, Op::BatchNormalization { epsilon: at.float("epsilon").unwrap_or(1e-5) }, inputs)?;
            }
            "Gather" => {
                let (xi, ii) = (req(0)?, req(1)?);
                let a = axis(at.int("axis").unwrap_or(0), self.shape(xi).len())?;
                single(self, Op::Gather { axis: a }, vec![xi, ii])?;
            }
            "Unsqueeze" | "Squeeze" => {
                let xi = req(0)?;
                let s = self.shape(xi).to_vec();
                let given = if opset >= 13 {
                    self.ints_from(&at, "axes", ins.get(1).copied().flatten())?
                } else {
                    at.ints("axes")
                };
                let op = if node.op_type == "Unsqueeze" {
                    let a = given.ok_or("axes are missing")?;
                    let mut a = axes(&a, s.len() + a.len())?;
                    a.sort_unstable();
                    Op::Unsqueeze { axes: a }
                } else {
                    let a = match given {
                        Some(a) => axes(&a, s.len())?,
                        None => (0..s.len()).filter(|&i| s[i] == 1).collect(),
                    };
                    Op::Squeeze { axes: a }
                };
                single(self, op, vec![xi])?;
            }
            "Cast" => {
                let to = tensor::dtype_of(at.int("to").ok_or("`to` is missing")? as i32)?;
                single(self, Op::Cast { to }, vec![req(0)?])?;
            }
            other => return Err(format!("`{other}` is listed as supported but has no conversion")),
        }
        let _ = (x, DType::F32);
        Ok(())
    }
}
