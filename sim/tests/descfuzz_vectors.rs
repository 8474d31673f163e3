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

/// The vendor simulator stops on a convolution that asks for fewer outputs than its geometry gives
/// (`assert_output_hw`, found by the fuzzer on every chip); cvsim names `res0_h`.
#[test]
fn a_convolution_with_fewer_output_rows_is_illegal() {
    use cvsim_isa::cmdbuf::{encode_descs, parse_cmdbuf};
    use cvsim_isa::{Chip, Desc, TiuOp};
    let text = include_str!("data/descfuzz.jsonl");
    let line = text.lines().find(|l| l.contains("\"id\":\"cv181x-tiu_conv_int8-006-p1\"")).expect("the QM conv vector");
    let mut v: Vector = serde_json::from_str(line).expect("a vector");
    let chip = Chip::Cv181x;
    let (_, cmds) = parse_cmdbuf(&hex::decode(&v.cmdbuf_hex).unwrap(), Some(chip)).unwrap();
    let mut descs: Vec<Desc> = cmds.into_iter().map(|c| c.desc).collect();
    let conv = descs.iter_mut().find_map(|d| match d {
        Desc::Tiu(t) if t.op(chip) == TiuOp::Conv => Some(t),
        _ => None,
    });
    let conv = conv.expect("a conv descriptor");
    assert!(conv.res0_h > 1);
    conv.res0_h -= 1;
    v.cmdbuf_hex = hex::encode(encode_descs(chip, &descs).unwrap());
    match run_vector(&v) {
        Outcome::Error(e) => assert!(e.contains("field `res0_h`") && e.contains("descriptor"), "{e}"),
        o => panic!("expected an illegal-field error, got {o:?}"),
    }
}
