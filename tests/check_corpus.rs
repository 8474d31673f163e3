//! `cvsim run --check` on correct corpus models: no finding. The cases cover the compiler idioms
//! the checker must not mistake for bugs (xor-zeroing, a padded input channel with zero weights,
//! lookup tables loaded only into the lanes used, 16-bit results as byte planes).

use cvsim::commands::{check, tensors};
use cvsim::npz;
use cvsim_runtime::session::{Instance, LoadedModel};
use std::path::Path;

const CASES: &[&str] = &[
    "models/cls_keypoint_hand_gesture_1_42_INT8_cv181x",
    "models/cls_hand_gesture_128_128_INT8_cv181x",
    "ops/cv181x_int8/ConvStem7x7",
    "ops/cv181x_int8/ConvAsymPadStride",
    "features/pp_bgr_planar_cv181x",
    "ops/cv183x_bf16/Gemm",
];

#[test]
fn correct_models_give_no_finding() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance");
    if !root.is_dir() {
        eprintln!("SKIPPED: conformance corpus absent ({})", root.display());
        return;
    }
    for case in CASES {
        let dir = root.join(case);
        let loaded = LoadedModel::from_file(dir.join("model.cvimodel")).unwrap();
        let mut inst = Instance::new(loaded, 0).unwrap();
        tensors::set_inputs(&mut inst, &npz::read(&dir.join("input.npz")).unwrap()).unwrap();
        let findings = check::forward(&mut inst).unwrap();
        assert!(findings.is_empty(), "{case}:\n{}", check::render(&findings));
        // The checked run computes the same outputs.
        let expected = npz::read(&dir.join("expected.npz")).unwrap();
        let actual = tensors::outputs(&inst).unwrap();
        for e in &expected {
            let a = actual.iter().find(|a| a.name == e.name).unwrap();
            assert_eq!(tensors::compare(e, a), None, "{case}");
        }
    }
}
