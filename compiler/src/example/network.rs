//! The example as a user brings a model: a small ONNX network written here (seeded weights),
//! which the compiler imports, calibrates, quantises and lowers like any other.
//!
//! On a (1, 3, 32, 32) input: conv 3×3 3→16 + BatchNormalization + ReLU; max pool 2×2; conv 3×3
//! 16→16 + HardSwish; residual add; depthwise conv 3×3 stride 2 + ReLU; global average pool;
//! flatten; Gemm 16→10; Softmax.

use super::SplitMix64;
use crate::calibration::Sample;
use crate::onnx::write::{Attr, ModelWriter};
use ndarray::{ArrayD, IxDyn};

pub const INPUT: &str = "image";
pub const OUTPUT: &str = "probabilities";
pub const INPUT_SHAPE: [usize; 4] = [1, 3, 32, 32];
pub const CLASSES: usize = 10;

/// Uniform in [-1, 1) from the generator (53 random bits).
fn unit(rng: &mut SplitMix64) -> f32 {
    ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) as f32
}

/// `n` values uniform in ±`bound`.
fn uniform(rng: &mut SplitMix64, n: usize, bound: f32) -> Vec<f32> {
    (0..n).map(|_| unit(rng) * bound).collect()
}

/// The model file.
pub fn onnx_bytes(seed: u64) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let mut m = ModelWriter::new("cvsim_example");
    let he = |fan_in: usize| (6.0 / fan_in as f32).sqrt();
    m.input(INPUT, &INPUT_SHAPE).output(OUTPUT);
    m.constant("conv1.w", &[16, 3, 3, 3], &uniform(&mut rng, 16 * 27, he(27)));
    m.constant("conv1.b", &[16], &uniform(&mut rng, 16, 0.1));
    let gamma: Vec<f32> = (0..16).map(|_| 1.0 + 0.2 * unit(&mut rng)).collect();
    let var: Vec<f32> = (0..16).map(|_| 1.0 + 0.5 * unit(&mut rng).abs()).collect();
    m.constant("bn1.scale", &[16], &gamma);
    m.constant("bn1.bias", &[16], &uniform(&mut rng, 16, 0.2));
    m.constant("bn1.mean", &[16], &uniform(&mut rng, 16, 0.2));
    m.constant("bn1.var", &[16], &var);
    m.constant("conv2.w", &[16, 16, 3, 3], &uniform(&mut rng, 16 * 144, he(144)));
    m.constant("conv2.b", &[16], &uniform(&mut rng, 16, 0.1));
    m.constant("dw.w", &[16, 1, 3, 3], &uniform(&mut rng, 16 * 9, he(9)));
    m.constant("dw.b", &[16], &uniform(&mut rng, 16, 0.1));
    m.constant("fc.w", &[CLASSES, 16], &uniform(&mut rng, CLASSES * 16, he(16)));
    m.constant("fc.b", &[CLASSES], &uniform(&mut rng, CLASSES, 0.1));
    let k3 = || Attr::Ints(vec![3, 3]);
    let pad1 = || Attr::Ints(vec![1, 1, 1, 1]);
    m.node("Conv", "conv1", &[INPUT, "conv1.w", "conv1.b"], &["conv1"], &[("kernel_shape", k3()), ("pads", pad1())]);
    m.node("BatchNormalization", "bn1", &["conv1", "bn1.scale", "bn1.bias", "bn1.mean", "bn1.var"], &["bn1"], &[]);
    m.node("Relu", "relu1", &["bn1"], &["relu1"], &[]);
    m.node(
        "MaxPool",
        "pool1",
        &["relu1"],
        &["pool1"],
        &[("kernel_shape", Attr::Ints(vec![2, 2])), ("strides", Attr::Ints(vec![2, 2]))],
    );
    m.node("Conv", "conv2", &["pool1", "conv2.w", "conv2.b"], &["conv2"], &[("kernel_shape", k3()), ("pads", pad1())]);
    m.node("HardSwish", "hswish2", &["conv2"], &["hswish2"], &[]);
    m.node("Add", "residual", &["pool1", "hswish2"], &["residual"], &[]);
    m.node(
        "Conv",
        "dw",
        &["residual", "dw.w", "dw.b"],
        &["dw"],
        &[("kernel_shape", k3()), ("pads", pad1()), ("strides", Attr::Ints(vec![2, 2])), ("group", Attr::Int(16))],
    );
    m.node("Relu", "relu3", &["dw"], &["relu3"], &[]);
    m.node("GlobalAveragePool", "gap", &["relu3"], &["gap"], &[]);
    m.node("Flatten", "flatten", &["gap"], &["flatten"], &[("axis", Attr::Int(1))]);
    m.node("Gemm", "fc", &["flatten", "fc.w", "fc.b"], &["logits"], &[("transB", Attr::Int(1))]);
    m.node("Softmax", "softmax", &["logits"], &[OUTPUT], &[("axis", Attr::Int(1))]);
    m.to_bytes(13)
}

/// `n` seeded inputs (the calibration set, or test inputs with another seed): smooth random
/// images in about ±2, like normalised pictures.
pub fn samples(seed: u64, n: usize) -> Vec<Sample> {
    let mut rng = SplitMix64::new(seed ^ 0xCA11_B0A7);
    let [_, c, h, w] = INPUT_SHAPE;
    (0..n)
        .map(|k| {
            let mut v = vec![0f32; c * h * w];
            for ch in 0..c {
                let (a, b, p) = (unit(&mut rng), unit(&mut rng), unit(&mut rng) * 3.0);
                for y in 0..h {
                    for x in 0..w {
                        let wave = (a * x as f32 * 0.3 + b * y as f32 * 0.3 + p).sin();
                        v[(ch * h + y) * w + x] = 1.5 * wave + 0.5 * unit(&mut rng);
                    }
                }
            }
            Sample {
                label: format!("sample {k}"),
                inputs: vec![(INPUT.into(), ArrayD::from_shape_vec(IxDyn(&INPUT_SHAPE), v).unwrap())],
            }
        })
        .collect()
}
