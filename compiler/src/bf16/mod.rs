//! bf16 quantisation of a graph: the back end's [`Network`] with bf16 weights (rounded as the
//! vendor's compiler rounds them, `crate::quantize::f32_to_bf16`), fp32 biases and bf16
//! activations. No calibration is needed. Per-channel affine maps by constants become 1×1
//! depthwise convolutions, as in int8. HardSigmoid and HardSwish outputs may be stored scaled
//! ([`scaled`]); the layers that read them divide the scale out of their weights.

pub mod scaled;

use crate::int8::{f32_value, op_name, per_channel, shape4, sole_relu_consumer, QuantizeError};
use crate::ir::{Activation, Graph, Node, Op, TensorId};
use crate::lower::{
    ActBf16, Chip, ConvBf16, DType, Layer, Network, Pads, Pool, PoolKind, TableBf16, TensorDesc, TensorRef,
};
use crate::quantize::{f32_to_bf16, Bf16SlopeTables};
use ndarray::ArrayD;

/// What the bf16 quantiser lowers, for the error message.
pub const SUPPORTED: &str = "Conv (group 1 or depthwise), FullyConnected, Add, Mul, Scale, BatchNormalization, \
Relu, LeakyRelu (slope in [0, 1]), Sigmoid, Tanh, Exp, Clip, HardSigmoid, HardSwish, GlobalAveragePool, ReduceMean (over H, W), AveragePool, MaxPool, Concat (channels), Slice (channels), \
Split (channels), ChannelShuffle, Reshape, Softmax (over channels)";

/// The bf16 network of `graph` for `chip`: inputs converted by the CPU `quant` routine, outputs
/// returned as fp32.
pub fn quantize(graph: &Graph, chip: Chip, name: &str) -> Result<Network, QuantizeError> {
    let mut q = Bf16 {
        g: graph,
        net: Network::new(chip, name),
        map: vec![None; graph.tensors.len()],
        fused: vec![false; graph.nodes.len()],
        factor: scaled::factors(graph),
    };
    for &input in &graph.inputs {
        let t = &graph.tensors[input];
        let fp = q.net.tensor(TensorDesc::new(t.name.clone(), shape4(&t.name, &t.shape)?, DType::F32, 1.0));
        let b = q.activation(input, &format!("{}_quant_bf16", t.name))?;
        q.net.layers.push(Layer::Quantize { input: fp, output: b, scale: 1.0 });
        q.net.inputs.push(fp);
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        if !q.fused[i] {
            q.node(node)?;
        }
    }
    for &output in &graph.outputs {
        let t = &graph.tensors[output];
        let src = q.map[output].ok_or_else(|| QuantizeError::NoThreshold { tensor: t.name.clone() })?;
        let shape = q.net.tensors[src].shape;
        q.net.tensors[src].name = format!("{}_bf16", t.name);
        let fp = q.net.tensor(TensorDesc::new(t.name.clone(), shape, DType::F32, 1.0));
        q.net.layers.push(Layer::Dequantize { input: src, output: fp, scale: 1.0 });
        q.net.outputs.push(fp);
    }
    Ok(q.net)
}

struct Bf16<'a> {
    g: &'a Graph,
    net: Network,
    map: Vec<Option<TensorRef>>,
    fused: Vec<bool>,
    /// The scale each IR tensor is stored with ([`scaled::factors`]).
    factor: Vec<f32>,
}

fn bf16s(v: &[f32]) -> Vec<u16> {
    v.iter().map(|&x| f32_to_bf16(x)).collect()
}

fn pads(p: &[usize; 4]) -> Pads {
    Pads { top: p[0], left: p[1], bottom: p[2], right: p[3] }
}

impl Bf16<'_> {
    fn activation(&mut self, t: TensorId, name: &str) -> Result<TensorRef, QuantizeError> {
        let tensor = &self.g.tensors[t];
        let qscale = 1.0 / self.factor[t];
        let r = self.net.tensor(TensorDesc::new(name, shape4(&tensor.name, &tensor.shape)?, DType::Bf16, qscale));
        self.map[t] = Some(r);
        Ok(r)
    }

    fn output(&mut self, t: TensorId) -> Result<TensorRef, QuantizeError> {
        let name = self.g.tensors[t].name.clone();
        self.activation(t, &name)
    }

    fn get(&self, t: TensorId, node: &str) -> Result<TensorRef, QuantizeError> {
        self.map[t].ok_or_else(|| QuantizeError::Node {
            node: node.into(),
            op: "input".into(),
            what: format!(
                "tensor `{}` is not an activation here (a constant the passes did not fold?)",
                self.g.tensors[t].name
            ),
        })
    }

    fn constant(&self, t: TensorId) -> Option<&ArrayD<f32>> {
        self.g.tensors[t].value.as_ref().and_then(f32_value)
    }

    fn constant_vec(&self, node: &Node, i: usize) -> Option<Vec<f32>> {
        node.inputs.get(i).and_then(|&t| self.constant(t)).map(|a| a.iter().copied().collect())
    }

    /// A fused activation as the convolution's ReLU flag plus, for a clip, a separate layer.
    fn conv_act(act: &Activation) -> Option<(bool, Option<ActBf16>)> {
        match act {
            Activation::None => Some((false, None)),
            Activation::Relu => Some((true, None)),
            Activation::Clip(lo, hi) => Some((false, Some(ActBf16::Clip { lo: *lo, hi: *hi }))),
            Activation::LeakyRelu(a) if (0.0..=1.0).contains(a) => {
                Some((false, Some(ActBf16::LeakyRelu { alpha: *a })))
            }
            Activation::LeakyRelu(_) => None,
        }
    }

    /// Run `act` after the layer that wrote `pre` (an intermediate tensor) into IR tensor `out`.
    fn then_act(
        &mut self,
        node: &Node,
        pre: TensorRef,
        out: TensorId,
        act: Option<ActBf16>,
    ) -> Result<(), QuantizeError> {
        if let Some(act) = act {
            let y = self.output(out)?;
            self.net.tensors[pre].name = format!("{}_pre_act", node.name);
            self.net.layers.push(Layer::ActBf16 { input: pre, output: y, act });
        }
        Ok(())
    }

    fn node(&mut self, node: &Node) -> Result<(), QuantizeError> {
        let err = |what: String| QuantizeError::Node { node: node.name.clone(), op: op_name(&node.op), what };
        let unsupported = || QuantizeError::Unsupported {
            node: node.name.clone(),
            op: op_name(&node.op),
            precision: "bf16",
            supported: SUPPORTED,
        };
        let out = node.outputs[0];
        let input0 = node.inputs[0];
        if !scaled::reads_scaled(self.g, node) && node.inputs.iter().any(|&t| self.factor[t] != 1.0) {
            return Err(err("reads a scaled activation it cannot unscale (bf16::scaled is inconsistent)".into()));
        }
        match &node.op {
            Op::Conv { kernel, strides, pads: p, dilations, group, act } => {
                let x = self.get(input0, &node.name)?;
                let w = node
                    .inputs
                    .get(1)
                    .and_then(|&t| self.constant(t))
                    .ok_or_else(|| err("the weight is not a constant".into()))?;
                let oc = w.shape()[0];
                let ic = self.net.tensors[x].shape[1];
                if *group != 1 && !(*group == ic && oc == ic) {
                    return Err(err(format!(
                        "group {group} with {ic} input and {oc} output channels: only 1 or depthwise"
                    )));
                }
                let unscale = 1.0 / self.factor[input0];
                let weight = bf16s(&w.iter().map(|v| v * unscale).collect::<Vec<f32>>());
                let bias = self.constant_vec(node, 2).unwrap_or_else(|| vec![0.0; oc]);
                let (relu, after) = Self::conv_act(act).ok_or_else(|| err(format!("fused activation {act:?}")))?;
                let y = self.output(out)?;
                self.net.layers.push(Layer::ConvBf16(ConvBf16 {
                    input: x,
                    output: y,
                    weight,
                    bias,
                    kernel: *kernel,
                    stride: *strides,
                    pads: pads(p),
                    dilation: *dilations,
                    group: *group,
                    relu,
                }));
                self.then_act(node, y, out, after)?;
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
                let unscale = 1.0 / self.factor[input0];
                let wt: Vec<f32> =
                    (0..n).flat_map(|j| (0..k).map(move |i| (i, j))).map(|(i, j)| w[[i, j]] * unscale).collect();
                let bias = self.constant_vec(node, 2).unwrap_or_else(|| vec![0.0; n]);
                let (relu, after) = Self::conv_act(act).ok_or_else(|| err(format!("fused activation {act:?}")))?;
                let m: usize = self.g.tensors[input0].shape.iter().product::<usize>() / k;
                let x = self.view(x, [m, k, 1, 1], &format!("{}_fc_in", node.name));
                let y = self.output(out)?;
                let y_fc = if self.net.tensors[y].shape != [m, n, 1, 1] {
                    self.net.tensor(TensorDesc::new(format!("{}_fc_out", node.name), [m, n, 1, 1], DType::Bf16, 1.0))
                } else {
                    y
                };
                self.net.layers.push(Layer::FullyConnectedBf16 {
                    input: x,
                    output: y_fc,
                    weight: bf16s(&wt),
                    bias,
                    relu,
                });
                if y_fc != y {
                    self.net.layers.push(Layer::Reshape { input: y_fc, output: y });
                }
                self.then_act(node, y, out, after)?;
            }
            Op::Relu => self.act(node, ActBf16::Relu)?,
            Op::LeakyRelu { alpha } if (0.0..=1.0).contains(alpha) => {
                self.act(node, ActBf16::LeakyRelu { alpha: *alpha })?
            }
            Op::Sigmoid => self.table(node, -8.0, 8.0, |x| 1.0 / (1.0 + (-x).exp()))?,
            Op::Tanh => self.table(node, -4.0, 4.0, f64::tanh)?,
            // Clamped: the table's end slopes would extrapolate exp far off beyond its range.
            Op::Exp => self.table(node, -16.0, 16.0, f64::exp)?,
            Op::Clip { min, max } => self.act(node, ActBf16::Clip { lo: *min, hi: *max })?,
            Op::HardSigmoid { .. } | Op::HardSwish => {
                let (alpha, beta) = scaled::alpha_beta(&node.op);
                let swish = node.op == Op::HardSwish;
                let act = match (self.factor[out] != 1.0, swish) {
                    (false, false) => ActBf16::HardSigmoid { alpha, beta },
                    (false, true) => ActBf16::HardSwish { alpha, beta },
                    (true, false) => ActBf16::ShiftClip { shift: beta / alpha, hi: 1.0 / alpha },
                    (true, true) => ActBf16::ShiftClipMul { shift: beta / alpha, hi: 1.0 / alpha },
                };
                self.act(node, act)?
            }
            Op::Add | Op::Mul => self.binary(node)?,
            Op::Scale => {
                let w = self.constant_vec(node, 1).ok_or_else(|| err("the scale is not a constant".into()))?;
                let bias = self.constant_vec(node, 2).unwrap_or_else(|| vec![0.0; w.len()]);
                self.affine(node, input0, &w, &bias)?;
            }
            Op::BatchNormalization { epsilon } => {
                let (Some(gamma), Some(beta), Some(mean), Some(var)) = (
                    self.constant_vec(node, 1),
                    self.constant_vec(node, 2),
                    self.constant_vec(node, 3),
                    self.constant_vec(node, 4),
                ) else {
                    return Err(err("scale, bias, mean and variance must be constants".into()));
                };
                let w: Vec<f32> = gamma.iter().zip(&var).map(|(g, v)| g / (v + epsilon).sqrt()).collect();
                let bias: Vec<f32> = beta.iter().zip(&mean).zip(&w).map(|((b, m), w)| b - m * w).collect();
                self.affine(node, input0, &w, &bias)?;
            }
            Op::GlobalAveragePool => self.mean_over_hw(node, true)?,
            Op::ReduceMean { axes, keepdims } => {
                let rank = self.g.tensors[input0].shape.len();
                let mut sorted = axes.clone();
                sorted.sort_unstable();
                if rank != 4 || sorted != [2, 3] {
                    return Err(err(format!(
                        "mean over axes {axes:?} of a rank-{rank} tensor: only over H and W of NCHW"
                    )));
                }
                self.mean_over_hw(node, *keepdims)?
            }
            Op::AveragePool { kernel, strides, pads: p, count_include_pad } => {
                if !count_include_pad && p.iter().any(|&v| v > 0) {
                    return Err(err("average pooling that excludes padding from the count".into()));
                }
                let x = self.get(input0, &node.name)?;
                let y = self.output(out)?;
                self.net.layers.push(Layer::Pool(Pool {
                    input: x,
                    output: y,
                    kind: PoolKind::Mean,
                    kernel: *kernel,
                    stride: *strides,
                    pads: pads(p),
                }));
            }
            Op::MaxPool { kernel, strides, pads: p } => {
                let x = self.get(input0, &node.name)?;
                let y = self.output(out)?;
                self.net.layers.push(Layer::Pool(Pool {
                    input: x,
                    output: y,
                    kind: PoolKind::Max,
                    kernel: *kernel,
                    stride: *strides,
                    pads: pads(p),
                }));
            }
            Op::Concat { axis } => {
                if *axis != 1 {
                    return Err(err(format!("concat along axis {axis}: only channels (1)")));
                }
                let inputs = node.inputs.iter().map(|&t| self.get(t, &node.name)).collect::<Result<Vec<_>, _>>()?;
                let y = self.output(out)?;
                let rescale = vec![None; inputs.len()];
                self.net.layers.push(Layer::Concat { inputs, output: y, rescale });
            }
            Op::ChannelShuffle { groups } => {
                let x = self.get(input0, &node.name)?;
                let y = self.output(out)?;
                self.net.layers.push(Layer::ChannelShuffle { input: x, output: y, groups: *groups });
            }
            Op::Slice { .. } | Op::Split { .. } => {
                let x = self.get(input0, &node.name)?;
                for (k, c0) in crate::int8::channel_slices(self.g, node).map_err(err)?.into_iter().enumerate() {
                    let y = self.output(node.outputs[k])?;
                    self.net.layers.push(Layer::Slice { input: x, output: y, c0 });
                }
            }
            Op::Softmax { axis } => {
                let x = self.get(input0, &node.name)?;
                let shape = self.net.tensors[x].shape;
                if *axis != 1 || shape[2] != 1 || shape[3] != 1 {
                    return Err(err(format!(
                        "softmax over axis {axis} of {shape:?}: only over the channels of [N, C] or [N, C, 1, 1]"
                    )));
                }
                let y = self.output(out)?;
                self.net.layers.push(Layer::Softmax { input: x, output: y, scale: 1.0 });
            }
            Op::Reshape { .. } | Op::Squeeze { .. } | Op::Unsqueeze { .. } | Op::Identity => {
                let x = self.get(input0, &node.name)?;
                let y = self.output(out)?;
                self.net.layers.push(Layer::Reshape { input: x, output: y });
            }
            _ => return Err(unsupported()),
        }
        Ok(())
    }

    /// `x` seen as `shape` (a reshape layer when it differs).
    fn view(&mut self, x: TensorRef, shape: [usize; 4], name: &str) -> TensorRef {
        if self.net.tensors[x].shape == shape {
            return x;
        }
        let v = self.net.tensor(TensorDesc::new(name, shape, self.net.tensors[x].dtype, self.net.tensors[x].qscale));
        self.net.layers.push(Layer::Reshape { input: x, output: v });
        v
    }

    /// `f` from the vendor's base/slope tables over `[lo, hi]` (256 points, extrapolated beyond):
    /// the range's width divides 256 into a bf16 scale.
    fn table(&mut self, node: &Node, lo: f32, hi: f32, f: fn(f64) -> f64) -> Result<(), QuantizeError> {
        let tables = Bf16SlopeTables::new(lo, hi, f);
        let x = self.get(node.inputs[0], &node.name)?;
        let y = self.output(node.outputs[0])?;
        // exp is held inside the range (the last interval's top end stays below `hi`).
        let clamp = (node.op == Op::Exp).then_some([lo, hi - (hi - lo) / 256.0]);
        let table = Box::new(TableBf16 { scale: 256.0 / (hi - lo), clamp, base: tables.base, slope: tables.slope });
        self.net.layers.push(Layer::LutBf16 { input: x, output: y, table });
        Ok(())
    }

    /// The mean over H and W of the first input by one window-sized mean pool, reshaped when the
    /// output drops those axes.
    fn mean_over_hw(&mut self, node: &Node, keepdims: bool) -> Result<(), QuantizeError> {
        let x = self.get(node.inputs[0], &node.name)?;
        let [n, c, h, w] = self.net.tensors[x].shape;
        let y = self.output(node.outputs[0])?;
        let pooled = if keepdims {
            y
        } else {
            let qscale = self.net.tensors[y].qscale;
            self.net.tensor(TensorDesc::new(format!("{}_pooled", node.name), [n, c, 1, 1], DType::Bf16, qscale))
        };
        self.net.layers.push(Layer::Pool(Pool {
            input: x,
            output: pooled,
            kind: PoolKind::Mean,
            kernel: [h, w],
            stride: [1, 1],
            pads: Pads::ZERO,
        }));
        if pooled != y {
            self.net.layers.push(Layer::Reshape { input: pooled, output: y });
        }
        Ok(())
    }

    fn act(&mut self, node: &Node, act: ActBf16) -> Result<(), QuantizeError> {
        let x = self.get(node.inputs[0], &node.name)?;
        let y = self.output(node.outputs[0])?;
        self.net.layers.push(Layer::ActBf16 { input: x, output: y, act });
        Ok(())
    }

    fn binary(&mut self, node: &Node) -> Result<(), QuantizeError> {
        let err = |what: String| QuantizeError::Node { node: node.name.clone(), op: op_name(&node.op), what };
        let (a, b, out) = (node.inputs[0], node.inputs[1], node.outputs[0]);
        let (ca, cb) = (self.constant(a).is_some(), self.constant(b).is_some());
        match (ca, cb) {
            (false, false) => {
                let (xa, xb) = (self.get(a, &node.name)?, self.get(b, &node.name)?);
                let (sa, sb) = (self.net.tensors[xa].shape, self.net.tensors[xb].shape);
                if node.op == Op::Mul {
                    let (xa, xb, sa, sb) =
                        if sb == sa || per_channel(sa, sb) { (xa, xb, sa, sb) } else { (xb, xa, sb, sa) };
                    if sb != sa && !per_channel(sa, sb) {
                        return Err(err(format!(
                            "broadcast of {sb:?} to {sa:?}: only equal shapes or one value per channel"
                        )));
                    }
                    let y = self.output(out)?;
                    self.net.layers.push(Layer::MulBf16 { a: xa, b: xb, output: y });
                } else {
                    if sa != sb {
                        return Err(err(format!("operands of shapes {sa:?} and {sb:?}: only equal shapes")));
                    }
                    let relu = sole_relu_consumer(self.g, out);
                    let out = match relu {
                        Some(k) => {
                            self.fused[k] = true;
                            self.g.nodes[k].outputs[0]
                        }
                        None => out,
                    };
                    let y = self.output(out)?;
                    self.net.layers.push(Layer::AddBf16 { a: xa, b: xb, output: y, relu: relu.is_some() });
                }
            }
            (true, true) => {
                return Err(err("both operands are constants (constant folding should have removed this node)".into()))
            }
            _ => {
                let (act, cst) = if ca { (b, a) } else { (a, b) };
                let values: Vec<f32> = self.constant(cst).unwrap().iter().copied().collect();
                let x = self.get(act, &node.name)?;
                let ch = self.net.tensors[x].shape[1];
                let per = |v: &[f32]| if v.len() == 1 { vec![v[0]; ch] } else { v.to_vec() };
                if values.len() != 1 && values.len() != ch {
                    return Err(err(format!(
                        "constant of {} values: only a scalar or one value per channel",
                        values.len()
                    )));
                }
                let (w, bias) = match node.op {
                    Op::Mul => (per(&values), vec![0.0; ch]),
                    _ => (vec![1.0; ch], per(&values)),
                };
                self.affine(node, act, &w, &bias)?;
            }
        }
        Ok(())
    }

    /// `y[c] = x[c] · w[c] + bias[c]`: a 1×1 depthwise convolution.
    fn affine(&mut self, node: &Node, input: TensorId, w: &[f32], bias: &[f32]) -> Result<(), QuantizeError> {
        let x = self.get(input, &node.name)?;
        let ch = self.net.tensors[x].shape[1];
        if w.len() != ch || bias.len() != ch {
            return Err(QuantizeError::Node {
                node: node.name.clone(),
                op: op_name(&node.op),
                what: format!("{} scales and {} biases for {ch} channels", w.len(), bias.len()),
            });
        }
        let unscale = 1.0 / self.factor[input];
        let w: Vec<f32> = w.iter().map(|v| v * unscale).collect();
        let y = self.output(node.outputs[0])?;
        self.net.layers.push(Layer::ConvBf16(ConvBf16 {
            input: x,
            output: y,
            weight: bf16s(&w),
            bias: bias.to_vec(),
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
