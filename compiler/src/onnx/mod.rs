//! ONNX import: a `.onnx` file (IR versions 3 to 10, default-domain opsets 7 to 21) into an
//! [`ir::Graph`](crate::ir::Graph), with every attribute normalised, every tensor's shape inferred
//! and every node whose inputs are all constant evaluated on the spot (so shape subgraphs become
//! the constants the ops after them read as attributes).

mod attrs;
mod ops;
pub mod tensor;
pub mod write;

use crate::ir::{DType, Graph, Node, Op, TensorId, Value};
use crate::reference::fold;
use onnx_protobuf::{Message, ModelProto};
use std::collections::HashMap;
use std::path::Path;

/// The ONNX op types the importer accepts.
pub const SUPPORTED: &[&str] = &[
    "Add",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "ConvTranspose",
    "Div",
    "Dropout",
    "Exp",
    "Flatten",
    "Gather",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "LeakyRelu",
    "MatMul",
    "MaxPool",
    "Mul",
    "Pad",
    "Pow",
    "ReduceMean",
    "Relu",
    "Reshape",
    "Resize",
    "Shape",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Tanh",
    "Transpose",
    "Unsqueeze",
];

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {msg}")]
    Io { path: String, msg: String },
    #[error("not a valid ONNX model: {0}")]
    Decode(String),
    #[error("ONNX IR version {0} is not supported (3 to 10)")]
    IrVersion(i64),
    #[error("opset {0} of the default domain is not supported (7 to 21)")]
    Opset(i64),
    #[error("node `{node}`: op type `{op_type}` (domain `{domain}`) is not supported; supported: {}", SUPPORTED.join(", "))]
    Unsupported { node: String, op_type: String, domain: String },
    #[error("node `{node}` ({op_type}): {msg}")]
    Node { node: String, op_type: String, msg: String },
    #[error("initializer `{name}`: {msg}")]
    Initializer { name: String, msg: String },
    #[error("input `{name}`: {msg}")]
    Input { name: String, msg: String },
    #[error("graph output `{0}` is produced by no node")]
    MissingOutput(String),
}

/// Reads and imports an ONNX file; `input_shapes` fixes the graph inputs' shapes in order
/// (needed when a dimension is dynamic).
pub fn import_file(path: &Path, input_shapes: Option<&[Vec<usize>]>) -> Result<Graph, ImportError> {
    let bytes =
        std::fs::read(path).map_err(|e| ImportError::Io { path: path.display().to_string(), msg: e.to_string() })?;
    import(&bytes, input_shapes)
}

/// Imports an ONNX model from its serialised bytes.
pub fn import(bytes: &[u8], input_shapes: Option<&[Vec<usize>]>) -> Result<Graph, ImportError> {
    let model = ModelProto::parse_from_bytes(bytes).map_err(|e| ImportError::Decode(e.to_string()))?;
    if !(3..=10).contains(&model.ir_version) {
        return Err(ImportError::IrVersion(model.ir_version));
    }
    let opset =
        model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map_or(1, |o| o.version);
    if !(7..=21).contains(&opset) {
        return Err(ImportError::Opset(opset));
    }
    let graph = model.graph.as_ref().ok_or_else(|| ImportError::Decode("the model has no graph".into()))?;
    let mut b = Builder { g: Graph::default(), names: HashMap::new(), opset };
    for init in &graph.initializer {
        let v = tensor::decode(init).map_err(|msg| ImportError::Initializer { name: init.name.clone(), msg })?;
        let id = b.g.add_const(init.name.clone(), v);
        b.names.insert(init.name.clone(), id);
    }
    let real_inputs: Vec<_> = graph.input.iter().filter(|i| !b.names.contains_key(&i.name)).collect();
    if let Some(shapes) = input_shapes {
        if shapes.len() != real_inputs.len() {
            return Err(ImportError::Input {
                name: real_inputs.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(","),
                msg: format!(
                    "--input-shapes gives {} shapes, the model has {} inputs",
                    shapes.len(),
                    real_inputs.len()
                ),
            });
        }
    }
    for (k, input) in real_inputs.iter().enumerate() {
        let err = |msg: String| ImportError::Input { name: input.name.clone(), msg };
        let tt = input
            .type_
            .as_ref()
            .and_then(|t| t.has_tensor_type().then(|| t.tensor_type()))
            .ok_or_else(|| err("not a tensor".into()))?;
        let dtype = tensor::dtype_of(tt.elem_type).map_err(err)?;
        let dims = tt.shape.as_ref().map(|s| s.dim.as_slice()).unwrap_or_default();
        let given = input_shapes.map(|s| &s[k]);
        if let Some(g) = given {
            if g.len() != dims.len() && !dims.is_empty() {
                return Err(err(format!("--input-shapes gives {g:?}, the model's input has rank {}", dims.len())));
            }
        }
        let mut shape = Vec::with_capacity(dims.len());
        for (i, d) in dims.iter().enumerate() {
            let fixed = (d.has_dim_value() && d.dim_value() > 0).then(|| d.dim_value() as usize);
            shape.push(match (fixed, given) {
                (Some(v), Some(g)) if g[i] != v => {
                    return Err(err(format!("dimension {i} is {v} in the model, --input-shapes gives {}", g[i])))
                }
                (_, Some(g)) => g[i],
                (Some(v), None) => v,
                (None, None) => {
                    let p = if d.has_dim_param() { d.dim_param().to_string() } else { "?".into() };
                    return Err(err(format!("dimension {i} is dynamic (`{p}`); fix it with --input-shapes")));
                }
            });
        }
        if dims.is_empty() {
            if let Some(g) = given {
                shape = g.clone();
            }
        }
        if shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).is_none_or(|n| n > crate::ir::shape::MAX_ELEMENTS) {
            return Err(err(format!("shape {shape:?} is too large")));
        }
        let id = b.g.add_tensor(input.name.clone(), shape, dtype);
        b.g.inputs.push(id);
        b.names.insert(input.name.clone(), id);
    }
    for node in &graph.node {
        b.convert(node)?;
    }
    for o in &graph.output {
        let id = *b.names.get(&o.name).ok_or_else(|| ImportError::MissingOutput(o.name.clone()))?;
        b.g.outputs.push(id);
    }
    Ok(b.g)
}

/// The graph being built and the ONNX names bound so far.
pub(crate) struct Builder {
    g: Graph,
    names: HashMap<String, TensorId>,
    opset: i64,
}

impl Builder {
    /// Adds `op` reading `inputs` and writing tensors named `outputs`: infers their shapes, and
    /// evaluates it instead when every input is constant.
    fn emit(&mut self, node: &str, op: Op, inputs: Vec<TensorId>, outputs: &[String]) -> Result<Vec<TensorId>, String> {
        let shapes: Vec<&[usize]> = inputs.iter().map(|&t| self.g.tensors[t].shape.as_slice()).collect();
        let out_shapes = op.infer(&shapes, outputs.len()).map_err(|e| e.0)?;
        let dtype = op.out_dtype(inputs.first().map_or(DType::F32, |&t| self.g.tensors[t].dtype));
        let folded = if inputs.iter().all(|&t| self.g.tensors[t].is_const()) {
            let vals: Vec<&Value> = inputs.iter().filter_map(|&t| self.g.value(t)).collect();
            fold::fold(&op, &vals, &out_shapes)?
        } else {
            None
        };
        let mut ids = Vec::with_capacity(outputs.len());
        match folded {
            Some(values) => {
                for (name, v) in outputs.iter().zip(values) {
                    ids.push(self.g.add_const(name.clone(), v));
                }
            }
            None => {
                for (name, s) in outputs.iter().zip(out_shapes) {
                    ids.push(self.g.add_tensor(name.clone(), s, dtype));
                }
                self.g.nodes.push(Node { name: node.to_string(), op, inputs, outputs: ids.clone() });
            }
        }
        for (name, &id) in outputs.iter().zip(&ids) {
            self.names.insert(name.clone(), id);
        }
        Ok(ids)
    }

    /// Binds an ONNX name to a constant.
    fn constant(&mut self, name: &str, v: Value) -> TensorId {
        let id = self.g.add_const(name.to_string(), v);
        self.names.insert(name.to_string(), id);
        id
    }
}
