//! Writing ONNX models: the graphs cvsim makes itself (the bundled example, tests) as real
//! `.onnx` bytes, so they go through the same import as a user's model.

use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::{
    tensor_shape_proto, type_proto, AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use protobuf::{EnumOrUnknown, MessageField};

/// A node attribute value.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
}

/// An ONNX graph being written: fp32 inputs, initializers and outputs, nodes in order.
#[derive(Clone, Debug, Default)]
pub struct ModelWriter {
    graph: GraphProto,
}

fn value_info(name: &str, shape: Option<&[usize]>) -> ValueInfoProto {
    let mut v = ValueInfoProto::new();
    v.name = name.into();
    if let Some(shape) = shape {
        let mut tt = type_proto::Tensor::new();
        tt.elem_type = DataType::FLOAT as i32;
        let mut s = TensorShapeProto::new();
        for &d in shape {
            let mut dim = tensor_shape_proto::Dimension::new();
            dim.value = Some(tensor_shape_proto::dimension::Value::DimValue(d as i64));
            s.dim.push(dim);
        }
        tt.shape = MessageField::some(s);
        let mut t = TypeProto::new();
        t.value = Some(type_proto::Value::TensorType(tt));
        v.type_ = MessageField::some(t);
    }
    v
}

impl ModelWriter {
    pub fn new(name: &str) -> ModelWriter {
        let mut graph = GraphProto::new();
        graph.name = name.into();
        ModelWriter { graph }
    }

    pub fn input(&mut self, name: &str, shape: &[usize]) -> &mut Self {
        self.graph.input.push(value_info(name, Some(shape)));
        self
    }

    pub fn output(&mut self, name: &str) -> &mut Self {
        self.graph.output.push(value_info(name, None));
        self
    }

    /// An fp32 initializer (raw little-endian data).
    pub fn constant(&mut self, name: &str, shape: &[usize], values: &[f32]) -> &mut Self {
        let mut t = TensorProto::new();
        t.name = name.into();
        t.dims = shape.iter().map(|&d| d as i64).collect();
        t.data_type = DataType::FLOAT as i32;
        t.raw_data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.graph.initializer.push(t);
        self
    }

    /// An int64 initializer (shapes, axes).
    pub fn constant_i64(&mut self, name: &str, values: &[i64]) -> &mut Self {
        let mut t = TensorProto::new();
        t.name = name.into();
        t.dims = vec![values.len() as i64];
        t.data_type = DataType::INT64 as i32;
        t.int64_data = values.to_vec();
        self.graph.initializer.push(t);
        self
    }

    pub fn node(
        &mut self,
        op: &str,
        name: &str,
        inputs: &[&str],
        outputs: &[&str],
        attrs: &[(&str, Attr)],
    ) -> &mut Self {
        let mut n = NodeProto::new();
        n.op_type = op.into();
        n.name = name.into();
        n.input = inputs.iter().map(|s| s.to_string()).collect();
        n.output = outputs.iter().map(|s| s.to_string()).collect();
        for (key, v) in attrs {
            let mut a = AttributeProto::new();
            a.name = (*key).into();
            let t = match v {
                Attr::Int(i) => {
                    a.i = *i;
                    AttributeType::INT
                }
                Attr::Ints(v) => {
                    a.ints = v.clone();
                    AttributeType::INTS
                }
                Attr::Float(f) => {
                    a.f = *f;
                    AttributeType::FLOAT
                }
            };
            a.type_ = EnumOrUnknown::new(t);
            n.attribute.push(a);
        }
        self.graph.node.push(n);
        self
    }

    /// The model file: IR version 8, the default domain at `opset`.
    pub fn to_bytes(&self, opset: i64) -> Vec<u8> {
        let mut m = ModelProto::new();
        m.ir_version = 8;
        m.producer_name = "cvsim".into();
        let mut o = OperatorSetIdProto::new();
        o.version = opset;
        m.opset_import.push(o);
        m.graph = MessageField::some(self.graph.clone());
        m.write_to_bytes().expect("an in-memory protobuf message always serialises")
    }
}
