//! int8 quantisation of a calibrated graph: the back end's [`Network`] with every number decided
//! (int8 weights, QM records, element-wise multipliers, lookup tables), as the vendor's CV18xx
//! int8 lowering decides them (`crate::quantize` holds that arithmetic).
//!
//! Activations are symmetric int8 with the scale `threshold / 127`. An op whose hardware form
//! cannot requantise (max pooling, reshapes) gives its output its input's threshold; the inputs of
//! a concat take the concat's (`calibration::propagate`), so it only merges channels. Any
//! element-wise function of one input (activations, a multiplication by a scalar) becomes a
//! 256-entry table; a per-channel affine map by constants becomes a 1×1 depthwise convolution.

use crate::ir::{Activation, Graph, Op, TensorId, Value};
use crate::lower::{
    ChannelQuant, Chip, Conv, DType, FullyConnected, Layer, Network, Pads, Pool, PoolKind, Rescale, TensorDesc,
    TensorRef,
};
use crate::quantize::{
    avgpool_multiplier, concat_multipliers, dequant_scale, eltwise_add_multipliers, input_quant_scale, int8_lut,
    mul_qdm_multiplier, quantize_conv_per_channel, LutFn,
};
use ndarray::ArrayD;

/// Why a graph cannot be quantised to int8.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QuantizeError {
    #[error("node `{node}` ({op}): not supported in {precision}; supported: {supported}")]
    Unsupported { node: String, op: String, precision: &'static str, supported: &'static str },
    #[error("node `{node}` ({op}): {what}")]
    Node { node: String, op: String, what: String },
    #[error("tensor `{tensor}` has no calibration threshold (calibrate the model or give a table that names it)")]
    NoThreshold { tensor: String },
    #[error("tensor `{tensor}` has rank {rank}; the back end holds at most 4 dimensions")]
    Rank { tensor: String, rank: usize },
}

/// What the int8 quantiser lowers, for the error message.
pub const SUPPORTED: &str = "Conv (group 1 or depthwise), FullyConnected, Add, Sub, Mul, Relu, Clip, LeakyRelu, \
Sigmoid, Tanh, Exp, HardSigmoid, HardSwish, GlobalAveragePool, ReduceMean (over H, W), AveragePool, MaxPool, Concat (channels), Slice (channels), Split (channels), ChannelShuffle, Reshape, Softmax (over channels, bf16 output)";

/// The int8 network of `graph` for `chip`. Every activation tensor needs a calibration threshold
/// (`Tensor::calibration`); graph inputs are quantised and outputs dequantised by CPU routines.
pub fn quantize(graph: &Graph, chip: Chip, name: &str) -> Result<Network, QuantizeError> {
    let mut q = Quantizer {
        g: graph,
        net: Network::new(chip, name),
        map: vec![None; graph.tensors.len()],
        thresholds: vec![None; graph.tensors.len()],
        fused: vec![false; graph.nodes.len()],
        cali: crate::calibration::propagate::concat_thresholds(graph),
    };
    for &input in &graph.inputs {
        let t = &graph.tensors[input];
        let threshold = q.calibrated(input)?;
        let fp = q.net.tensor(TensorDesc::new(t.name.clone(), shape4(&t.name, &t.shape)?, DType::F32, 1.0));
        let i8t = q.activation(input, &format!("{}_quant_i8", t.name), threshold)?;
        q.net.layers.push(Layer::Quantize { input: fp, output: i8t, scale: input_quant_scale(threshold as f64) });
        q.net.inputs.push(fp);
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        if !q.fused[i] {
            q.node(node)?;
        }
    }
    for &output in &graph.outputs {
        let t = &graph.tensors[output];
        let src = q.get_output(output)?;
        let shape = q.net.tensors[src].shape;
        let scale = match q.net.tensors[src].dtype {
            DType::Bf16 => 1.0,
            _ => dequant_scale(q.thresholds[output].expect("int8 tensors have thresholds") as f64),
        };
        q.net.tensors[src].name = format!("{}_{}", t.name, q.net.tensors[src].dtype.name());
        let fp = q.net.tensor(TensorDesc::new(t.name.clone(), shape, DType::F32, 1.0));
        q.net.layers.push(Layer::Dequantize { input: src, output: fp, scale });
        q.net.outputs.push(fp);
    }
    Ok(q.net)
}

struct Quantizer<'a> {
    g: &'a Graph,
    net: Network,
    /// IR tensor → network tensor (int8).
    map: Vec<Option<TensorRef>>,
    thresholds: Vec<Option<f32>>,
    /// Nodes already lowered as part of the one before (a ReLU after an element-wise add).
    fused: Vec<bool>,
    /// Each tensor's calibration after the vendor's moves across ops (concat inputs on the
    /// concat's threshold).
    cali: Vec<Option<crate::ir::Calibration>>,
}

pub(crate) fn shape4(name: &str, shape: &[usize]) -> Result<[usize; 4], QuantizeError> {
    if shape.len() > 4 {
        return Err(QuantizeError::Rank { tensor: name.into(), rank: shape.len() });
    }
    let mut s = [1usize; 4];
    s[..shape.len()].copy_from_slice(shape);
    Ok(s)
}

pub(crate) fn f32_value(v: &Value) -> Option<&ArrayD<f32>> {
    match v {
        Value::F32(a) => Some(a),
        Value::I64(_) => None,
    }
}

pub(crate) fn op_name(op: &Op) -> String {
    let s = format!("{op:?}");
    s.split(|c: char| !c.is_alphanumeric()).next().unwrap_or("?").to_string()
}

impl Quantizer<'_> {
    /// The threshold `t` is quantised with: its calibrated one, narrowed to what its readers can
    /// tell apart (see [`saturation_bound`]).
    fn calibrated(&self, t: TensorId) -> Result<f32, QuantizeError> {
        let tensor = &self.g.tensors[t];
        match self.cali[t] {
            Some(c) if c.threshold > 0.0 && c.threshold.is_finite() => {
                let bound = saturation_bound(self.g, t, c.max);
                Ok(bound.map_or(c.threshold, |b| c.threshold.min(b)))
            }
            _ => Err(QuantizeError::NoThreshold { tensor: tensor.name.clone() }),
        }
    }

    /// A new int8 network tensor standing for IR tensor `t`.
    fn activation(&mut self, t: TensorId, name: &str, threshold: f32) -> Result<TensorRef, QuantizeError> {
        let tensor = &self.g.tensors[t];
        let r = self.net.tensor(TensorDesc::new(
            name,
            shape4(&tensor.name, &tensor.shape)?,
            DType::I8,
            dequant_scale(threshold as f64),
        ));
        self.map[t] = Some(r);
        self.thresholds[t] = Some(threshold);
        Ok(r)
    }

    fn output(&mut self, t: TensorId, threshold: f32) -> Result<TensorRef, QuantizeError> {
        let name = self.g.tensors[t].name.clone();
        self.activation(t, &name, threshold)
    }

    /// The int8 network tensor of IR tensor `t`, read by `node`.
    fn get(&self, t: TensorId, node: &str) -> Result<TensorRef, QuantizeError> {
        let name = &self.g.tensors[t].name;
        let err = |what: String| QuantizeError::Node { node: node.into(), op: "input".into(), what };
        let r = self.map[t].ok_or_else(|| {
            err(format!("tensor `{name}` is not an int8 activation here (a constant the passes did not fold?)"))
        })?;
        if self.net.tensors[r].dtype != DType::I8 {
            return Err(err(format!(
                "tensor `{name}` is {} (a softmax output); only a model output may be",
                self.net.tensors[r].dtype.name()
            )));
        }
        Ok(r)
    }

    /// The network tensor of a model output, int8 or bf16.
    fn get_output(&self, t: TensorId) -> Result<TensorRef, QuantizeError> {
        self.map[t].ok_or_else(|| QuantizeError::NoThreshold { tensor: self.g.tensors[t].name.clone() })
    }

    fn constant(&self, t: TensorId) -> Option<&ArrayD<f32>> {
        self.g.tensors[t].value.as_ref().and_then(f32_value)
    }

    fn node(&mut self, node: &crate::ir::Node) -> Result<(), QuantizeError> {
        let err = |what: String| QuantizeError::Node { node: node.name.clone(), op: op_name(&node.op), what };
        let unsupported = || QuantizeError::Unsupported {
            node: node.name.clone(),
            op: op_name(&node.op),
            precision: "int8",
            supported: SUPPORTED,
        };
        let out = node.outputs[0];
        let input0 = node.inputs[0];
        match &node.op {
            Op::Conv { kernel, strides, pads, dilations, group, act } => {
                let x = self.get(input0, &node.name)?;
                let w = node
                    .inputs
                    .get(1)
                    .and_then(|&t| self.constant(t))
                    .ok_or_else(|| err("the weight is not a constant".into()))?;
                let bias =
                    node.inputs.get(2).and_then(|&t| self.constant(t)).map(|b| b.iter().copied().collect::<Vec<f32>>());
                let ic = self.net.tensors[x].shape[1];
                let oc = w.shape()[0];
                if *group != 1 && !(*group == ic && oc == ic) {
                    return Err(err(format!(
                        "group {group} with {ic} input and {oc} output channels: only 1 or depthwise"
                    )));
                }
                let relu = fused_relu(act).ok_or_else(|| err(format!("fused activation {act:?}")))?;
                let w: Vec<f32> = w.iter().copied().collect();
                let (t_in, t_out) = (self.thresholds[input0].unwrap(), self.calibrated(out)?);
                let qc = quantize_conv_per_channel(&w, oc, bias.as_deref(), t_in, t_out);
                let y = self.output(out, t_out)?;
                self.net.layers.push(Layer::Conv(Conv {
                    input: x,
                    output: y,
                    weight: qc.weights,
                    quant: channel_quant(&qc.channels),
                    kernel: *kernel,
                    stride: *strides,
                    pads: Pads { top: pads[0], left: pads[1], bottom: pads[2], right: pads[3] },
                    dilation: *dilations,
                    group: *group,
                    relu,
                }));
            }
            Op::FullyConnected { act } => {
                let x = self.get(input0, &node.name)?;
                let w = node
                    .inputs
                    .get(1)
                    .and_then(|&t| self.constant(t))
                    .ok_or_else(|| err("the weight is not a constant".into()))?;
                if w.ndim() != 2 {
                    return Err(err(format!("weight of rank {}", w.ndim())));
                }
                let (k, n) = (w.shape()[0], w.shape()[1]);
                // [K, N] → [N][K]: output channel outermost, as the conv quantisation wants.
                let wt: Vec<f32> = (0..n).flat_map(|j| (0..k).map(move |i| (i, j))).map(|(i, j)| w[[i, j]]).collect();
                let bias =
                    node.inputs.get(2).and_then(|&t| self.constant(t)).map(|b| b.iter().copied().collect::<Vec<f32>>());
                let relu = fused_relu(act).ok_or_else(|| err(format!("fused activation {act:?}")))?;
                let (t_in, t_out) = (self.thresholds[input0].unwrap(), self.calibrated(out)?);
                let qc = quantize_conv_per_channel(&wt, n, bias.as_deref(), t_in, t_out);
                let xs = self.net.tensors[x].shape;
                let m: usize = self.g.tensors[input0].shape.iter().product::<usize>() / k;
                // The FC reads [M, K, 1, 1]: give it that view of its input.
                let x = if xs != [m, k, 1, 1] {
                    let v = self.net.tensor(TensorDesc::new(
                        format!("{}_fc_in", node.name),
                        [m, k, 1, 1],
                        DType::I8,
                        self.net.tensors[x].qscale,
                    ));
                    self.net.layers.push(Layer::Reshape { input: x, output: v });
                    v
                } else {
                    x
                };
                let y = self.output(out, t_out)?;
                let ys = self.net.tensors[y].shape;
                let y_fc = if ys != [m, n, 1, 1] {
                    self.net.tensor(TensorDesc::new(
                        format!("{}_fc_out", node.name),
                        [m, n, 1, 1],
                        DType::I8,
                        self.net.tensors[y].qscale,
                    ))
                } else {
                    y
                };
                self.net.layers.push(Layer::FullyConnected(FullyConnected {
                    input: x,
                    output: y_fc,
                    weight: qc.weights,
                    quant: channel_quant(&qc.channels),
                    relu,
                }));
                if y_fc != y {
                    self.net.layers.push(Layer::Reshape { input: y_fc, output: y });
                }
            }
            Op::Relu => self.lut(node, |v| v.max(0.0))?,
            Op::Clip { min, max } => {
                let (lo, hi) = (*min as f64, *max as f64);
                self.lut(node, move |v| v.clamp(lo, hi))?
            }
            Op::LeakyRelu { alpha } => {
                let a = *alpha as f64;
                self.lut(node, move |v| if v < 0.0 { a * v } else { v })?
            }
            Op::Sigmoid => self.lut(node, |v| LutFn::Sigmoid.eval(v))?,
            Op::Tanh => self.lut(node, |v| LutFn::Tanh.eval(v))?,
            Op::Exp => self.lut(node, |v| LutFn::Exp.eval(v))?,
            Op::HardSwish => self.lut(node, |v| LutFn::HardSwish.eval(v))?,
            Op::HardSigmoid { alpha, beta } => {
                let f = LutFn::HardSigmoid { alpha: *alpha as f64, beta: *beta as f64 };
                self.lut(node, move |v| f.eval(v))?
            }
            Op::Add | Op::Sub | Op::Mul => self.binary(node)?,
            Op::Scale => {
                let scale = node
                    .inputs
                    .get(1)
                    .and_then(|&t| self.constant(t))
                    .ok_or_else(|| err("the scale is not a constant".into()))?;
                let w: Vec<f32> = scale.iter().copied().collect();
                let bias = match node.inputs.get(2).and_then(|&t| self.constant(t)) {
                    Some(b) => b.iter().copied().collect(),
                    None => vec![0.0; w.len()],
                };
                self.affine(node, input0, &w, &bias)?;
            }
            Op::BatchNormalization { epsilon } => {
                let c = |i: usize| {
                    node.inputs.get(i).and_then(|&t| self.constant(t)).map(|a| a.iter().copied().collect::<Vec<f32>>())
                };
                let (Some(gamma), Some(beta), Some(mean), Some(var)) = (c(1), c(2), c(3), c(4)) else {
                    return Err(err("scale, bias, mean and variance must be constants".into()));
                };
                let w: Vec<f32> = gamma.iter().zip(&var).map(|(g, v)| g / (v + epsilon).sqrt()).collect();
                let bias: Vec<f32> = beta.iter().zip(&mean).zip(&w).map(|((b, m), w)| b - m * w).collect();
                self.affine(node, input0, &w, &bias)?;
            }
            Op::GlobalAveragePool => {
                let x = self.get(input0, &node.name)?;
                let [_, _, h, w] = self.net.tensors[x].shape;
                let (t_in, t_out) = (self.thresholds[input0].unwrap(), self.calibrated(out)?);
                let m = avgpool_multiplier(t_in as f64, t_out as f64, h, w);
                let y = self.output(out, t_out)?;
                self.net.layers.push(Layer::Pool(Pool {
                    input: x,
                    output: y,
                    kind: PoolKind::Avg { multiplier: m.multiplier as u8, rshift: m.rshift as u8 },
                    kernel: [h, w],
                    stride: [1, 1],
                    pads: Pads::ZERO,
                }));
            }
            Op::ReduceMean { axes, keepdims } => {
                let rank = self.g.tensors[input0].shape.len();
                let mut sorted = axes.clone();
                sorted.sort_unstable();
                if rank != 4 || sorted != [2, 3] {
                    return Err(err(format!(
                        "mean over axes {axes:?} of a rank-{rank} tensor: only over H and W of NCHW"
                    )));
                }
                let x = self.get(input0, &node.name)?;
                let [n, c, h, w] = self.net.tensors[x].shape;
                let (t_in, t_out) = (self.thresholds[input0].unwrap(), self.calibrated(out)?);
                let m = avgpool_multiplier(t_in as f64, t_out as f64, h, w);
                let y = self.output(out, t_out)?;
                let pooled = if *keepdims {
                    y
                } else {
                    self.net.tensor(TensorDesc::new(
                        format!("{}_pooled", node.name),
                        [n, c, 1, 1],
                        DType::I8,
                        self.net.tensors[y].qscale,
                    ))
                };
                self.net.layers.push(Layer::Pool(Pool {
                    input: x,
                    output: pooled,
                    kind: PoolKind::Avg { multiplier: m.multiplier as u8, rshift: m.rshift as u8 },
                    kernel: [h, w],
                    stride: [1, 1],
                    pads: Pads::ZERO,
                }));
                if pooled != y {
                    self.net.layers.push(Layer::Reshape { input: pooled, output: y });
                }
            }
            Op::AveragePool { kernel, strides, pads, count_include_pad } => {
                if !count_include_pad && pads.iter().any(|&p| p > 0) {
                    return Err(err("average pooling that excludes padding from the count".into()));
                }
                let x = self.get(input0, &node.name)?;
                let (t_in, t_out) = (self.thresholds[input0].unwrap(), self.calibrated(out)?);
                let m = avgpool_multiplier(t_in as f64, t_out as f64, kernel[0], kernel[1]);
                let y = self.output(out, t_out)?;
                self.net.layers.push(Layer::Pool(Pool {
                    input: x,
                    output: y,
                    kind: PoolKind::Avg { multiplier: m.multiplier as u8, rshift: m.rshift as u8 },
                    kernel: *kernel,
                    stride: *strides,
                    pads: Pads { top: pads[0], left: pads[1], bottom: pads[2], right: pads[3] },
                }));
            }
            Op::MaxPool { kernel, strides, pads } => {
                let x = self.get(input0, &node.name)?;
                let t = self.thresholds[input0].unwrap();
                let y = self.output(out, t)?;
                self.net.layers.push(Layer::Pool(Pool {
                    input: x,
                    output: y,
                    kind: PoolKind::Max,
                    kernel: *kernel,
                    stride: *strides,
                    pads: Pads { top: pads[0], left: pads[1], bottom: pads[2], right: pads[3] },
                }));
            }
            Op::Concat { axis } => {
                if *axis != 1 {
                    return Err(err(format!("concat along axis {axis}: only channels (1)")));
                }
                let inputs = node.inputs.iter().map(|&t| self.get(t, &node.name)).collect::<Result<Vec<_>, _>>()?;
                let t_in: Vec<f64> = node.inputs.iter().map(|&t| self.thresholds[t].unwrap() as f64).collect();
                let t_out = self.calibrated(out)?;
                let rescale = concat_multipliers(&t_in, t_out as f64)
                    .into_iter()
                    .map(|m| {
                        (m.multiplier != 1 || m.rshift != 0)
                            .then_some(Rescale { multiplier: m.multiplier as i8, rshift: m.rshift as u8 })
                    })
                    .collect();
                let y = self.output(out, t_out)?;
                self.net.layers.push(Layer::Concat { inputs, output: y, rescale });
            }
            Op::Softmax { axis } => {
                let x = self.get(input0, &node.name)?;
                let shape = self.net.tensors[x].shape;
                let rank = self.g.tensors[input0].shape.len();
                if *axis != 1 || shape[2] != 1 || shape[3] != 1 {
                    return Err(err(format!(
                        "softmax over axis {axis} of a rank-{rank} tensor {shape:?}: only over the channels of [N, C] or [N, C, 1, 1]"
                    )));
                }
                let t_in = self.thresholds[input0].unwrap();
                let tensor = &self.g.tensors[out];
                let y = self.net.tensor(TensorDesc::new(tensor.name.clone(), shape, DType::Bf16, 1.0));
                self.map[out] = Some(y);
                self.net.layers.push(Layer::Softmax { input: x, output: y, scale: dequant_scale(t_in as f64) });
            }
            Op::ChannelShuffle { groups } => {
                let x = self.get(input0, &node.name)?;
                let t = self.thresholds[input0].unwrap();
                let y = self.output(out, t)?;
                self.net.layers.push(Layer::ChannelShuffle { input: x, output: y, groups: *groups });
            }
            Op::Slice { .. } | Op::Split { .. } => {
                let x = self.get(input0, &node.name)?;
                let t = self.thresholds[input0].unwrap();
                for (k, c0) in channel_slices(self.g, node).map_err(err)?.into_iter().enumerate() {
                    let y = self.output(node.outputs[k], t)?;
                    self.net.layers.push(Layer::Slice { input: x, output: y, c0 });
                }
            }
            Op::Reshape { .. } | Op::Squeeze { .. } | Op::Unsqueeze { .. } | Op::Identity => {
                let x = self.get(input0, &node.name)?;
                let t = self.thresholds[input0].unwrap();
                let y = self.output(out, t)?;
                self.net.layers.push(Layer::Reshape { input: x, output: y });
            }
            _ => return Err(unsupported()),
        }
        Ok(())
    }

    /// An element-wise function of one activation, as a lookup table.
    fn lut(&mut self, node: &crate::ir::Node, f: impl Fn(f64) -> f64) -> Result<(), QuantizeError> {
        let (input, out) = (node.inputs[0], node.outputs[0]);
        let x = self.get(input, &node.name)?;
        let (t_in, t_out) = (self.thresholds[input].unwrap(), self.calibrated(out)?);
        let table = int8_lut(t_in as f64, t_out as f64, f);
        let y = self.output(out, t_out)?;
        self.net.layers.push(Layer::Lut { input: x, output: y, table: Box::new(table) });
        Ok(())
    }

    fn binary(&mut self, node: &crate::ir::Node) -> Result<(), QuantizeError> {
        let err = |what: String| QuantizeError::Node { node: node.name.clone(), op: op_name(&node.op), what };
        let (a, b, out) = (node.inputs[0], node.inputs[1], node.outputs[0]);
        let (ca, cb) = (self.constant(a).is_some(), self.constant(b).is_some());
        match (ca, cb) {
            (false, false) => {
                let (xa, xb) = (self.get(a, &node.name)?, self.get(b, &node.name)?);
                let (ta, tb) = (self.thresholds[a].unwrap() as f64, self.thresholds[b].unwrap() as f64);
                let t_out = match (node.op == Op::Mul, sole_relu_consumer(self.g, out)) {
                    (false, Some(_)) => 0.0,
                    _ => self.calibrated(out)?,
                };
                let (sa, sb) = (self.net.tensors[xa].shape, self.net.tensors[xb].shape);
                match node.op {
                    Op::Mul => {
                        // The hardware broadcasts the second operand per channel only.
                        let (xa, xb, sb) = if sb == sa || per_channel(sa, sb) { (xa, xb, sb) } else { (xb, xa, sa) };
                        let sa = self.net.tensors[xa].shape;
                        if sb != sa && !per_channel(sa, sb) {
                            return Err(err(format!(
                                "broadcast of {sb:?} to {sa:?}: only equal shapes or one value per channel"
                            )));
                        }
                        let m = mul_qdm_multiplier(&[ta, tb], t_out as f64);
                        let y = self.output(out, t_out)?;
                        self.net.layers.push(Layer::Mul {
                            a: xa,
                            b: xb,
                            output: y,
                            multiplier: m.multiplier,
                            shift: m.rshift,
                        });
                    }
                    _ => {
                        if sa != sb {
                            return Err(err(format!("operands of shapes {sa:?} and {sb:?}: only equal shapes")));
                        }
                        let coeffs = if node.op == Op::Sub { [1.0, -1.0] } else { [1.0, 1.0] };
                        // A ReLU that alone reads the sum runs in the same instruction, and the
                        // sum takes the ReLU output's threshold (as the vendor fuses it).
                        let relu_node = sole_relu_consumer(self.g, out);
                        let (out, t_out) = match relu_node {
                            Some(k) => {
                                let r = self.g.nodes[k].outputs[0];
                                self.fused[k] = true;
                                (r, self.calibrated(r)?)
                            }
                            None => (out, t_out),
                        };
                        let m = eltwise_add_multipliers(&[ta, tb], &coeffs, t_out as f64);
                        let y = self.output(out, t_out)?;
                        self.net.layers.push(Layer::Add {
                            a: xa,
                            b: xb,
                            output: y,
                            ma: m.multipliers[0] as i8,
                            mb: m.multipliers[1] as i8,
                            rshift: m.rshift as u8,
                            relu: relu_node.is_some(),
                        });
                    }
                }
            }
            (true, true) => {
                return Err(err("both operands are constants (constant folding should have removed this node)".into()))
            }
            _ => {
                let (act, cst) = if ca { (b, a) } else { (a, b) };
                let c = self.constant(cst).unwrap().clone();
                let x = self.get(act, &node.name)?;
                let shape = self.net.tensors[x].shape;
                let values: Vec<f32> = c.iter().copied().collect();
                let subtract_from = node.op == Op::Sub && ca;
                let sign = if node.op == Op::Sub && !ca { -1.0 } else { 1.0 };
                if values.len() == 1 {
                    let v = values[0] as f64;
                    let one = crate::ir::Node { inputs: vec![act], ..node.clone() };
                    return match node.op {
                        Op::Mul => self.lut(&one, move |x| LutFn::MulConst(v).eval(x)),
                        _ if subtract_from => self.lut(&one, move |x| v - x),
                        _ => self.lut(&one, move |x| x + sign * v),
                    };
                }
                if values.len() != shape[1]
                    || !per_channel(shape, shape4(&self.g.tensors[cst].name, &squeeze_to_channel(c.shape()))?)
                {
                    return Err(err(format!(
                        "constant of shape {:?}: only a scalar or one value per channel",
                        c.shape()
                    )));
                }
                let ch = shape[1];
                let (w, bias): (Vec<f32>, Vec<f32>) = match node.op {
                    Op::Mul => (values.clone(), vec![0.0; ch]),
                    _ if subtract_from => (vec![-1.0; ch], values.clone()),
                    _ => (vec![1.0; ch], values.iter().map(|v| sign as f32 * v).collect()),
                };
                self.affine(node, act, &w, &bias)?;
            }
        }
        Ok(())
    }
}

impl Quantizer<'_> {
    /// `y[c] = x[c] · w[c] + bias[c]`: a 1×1 depthwise convolution.
    fn affine(
        &mut self,
        node: &crate::ir::Node,
        input: TensorId,
        w: &[f32],
        bias: &[f32],
    ) -> Result<(), QuantizeError> {
        let out = node.outputs[0];
        let x = self.get(input, &node.name)?;
        let ch = self.net.tensors[x].shape[1];
        if w.len() != ch || bias.len() != ch {
            return Err(QuantizeError::Node {
                node: node.name.clone(),
                op: op_name(&node.op),
                what: format!("{} scales and {} biases for {ch} channels", w.len(), bias.len()),
            });
        }
        let (t_in, t_out) = (self.thresholds[input].unwrap(), self.calibrated(out)?);
        let qc = quantize_conv_per_channel(w, ch, Some(bias), t_in, t_out);
        let y = self.output(out, t_out)?;
        self.net.layers.push(Layer::Conv(Conv {
            input: x,
            output: y,
            weight: qc.weights,
            quant: channel_quant(&qc.channels),
            kernel: [1, 1],
            stride: [1, 1],
            pads: Pads::ZERO,
            dilation: [1, 1],
            group: ch,
            relu: false,
        }));
        Ok(())
    }
}

/// The largest magnitude worth representing in tensor `t` (calibrated maximum `max`) when every
/// reader is a function that is constant outside an interval: a hard sigmoid reads nothing outside
/// `[−β/α, (1−β)/α]`, a hard swish is 0 below −3 and a ReLU below 0, so values beyond those points
/// may saturate at the threshold without changing any result, and a smaller threshold spends the
/// 255 steps where the readers see a difference. `None` when some reader (or the graph output)
/// needs the full range.
fn saturation_bound(g: &Graph, t: TensorId, max: f32) -> Option<f32> {
    if g.outputs.contains(&t) || g.inputs.contains(&t) {
        return None;
    }
    let mut bound: Option<f32> = None;
    for n in g.nodes.iter().filter(|n| n.inputs.contains(&t)) {
        let b = match n.op {
            Op::HardSigmoid { alpha, beta } if alpha > 0.0 => ((-beta) / alpha).abs().max(((1.0 - beta) / alpha).abs()),
            // Linear above 3: the calibrated maximum bounds what it sees there.
            Op::HardSwish => max.max(3.0),
            Op::Relu => max,
            _ => return None,
        };
        bound = Some(bound.map_or(b, |a: f32| a.max(b)));
    }
    bound.filter(|b| b.is_finite() && *b > 0.0)
}

/// The first input channel of each output of a `Slice` or `Split` that cuts along channels only
/// (step 1), or why it does not.
pub(crate) fn channel_slices(g: &Graph, node: &crate::ir::Node) -> Result<Vec<usize>, String> {
    let xs = &g.tensors[node.inputs[0]].shape;
    for &o in &node.outputs {
        let os = &g.tensors[o].shape;
        let same_but_channels =
            os.len() == xs.len() && xs.len() >= 2 && (0..xs.len()).all(|d| d == 1 || os[d] == xs[d]);
        if !same_but_channels {
            return Err(format!("a cut of {xs:?} into {os:?}: only along channels"));
        }
    }
    match &node.op {
        Op::Slice { starts, axes, steps, .. } => {
            let k = axes.iter().position(|&a| a == 1).ok_or("a slice that does not cut channels")?;
            if steps.get(k).copied().unwrap_or(1) != 1 {
                return Err("a channel slice with a step other than 1".into());
            }
            let c = xs[1] as i64;
            let start = starts[k];
            let start = if start < 0 { (start + c).max(0) } else { start.min(c) };
            Ok(vec![start as usize])
        }
        Op::Split { axis, sizes } if *axis == 1 => Ok(sizes
            .iter()
            .scan(0, |acc, &s| {
                let c0 = *acc;
                *acc += s;
                Some(c0)
            })
            .collect()),
        Op::Split { axis, .. } => Err(format!("a split along axis {axis}: only channels (1)")),
        _ => Err("not a slice".into()),
    }
}

/// The node index of a `Relu` that is the only reader of `t`, when `t` is not a model output (the
/// ReLU can then run inside the op that writes `t`).
pub(crate) fn sole_relu_consumer(g: &Graph, t: TensorId) -> Option<usize> {
    if g.outputs.contains(&t) {
        return None;
    }
    let mut readers = g.nodes.iter().enumerate().filter(|(_, n)| n.inputs.contains(&t));
    let (k, n) = readers.next()?;
    (readers.next().is_none() && n.op == Op::Relu).then_some(k)
}

/// `b` holds one value per channel of `a`.
pub(crate) fn per_channel(a: [usize; 4], b: [usize; 4]) -> bool {
    b[0] == a[0] && b[1] == a[1] && b[2] == 1 && b[3] == 1
}

/// A constant broadcast against NCHW: `[C, 1, 1]` or `[1, C, 1, 1]` as `[1, C, 1, 1]`.
fn squeeze_to_channel(s: &[usize]) -> Vec<usize> {
    let mut v = s.to_vec();
    while v.len() < 4 {
        v.insert(0, 1);
    }
    v
}

fn fused_relu(act: &Activation) -> Option<bool> {
    match act {
        Activation::None => Some(false),
        Activation::Relu => Some(true),
        // The output threshold (at most the clip bound) saturates the top.
        Activation::Clip(lo, _) if *lo == 0.0 => Some(true),
        _ => None,
    }
}

fn channel_quant(c: &[crate::quantize::ChannelQuant]) -> Vec<ChannelQuant> {
    c.iter()
        .map(|c| ChannelQuant { bias: c.bias.unwrap_or(0), multiplier: c.qdm.multiplier, shift: c.qdm.rshift })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Calibration, DType as IrType, Node};

    /// `x → Relu → a`, then `a` read by `reader` (and by a second `Relu` when `also_relu`).
    fn graph(reader: Op, also_relu: bool) -> (Graph, TensorId) {
        let mut g = Graph::default();
        let x = g.add_tensor("x", vec![1, 4, 1, 1], IrType::F32);
        let a = g.add_tensor("a", vec![1, 4, 1, 1], IrType::F32);
        let y = g.add_tensor("y", vec![1, 4, 1, 1], IrType::F32);
        g.nodes.push(Node { name: "n0".into(), op: Op::Relu, inputs: vec![x], outputs: vec![a] });
        g.nodes.push(Node { name: "n1".into(), op: reader, inputs: vec![a], outputs: vec![y] });
        if also_relu {
            let z = g.add_tensor("z", vec![1, 4, 1, 1], IrType::F32);
            g.nodes.push(Node { name: "n2".into(), op: Op::Relu, inputs: vec![a], outputs: vec![z] });
            g.outputs.push(z);
        }
        g.inputs.push(x);
        g.outputs.push(y);
        g.tensors[a].calibration = Some(Calibration { threshold: 9.0, min: -9.0, max: 1.0 });
        (g, a)
    }

    #[test]
    fn hard_swish_reader_narrows_to_three_or_the_maximum() {
        let (g, a) = graph(Op::HardSwish, false);
        assert_eq!(saturation_bound(&g, a, 1.0), Some(3.0));
        assert_eq!(saturation_bound(&g, a, 5.0), Some(5.0));
        // With a ReLU also reading it, the widest bound wins.
        let (g, a) = graph(Op::HardSwish, true);
        assert_eq!(saturation_bound(&g, a, 4.0), Some(4.0));
    }

    #[test]
    fn hard_sigmoid_reader_narrows_to_its_linear_range() {
        let (g, a) = graph(Op::HardSigmoid { alpha: 0.25, beta: 0.5 }, false);
        assert_eq!(saturation_bound(&g, a, 1.0), Some(2.0));
    }

    #[test]
    fn other_readers_and_outputs_keep_the_calibrated_threshold() {
        let (g, a) = graph(Op::Sigmoid, false);
        assert_eq!(saturation_bound(&g, a, 1.0), None);
        let (mut g, a) = graph(Op::HardSwish, false);
        g.outputs.push(a);
        assert_eq!(saturation_bound(&g, a, 1.0), None);
    }
}
