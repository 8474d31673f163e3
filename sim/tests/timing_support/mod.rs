//! Shared helpers of the timing tests: the corpus cases with board figures.
#![allow(dead_code)]

use cvsim_isa::{Chip, Command};
use cvsim_runtime::Model;
use std::path::{Path, PathBuf};

pub const CORPUS: &str = "/work/shared/conformance";

/// A corpus case and the vendor's board `inference_ms` for it, if any (`timing.md` §5).
pub struct Case {
    pub name: &'static str,
    pub dir: &'static str,
    pub board_ms: Option<f64>,
}

pub const CASES: &[Case] = &[
    Case { name: "mobilenet_v2_cv180x_int8", dir: "networks/mobilenet_v2_cv180x_int8", board_ms: Some(31.68) },
    Case { name: "mobilenet_v2_cv181x_int8", dir: "networks/mobilenet_v2_cv181x_int8", board_ms: Some(7.07) },
    Case { name: "mobilenet_v2_cv183x_int8", dir: "networks/mobilenet_v2_cv183x_int8", board_ms: Some(1.59) },
    Case { name: "squeezenet1_1_cv180x_int8", dir: "networks/squeezenet1_1_cv180x_int8", board_ms: Some(27.45) },
    Case { name: "squeezenet1_1_cv183x_int8", dir: "networks/squeezenet1_1_cv183x_int8", board_ms: Some(1.31) },
    Case {
        name: "cls_hand_gesture_128_128_INT8_cv181x",
        dir: "models/cls_hand_gesture_128_128_INT8_cv181x",
        board_ms: Some(1.09),
    },
    Case { name: "squeezenet1_1_cv181x_int8", dir: "networks/squeezenet1_1_cv181x_int8", board_ms: None },
    Case { name: "mobilenet_v2_cv181x_bf16", dir: "networks/mobilenet_v2_cv181x_bf16", board_ms: None },
];

pub fn case(name: &str) -> &'static Case {
    CASES.iter().find(|c| c.name == name).expect("known case")
}

pub fn model_path(c: &Case) -> PathBuf {
    Path::new(CORPUS).join(c.dir).join("model.cvimodel")
}

/// The command lists of the TPU routines of program 0.
pub fn tpu_routines(c: &Case) -> (Chip, Vec<Vec<Command>>) {
    let m = Model::from_file(model_path(c)).expect("corpus model loads");
    let p = m.program(0).expect("program 0");
    let mut out = Vec::new();
    for r in &p.routines {
        if let Some(sec) = m.routine_section(r) {
            out.push(m.decode_cmdbuf(sec).expect("cmdbuf decodes"));
        }
    }
    (m.chip(), out)
}

/// Whether the shared corpus is present (tests skip quietly when it is not).
pub fn corpus_present() -> bool {
    Path::new(CORPUS).join("networks").is_dir()
}
