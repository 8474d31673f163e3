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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResizeMode {
    Nearest,
    /// Bilinear with `align_corners`.
    Linear {
        align_corners: bool,
    },
}

/// Inputs by position are given on each variant; optional ones may be absent from `Node::inputs`.
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
    Slice {
        starts: Vec<i64>,
        ends: Vec<i64>,
        axes: Vec<usize>,
        steps: Vec<i64>,
    },
    Reshape {
        shape: Vec<usize>,
    },
    Transpose {
        perm: Vec<usize>,
    },
    Pad {
        pads: Vec<usize>,
        mode: PadMode,
        value: f32,
    },
    Resize {
        mode: ResizeMode,
        out_hw: [usize; 2],
    },
    BatchNormalization {
        epsilon: f32,
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
    Cast,
    Identity,
}
