//! The back end's input: a quantised network as plain data, independent of ONNX and of the IR.
//!
//! A [`Network`] is a list of tensors (name, NCHW shape, element type, quantisation scale) and a
//! list of [`Layer`]s in execution order, each naming its tensors by index. Every number the
//! hardware needs is already decided here: int8 weights in ONNX order, int32 biases, QM
//! multipliers and shifts, average-pool constants, lookup tables. The code generator
//! ([`crate::codegen`]) only chooses tiles, layouts, memory and descriptors; it never quantises.
//!
//! Arithmetic of each layer (what the plain reference in the tests computes, isa.md §3.6, §3.7):
//!
//! - [`Layer::Quantize`] — CPU `quant` routine: `q = clamp(round_half_away(x · scale), -128, 127)`;
//!   to bf16: the upper half of `x · 1.001957` (what the runtime's routine does).
//! - [`Layer::Dequantize`] — CPU `quant` routine: `x = q as f32 · scale`.
//! - [`Layer::Conv`] — `acc = Σ x·w + bias[oc]`, `y = clamp(MBQM(acc, multiplier[oc], shift[oc]))`,
//!   then ReLU (`max(y, 0)`) when set. `MBQM` is the TFLite `MultiplyByQuantizedMultiplier` of
//!   isa.md §3.7; a positive shift is a rounding right shift.
//! - [`Layer::FullyConnected`] — the same as a 1×1 convolution of `[M, K, 1, 1]` to `[M, N, 1, 1]`.
//! - [`Layer::Lut`] — `y = table[x as u8]`.
//! - [`Layer::Add`] — `y = sat8(rshr(a·ma + b·mb, rshift))`, then ReLU (the vendor's mul + mac).
//! - [`Layer::Mul`] — `y = clamp(MBQM(a·b, multiplier, shift))`; `b` has `a`'s shape or is
//!   `[N, C, 1, 1]` (one factor per channel, the squeeze-excite scale).
//! - [`Layer::Pool`] — max: the window maximum (padding never wins); average:
//!   `sat8(rshr(Σ x · multiplier, rshift))` over the window with padding counting as 0.
//! - [`Layer::Concat`] — along channels; each input either copied or requantised as
//!   `sat8(rshr(x · multiplier, rshift))`.
//! - [`Layer::Reshape`] — the same bytes under another shape (no data movement).
//! - [`Layer::Slice`], [`Layer::ChannelShuffle`] — channels moved, values unchanged (any type);
//!   [`Layer::Concat`] of bf16 tensors takes no rescale.
//! - [`Layer::Softmax`] — over the channels of an int8 `[N, C, 1, 1]`, bf16 out (see
//!   [`crate::codegen::softmax`] for the exact bf16 steps); follow it with a `Dequantize` of the
//!   bf16 tensor for an fp32 output.
//! - bf16 layers ([`Layer::ConvBf16`], [`Layer::FullyConnectedBf16`], [`Layer::AddBf16`],
//!   [`Layer::MulBf16`], [`Layer::ActBf16`], [`Layer::LutBf16`], and [`Layer::Pool`] on bf16 tensors with `Max` or
//!   `Mean`): fp32 arithmetic, each TIU result rounded to bf16 (nearest even; isa.md §3.7). A
//!   convolution accumulates kh → kw → ic (ic innermost), then adds the bias.
//!
//! [`Network::check`] validates all of it and names the offending layer, so a mistake in whoever
//! built the network surfaces here rather than as wrong numbers.

mod check;

pub use check::NetworkError;

pub use cvsim_isa::Chip;

/// An index into [`Network::tensors`].
pub type TensorRef = usize;

/// Element type of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    I8,
    Bf16,
    F32,
}

impl DType {
    pub const fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::Bf16 => 2,
            DType::F32 => 4,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            DType::I8 => "int8",
            DType::Bf16 => "bf16",
            DType::F32 => "fp32",
        }
    }
}

/// One tensor of the network.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorDesc {
    /// Written into the model's tensor map (ONNX names kept, so reports line up).
    pub name: String,
    /// N, C, H, W. Lower-rank tensors are padded with trailing 1s.
    pub shape: [usize; 4],
    pub dtype: DType,
    /// For int8: the real value of one step (`threshold / 127`), written to the tensor map; the
    /// runtime reports it. 1.0 for fp32 and bf16.
    pub qscale: f32,
}

impl TensorDesc {
    pub fn new(name: impl Into<String>, shape: [usize; 4], dtype: DType, qscale: f32) -> TensorDesc {
        TensorDesc { name: name.into(), shape, dtype, qscale }
    }

    pub fn count(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn bytes(&self) -> usize {
        self.count() * self.dtype.size()
    }
}

/// The per-output-channel requantisation of a convolution or FC (the 9-byte QM record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelQuant {
    pub bias: i32,
    /// The int32 multiplier of `MultiplyByQuantizedMultiplier`, normally in [2^30, 2^31).
    pub multiplier: u32,
    /// Positive: rounding right shift; negative: left shift (CV18[0-2]x only). −32..=31.
    pub shift: i8,
}

/// Zero-padding of a window operation, in input rows and columns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pads {
    pub top: usize,
    pub bottom: usize,
    pub left: usize,
    pub right: usize,
}

impl Pads {
    pub const ZERO: Pads = Pads { top: 0, bottom: 0, left: 0, right: 0 };

    pub const fn same(p: usize) -> Pads {
        Pads { top: p, bottom: p, left: p, right: p }
    }
}

/// A 2-D convolution (group 1 or depthwise), int8 in and out.
#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    pub input: TensorRef,
    pub output: TensorRef,
    /// `[OC][IC / group][KH][KW]` (ONNX order).
    pub weight: Vec<i8>,
    /// One per output channel.
    pub quant: Vec<ChannelQuant>,
    /// KH, KW.
    pub kernel: [usize; 2],
    /// Along H, along W.
    pub stride: [usize; 2],
    pub pads: Pads,
    /// Along H, along W.
    pub dilation: [usize; 2],
    /// 1, or the channel count (depthwise: IC = OC = group).
    pub group: usize,
    pub relu: bool,
}

impl Conv {
    pub fn is_depthwise(&self, in_channels: usize) -> bool {
        self.group > 1 && self.group == in_channels
    }
}

/// A fully connected layer: `[M, K, 1, 1]` → `[M, N, 1, 1]`, int8.
#[derive(Clone, Debug, PartialEq)]
pub struct FullyConnected {
    pub input: TensorRef,
    pub output: TensorRef,
    /// `[N][K]` (ONNX Gemm with transB = 1, i.e. MatMul's weight transposed).
    pub weight: Vec<i8>,
    /// One per output (N).
    pub quant: Vec<ChannelQuant>,
    pub relu: bool,
}

/// Max or average pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    Max,
    /// `sat8(rshr(Σ x · multiplier, rshift))`; the vendor picks multiplier/2^rshift ≈ 1/(KH·KW)
    /// times the scale ratio.
    Avg {
        multiplier: u8,
        rshift: u8,
    },
    /// bf16 only: `bf16(Σ x · bf16(1 / (KH·KW)))`, padding counting as 0.
    Mean,
}

/// A pooling window (a global average pool is a window of the whole H × W).
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub input: TensorRef,
    pub output: TensorRef,
    pub kind: PoolKind,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub pads: Pads,
}

/// Per-input requantisation of a concat input: `sat8(rshr(x · multiplier, rshift))`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rescale {
    pub multiplier: i8,
    pub rshift: u8,
}

/// A 2-D convolution in bf16 (group 1 or depthwise): fp32 accumulation, fp32 bias, ReLU, one
/// rounding to bf16.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvBf16 {
    pub input: TensorRef,
    pub output: TensorRef,
    /// `[OC][IC / group][KH][KW]` bf16 bit patterns.
    pub weight: Vec<u16>,
    /// One per output channel.
    pub bias: Vec<f32>,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub pads: Pads,
    pub dilation: [usize; 2],
    pub group: usize,
    pub relu: bool,
}

/// An element-wise bf16 activation, each step rounded to bf16.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ActBf16 {
    Relu,
    /// `min(max(x, lo), hi)` (ReLU6 is `Clip { lo: 0, hi: 6 }`).
    Clip {
        lo: f32,
        hi: f32,
    },
    /// `min(max(x·alpha + beta, 0), 1)`.
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    /// `x · HardSigmoid(x)`.
    HardSwish {
        alpha: f32,
        beta: f32,
    },
    /// `min(max(x + shift, 0), hi)`: HardSigmoid times `1/alpha` with `shift = beta/alpha` and
    /// `hi = 1/alpha`, both exact in bf16 (see `crate::bf16::scaled`).
    ShiftClip {
        shift: f32,
        hi: f32,
    },
    /// `x · ShiftClip(x)`: HardSwish times 6 with `shift` 3 and `hi` 6.
    ShiftClipMul {
        shift: f32,
        hi: f32,
    },
    /// `max(x, alpha · x)` for `alpha` in [0, 1].
    LeakyRelu {
        alpha: f32,
    },
}

/// One layer, in execution order.
#[derive(Clone, Debug, PartialEq)]
pub enum Layer {
    /// fp32 network input → int8 (or bf16, `scale` 1), by the CPU `quant` routine.
    Quantize {
        input: TensorRef,
        output: TensorRef,
        scale: f32,
    },
    /// int8 or bf16 → fp32 network output, by the CPU `quant` routine: `x = q · scale` (int8), or
    /// the bf16 value itself (bf16; `scale` must be 1).
    Dequantize {
        input: TensorRef,
        output: TensorRef,
        scale: f32,
    },
    Conv(Conv),
    FullyConnected(FullyConnected),
    /// 256-entry int8 table indexed by the input byte (activations: HardSwish, HardSigmoid, …).
    Lut {
        input: TensorRef,
        output: TensorRef,
        table: Box<[i8; 256]>,
    },
    /// `sat8(rshr(a·ma + b·mb, rshift))`, ReLU after.
    Add {
        a: TensorRef,
        b: TensorRef,
        output: TensorRef,
        ma: i8,
        mb: i8,
        rshift: u8,
        relu: bool,
    },
    /// `clamp(MBQM(a·b, multiplier, shift))`; `b` is `a`'s shape or `[N, C, 1, 1]`.
    Mul {
        a: TensorRef,
        b: TensorRef,
        output: TensorRef,
        multiplier: u32,
        shift: i8,
    },
    Pool(Pool),
    /// Along channels; `rescale[i]` = None copies input i unchanged.
    Concat {
        inputs: Vec<TensorRef>,
        output: TensorRef,
        rescale: Vec<Option<Rescale>>,
    },
    /// Same bytes, another shape (Flatten, Reshape, Squeeze …).
    Reshape {
        input: TensorRef,
        output: TensorRef,
    },
    /// Softmax over the channels of an int8 `[N, C, 1, 1]` whose step is `scale` (its qscale),
    /// or of a bf16 one (`scale` unused); bf16 output of the same shape. For int8, `scale · 255`
    /// must stay below 80 (the bf16 exponentials of the table stay normal).
    Softmax {
        input: TensorRef,
        output: TensorRef,
        scale: f32,
    },
    /// Channels `c0 .. c0 + C_out` of the input (any element type).
    Slice {
        input: TensorRef,
        output: TensorRef,
        c0: usize,
    },
    /// ONNX's channel shuffle (reshape to `[N, g, C/g, H, W]`, swap axes 1 and 2, reshape back):
    /// output channel `k·groups + i` is input channel `i·(C/groups) + k` (any element type).
    ChannelShuffle {
        input: TensorRef,
        output: TensorRef,
        groups: usize,
    },
    /// bf16 convolution.
    ConvBf16(ConvBf16),
    /// bf16 FC `[M, K, 1, 1]` → `[M, N, 1, 1]`: weight `[N][K]` bf16, bias per N.
    FullyConnectedBf16 {
        input: TensorRef,
        output: TensorRef,
        weight: Vec<u16>,
        bias: Vec<f32>,
        relu: bool,
    },
    /// bf16 `a + b`, ReLU after.
    AddBf16 {
        a: TensorRef,
        b: TensorRef,
        output: TensorRef,
        relu: bool,
    },
    /// bf16 `a · b`; `b` is `a`'s shape or `[N, C, 1, 1]`.
    MulBf16 {
        a: TensorRef,
        b: TensorRef,
        output: TensorRef,
    },
    /// bf16 activation.
    ActBf16 {
        input: TensorRef,
        output: TensorRef,
        act: ActBf16,
    },
    /// A bf16 function of one input interpolated from a table ([`TableBf16`]).
    LutBf16 {
        input: TensorRef,
        output: TensorRef,
        table: Box<TableBf16>,
    },
}

/// A function `F` of one bf16 input from the vendor's base/slope tables
/// ([`crate::quantize::Bf16SlopeTables`]: 256 points of a range, extrapolated beyond it). Steps,
/// each result rounded to bf16: `x` first clamped to `clamp` when given, `t = x · scale`,
/// `i = trunc(t)` as int8 (saturating),
/// `f = t − i`, `y = base[i] + slope[i] · f` (one multiply-add), the tables indexed by `i`'s byte.
/// `scale` (256 over the range's width) must be a bf16 value. For −1 < t < 0 the index is 0 and
/// the segment above 0 is extrapolated, as the vendor's tables assume (worst for exp, ~2%).
#[derive(Clone, Debug, PartialEq)]
pub struct TableBf16 {
    pub scale: f32,
    /// `[lo, hi]` for a function whose extrapolation beyond the range would be wrong (exp).
    pub clamp: Option<[f32; 2]>,
    pub base: [u16; 256],
    pub slope: [u16; 256],
}

impl Layer {
    /// The kind, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Layer::Quantize { .. } => "Quantize",
            Layer::Dequantize { .. } => "Dequantize",
            Layer::Conv(c) if c.group > 1 => "DepthwiseConv",
            Layer::Conv(_) => "Conv",
            Layer::FullyConnected(_) => "FullyConnected",
            Layer::Lut { .. } => "Lut",
            Layer::Add { .. } => "Add",
            Layer::Mul { .. } => "Mul",
            Layer::Pool(p) if matches!(p.kind, PoolKind::Max) => "MaxPool",
            Layer::Pool(_) => "AvgPool",
            Layer::Concat { .. } => "Concat",
            Layer::Reshape { .. } => "Reshape",
            Layer::Softmax { .. } => "Softmax",
            Layer::Slice { .. } => "Slice",
            Layer::ChannelShuffle { .. } => "ChannelShuffle",
            Layer::ConvBf16(c) if c.group > 1 => "DepthwiseConvBf16",
            Layer::ConvBf16(_) => "ConvBf16",
            Layer::FullyConnectedBf16 { .. } => "FullyConnectedBf16",
            Layer::AddBf16 { .. } => "AddBf16",
            Layer::MulBf16 { .. } => "MulBf16",
            Layer::ActBf16 { .. } => "ActBf16",
            Layer::LutBf16 { .. } => "LutBf16",
        }
    }

    /// Tensors read.
    pub fn inputs(&self) -> Vec<TensorRef> {
        match self {
            Layer::Quantize { input, .. }
            | Layer::Dequantize { input, .. }
            | Layer::Lut { input, .. }
            | Layer::Reshape { input, .. }
            | Layer::Softmax { input, .. }
            | Layer::Slice { input, .. }
            | Layer::ChannelShuffle { input, .. }
            | Layer::FullyConnectedBf16 { input, .. }
            | Layer::ActBf16 { input, .. }
            | Layer::LutBf16 { input, .. } => vec![*input],
            Layer::ConvBf16(c) => vec![c.input],
            Layer::AddBf16 { a, b, .. } | Layer::MulBf16 { a, b, .. } => vec![*a, *b],
            Layer::Conv(c) => vec![c.input],
            Layer::FullyConnected(f) => vec![f.input],
            Layer::Pool(p) => vec![p.input],
            Layer::Add { a, b, .. } | Layer::Mul { a, b, .. } => vec![*a, *b],
            Layer::Concat { inputs, .. } => inputs.clone(),
        }
    }

    /// The tensor written.
    pub fn output(&self) -> TensorRef {
        match self {
            Layer::Quantize { output, .. }
            | Layer::Dequantize { output, .. }
            | Layer::Lut { output, .. }
            | Layer::Add { output, .. }
            | Layer::Mul { output, .. }
            | Layer::Concat { output, .. }
            | Layer::Reshape { output, .. }
            | Layer::Softmax { output, .. }
            | Layer::Slice { output, .. }
            | Layer::ChannelShuffle { output, .. }
            | Layer::FullyConnectedBf16 { output, .. }
            | Layer::AddBf16 { output, .. }
            | Layer::MulBf16 { output, .. }
            | Layer::ActBf16 { output, .. }
            | Layer::LutBf16 { output, .. } => *output,
            Layer::ConvBf16(c) => c.output,
            Layer::Conv(c) => c.output,
            Layer::FullyConnected(f) => f.output,
            Layer::Pool(p) => p.output,
        }
    }
}

/// A whole quantised network for one chip.
#[derive(Clone, Debug, PartialEq)]
pub struct Network {
    pub chip: Chip,
    /// The model name written into the .cvimodel.
    pub name: String,
    pub tensors: Vec<TensorDesc>,
    /// In execution order; each tensor is written by at most one layer, before it is read.
    pub layers: Vec<Layer>,
    /// The model's inputs (fp32 before a Quantize, or int8 used directly).
    pub inputs: Vec<TensorRef>,
    /// The model's outputs (fp32 after a Dequantize, or int8).
    pub outputs: Vec<TensorRef>,
}

impl Network {
    pub fn new(chip: Chip, name: impl Into<String>) -> Network {
        Network {
            chip,
            name: name.into(),
            tensors: Vec::new(),
            layers: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
        }
    }

    /// Add a tensor; returns its reference.
    pub fn tensor(&mut self, t: TensorDesc) -> TensorRef {
        self.tensors.push(t);
        self.tensors.len() - 1
    }

    /// Check every layer's shapes, element types, parameter sizes and ranges (see [`NetworkError`]).
    pub fn check(&self) -> Result<(), NetworkError> {
        check::check(self)
    }
}

/// Output size of a window operation along one axis.
pub fn window_out(
    input: usize,
    pad_lo: usize,
    pad_hi: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
) -> Option<usize> {
    let padded = input + pad_lo + pad_hi;
    let extent = (kernel.checked_sub(1)?) * dilation + 1;
    if stride == 0 || padded < extent {
        return None;
    }
    Some((padded - extent) / stride + 1)
}
