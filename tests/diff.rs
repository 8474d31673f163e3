//! `cvsim diff` on a corpus model with `all_tensors.npz`: the unmodified model matches every tensor;
//! a copy with one corrupted weight byte is reported at the first layer that consumes the byte.

use cvsim::commands::diff::{self, Writer};
use cvsim::npz;
use cvsim::similarity::Tolerance;
use cvsim_runtime::cvimodel::{Model, SectionType};
use cvsim_runtime::session::{Instance, LoadedModel};
use std::path::{Path, PathBuf};

const CASE: &str = "../shared/conformance/models/cls_keypoint_hand_gesture_1_42_INT8_cv181x";

fn case_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR")).join(CASE);
    assert!(d.join("all_tensors.npz").is_file(), "conformance case {CASE} is absent");
    d
}

fn run_diff(model_bytes: Vec<u8>, dir: &Path) -> diff::Report {
    let model = Model::from_vec(model_bytes).expect("model parses");
    let mut inst = Instance::new(LoadedModel::new(model).unwrap(), 0).unwrap();
    let inputs = npz::read(&dir.join("input.npz")).unwrap();
    let reference = npz::read(&dir.join("all_tensors.npz")).unwrap();
    diff::diff(&mut inst, &inputs, &reference, Tolerance::DEFAULT).unwrap()
}

/// The model file with weight byte `offset` (weight-region offset) XORed with `mask`, written to a
/// temporary folder and read back, as a user would corrupt a copy.
fn corrupted(dir: &Path, offset: usize, mask: u8) -> Vec<u8> {
    let bytes = std::fs::read(dir.join("model.cvimodel")).unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let w = model.sections.iter().find(|s| s.kind == SectionType::Weight).expect("a weight section");
    assert!(!w.compress && offset < w.size as usize);
    let mut copy = bytes.clone();
    copy[w.file_offset as usize + offset] ^= mask;
    let tmp = std::env::temp_dir().join(format!("cvsim-diff-test-{}-{offset:x}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let path = tmp.join("model.cvimodel");
    std::fs::write(&path, &copy).unwrap();
    let back = std::fs::read(&path).unwrap();
    std::fs::remove_dir_all(&tmp).unwrap();
    back
}

fn first(r: &diff::Report) -> (&str, &Writer) {
    let e = r.first_difference().expect("a difference");
    (e.name.as_str(), &e.writer)
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn unmodified_model_has_no_difference() {
    let dir = case_dir();
    let r = run_diff(std::fs::read(dir.join("model.cvimodel")).unwrap(), &dir);
    assert!(r.first_difference().is_none(), "{}", diff::render(&r));
    assert_eq!(r.entries.len(), 5);
    assert!(r.unknown.is_empty());
    // Execution order: the input, then the tensors by the descriptor that finished them.
    let names: Vec<&str> = r.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["x", "15_Gemm", "15_Gemmy_Softmax_bf16", "y_Softmax", "y_Softmax_f32"]);
}

// Weight offset 0x70b0 holds the first fully-connected layer's int32 bias as four byte planes of
// 64 (TDMA #2 loads it for matmul #3); byte 0x80 of it is plane 2 of channel 0. The FC layers are
// fused into one group whose only dumped tensor is `15_Gemm`, stored by TDMA #19.
#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn corrupt_bias_of_first_layer() {
    let dir = case_dir();
    let r = run_diff(corrupted(&dir, 0x70b0 + 0x80, 0x01), &dir);
    let (name, writer) = first(&r);
    assert_eq!(name, "15_Gemm", "{}", diff::render(&r));
    assert!(matches!(writer, Writer::Tpu { routine: 0, last: 19, .. }), "{writer:?}");
}

// Weight offset 0x4eb0 is a bf16 table loaded by TDMA #26 for the softmax: the tensors before it
// stay identical and the first difference is the softmax output.
#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn corrupt_softmax_table() {
    let dir = case_dir();
    let r = run_diff(corrupted(&dir, 0x4eb1, 0x40), &dir);
    let (name, _) = first(&r);
    assert_eq!(name, "y_Softmax", "{}", diff::render(&r));
    let before: Vec<&str> = r.entries.iter().take_while(|e| e.first_diff.is_none()).map(|e| e.name.as_str()).collect();
    assert_eq!(before, ["x", "15_Gemm", "15_Gemmy_Softmax_bf16"]);
}
