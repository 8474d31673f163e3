//! `cvsim timing-report` on a corpus network, as a user runs it: a reviewed snapshot of the text
//! report, and the JSON form agreeing with the PMU summary of `run --timing-only`.

mod common;

use common::{cvsim, stderr, stdout};

const NETWORK: &str = "networks/mobilenet_v2_cv181x_int8/model.cvimodel";

fn run_ok(args: &[&str]) -> String {
    let o = cvsim(args);
    assert!(o.status.success(), "cvsim {args:?}: exit status {:?}\n{}", o.status.code(), stderr(&o));
    stdout(&o)
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn report_of_mobilenet_v2_cv181x() {
    let model = common::corpus_dir().join(NETWORK);
    let text = run_ok(&["timing-report", model.to_str().unwrap(), "--layers", "10"]);
    insta::assert_snapshot!("mobilenet_v2_cv181x_int8", text);
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn json_agrees_with_the_pmu_summary() {
    let model = common::corpus_dir().join(NETWORK);
    let m = model.to_str().unwrap();
    let v: serde_json::Value = serde_json::from_str(&run_ok(&["timing-report", m, "--json"])).unwrap();
    let r = &v["routines"][0];
    let pmu = run_ok(&["run", m, "--timing-only"]);
    let tick = |label: &str| -> u64 {
        let at = pmu.find(label).unwrap() + label.len();
        pmu[at..].trim_start().split('t').next().unwrap().trim().parse().unwrap()
    };
    assert_eq!(r["span_cycles"].as_u64().unwrap(), tick("inference_tick"));
    // Busy time by kind adds up to the engines' busy time.
    let kinds = r["kinds"].as_array().unwrap();
    let sum = |engine: &str| -> u64 {
        kinds.iter().filter(|k| k["engine"] == engine).map(|k| k["cycles"].as_u64().unwrap()).sum()
    };
    assert_eq!(sum("Tiu"), tick("tiu_exe_tick"));
    assert_eq!(sum("Tdma"), tick("tdma_exe_tick:"));
    // The span divides into alone, together and idle.
    let o = &r["overlap"];
    let parts: u64 = ["tiu_only", "tdma_only", "both", "idle"].iter().map(|k| o[k].as_u64().unwrap()).sum();
    assert_eq!(parts, r["span_cycles"].as_u64().unwrap());
    // Every layer's descriptors are counted once.
    let layers = r["layers"].as_array().unwrap();
    let count: u64 = layers.iter().map(|l| l["tiu_count"].as_u64().unwrap() + l["tdma_count"].as_u64().unwrap()).sum();
    let kinds_count: u64 = kinds.iter().map(|k| k["count"].as_u64().unwrap()).sum();
    assert_eq!(count, kinds_count);
    for c in r["tdma"].as_array().unwrap() {
        let eff = c["efficiency_percent"].as_f64().unwrap();
        assert!(eff > 0.0 && eff <= 100.0, "{c}");
    }
}
