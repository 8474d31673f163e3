//! The compiler's own graph: what every stage after import reads and rewrites.
//!
//! Tensors live in one arena indexed by [`TensorId`]; a node names its inputs and outputs by id.
//! Constants (weights, shape vectors) are tensors that carry a value. ONNX names are kept on both
//! tensors and nodes because calibration tables, reports and error messages use them.

mod display;
mod graph;
mod op;
pub mod shape;
mod value;

pub use op::{Activation, Op, PadMode, ResizeMode};
pub use shape::ShapeError;

use ndarray::ArrayD;

pub type TensorId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// Every activation; fp16 and fp64 constants are widened to it at import.
    F32,
    /// Shape and index arithmetic only; folded away before quantisation.
    /// Also int32/int8/uint8… constants, widened at import.
    I64,
    Bool,
}

/// A constant's value. Shape-computing tensors stay integer so folding them is exact.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    F32(ArrayD<f32>),
    I64(ArrayD<i64>),
}

/// Calibration result for one activation tensor (the vendor table's `threshold min max`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Calibration {
    pub threshold: f32,
    pub min: f32,
    pub max: f32,
}

#[derive(Clone, Debug)]
pub struct Tensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub dtype: DType,
    /// `Some` for initializers, `Constant` outputs and folded tensors.
    pub value: Option<Value>,
    pub calibration: Option<Calibration>,
}

#[derive(Clone, Debug)]
pub struct Node {
    /// The ONNX node name (or, when empty in the file, its first output's name).
    pub name: String,
    pub op: Op,
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
}

#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub tensors: Vec<Tensor>,
    /// In topological order: every stage may rely on it.
    pub nodes: Vec<Node>,
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
}
