//! The operations the compiler knows, with their attributes in normalised form (pads as
//! `[top, left, bottom, right]`, negative axes resolved against the input rank).

/// An activation fused into the op that produces its input.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub enum Activation {
    #[default]
    None,
    Relu,
    /// `Clip(min, max)`; ReLU6 is `Clip(0, 6)`.
    Clip(f32, f32),
    LeakyRelu(f32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PadMode {
    Constant,
    Reflect,
    Edge,
}

/// `Nearest`: each output pixel takes input `floor(out * in / out_size)` (ONNX asymmetric/floor,
/// and every ONNX coordinate mode at integer upscales). `Linear`: bilinear, `half_pixel` when not
/// `align_corners`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeMode {
    Nearest,
    Linear { align_corners: bool },
}

/// Inputs by position are given on each variant; optional ones may be absent from `Node::inputs`.
/// Inputs that ONNX passes as tensors but that are attributes in nature (shapes, axes, pads, sizes,
/// scales, clip bounds) are read at import and live here, not in `Node::inputs`.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// x, w (OIHW constant), bias (O, optional).
    Conv {
        kernel: [usize; 2],
        strides: [usize; 2],
        pads: [usize; 4],
        dilations: [usize; 2],
        group: usize,
        act: Activation,
    },
    /// x, w (IOHW constant), bias (optional).
    ConvTranspose {
        kernel: [usize; 2],
        strides: [usize; 2],
        pads: [usize; 4],
        dilations: [usize; 2],
        output_padding: [usize; 2],
        group: usize,
    },
    /// x [.., K], w [K, N] constant, bias [N] optional: `Gemm` and `MatMul` by a constant, normalised.
    FullyConnected {
        act: Activation,
    },
    /// Both operands are activations (attention).
    MatMul,
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Sqrt,
    Exp,
    Relu,
    Clip {
        min: f32,
        max: f32,
    },
    LeakyRelu {
        alpha: f32,
    },
    Sigmoid,
    Tanh,
    HardSigmoid {
        alpha: f32,
        beta: f32,
    },
    HardSwish,
    Softmax {
        axis: usize,
    },
    GlobalAveragePool,
    GlobalMaxPool,
    AveragePool {
        kernel: [usize; 2],
        strides: [usize; 2],
        pads: [usize; 4],
        count_include_pad: bool,
    },
    MaxPool {
        kernel: [usize; 2],
        strides: [usize; 2],
        pads: [usize; 4],
    },
    ReduceMean {
        axes: Vec<usize>,
        keepdims: bool,
    },
    Concat {
        axis: usize,
    },
    Split {
        axis: usize,
        sizes: Vec<usize>,
    },
    /// Per axis in `axes`: `starts` clamped into the dimension, `ends` clamped to `-1..=dim`
    /// (`-1` only with a negative step: "before index 0").
    Slice {
        starts: Vec<i64>,
        ends: Vec<i64>,
        axes: Vec<usize>,
        steps: Vec<i64>,
    },
    /// The target shape with ONNX's `0` and `-1` resolved (Flatten is a Reshape too).
    Reshape {
        shape: Vec<usize>,
    },
    Transpose {
        perm: Vec<usize>,
    },
    /// `pads` in ONNX order: all begins, then all ends (`2 * rank` entries).
    Pad {
        pads: Vec<usize>,
        mode: PadMode,
        value: f32,
    },
    /// NCHW, height and width only.
    Resize {
        mode: ResizeMode,
        out_hw: [usize; 2],
    },
    /// x, scale, bias, mean, var (all [C] constants).
    BatchNormalization {
        epsilon: f32,
    },
    /// x, scale [C], bias [C] (optional): `x * scale + bias` per channel (axis 1). A lone
    /// BatchNormalization, and Mul/Add by per-channel constants, become this.
    Scale,
    /// x [N, C, H, W] → reshape [N, g, C/g, H, W] → swap axes 1 and 2 → reshape back.
    ChannelShuffle {
        groups: usize,
    },
    /// Shape-computing ops, kept only until constant folding removes them.
    Shape,
    Gather {
        axis: usize,
    },
    Unsqueeze {
        axes: Vec<usize>,
    },
    Squeeze {
        axes: Vec<usize>,
    },
    Cast {
        to: super::DType,
    },
    Identity,
}
