//! Cases found by the differential descriptor fuzzer (`tools/descfuzz`), pinned without the oracle.
//!
//! `tests/data/descfuzz.jsonl` holds every case on which cvsim and the vendor simulator once
//! disagreed, as vectors of the `cvsim vectors` format: the fuzzer wrote each one
//! (`descfuzz fuzz ... --record FILE`: the vendor vector it started from, with its mutated fields
//! and fresh data) and `python3 tools/vendor_vectors.py FILE sim/tests/data/descfuzz.jsonl` recorded
//! the vendor simulator's bytes as `gmem_expect`. A vector the vendor simulator stopped on carries
//! `"vendor": "aborted ..."` instead; cvsim must refuse it with an error naming the descriptor and
//! the field.

use cvsim_sim::vectors::{run_vector, Outcome, Vector};

#[test]
fn descfuzz_cases_match_the_vendor_simulator() {
    let text = include_str!("data/descfuzz.jsonl");
    let (mut ran, mut refused) = (0, 0);
    let mut bad = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let raw: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        let v: Vector = serde_json::from_value(raw.clone()).expect("a vector");
        match (run_vector(&v), raw.get("vendor").and_then(|s| s.as_str())) {
            (Outcome::Pass, None) => ran += 1,
            (Outcome::Error(e), Some(_)) if e.contains("descriptor") && e.contains("field `") => refused += 1,
            (o, vendor) => bad.push(format!("{}: cvsim {o:?}, vendor {}", v.id, vendor.unwrap_or("ran"))),
        }
    }
    assert!(bad.is_empty(), "{} of the fuzzer's cases differ:\n{}", bad.len(), bad.join("\n"));
    assert!(ran > 0 && refused > 0, "the data holds cases of both kinds ({ran} run, {refused} refused)");
}
