//! `cvsim run`'s timing flags and `cvsim timing-config`, end to end through the binary, on the
//! example model cvsim builds itself (no corpus needed).

use cvsim::npz::{self, Array, ElemType};
use cvsim_compiler::example;
use cvsim_sim::timing::pmu::{DES_CSV_HEADER, LAYER_CSV_HEADER};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

struct Fixture {
    dir: PathBuf,
    model: PathBuf,
    input: PathBuf,
}

fn fixture(name: &str) -> Fixture {
    let dir = std::env::temp_dir().join(format!("cvsim-timing-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ex = example::build(0);
    let model = dir.join("example.cvimodel");
    std::fs::write(&model, &ex.model_bytes).unwrap();
    let input = dir.join("input.npz");
    let arr = Array {
        name: ex.input_name.clone(),
        elem: ElemType::I8,
        shape: example::INPUT_SHAPE.iter().map(|&d| d as u64).collect(),
        data: ex.input.iter().map(|&v| v as u8).collect(),
    };
    npz::write(&input, &[arr]).unwrap();
    Fixture { dir, model, input }
}

fn cvsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cvsim")).args(args).output().expect("cvsim runs")
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "cvsim failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn pmu_summary_of_the_example_model() {
    let f = fixture("pmu");
    let text = ok(cvsim(&["run", p(&f.model), "--timing-only"]));
    insta::assert_snapshot!("example_pmu_summary", text);
    // The same lines with --pmu on a functional run, before the outputs.
    let full = ok(cvsim(&["run", p(&f.model), "--input", p(&f.input), "--pmu"]));
    assert!(full.starts_with(&text), "{full}");
    assert!(full[text.len()..].starts_with(example::OUTPUT_NAME), "{full}");
}

#[test]
fn timing_leaves_functional_results_unchanged() {
    let f = fixture("unchanged");
    let (a, b) = (f.dir.join("a.npz"), f.dir.join("b.npz"));
    ok(cvsim(&["run", p(&f.model), "--input", p(&f.input), "--output", p(&a)]));
    let prefix = f.dir.join("pmu");
    let trace = f.dir.join("t.json");
    ok(cvsim(&[
        "run",
        p(&f.model),
        "--input",
        p(&f.input),
        "--output",
        p(&b),
        "--pmu",
        "--pmu-csv",
        p(&prefix),
        "--trace",
        p(&trace),
        "--ddr-load",
        "0.5",
    ]));
    let (ra, rb) = (npz::read(&a).unwrap(), npz::read(&b).unwrap());
    assert_eq!(ra.len(), 1);
    assert_eq!(ra[0].data, rb[0].data);
    let want: Vec<u8> = example::build(0).expected.iter().map(|&v| v as u8).collect();
    assert_eq!(rb[0].data, want);
}

#[test]
fn pmu_csv_files_have_the_vendor_columns() {
    let f = fixture("csv");
    let prefix = f.dir.join("run");
    ok(cvsim(&["run", p(&f.model), "--timing-only", "--pmu-csv", p(&prefix)]));
    let des = std::fs::read_to_string(f.dir.join("run_des.csv")).unwrap();
    let layer = std::fs::read_to_string(f.dir.join("run_layer.csv")).unwrap();
    assert_eq!(des.lines().next(), Some(DES_CSV_HEADER));
    assert_eq!(layer.lines().next(), Some(LAYER_CSV_HEADER));
    insta::assert_snapshot!("example_des_csv", des);
    insta::assert_snapshot!("example_layer_csv", layer);
    // One row per record: every descriptor of the example, none of them a G2G copy.
    let n = example::build(0).steps.len();
    assert_eq!(des.lines().count(), 1 + n);
    // The example's layers 1..4 (its descriptors carry those ids).
    let ids: Vec<&str> = layer.lines().skip(1).map(|l| l.split(", ").next().unwrap()).collect();
    assert_eq!(ids, ["1", "2", "3", "4"]);
}

#[test]
fn trace_has_engine_tracks_layers_and_ddr_bandwidth() {
    let f = fixture("trace");
    let path = f.dir.join("t.json");
    ok(cvsim(&["run", p(&f.model), "--timing-only", "--trace", p(&path)]));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let ev = v["traceEvents"].as_array().unwrap();
    let threads: Vec<&str> =
        ev.iter().filter(|e| e["name"] == "thread_name").map(|e| e["args"]["name"].as_str().unwrap()).collect();
    assert_eq!(threads, ["TIU", "TDMA", "layers", "routines"]);
    let slices = |tid: u64| ev.iter().filter(|e| e["ph"] == "X" && e["tid"] == tid).count();
    let ex = example::build(0);
    let tiu = ex.steps.iter().filter(|s| matches!(s.desc, cvsim_isa::Desc::Tiu(_))).count();
    assert_eq!(slices(1), tiu);
    assert_eq!(slices(2), ex.steps.len() - tiu);
    assert_eq!(slices(4), 1);
    // Slices are named by operation.
    assert!(ev.iter().any(|e| e["ph"] == "X" && e["name"].as_str().unwrap().starts_with("conv")));
    // Layer markers, named by the tensor the layer stores where it stores one.
    let layers: Vec<&str> = ev.iter().filter(|e| e["ph"] == "b").map(|e| e["name"].as_str().unwrap()).collect();
    assert!(layers.contains(&"layer 3: add_out"), "{layers:?}");
    assert!(layers.contains(&"layer 4: output"), "{layers:?}");
    assert!(ev
        .iter()
        .any(|e| e["ph"] == "C" && e["name"] == "DDR bandwidth" && e["args"]["MB/s"].as_f64().unwrap() > 0.0));
}

/// A tick count of the summary (`tdma_exe_tick:` or `tiu_exe_tick`).
fn ticks(summary: &str, label: &str) -> u64 {
    let line = summary.lines().find(|l| l.contains(label)).unwrap();
    let at = line.find(label).unwrap() + label.len();
    line[at..].trim_start_matches(':').trim_start().split('t').next().unwrap().trim().parse().unwrap()
}

#[test]
fn ddr_load_stretches_tdma_only() {
    let f = fixture("ddr");
    let idle = ok(cvsim(&["run", p(&f.model), "--timing-only"]));
    let busy = ok(cvsim(&["run", p(&f.model), "--timing-only", "--ddr-load", "0.6"]));
    assert!(ticks(&busy, "tdma_exe_tick") > ticks(&idle, "tdma_exe_tick"));
    assert_eq!(ticks(&busy, "tiu_exe_tick"), ticks(&idle, "tiu_exe_tick"));
    let bad = cvsim(&["run", p(&f.model), "--timing-only", "--ddr-load", "1"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("ddr_load"));
}

#[test]
fn timing_config_prints_and_reads_back() {
    let f = fixture("config");
    let all = ok(cvsim(&["timing-config"]));
    let one = ok(cvsim(&["timing-config", "--chip", "cv181x"]));
    let v: serde_json::Value = serde_json::from_str(&one).unwrap();
    assert_eq!(v["ddr"].as_object().unwrap().keys().collect::<Vec<_>>(), ["cv181x"]);
    assert!(serde_json::from_str::<serde_json::Value>(&all).unwrap()["ddr"]["cv183x"]["bus_bits"].is_number());
    // The printed defaults, read back, give the default timing.
    let cfg = f.dir.join("defaults.json");
    std::fs::write(&cfg, &all).unwrap();
    let base = ok(cvsim(&["run", p(&f.model), "--timing-only"]));
    assert_eq!(ok(cvsim(&["run", p(&f.model), "--timing-only", "--timing-config", p(&cfg)])), base);
    // A partial override takes effect.
    std::fs::write(&cfg, r#"{"ddr": {"cv181x": {"rate_mts": 933}}}"#).unwrap();
    let slow = ok(cvsim(&["run", p(&f.model), "--timing-only", "--timing-config", p(&cfg)]));
    assert!(ticks(&slow, "tdma_exe_tick") > ticks(&base, "tdma_exe_tick"));
    // A misspelt field is an error naming it.
    std::fs::write(&cfg, r#"{"ddr": {"cv181x": {"rate": 933}}}"#).unwrap();
    let bad = cvsim(&["run", p(&f.model), "--timing-only", "--timing-config", p(&cfg)]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("ddr.cv181x.rate"));
}

#[test]
fn timing_only_refuses_data_outputs() {
    let f = fixture("refuse");
    let out = cvsim(&["run", p(&f.model), "--timing-only", "--output", p(&f.dir.join("x.npz"))]);
    assert!(!out.status.success());
    let out = cvsim(&["run", p(&f.model)]);
    assert!(!out.status.success(), "--input is required without --timing-only");
}
