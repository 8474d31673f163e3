//! The printed form of the IR (`cvsim compile --emit-ir`): one line per node with its attributes
//! and the shapes of what it reads and writes; constants summarised.

use super::{Activation, DType, Graph, Op, PadMode, ResizeMode, Tensor, Value};
use std::fmt::{self, Display, Formatter};

impl Op {
    /// The op's name as printed and as named in errors.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Conv { .. } => "Conv",
            Op::ConvTranspose { .. } => "ConvTranspose",
            Op::FullyConnected { .. } => "FullyConnected",
            Op::MatMul => "MatMul",
            Op::Add => "Add",
            Op::Sub => "Sub",
            Op::Mul => "Mul",
            Op::Div => "Div",
            Op::Pow => "Pow",
            Op::Sqrt => "Sqrt",
            Op::Exp => "Exp",
            Op::Relu => "Relu",
            Op::Clip { .. } => "Clip",
            Op::LeakyRelu { .. } => "LeakyRelu",
            Op::Sigmoid => "Sigmoid",
            Op::Tanh => "Tanh",
            Op::HardSigmoid { .. } => "HardSigmoid",
            Op::HardSwish => "HardSwish",
            Op::Softmax { .. } => "Softmax",
            Op::GlobalAveragePool => "GlobalAveragePool",
            Op::GlobalMaxPool => "GlobalMaxPool",
            Op::AveragePool { .. } => "AveragePool",
            Op::MaxPool { .. } => "MaxPool",
            Op::ReduceMean { .. } => "ReduceMean",
            Op::Concat { .. } => "Concat",
            Op::Split { .. } => "Split",
            Op::Slice { .. } => "Slice",
            Op::Reshape { .. } => "Reshape",
            Op::Transpose { .. } => "Transpose",
            Op::Pad { .. } => "Pad",
            Op::Resize { .. } => "Resize",
            Op::BatchNormalization { .. } => "BatchNormalization",
            Op::Scale => "Scale",
            Op::ChannelShuffle { .. } => "ChannelShuffle",
            Op::Shape => "Shape",
            Op::Gather { .. } => "Gather",
            Op::Unsqueeze { .. } => "Unsqueeze",
            Op::Squeeze { .. } => "Squeeze",
            Op::Cast { .. } => "Cast",
            Op::Identity => "Identity",
        }
    }
}

impl Display for Activation {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Activation::None => write!(f, "none"),
            Activation::Relu => write!(f, "relu"),
            Activation::Clip(lo, hi) => write!(f, "clip({lo},{hi})"),
            Activation::LeakyRelu(a) => write!(f, "leaky_relu({a})"),
        }
    }
}

impl Display for DType {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DType::F32 => "f32",
            DType::I64 => "i64",
            DType::Bool => "bool",
        })
    }
}

struct Dims<'a>(&'a [usize]);

impl Display for Dims<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let d: Vec<String> = self.0.iter().map(|d| d.to_string()).collect();
        write!(f, "[{}]", d.join(","))
    }
}

fn hw(v: &[usize; 2]) -> String {
    format!("{}x{}", v[0], v[1])
}

impl Display for Op {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        let act =
            |f: &mut Formatter<'_>, a: &Activation| if *a == Activation::None { Ok(()) } else { write!(f, " act={a}") };
        match self {
            Op::Conv { kernel, strides, pads, dilations, group, act: a } => {
                write!(f, " k={} s={} p={} d={} g={group}", hw(kernel), hw(strides), Dims(pads), hw(dilations))?;
                act(f, a)
            }
            Op::ConvTranspose { kernel, strides, pads, dilations, output_padding, group } => write!(
                f,
                " k={} s={} p={} d={} op={} g={group}",
                hw(kernel),
                hw(strides),
                Dims(pads),
                hw(dilations),
                hw(output_padding)
            ),
            Op::FullyConnected { act: a } => act(f, a),
            Op::Clip { min, max } => write!(f, " min={min} max={max}"),
            Op::LeakyRelu { alpha } => write!(f, " alpha={alpha}"),
            Op::HardSigmoid { alpha, beta } => write!(f, " alpha={alpha} beta={beta}"),
            Op::Softmax { axis } | Op::Concat { axis } | Op::Gather { axis } => write!(f, " axis={axis}"),
            Op::AveragePool { kernel, strides, pads, count_include_pad } => {
                write!(f, " k={} s={} p={} count_include_pad={count_include_pad}", hw(kernel), hw(strides), Dims(pads))
            }
            Op::MaxPool { kernel, strides, pads } => write!(f, " k={} s={} p={}", hw(kernel), hw(strides), Dims(pads)),
            Op::ReduceMean { axes, keepdims } => write!(f, " axes={} keepdims={keepdims}", Dims(axes)),
            Op::Split { axis, sizes } => write!(f, " axis={axis} sizes={}", Dims(sizes)),
            Op::Slice { starts, ends, axes, steps } => {
                write!(f, " starts={starts:?} ends={ends:?} axes={} steps={steps:?}", Dims(axes))
            }
            Op::Reshape { shape } => write!(f, " shape={}", Dims(shape)),
            Op::Transpose { perm } => write!(f, " perm={}", Dims(perm)),
            Op::Pad { pads, mode, value } => {
                let m = match mode {
                    PadMode::Constant => "constant",
                    PadMode::Reflect => "reflect",
                    PadMode::Edge => "edge",
                };
                write!(f, " pads={} mode={m} value={value}", Dims(pads))
            }
            Op::Resize { mode, out_hw } => match mode {
                ResizeMode::Nearest => write!(f, " nearest out={}", hw(out_hw)),
                ResizeMode::Linear { align_corners } => {
                    write!(f, " linear align_corners={align_corners} out={}", hw(out_hw))
                }
            },
            Op::BatchNormalization { epsilon } => write!(f, " epsilon={epsilon}"),
            Op::ChannelShuffle { groups } => write!(f, " groups={groups}"),
            Op::Unsqueeze { axes } | Op::Squeeze { axes } => write!(f, " axes={}", Dims(axes)),
            Op::Cast { to } => write!(f, " to={to}"),
            _ => Ok(()),
        }
    }
}

/// A tensor as it appears in a node's line: name and shape, constants marked (and small ones
/// shown).
struct Operand<'a>(&'a Tensor);

impl Display for Operand<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(f, "{} {}", t.name, Dims(&t.shape))?;
        if t.dtype != DType::F32 {
            write!(f, " {}", t.dtype)?;
        }
        match &t.value {
            Some(v) if v.len() <= 4 => match v {
                Value::F32(a) => write!(f, " const={:?}", a.iter().collect::<Vec<_>>()),
                Value::I64(a) => write!(f, " const={:?}", a.iter().collect::<Vec<_>>()),
            },
            Some(_) => write!(f, " const"),
            None => Ok(()),
        }
    }
}

impl Display for Graph {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let list =
            |ids: &[usize]| ids.iter().map(|&t| Operand(&self.tensors[t]).to_string()).collect::<Vec<_>>().join(", ");
        writeln!(f, "inputs: {}", list(&self.inputs))?;
        writeln!(f, "outputs: {}", list(&self.outputs))?;
        let mut used = vec![false; self.tensors.len()];
        for n in &self.nodes {
            for &t in &n.inputs {
                used[t] = true;
            }
        }
        let consts: Vec<&Tensor> =
            self.tensors.iter().enumerate().filter(|(i, t)| used[*i] && t.is_const()).map(|(_, t)| t).collect();
        let values: usize = consts.iter().map(|t| t.value.as_ref().map_or(0, |v| v.len())).sum();
        writeln!(f, "constants: {} tensors, {} values", consts.len(), values)?;
        writeln!(f, "nodes: {}", self.nodes.len())?;
        for n in &self.nodes {
            writeln!(f, "{}: {} ({}) -> ({})", n.name, n.op, list(&n.inputs), list(&n.outputs))?;
        }
        Ok(())
    }
}
