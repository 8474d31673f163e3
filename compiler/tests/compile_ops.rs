//! Every op the quantisers lower, from small ONNX graphs this test writes itself: calibrated on
//! seeded samples, compiled to int8 and to bf16, run in the emulator through the runtime, and
//! compared with `tract-onnx` running the same ONNX bytes in fp32.
//!
//! Bounds (cosine of the model's output against tract's): int8 0.99 for ops whose int8 form is
//! exact up to one rounding per layer, 0.98 where a lookup table or a chain of two requantisations
//! meets inputs spread over the whole int8 range (noted per case); bf16 0.9995 (bf16 keeps 8
//! significant bits: a single rounding is within 2^-9 relative).

use cvsim_compiler::calibration::{self, Sample, TuneOptions};
use cvsim_compiler::codegen::Routine;
use cvsim_compiler::driver::{self, Precision};
use cvsim_compiler::lower::{Chip, Layer};
use cvsim_compiler::onnx::write::{Attr, ModelWriter};
use cvsim_runtime::session::{Instance, LoadedModel};
use cvsim_runtime::Model;
use ndarray::{ArrayD, IxDyn};
use tract_onnx::prelude::*;

const INT8: f64 = 0.99;
const INT8_LUT: f64 = 0.98;
const BF16: f64 = 0.9995;

struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
    }

    fn vec(&mut self, n: usize, bound: f32) -> Vec<f32> {
        (0..n).map(|_| self.next() * bound).collect()
    }
}

/// One graph: its input shape, how to write its body, and the int8 bound.
struct Case {
    name: &'static str,
    input: Vec<usize>,
    int8_bound: Option<f64>,
    bf16: bool,
    build: fn(&mut ModelWriter, &mut SplitMix),
}

fn conv(
    m: &mut ModelWriter,
    r: &mut SplitMix,
    name: &str,
    x: &str,
    oc: usize,
    ic: usize,
    k: usize,
    attrs: &[(&str, Attr)],
    out: &str,
) {
    let fan = ic * k * k;
    m.constant(&format!("{name}.w"), &[oc, ic, k, k], &r.vec(oc * fan, (3.0 / fan as f32).sqrt()));
    m.constant(&format!("{name}.b"), &[oc], &r.vec(oc, 0.2));
    m.node("Conv", name, &[x, &format!("{name}.w"), &format!("{name}.b")], &[out], attrs);
}

fn ks(v: &[i64]) -> Attr {
    Attr::Ints(v.to_vec())
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "conv3x3_relu",
            input: vec![1, 8, 20, 20],
            int8_bound: Some(INT8),
            bf16: true,
            build: |m, r| {
                conv(m, r, "c", "x", 16, 8, 3, &[("kernel_shape", ks(&[3, 3])), ("pads", ks(&[1, 1, 1, 1]))], "c");
                m.node("Relu", "relu", &["c"], &["y"], &[]);
            },
        },
        Case {
            name: "conv_stride2_asymmetric_pads",
            input: vec![1, 3, 33, 31],
            int8_bound: Some(INT8),
            bf16: true,
            build: |m, r| {
                conv(
                    m,
                    r,
                    "c",
                    "x",
                    8,
                    3,
                    3,
                    &[("kernel_shape", ks(&[3, 3])), ("pads", ks(&[0, 1, 1, 0])), ("strides", ks(&[2, 2]))],
                    "y",
                );
            },
        },
        Case {
            name: "conv_dilation2",
            input: vec![1, 4, 16, 16],
            int8_bound: Some(INT8),
            bf16: true,
            build: |m, r| {
                conv(
                    m,
                    r,
                    "c",
                    "x",
                    4,
                    4,
                    3,
                    &[("kernel_shape", ks(&[3, 3])), ("pads", ks(&[2, 2, 2, 2])), ("dilations", ks(&[2, 2]))],
                    "y",
                );
            },
        },
        Case {
            name: "pointwise_relu6",
            input: vec![1, 32, 12, 12],
            int8_bound: Some(INT8),
            bf16: true,
            build: |m, r| {
                conv(m, r, "c", "x", 48, 32, 1, &[("kernel_shape", ks(&[1, 1]))], "c");
                m.constant("lo", &[], &[0.0]).constant("hi", &[], &[6.0]);
                m.node("Clip", "relu6", &["c", "lo", "hi"], &["y"], &[]);
            },
        },
        Case {
            name: "depthwise5x5_batchnorm",
            input: vec![1, 24, 14, 14],
            int8_bound: Some(INT8),
            bf16: true,
            build: |m, r| {
                m.constant("dw.w", &[24, 1, 5, 5], &r.vec(24 * 25, 0.35));
                m.node(
                    "Conv",
                    "dw",
                    &["x", "dw.w"],
                    &["d"],
                    &[("kernel_shape", ks(&[5, 5])), ("pads", ks(&[2, 2, 2, 2])), ("group", Attr::Int(24))],
                );
                let (g, b, mu) =
                    (r.vec(24, 0.3).iter().map(|v| 1.0 + v).collect::<Vec<_>>(), r.vec(24, 0.2), r.vec(24, 0.2));
                let var: Vec<f32> = r.vec(24, 0.5).iter().map(|v| 1.0 + v.abs()).collect();
                m.constant("g", &[24], &g).constant("b", &[24], &b).constant("mu", &[24], &mu).constant(
                    "var",
                    &[24],
                    &var,
                );
                m.node("BatchNormalization", "bn", &["d", "g", "b", "mu", "var"], &["y"], &[]);
            },
        },
        Case {
            name: "depthwise3x3_stride2",
            input: vec![1, 16, 15, 15],
            int8_bound: Some(INT8),
            bf16: true,
            build: |m, r| {
                m.constant("dw.w", &[16, 1, 3, 3], &r.vec(16 * 9, 0.5));
                m.node(
                    "Conv",
                    "dw",
                    &["x", "dw.w"],
                    &["y"],
                    &[
                        ("kernel_shape", ks(&[3, 3])),
                        ("pads", ks(&[1, 1, 1, 1])),
                        ("strides", ks(&[2, 2])),
                        ("group", Attr::Int(16)),
                    ],
                );
            },
        },
        Case {
            name: "gemm",
            input: vec![1, 64],
            int8_bound: Some(INT8),
            bf16: true,
            build: |m, r| {
                m.constant("w", &[10, 64], &r.vec(640, 0.2)).constant("b", &[10], &r.vec(10, 0.1));
                m.node("Gemm", "fc", &["x", "w", "b"], &["y"], &[("transB", Attr::Int(1))]);
            },
        },
        Case {
            name: "matmul_by_constant_add",
            input: vec![1, 32],
            int8_bound: Some(INT8),
            bf16: true,
            build: |m, r| {
                m.constant("w", &[32, 12], &r.vec(384, 0.3)).constant("b", &[12], &r.vec(12, 0.1));
                m.node("MatMul", "mm", &["x", "w"], &["t"], &[]);
                m.node("Add", "bias", &["t", "b"], &["y"], &[]);
            },
        },
        Case {
            name: "add_relu_residual",
            input: vec![1, 8, 10, 10],
            int8_bound: Some(INT8),
            bf16: true,
            build: |m, r| {
                conv(m, r, "c", "x", 8, 8, 3, &[("kernel_shape", ks(&[3, 3])), ("pads", ks(&[1, 1, 1, 1]))], "c");
                m.node("Add", "add", &["x", "c"], &["s"], &[]);
                m.node("Relu", "relu", &["s"], &["y"], &[]);
            },
        },
        Case {
            name: "sub",
            input: vec![1, 8, 10, 10],
            int8_bound: Some(INT8),
            bf16: false,
            build: |m, r| {
                conv(m, r, "c", "x", 8, 8, 1, &[("kernel_shape", ks(&[1, 1]))], "c");
                m.node("Sub", "sub", &["x", "c"], &["y"], &[]);
            },
        },
        // Squeeze-excite: a per-channel factor from the activations themselves.
        Case {
            name: "mul_per_channel_broadcast",
            input: vec![1, 16, 8, 8],
            int8_bound: Some(INT8_LUT),
            bf16: true,
            build: |m, r| {
                m.node("GlobalAveragePool", "gap", &["x"], &["p"], &[]);
                conv(m, r, "c", "p", 16, 16, 1, &[("kernel_shape", ks(&[1, 1]))], "c");
                m.node("HardSigmoid", "hs", &["c"], &["s"], &[("alpha", Attr::Float(0.2)), ("beta", Attr::Float(0.5))]);
                m.node("Mul", "mul", &["x", "s"], &["y"], &[]);
            },
        },
        Case {
            name: "mul_same_shape",
            input: vec![1, 8, 6, 6],
            int8_bound: Some(INT8),
            bf16: true,
            build: |m, r| {
                conv(m, r, "c", "x", 8, 8, 1, &[("kernel_shape", ks(&[1, 1]))], "c");
                m.node("Mul", "mul", &["x", "c"], &["y"], &[]);
            },
        },
        Case {
            name: "mul_add_constants",
            input: vec![1, 6, 7, 7],
            int8_bound: Some(INT8),
            bf16: true,
            build: |m, r| {
                m.constant("s", &[1, 6, 1, 1], &r.vec(6, 2.0)).constant("b", &[1, 6, 1, 1], &r.vec(6, 1.0)).constant(
                    "k",
                    &[],
                    &[0.75],
                );
                m.node("Mul", "scale", &["x", "s"], &["a"], &[]);
                m.node("Add", "shift", &["a", "b"], &["c"], &[]);
                m.node("Mul", "scalar", &["c", "k"], &["y"], &[]);
            },
        },
        Case {
            name: "hardswish",
            input: vec![1, 8, 9, 9],
            int8_bound: Some(INT8_LUT),
            bf16: true,
            build: |m, _| {
                m.node("HardSwish", "hs", &["x"], &["y"], &[]);
            },
        },
        Case {
            name: "hardswish_pattern",
            input: vec![1, 8, 9, 9],
            int8_bound: Some(INT8_LUT),
            bf16: true,
            build: |m, _| {
                m.constant("three", &[], &[3.0]).constant("zero", &[], &[0.0]).constant("six", &[], &[6.0]);
                m.node("Add", "a", &["x", "three"], &["a"], &[]);
                m.node("Clip", "c", &["a", "zero", "six"], &["c"], &[]);
                m.node("Mul", "m", &["x", "c"], &["p"], &[]);
                m.node("Div", "d", &["p", "six"], &["y"], &[]);
            },
        },
        // bf16 stores these HardSwish/HardSigmoid outputs times 6 and the readers divide it out.
        Case {
            name: "hardswish_into_conv",
            input: vec![1, 8, 9, 9],
            int8_bound: Some(INT8_LUT),
            bf16: true,
            build: |m, r| {
                conv(m, r, "c1", "x", 8, 8, 3, &[("kernel_shape", ks(&[3, 3])), ("pads", ks(&[1, 1, 1, 1]))], "a");
                m.node("HardSwish", "hs", &["a"], &["h"], &[]);
                conv(m, r, "c2", "h", 8, 8, 1, &[("kernel_shape", ks(&[1, 1]))], "y");
            },
        },
        Case {
            name: "squeeze_excite_scaled",
            input: vec![1, 16, 8, 8],
            int8_bound: Some(INT8_LUT),
            bf16: true,
            build: |m, r| {
                m.node("HardSwish", "hs", &["x"], &["h"], &[]);
                m.node("GlobalAveragePool", "gap", &["h"], &["p"], &[]);
                conv(m, r, "c1", "p", 16, 16, 1, &[("kernel_shape", ks(&[1, 1]))], "c");
                m.node("Relu", "relu", &["c"], &["cr"], &[]);
                conv(m, r, "c2", "cr", 16, 16, 1, &[("kernel_shape", ks(&[1, 1]))], "d");
                m.node(
                    "HardSigmoid",
                    "sig",
                    &["d"],
                    &["s"],
                    &[("alpha", Attr::Float(1.0 / 6.0)), ("beta", Attr::Float(0.5))],
                );
                m.node("Mul", "mul", &["h", "s"], &["e"], &[]);
                conv(m, r, "c3", "e", 8, 16, 1, &[("kernel_shape", ks(&[1, 1]))], "y");
            },
        },
        // One reader (the Add) cannot divide a scale out: this HardSwish stays unscaled.
        Case {
            name: "hardswish_into_conv_and_add",
            input: vec![1, 8, 9, 9],
            int8_bound: Some(INT8_LUT),
            bf16: true,
            build: |m, r| {
                m.node("HardSwish", "hs", &["x"], &["h"], &[]);
                conv(m, r, "c", "h", 8, 8, 1, &[("kernel_shape", ks(&[1, 1]))], "c");
                m.node("Add", "add", &["h", "c"], &["y"], &[]);
            },
        },
        Case {
            name: "sigmoid",
            input: vec![1, 8, 9, 9],
            int8_bound: Some(INT8_LUT),
            bf16: true,
            build: |m, _| {
                m.node("Sigmoid", "s", &["x"], &["y"], &[]);
            },
        },
        Case {
            name: "tanh",
            input: vec![1, 8, 9, 9],
            int8_bound: Some(INT8_LUT),
            bf16: true,
            build: |m, _| {
                m.node("Tanh", "t", &["x"], &["y"], &[]);
            },
        },
        // SiLU as exporters write it (YOLO): x · sigmoid(x), after a convolution.
        Case {
            name: "silu_after_conv",
            input: vec![1, 8, 10, 10],
            int8_bound: Some(INT8_LUT),
            bf16: true,
            build: |m, r| {
                conv(m, r, "c", "x", 16, 8, 3, &[("kernel_shape", ks(&[3, 3])), ("pads", ks(&[1, 1, 1, 1]))], "c");
                m.node("Sigmoid", "s", &["c"], &["s"], &[]);
                m.node("Mul", "m", &["c", "s"], &["y"], &[]);
            },
        },
        Case {
            name: "exp",
            input: vec![1, 8, 9, 9],
            int8_bound: Some(INT8_LUT),
            bf16: true,
            build: |m, _| {
                m.node("Exp", "e", &["x"], &["y"], &[]);
            },
        },
        Case {
            name: "leaky_relu",
            input: vec![1, 8, 9, 9],
            int8_bound: Some(INT8_LUT),
            bf16: true,
            build: |m, _| {
                m.node("LeakyRelu", "l", &["x"], &["y"], &[("alpha", Attr::Float(0.1))]);
            },
        },
        Case {
            name: "maxpool_3x3_stride2_pad",
            input: vec![1, 8, 17, 17],
            int8_bound: Some(INT8),
            bf16: true,
            build: |m, _| {
                m.node(
                    "MaxPool",
                    "p",
                    &["x"],
                    &["y"],
                    &[("kernel_shape", ks(&[3, 3])), ("strides", ks(&[2, 2])), ("pads", ks(&[1, 1, 1, 1]))],
                );
            },
        },
        Case {
            name: "avgpool_2x2",
            input: vec![1, 8, 16, 16],
            int8_bound: Some(INT8),
            bf16: true,
            build: |m, _| {
                m.node("AveragePool", "p", &["x"], &["y"], &[("kernel_shape", ks(&[2, 2])), ("strides", ks(&[2, 2]))]);
            },
        },
        Case {
            name: "global_average_pool_and_reduce_mean",
            input: vec![1, 32, 7, 7],
            int8_bound: Some(INT8),
            bf16: true,
            build: |m, _| {
                m.node("GlobalAveragePool", "gap", &["x"], &["g"], &[]);
                m.node("ReduceMean", "rm", &["x"], &["r"], &[("axes", ks(&[2, 3])), ("keepdims", Attr::Int(1))]);
                m.node("Add", "sum", &["g", "r"], &["y"], &[]);
            },
        },
        Case {
            name: "concat_different_scales",
            input: vec![1, 8, 8, 8],
            int8_bound: Some(INT8),
            bf16: true,
            build: |m, r| {
                conv(m, r, "a", "x", 8, 8, 1, &[("kernel_shape", ks(&[1, 1]))], "a");
                m.constant("k", &[], &[3.0]);
                m.node("Mul", "big", &["x", "k"], &["b"], &[]);
                m.node("Concat", "cat", &["a", "b"], &["y"], &[("axis", Attr::Int(1))]);
            },
        },
        Case {
            name: "split_and_channel_shuffle",
            input: vec![1, 16, 6, 6],
            int8_bound: Some(INT8),
            bf16: true,
            build: |m, r| {
                m.constant_i64("sizes", &[8, 8]);
                m.node("Split", "split", &["x", "sizes"], &["a", "b"], &[("axis", Attr::Int(1))]);
                conv(m, r, "c", "b", 8, 8, 1, &[("kernel_shape", ks(&[1, 1]))], "c");
                m.node("Relu", "relu", &["c"], &["d"], &[]);
                m.node("Concat", "cat", &["a", "d"], &["e"], &[("axis", Attr::Int(1))]);
                m.constant_i64("s1", &[1, 2, 8, 6, 6]).constant_i64("s2", &[1, 16, 6, 6]);
                m.node("Reshape", "r1", &["e", "s1"], &["f"], &[]);
                m.node("Transpose", "t", &["f"], &["g"], &[("perm", ks(&[0, 2, 1, 3, 4]))]);
                m.node("Reshape", "r2", &["g", "s2"], &["y"], &[]);
            },
        },
        Case {
            name: "slice_channels",
            input: vec![1, 12, 5, 5],
            int8_bound: Some(INT8),
            bf16: true,
            build: |m, _| {
                m.constant_i64("st", &[4]).constant_i64("en", &[10]).constant_i64("ax", &[1]);
                m.node("Slice", "s", &["x", "st", "en", "ax"], &["y"], &[]);
            },
        },
        Case {
            name: "flatten_gemm_softmax",
            input: vec![1, 16, 4, 4],
            int8_bound: Some(INT8),
            bf16: true,
            build: |m, r| {
                m.node("GlobalAveragePool", "gap", &["x"], &["g"], &[]);
                m.node("Flatten", "f", &["g"], &["f"], &[("axis", Attr::Int(1))]);
                m.constant("w", &[6, 16], &r.vec(96, 1.0)).constant("b", &[6], &r.vec(6, 0.5));
                m.node("Gemm", "fc", &["f", "w", "b"], &["l"], &[("transB", Attr::Int(1))]);
                m.node("Softmax", "sm", &["l"], &["y"], &[("axis", Attr::Int(1))]);
            },
        },
    ]
}

fn onnx_bytes(case: &Case) -> Vec<u8> {
    let mut m = ModelWriter::new(case.name);
    m.input("x", &case.input).output("y");
    let mut r = SplitMix(0xC0FFEE ^ case.name.len() as u64);
    (case.build)(&mut m, &mut r);
    m.to_bytes(13)
}

fn samples(case: &Case, seed: u64, n: usize) -> Vec<Sample> {
    let mut r = SplitMix(seed);
    let count: usize = case.input.iter().product();
    (0..n)
        .map(|k| Sample {
            label: format!("sample {k}"),
            inputs: vec![("x".into(), ArrayD::from_shape_vec(IxDyn(&case.input), r.vec(count, 2.0)).unwrap())],
        })
        .collect()
}

fn tract_output(bytes: &[u8], x: &ArrayD<f32>) -> Vec<f32> {
    let model = tract_onnx::onnx()
        .model_for_read(&mut &bytes[..])
        .expect("tract reads the model")
        .into_optimized()
        .expect("tract optimises")
        .into_runnable()
        .expect("tract plans");
    let out =
        model.run(tvec![Tensor::from_shape(x.shape(), x.as_slice().unwrap()).unwrap().into()]).expect("tract runs");
    out[0].to_plain_array_view::<f32>().expect("fp32 output").iter().copied().collect()
}

fn run_model(bytes: &[u8], x: &ArrayD<f32>) -> Vec<f32> {
    let loaded = LoadedModel::new(Model::from_bytes(bytes).expect("the model loads")).expect("the model loads");
    let mut inst = Instance::new(loaded, 0).expect("an instance");
    let data: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
    inst.set_input("x", &data).expect("input");
    inst.forward().expect("forward");
    inst.tensor_bytes("y")
        .expect("output")
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

#[test]
fn every_op_compiles_and_runs_close_to_tract() {
    let opts = calibration::Options { progress: false, threads: 1, ..calibration::Options::default() };
    let tune = TuneOptions { samples: 2, ..TuneOptions::default() };
    let mut failures = Vec::new();
    for case in cases() {
        let bytes = onnx_bytes(&case);
        let test = samples(&case, 0x7E57, 1).remove(0).inputs.remove(0).1;
        let want = tract_output(&bytes, &test);
        let (table, _) = driver::calibration_table(&bytes, None, case.name, &samples(&case, 1, 6), &opts, &tune)
            .unwrap_or_else(|e| panic!("{}: calibration: {e}", case.name));
        let mut g = driver::frontend(&bytes, None).unwrap_or_else(|e| panic!("{}: {e}", case.name));
        driver::apply_table(&table, &mut g, &bytes, None).unwrap();
        let precisions = [(Precision::Int8, case.int8_bound), (Precision::Bf16, case.bf16.then_some(BF16))];
        for (precision, bound) in precisions {
            let Some(bound) = bound else { continue };
            // Each chip's lowering differs (lanes, local memory): int8 on all four, bf16 on two.
            let chips: &[Chip] = match precision {
                Precision::Int8 => &[Chip::Cv180x, Chip::Cv181x, Chip::Cv182x, Chip::Cv183x],
                Precision::Bf16 => &[Chip::Cv181x, Chip::Cv183x],
            };
            for &chip in chips {
                let (_, model) = driver::build(&g, chip, precision, case.name)
                    .unwrap_or_else(|e| panic!("{} {precision:?} {chip}: {e}", case.name));
                let got = run_model(&model, &test);
                assert_eq!(got.len(), want.len(), "{} {precision:?} {chip}: output size", case.name);
                let c = cosine(&got, &want);
                if c.is_nan() || c < bound {
                    failures.push(format!("{} {precision:?} {chip}: cosine {c:.6} < {bound}", case.name));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// An op the compiler lacks is an error naming the node, its op type and what is supported.
#[test]
fn an_unsupported_op_names_the_node() {
    let mut m = ModelWriter::new("unsupported");
    m.input("x", &[1, 4, 4, 4]).output("y");
    m.node("Sqrt", "the_sqrt", &["x"], &["y"], &[]);
    let g = driver::frontend(&m.to_bytes(13), None).unwrap();
    let e = driver::build(&g, Chip::Cv181x, Precision::Bf16, "u").unwrap_err().to_string();
    assert!(e.contains("the_sqrt") && e.contains("Sqrt") && e.contains("supported: Conv"), "{e}");
}

/// A squeezenet fire module's concat of two convolutions (each with its own calibrated range):
/// the int8 quantiser gives both the concat's threshold, so the concat needs no rescale, both
/// convolutions store into their channel ranges of its output and the concat emits no
/// descriptor; the result stays close to tract on every chip.
#[test]
fn concat_of_two_convs_moves_nothing() {
    let case = Case {
        name: "fire_concat",
        input: vec![1, 16, 12, 12],
        int8_bound: Some(INT8),
        bf16: true,
        build: |m, r| {
            conv(m, r, "e1", "x", 24, 16, 1, &[("kernel_shape", ks(&[1, 1]))], "a");
            m.node("Relu", "r1", &["a"], &["ra"], &[]);
            conv(m, r, "e3", "x", 24, 16, 3, &[("kernel_shape", ks(&[3, 3])), ("pads", ks(&[1, 1, 1, 1]))], "b");
            m.constant("k", &[], &[3.0]);
            m.node("Mul", "big", &["b", "k"], &["bb"], &[]);
            m.node("Relu", "r3", &["bb"], &["rb"], &[]);
            m.node("Concat", "cat", &["ra", "rb"], &["c"], &[("axis", Attr::Int(1))]);
            conv(m, r, "next", "c", 8, 48, 1, &[("kernel_shape", ks(&[1, 1]))], "y");
        },
    };
    let opts = calibration::Options { progress: false, threads: 1, ..calibration::Options::default() };
    let tune = TuneOptions { samples: 2, ..TuneOptions::default() };
    let bytes = onnx_bytes(&case);
    let test = samples(&case, 0x7E57, 1).remove(0).inputs.remove(0).1;
    let want = tract_output(&bytes, &test);
    let (table, _) = driver::calibration_table(&bytes, None, case.name, &samples(&case, 1, 6), &opts, &tune).unwrap();
    let mut g = driver::frontend(&bytes, None).unwrap();
    driver::apply_table(&table, &mut g, &bytes, None).unwrap();
    let th = |name: &str| g.tensors[g.tensor_by_name(name).unwrap()].calibration.unwrap().threshold;
    // Calibrated apart, so at least one input's own scale differs from the concat's.
    assert!(th("ra") != th("rb"), "the inputs are calibrated apart");
    for chip in [Chip::Cv180x, Chip::Cv181x, Chip::Cv182x, Chip::Cv183x] {
        for precision in [Precision::Int8, Precision::Bf16] {
            let (net, model) = driver::build(&g, chip, precision, case.name).unwrap();
            let concat = net.layers.iter().position(|l| matches!(l, Layer::Concat { .. })).unwrap();
            let Layer::Concat { inputs, rescale, .. } = &net.layers[concat] else { unreachable!() };
            assert!(rescale.iter().all(Option::is_none), "{chip} {precision:?}: {rescale:?}");
            let aliased = cvsim_compiler::codegen::memory::concat_aliases(&net);
            assert_eq!(aliased.len(), inputs.len(), "{chip} {precision:?}: every input stored in place");
            let compiled = cvsim_compiler::codegen::compile(&net).unwrap();
            let concat_id = concat as u32 + 1;
            let emitted = compiled
                .routines
                .iter()
                .filter_map(|r| match r {
                    Routine::Tpu { steps, .. } => Some(steps.iter().filter(|s| s.layer == concat_id).count()),
                    _ => None,
                })
                .sum::<usize>();
            assert_eq!(emitted, 0, "{chip} {precision:?}: the concat emitted descriptors");
            let c = cosine(&run_model(&model, &test), &want);
            let bound = if precision == Precision::Int8 { INT8 } else { BF16 };
            assert!(c >= bound, "{chip} {precision:?}: cosine {c:.6} < {bound}");
        }
    }
}

/// bf16 stores a HardSwish/HardSigmoid output times `1/alpha` exactly when every reader can
/// divide it out (a convolution's weights, through pooling and products); the compile cases
/// above check the values, this checks which tensors take the scaled form.
#[test]
fn bf16_scales_hard_activations_only_where_readers_absorb_it() {
    let factors = |name: &'static str| {
        let case = cases().into_iter().find(|c| c.name == name).unwrap();
        let g = driver::frontend(&onnx_bytes(&case), None).unwrap();
        let f = cvsim_compiler::bf16::scaled::factors(&g);
        move |t: &str| f[g.tensor_by_name(t).unwrap_or_else(|| panic!("{name}: no tensor {t}"))]
    };
    let se = factors("squeeze_excite_scaled");
    assert_eq!((se("h"), se("p"), se("cr"), se("s"), se("e"), se("y")), (6.0, 6.0, 1.0, 6.0, 36.0, 1.0));
    assert_eq!(factors("hardswish_into_conv")("h"), 6.0);
    assert_eq!(factors("hardswish_into_conv_and_add")("h"), 1.0);
    // A graph output keeps its true value.
    assert_eq!(factors("hardswish")("y"), 1.0);
}
