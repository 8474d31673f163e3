//! `cvsim threads`: several threads forwarding clones of a model on the one TPU, end to end through
//! the binary, on the example model cvsim builds itself (no corpus needed).

use cvsim_compiler::example;
use std::process::Command;

#[test]
fn threads_report_shows_each_forward_waiting_for_the_tpu() {
    let dir = std::env::temp_dir().join(format!("cvsim-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("example.cvimodel");
    std::fs::write(&model, example::build(0).model_bytes).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_cvsim"))
        .args(["threads", model.to_str().unwrap(), "--threads", "3", "--forwards", "2", "--trace"])
        .arg(dir.join("trace.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    // The example has one TPU routine and no CPU routine: the board estimate is exact arithmetic
    // on the timing model's figure, so it is a snapshot. The emulator's wall-clock line is not.
    let (board, rest) = text.split_once("emulator (wall clock):").expect("an emulator line");
    insta::assert_snapshot!(board);
    assert!(rest.contains("6 forwards in"), "{rest}");
    assert!(rest.contains("outputs: every forward of a model gave the same bytes"), "{rest}");

    // The arithmetic the snapshot holds: with T threads asking at once, forward k of the thread
    // served j-th waits (T-1)·tpu, except the very first ones, which wait j·tpu.
    let rows: Vec<Vec<&str>> = board.lines().skip(2).take(6).map(|l| l.split_whitespace().collect()).collect();
    let tpu: f64 = rows[0][6].parse().unwrap();
    let waits: Vec<f64> = rows.iter().map(|r| r[5].parse().unwrap()).collect();
    let near = |a: f64, b: f64| (a - b).abs() < 1e-3;
    assert!(near(waits[0], 0.0) && near(waits[1], tpu) && near(waits[2], 2.0 * tpu), "{waits:?}");
    assert!(waits[3..].iter().all(|&w| near(w, 2.0 * tpu)), "{waits:?}");

    // The trace: a track per thread; thread 2 waits twice the TPU routine before its first one.
    let trace: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("trace.json")).unwrap()).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    let of = |tid: u64, cat: &str| events.iter().filter(|e| e["tid"] == tid && e["cat"] == cat).count();
    assert_eq!((of(0, "tpu"), of(1, "tpu"), of(2, "tpu")), (2, 2, 2));
    assert_eq!((of(0, "wait"), of(2, "wait")), (1, 2));
    let first_wait = events.iter().find(|e| e["tid"] == 2 && e["cat"] == "wait").unwrap();
    assert!(near(first_wait["dur"].as_f64().unwrap() / 1e3, 2.0 * tpu), "{first_wait}");

    let bad = Command::new(env!("CARGO_BIN_EXE_cvsim"))
        .args(["threads", model.to_str().unwrap(), "--threads", "0"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--threads"));
    std::fs::remove_dir_all(&dir).ok();
}
