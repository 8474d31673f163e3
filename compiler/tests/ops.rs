//! Every supported op, from small ONNX graphs this test writes itself, run by the compiler's fp32
//! reference (as imported, and after the passes) and by `tract-onnx` on the same bytes.
//! Tolerance: max abs difference relative to the largest magnitude of tract's output, 1e-5 for
//! element-wise and data-movement ops, 1e-4 for ops that sum (conv, matmul, pooling, reductions,
//! softmax, resize) where summation order differs.

use cvsim_compiler::{ir::Graph, onnx, passes, reference};
use ndarray::{ArrayD, IxDyn};
use onnx_protobuf::attribute_proto::AttributeType;
use onnx_protobuf::tensor_proto::DataType;
use onnx_protobuf::{
    tensor_shape_proto, type_proto, AttributeProto, GraphProto, Message, ModelProto, NodeProto, OperatorSetIdProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};
use protobuf::{EnumOrUnknown, MessageField};
use tract_onnx::prelude::*;

const SUM: f32 = 1e-4;
const EXACT: f32 = 1e-5;

enum A {
    I(i64),
    Is(Vec<i64>),
    F(f32),
    S(&'static str),
}

fn node(op: &str, inputs: &[&str], outputs: &[&str], attrs: Vec<(&str, A)>) -> NodeProto {
    let mut n = NodeProto::new();
    n.op_type = op.into();
    n.name = format!("{op}_{}", outputs[0]);
    n.input = inputs.iter().map(|s| s.to_string()).collect();
    n.output = outputs.iter().map(|s| s.to_string()).collect();
    for (name, v) in attrs {
        let mut a = AttributeProto::new();
        a.name = name.into();
        let t = match v {
            A::I(i) => {
                a.i = i;
                AttributeType::INT
            }
            A::Is(v) => {
                a.ints = v;
                AttributeType::INTS
            }
            A::F(f) => {
                a.f = f;
                AttributeType::FLOAT
            }
            A::S(s) => {
                a.s = s.as_bytes().to_vec();
                AttributeType::STRING
            }
        };
        a.type_ = EnumOrUnknown::new(t);
        n.attribute.push(a);
    }
    n
}

fn value_info(name: &str, shape: &[usize]) -> ValueInfoProto {
    let mut s = TensorShapeProto::new();
    for &d in shape {
        let mut dim = tensor_shape_proto::Dimension::new();
        dim.set_dim_value(d as i64);
        s.dim.push(dim);
    }
    let mut tt = type_proto::Tensor::new();
    tt.elem_type = DataType::FLOAT as i32;
    tt.shape = MessageField::some(s);
    let mut t = TypeProto::new();
    t.set_tensor_type(tt);
    let mut v = ValueInfoProto::new();
    v.name = name.into();
    v.type_ = MessageField::some(t);
    v
}

/// Deterministic values in [-scale, scale).
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// A float initializer; `raw` picks raw_data or float_data.
fn init_f32(name: &str, shape: &[usize], data: Vec<f32>, raw: bool) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.dims = shape.iter().map(|&d| d as i64).collect();
    t.data_type = DataType::FLOAT as i32;
    if raw {
        t.raw_data = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    } else {
        t.float_data = data;
    }
    t
}

fn init_i64(name: &str, data: &[i64]) -> TensorProto {
    let mut t = TensorProto::new();
    t.name = name.into();
    t.dims = vec![data.len() as i64];
    t.data_type = DataType::INT64 as i32;
    t.int64_data = data.to_vec();
    t
}

fn rand_init(name: &str, shape: &[usize], seed: u64) -> TensorProto {
    init_f32(name, shape, values(shape.iter().product(), seed, 1.0), seed % 2 == 0)
}

struct Case {
    nodes: Vec<NodeProto>,
    inputs: Vec<(&'static str, Vec<usize>)>,
    outputs: Vec<&'static str>,
    inits: Vec<TensorProto>,
    opset: i64,
}

fn case(
    nodes: Vec<NodeProto>,
    inputs: &[(&'static str, &[usize])],
    outputs: &[&'static str],
    inits: Vec<TensorProto>,
) -> Case {
    Case {
        nodes,
        inputs: inputs.iter().map(|(n, s)| (*n, s.to_vec())).collect(),
        outputs: outputs.to_vec(),
        inits,
        opset: 13,
    }
}

impl Case {
    fn opset(mut self, v: i64) -> Case {
        self.opset = v;
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut g = GraphProto::new();
        g.name = "t".into();
        g.node = self.nodes.clone();
        g.initializer = self.inits.clone();
        g.input = self.inputs.iter().map(|(n, s)| value_info(n, s)).collect();
        g.output = self
            .outputs
            .iter()
            .map(|n| {
                let mut v = ValueInfoProto::new();
                v.name = n.to_string();
                v
            })
            .collect();
        let mut m = ModelProto::new();
        m.ir_version = 8;
        let mut o = OperatorSetIdProto::new();
        o.version = self.opset;
        m.opset_import.push(o);
        m.graph = MessageField::some(g);
        m.write_to_bytes().expect("serialise")
    }

    fn data(&self) -> Vec<(String, ArrayD<f32>)> {
        self.inputs
            .iter()
            .enumerate()
            .map(|(k, (n, s))| {
                (
                    n.to_string(),
                    ArrayD::from_shape_vec(IxDyn(s), values(s.iter().product(), 100 + k as u64, 4.0)).unwrap(),
                )
            })
            .collect()
    }

    /// Runs tract, the reference on the imported graph and after the passes; returns the graph
    /// after the passes.
    fn check(&self, tol: f32) -> Graph {
        let bytes = self.bytes();
        let data = self.data();
        let tract_model = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .expect("tract reads the model")
            .into_optimized()
            .expect("tract optimises")
            .into_runnable()
            .expect("tract plans");
        let tin: TVec<TValue> =
            data.iter().map(|(_, a)| Tensor::from_shape(a.shape(), a.as_slice().unwrap()).unwrap().into()).collect();
        let want = tract_model.run(tin).expect("tract runs");
        let mut g = onnx::import(&bytes, None).expect("import");
        for stage in ["imported", "after passes"] {
            if stage == "after passes" {
                passes::run(&mut g);
            }
            let got = reference::run_with(&g, &data, |_, _| {}).expect("reference runs");
            assert_eq!(want.len(), self.outputs.len(), "tract's outputs");
            for (k, w) in want.iter().enumerate() {
                let w = w.to_plain_array_view::<f32>().expect("f32 output");
                assert_eq!(got[k].shape(), w.shape(), "{stage}: output {k} shape");
                let big = w.iter().fold(1e-6f32, |a, &v| a.max(v.abs()));
                let diff = got[k].iter().zip(w.iter()).fold(0f32, |a, (&x, &y)| a.max((x - y).abs()));
                assert!(diff <= tol * big, "{stage}: output {k}: max abs diff {diff} (largest value {big})\n{g}");
            }
        }
        g
    }
}

fn ops_of(g: &Graph) -> Vec<&'static str> {
    g.nodes.iter().map(|n| n.op.name()).collect()
}

#[test]
fn conv_plain_strided_padded_with_bias() {
    let c = case(
        vec![node(
            "Conv",
            &["x", "w", "b"],
            &["y"],
            vec![
                ("kernel_shape", A::Is(vec![3, 3])),
                ("strides", A::Is(vec![2, 2])),
                ("pads", A::Is(vec![1, 0, 1, 2])),
            ],
        )],
        &[("x", &[1, 3, 9, 10])],
        &["y"],
        vec![rand_init("w", &[4, 3, 3, 3], 1), rand_init("b", &[4], 2)],
    );
    c.check(SUM);
}

#[test]
fn conv_depthwise_dilated_same_upper() {
    let c = case(
        vec![node(
            "Conv",
            &["x", "w"],
            &["y"],
            vec![("group", A::I(4)), ("dilations", A::Is(vec![2, 2])), ("auto_pad", A::S("SAME_UPPER"))],
        )],
        &[("x", &[1, 4, 8, 7])],
        &["y"],
        vec![rand_init("w", &[4, 1, 3, 3], 3)],
    );
    c.check(SUM);
}

#[test]
fn conv_grouped_1x1_and_stride_2_depthwise() {
    let c = case(
        vec![
            node("Conv", &["x", "w"], &["h"], vec![("group", A::I(2))]),
            node(
                "Conv",
                &["h", "w2"],
                &["y"],
                vec![("group", A::I(6)), ("strides", A::Is(vec![2, 2])), ("pads", A::Is(vec![1, 1, 1, 1]))],
            ),
        ],
        &[("x", &[2, 4, 6, 6])],
        &["y"],
        vec![rand_init("w", &[6, 2, 1, 1], 4), rand_init("w2", &[6, 1, 3, 3], 5)],
    );
    c.check(SUM);
}

#[test]
fn conv_transpose_stride_2_and_padded() {
    let c = case(
        vec![
            node("ConvTranspose", &["x", "w", "b"], &["h"], vec![("strides", A::Is(vec![2, 2]))]),
            node(
                "ConvTranspose",
                &["h", "w2"],
                &["y"],
                vec![
                    ("strides", A::Is(vec![2, 2])),
                    ("pads", A::Is(vec![1, 1, 1, 1])),
                    ("output_padding", A::Is(vec![1, 1])),
                ],
            ),
        ],
        &[("x", &[1, 3, 4, 5])],
        &["y"],
        vec![rand_init("w", &[3, 2, 2, 2], 6), rand_init("b", &[2], 7), rand_init("w2", &[2, 3, 3, 3], 8)],
    );
    c.check(SUM);
}

#[test]
fn gemm_transposed_scaled_and_matmul() {
    let c = case(
        vec![
            node(
                "Gemm",
                &["x", "w", "c"],
                &["h"],
                vec![("transB", A::I(1)), ("alpha", A::F(0.5)), ("beta", A::F(2.0))],
            ),
            node("Gemm", &["h", "w2"], &["y"], vec![("transA", A::I(1))]),
            node("MatMul", &["x", "w3"], &["z"], vec![]),
        ],
        &[("x", &[3, 8])],
        &["y", "z"],
        vec![
            rand_init("w", &[5, 8], 9),
            rand_init("c", &[5], 10),
            rand_init("w2", &[3, 4], 11),
            rand_init("w3", &[8, 2], 12),
        ],
    );
    let g = c.check(SUM);
    assert!(ops_of(&g).contains(&"FullyConnected"));
}

#[test]
fn matmul_of_activations_batched() {
    let c = case(
        vec![node("MatMul", &["a", "b"], &["y"], vec![])],
        &[("a", &[2, 3, 4]), ("b", &[2, 4, 5])],
        &["y"],
        vec![],
    );
    c.check(SUM);
}

#[test]
fn binary_ops_broadcast() {
    let c = case(
        vec![
            node("Add", &["a", "b"], &["s"], vec![]),
            node("Sub", &["s", "k"], &["d"], vec![]),
            node("Mul", &["d", "b"], &["m"], vec![]),
            node("Div", &["m", "k"], &["q"], vec![]),
            node("Pow", &["q", "two"], &["y"], vec![]),
        ],
        &[("a", &[2, 3, 4]), ("b", &[3, 1])],
        &["y"],
        vec![init_f32("k", &[4], vec![1.5, -2.0, 3.0, 0.5], false), init_f32("two", &[], vec![2.0], true)],
    );
    c.check(EXACT);
}

#[test]
fn unary_and_activation_ops() {
    let c = case(
        vec![
            node("Relu", &["x"], &["r"], vec![]),
            node("Sqrt", &["r"], &["s"], vec![]),
            node("Exp", &["s"], &["e"], vec![]),
            node("Sigmoid", &["x"], &["g"], vec![]),
            node("Tanh", &["x"], &["t"], vec![]),
            node("LeakyRelu", &["x"], &["l"], vec![("alpha", A::F(0.1))]),
            node("HardSigmoid", &["x"], &["hs"], vec![("alpha", A::F(0.3)), ("beta", A::F(0.4))]),
            node("Clip", &["x", "lo", "hi"], &["c"], vec![]),
            node("Concat", &["e", "g", "t", "l", "hs", "c"], &["y"], vec![("axis", A::I(1))]),
        ],
        &[("x", &[2, 3, 4])],
        &["y"],
        vec![init_f32("lo", &[], vec![-1.0], true), init_f32("hi", &[], vec![2.5], false)],
    );
    c.check(EXACT);
}

#[test]
fn hardswish_op_and_clip_attributes_of_old_opsets() {
    let c = case(vec![node("HardSwish", &["x"], &["y"], vec![])], &[("x", &[1, 2, 3, 5])], &["y"], vec![]).opset(14);
    c.check(EXACT);
    let c = case(
        vec![node("Clip", &["x"], &["y"], vec![("min", A::F(0.0)), ("max", A::F(6.0))])],
        &[("x", &[2, 7])],
        &["y"],
        vec![],
    )
    .opset(9);
    c.check(EXACT);
}

#[test]
fn softmax_and_reduce_mean() {
    let c = case(
        vec![
            node("Softmax", &["x"], &["s"], vec![("axis", A::I(1))]),
            node("ReduceMean", &["s"], &["m"], vec![("axes", A::Is(vec![-1])), ("keepdims", A::I(0))]),
            node("ReduceMean", &["x"], &["y"], vec![("axes", A::Is(vec![1, 2]))]),
        ],
        &[("x", &[2, 5, 3, 4])],
        &["m", "y"],
        vec![],
    );
    c.check(SUM);
}

#[test]
fn pooling() {
    let c = case(
        vec![
            node("GlobalAveragePool", &["x"], &["ga"], vec![]),
            node("GlobalMaxPool", &["x"], &["gm"], vec![]),
            node(
                "AveragePool",
                &["x"],
                &["a0"],
                vec![
                    ("kernel_shape", A::Is(vec![3, 3])),
                    ("strides", A::Is(vec![2, 2])),
                    ("pads", A::Is(vec![1, 1, 1, 1])),
                ],
            ),
            node(
                "AveragePool",
                &["x"],
                &["a1"],
                vec![
                    ("kernel_shape", A::Is(vec![3, 2])),
                    ("pads", A::Is(vec![1, 0, 1, 1])),
                    ("count_include_pad", A::I(1)),
                ],
            ),
            node(
                "AveragePool",
                &["x"],
                &["a2"],
                vec![("kernel_shape", A::Is(vec![2, 2])), ("strides", A::Is(vec![2, 2])), ("ceil_mode", A::I(1))],
            ),
            node(
                "MaxPool",
                &["x"],
                &["m0"],
                vec![
                    ("kernel_shape", A::Is(vec![3, 3])),
                    ("strides", A::Is(vec![2, 2])),
                    ("pads", A::Is(vec![1, 1, 1, 1])),
                ],
            ),
            node(
                "MaxPool",
                &["x"],
                &["m1"],
                vec![("kernel_shape", A::Is(vec![2, 2])), ("strides", A::Is(vec![2, 2])), ("ceil_mode", A::I(1))],
            ),
        ],
        &[("x", &[1, 3, 7, 9])],
        &["ga", "gm", "a0", "a1", "a2", "m0", "m1"],
        vec![],
    );
    c.check(SUM);
}

#[test]
fn data_movement() {
    let c = case(
        vec![
            node("Split", &["x", "sizes"], &["p", "q"], vec![("axis", A::I(1))]),
            node("Transpose", &["q"], &["t"], vec![("perm", A::Is(vec![0, 2, 3, 1]))]),
            node("Reshape", &["t", "shape"], &["r"], vec![]),
            node("Slice", &["p", "st", "en", "ax", "sp"], &["s"], vec![]),
            node("Flatten", &["s"], &["f"], vec![("axis", A::I(2))]),
            node("Unsqueeze", &["f", "uax"], &["u"], vec![]),
            node("Squeeze", &["u", "uax"], &["z"], vec![]),
        ],
        &[("x", &[2, 5, 4, 6])],
        &["r", "z"],
        vec![
            init_i64("sizes", &[2, 3]),
            init_i64("shape", &[0, -1, 3]),
            init_i64("st", &[-1, 1]),
            init_i64("en", &[-100, 6]),
            init_i64("ax", &[2, 3]),
            init_i64("sp", &[-2, 2]),
            init_i64("uax", &[-1]),
        ],
    );
    c.check(EXACT);
}

#[test]
fn pad_modes_and_resize() {
    let c = case(
        vec![
            node("Pad", &["x", "pads", "cv"], &["pc"], vec![]),
            node("Pad", &["x", "pads"], &["pr"], vec![("mode", A::S("reflect"))]),
            node("Pad", &["x", "pads"], &["pe"], vec![("mode", A::S("edge"))]),
            node(
                "Resize",
                &["x", "", "scales"],
                &["rn"],
                vec![
                    ("mode", A::S("nearest")),
                    ("coordinate_transformation_mode", A::S("asymmetric")),
                    ("nearest_mode", A::S("floor")),
                ],
            ),
            node("Resize", &["x", "", "scales"], &["rl"], vec![("mode", A::S("linear"))]),
            node(
                "Resize",
                &["x", "", "scales"],
                &["ra"],
                vec![("mode", A::S("linear")), ("coordinate_transformation_mode", A::S("align_corners"))],
            ),
            node("Resize", &["x", "", "scales"], &["rh"], vec![("mode", A::S("nearest"))]),
        ],
        &[("x", &[1, 2, 4, 5])],
        &["pc", "pr", "pe", "rn", "rl", "ra", "rh"],
        vec![
            init_i64("pads", &[0, 0, 1, 2, 0, 0, 2, 1]),
            init_f32("cv", &[], vec![0.5], true),
            init_f32("scales", &[4], vec![1.0, 1.0, 2.0, 2.0], false),
        ],
    );
    c.check(SUM);
}

#[test]
fn batchnorm_folded_into_conv_and_lone_as_scale() {
    let bn = |n: &str, x: &str, y: &str| {
        node(
            "BatchNormalization",
            &[x, &format!("{n}s"), &format!("{n}b"), &format!("{n}m"), &format!("{n}v")],
            &[y],
            vec![("epsilon", A::F(1e-3))],
        )
    };
    let params = |n: &str, c: usize, seed: u64| {
        vec![
            rand_init(&format!("{n}s"), &[c], seed),
            rand_init(&format!("{n}b"), &[c], seed + 1),
            rand_init(&format!("{n}m"), &[c], seed + 2),
            init_f32(&format!("{n}v"), &[c], values(c, seed + 3, 1.0).iter().map(|v| v.abs() + 0.5).collect(), true),
        ]
    };
    let mut inits = vec![rand_init("w", &[4, 3, 3, 3], 20)];
    inits.extend(params("a", 4, 21));
    inits.extend(params("z", 3, 30));
    let c = case(
        vec![
            node("Conv", &["x", "w"], &["c"], vec![("pads", A::Is(vec![1, 1, 1, 1]))]),
            bn("a", "c", "bn"),
            node("Relu", &["bn"], &["y"], vec![]),
            bn("z", "x", "lone"),
        ],
        &[("x", &[1, 3, 6, 6])],
        &["y", "lone"],
        inits,
    );
    let g = c.check(SUM);
    assert_eq!(ops_of(&g), ["Conv", "Scale"], "{g}");
}

#[test]
fn hardswish_pattern_and_channel_shuffle_and_pad_into_conv() {
    let c = case(
        vec![
            node("Add", &["x", "three"], &["a"], vec![]),
            node("Clip", &["a", "zero", "six"], &["c"], vec![]),
            node("Mul", &["x", "c"], &["m"], vec![]),
            node("Div", &["m", "six"], &["h"], vec![]),
            node("Reshape", &["h", "s5"], &["r1"], vec![]),
            node("Transpose", &["r1"], &["t"], vec![("perm", A::Is(vec![0, 2, 1, 3, 4]))]),
            node("Reshape", &["t", "s4"], &["r2"], vec![]),
            node("Pad", &["r2", "pads"], &["p"], vec![]),
            node("Conv", &["p", "w"], &["y"], vec![]),
        ],
        &[("x", &[1, 4, 5, 5])],
        &["y"],
        vec![
            init_f32("three", &[], vec![3.0], true),
            init_f32("zero", &[], vec![0.0], true),
            init_f32("six", &[], vec![6.0], true),
            init_i64("s5", &[1, 2, 2, 5, 5]),
            init_i64("s4", &[1, 4, 5, 5]),
            init_i64("pads", &[0, 0, 1, 1, 0, 0, 1, 1]),
            rand_init("w", &[3, 4, 3, 3], 40),
        ],
    );
    let g = c.check(SUM);
    assert_eq!(ops_of(&g), ["HardSwish", "ChannelShuffle", "Conv"], "{g}");
}

#[test]
fn shape_subgraph_folds_to_a_reshape() {
    let c = case(
        vec![
            node("Shape", &["x"], &["sh"], vec![]),
            node("Gather", &["sh", "zero"], &["n"], vec![("axis", A::I(0))]),
            node("Unsqueeze", &["n", "ax0"], &["n1"], vec![]),
            node("Concat", &["n1", "minus1"], &["target"], vec![("axis", A::I(0))]),
            node("Reshape", &["x", "target"], &["y"], vec![]),
            node("Identity", &["y"], &["out"], vec![]),
        ],
        &[("x", &[2, 3, 2, 2])],
        &["out"],
        vec![init_i64("ax0", &[0]), init_i64("minus1", &[-1]), {
            let mut t = init_i64("zero", &[0]);
            t.dims = vec![];
            t
        }],
    );
    let g = c.check(EXACT);
    assert_eq!(ops_of(&g), ["Reshape"], "{g}");
    assert_eq!(g.tensors[g.outputs[0]].name, "out");
}

#[test]
fn unsupported_op_names_node_type_and_list() {
    let c = case(vec![node("Erf", &["x"], &["y"], vec![])], &[("x", &[2])], &["y"], vec![]);
    let e = onnx::import(&c.bytes(), None).expect_err("Erf is not supported").to_string();
    assert!(
        e.starts_with("node `Erf_y`: op type `Erf` (domain ``) is not supported; supported: Add, AveragePool,"),
        "{e}"
    );
}

#[test]
fn no_ops_removed_reshapes_merged_and_output_name_kept() {
    let c = case(
        vec![
            node("Dropout", &["x"], &["d"], vec![]),
            node("Cast", &["d"], &["c"], vec![("to", A::I(1))]),
            node("Mul", &["c", "one"], &["m"], vec![]),
            node("Reshape", &["m", "s1"], &["r1"], vec![]),
            node("Reshape", &["r1", "s2"], &["r2"], vec![]),
            node("Transpose", &["r2"], &["t1"], vec![("perm", A::Is(vec![1, 0]))]),
            node("Transpose", &["t1"], &["y"], vec![("perm", A::Is(vec![1, 0]))]),
        ],
        &[("x", &[1, 4, 3, 3])],
        &["y"],
        vec![init_f32("one", &[1], vec![1.0], true), init_i64("s1", &[1, 36]), init_i64("s2", &[4, 9])],
    );
    let g = c.check(EXACT);
    assert_eq!(ops_of(&g), ["Reshape"], "{g}");
    assert_eq!(g.tensors[g.outputs[0]].name, "y");
}

#[test]
fn activation_fused_into_fully_connected_and_conv_bias_add_folded() {
    let c = case(
        vec![
            node("Conv", &["x", "w"], &["c"], vec![]),
            node("Add", &["c", "cb"], &["a"], vec![]),
            node("Clip", &["a", "lo", "hi"], &["r"], vec![]),
            node("Flatten", &["r"], &["f"], vec![]),
            node("MatMul", &["f", "fw"], &["mm"], vec![]),
            node("Add", &["mm", "fb"], &["fa"], vec![]),
            node("Relu", &["fa"], &["y"], vec![]),
        ],
        &[("x", &[2, 3, 4, 4])],
        &["y"],
        vec![
            rand_init("w", &[5, 3, 3, 3], 50),
            rand_init("cb", &[1, 5, 1, 1], 51),
            init_f32("lo", &[], vec![0.0], true),
            init_f32("hi", &[], vec![6.0], true),
            rand_init("fw", &[20, 7], 52),
            rand_init("fb", &[7], 53),
        ],
    );
    let g = c.check(SUM);
    assert_eq!(ops_of(&g), ["Conv", "Reshape", "FullyConnected"], "{g}");
    assert_eq!(g.to_string().matches("act=").count(), 2, "{g}");
}

#[test]
fn pointwise_convolutions_in_a_row_merge_into_one() {
    // A padded, strided 1×1 projection without activation, then a 1×1 expansion with ReLU: one
    // convolution with the first one's geometry. A 1×1 convolution whose output a second reader
    // also reads stays.
    let c = case(
        vec![
            node(
                "Conv",
                &["x", "w1", "b1"],
                &["p"],
                vec![("pads", A::Is(vec![1, 0, 1, 0])), ("strides", A::Is(vec![2, 2]))],
            ),
            node("Conv", &["p", "w2", "b2"], &["e"], vec![]),
            node("Relu", &["e"], &["y"], vec![]),
            node("Conv", &["x", "w3"], &["q"], vec![]),
            node("Conv", &["q", "w4"], &["z"], vec![]),
            node("Add", &["q", "q"], &["z2"], vec![]),
        ],
        &[("x", &[1, 6, 7, 7])],
        &["y", "z", "z2"],
        vec![
            rand_init("w1", &[4, 6, 1, 1], 40),
            rand_init("b1", &[4], 41),
            rand_init("w2", &[9, 4, 1, 1], 42),
            rand_init("b2", &[9], 43),
            rand_init("w3", &[4, 6, 1, 1], 44),
            rand_init("w4", &[5, 4, 1, 1], 45),
        ],
    );
    let g = c.check(SUM);
    assert_eq!(ops_of(&g), ["Conv", "Conv", "Conv", "Add"], "{g}");
}
