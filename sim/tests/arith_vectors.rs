//! Evidence for the bf16 read/write rules of `cvsim_sim::bf16`, from the conformance vectors.
//!
//! * `tiu_eltwise_bf16`: every element of add, sub, mul, mac, max, min, ge, copy and their
//!   constant-operand forms equals `write(op(read(a), read(b)))`, where read = [`bf16_operand`]
//!   (the mac addend: [`bf16_accumulator`]), op is f32 arithmetic with NaN propagating through
//!   max/min/ge, write = [`bf16_result`], and relu turns a negative written value into 0. The
//!   CV182x `ge` vectors are left out (§9.8: the high byte is not written).
//! * `tdma`: `l2g_bf16_to_i8` / `l2l_bf16_to_i8` equal [`bf16_to_int8`] element by element, and
//!   `g2l_i8_to_bf16` equals [`int8_to_bf16`]. These vectors store densely.
//!
//! Reported as ignored when the corpus is not beside the repository.

use cvsim_isa::Chip;
use cvsim_sim::bf16::*;
use serde_json::Value;
use std::path::PathBuf;

fn vectors(chip: &str, family: &str) -> Vec<Value> {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/conformance"))
        .join("vectors")
        .join(chip)
        .join(format!("{family}.jsonl"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).expect("vector JSON")).collect()
}

fn region(v: &Value, key: &str, i: usize) -> Vec<u8> {
    hex::decode(v[key][i]["hex"].as_str().expect("hex region")).expect("hex")
}

fn halves(bytes: &[u8]) -> Vec<u16> {
    bytes.chunks_exact(2).map(|p| u16::from_le_bytes([p[0], p[1]])).collect()
}

fn chip_of(name: &str) -> Chip {
    name.parse().expect("chip name")
}

/// f32 op where any NaN operand gives NaN (unlike `f32::max`, and unlike a plain comparison).
fn nan_or(x: f32, y: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    if x.is_nan() || y.is_nan() {
        f32::NAN
    } else {
        f(x, y)
    }
}

fn eltwise_chip(chip: &str) {
    let vs = vectors(chip, "tiu_eltwise_bf16");
    let (mut checked, mut elements, mut failures) = (0, 0, Vec::new());
    for v in &vs {
        let p = &v["params"];
        let op = p["eltwise"].as_str().unwrap_or("");
        if chip == "cv182x" && op.starts_with("ge") {
            continue;
        }
        let relu = p["relu"].as_u64().unwrap_or(0) != 0;
        let constant = p["const_bf16"].as_u64().map(|c| c as u16);
        let a = halves(&region(v, "gmem_init", 0));
        let n = a.len();
        // Region order: a, [b], [accumulator], output.
        let (b, acc): (Vec<u16>, Vec<u16>) = match op {
            "mac" => (halves(&region(v, "gmem_init", 1)), halves(&region(v, "gmem_init", 2))),
            "mac_const" => (vec![constant.expect("const"); n], halves(&region(v, "gmem_init", 1))),
            "copy" => (vec![0; n], vec![0; n]),
            _ if op.ends_with("_const") => (vec![constant.expect("const"); n], vec![0; n]),
            _ => (halves(&region(v, "gmem_init", 1)), vec![0; n]),
        };
        let want = halves(&region(v, "gmem_expect", 0));
        assert_eq!(want.len(), n, "{}: output size", v["id"]);
        let base = op.trim_end_matches("_const");
        for i in 0..n {
            let (x, y) = (bf16_operand(a[i]), bf16_operand(b[i]));
            let r = match base {
                "add" => x + y,
                "sub" => x - y,
                "mul" => x * y,
                "mac" => x * y + bf16_accumulator(acc[i]),
                "max" => nan_or(x, y, f32::max),
                "min" => nan_or(x, y, f32::min),
                "ge" => nan_or(x, y, |x, y| if x >= y { 1.0 } else { 0.0 }),
                "copy" => x,
                other => panic!("{}: unknown op {other}", v["id"]),
            };
            let mut got = bf16_result(r);
            if relu && got & 0x8000 != 0 {
                got = BF16_ZERO;
            }
            elements += 1;
            if got != want[i] && failures.len() < 20 {
                failures.push(format!(
                    "{} {op} element {i}: a {:#06x} b {:#06x} acc {:#06x}: got {got:#06x}, want {:#06x}",
                    v["id"], a[i], b[i], acc[i], want[i]
                ));
            }
        }
        checked += 1;
    }
    println!("{chip} tiu_eltwise_bf16: {checked} vectors, {elements} elements, {} mismatches", failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn tdma_chip(chip: &str) {
    let vs = vectors(chip, "tdma");
    let c = chip_of(chip);
    let (mut checked, mut failures) = (0, Vec::new());
    for v in &vs {
        let p = &v["params"];
        let xfer = p["xfer"].as_str().unwrap_or("");
        let src = region(v, "gmem_init", 0);
        let want = region(v, "gmem_expect", 0);
        let got: Vec<u8> = match xfer {
            "l2g_bf16_to_i8" | "l2l_bf16_to_i8" => {
                let signed = p["dst_fmt"] == "i8";
                let rnd = Int8Rounding::from_field(p["int8_rnd_mode"].as_u64().expect("int8_rnd_mode") as u32);
                halves(&src).iter().map(|&b| bf16_to_int8(b, signed, rnd, c)).collect()
            }
            "g2l_i8_to_bf16" => {
                let signed = p["src_fmt"] == "i8";
                src.iter().flat_map(|&b| int8_to_bf16(b, signed).to_le_bytes()).collect()
            }
            _ => continue,
        };
        checked += 1;
        if got != want {
            let i = got.iter().zip(&want).position(|(g, w)| g != w);
            failures.push(format!(
                "{} {xfer}: first difference at byte {i:?} (lengths {} / {})",
                v["id"],
                got.len(),
                want.len()
            ));
        }
    }
    println!("{chip} tdma bf16<->int8 conversions: {checked} vectors, {} failed", failures.len());
    assert!(checked > 0);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn cv180x_bf16_eltwise() {
    eltwise_chip("cv180x");
}
#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn cv181x_bf16_eltwise() {
    eltwise_chip("cv181x");
}
#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn cv182x_bf16_eltwise() {
    eltwise_chip("cv182x");
}
#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn cv183x_bf16_eltwise() {
    eltwise_chip("cv183x");
}
#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn cv180x_tdma_conversions() {
    tdma_chip("cv180x");
}
#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn cv181x_tdma_conversions() {
    tdma_chip("cv181x");
}
#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn cv182x_tdma_conversions() {
    tdma_chip("cv182x");
}
#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn cv183x_tdma_conversions() {
    tdma_chip("cv183x");
}
