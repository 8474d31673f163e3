//! The VLC codec against every `tdma_vlc` conformance vector (`shared/conformance/vectors/<chip>/`).
//!
//! * `g2l_*_decompress`: `gmem_init[0]` is the compressed stream; the expected output region holds
//!   the original data, stored densely by a plain store (`params.raw_bytes` bytes, NCHW or row-major
//!   order), so `decompress(stream, raw_bytes)` must equal it. The corpus encoder's stream must also
//!   come back from `compress(decompress(stream))`: the zero-guard loss does not change the stream.
//! * `l2g_*_compress`: `gmem_init[0]` is the raw data (dense), `gmem_init[1]` the output region's
//!   background; the expected region is the stream followed by untouched background.
//!
//! Reported as ignored when the corpus is not beside the repository.

use cvsim_sim::vlc::{check_store_params, compress, decompress, VlcHeader};
use serde_json::Value;
use std::path::PathBuf;

fn corpus() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/conformance"))
}

fn region(v: &Value, key: &str, i: usize) -> Result<Vec<u8>, String> {
    let hex_str = v[key][i]["hex"].as_str().ok_or_else(|| format!("{key}[{i}].hex missing"))?;
    hex::decode(hex_str).map_err(|e| format!("{key}[{i}].hex: {e}"))
}

fn first_diff(got: &[u8], want: &[u8]) -> String {
    if got.len() != want.len() {
        return format!("length {} instead of {}", got.len(), want.len());
    }
    match got.iter().zip(want).position(|(a, b)| a != b) {
        Some(i) => format!("first difference at byte {i}: got {:#04x}, want {:#04x}", got[i], want[i]),
        None => "equal".into(),
    }
}

/// The bytes a zero-guarded bf16 round trip gives back: elements with exponent 0 become +0 (§9.18).
fn zero_guard_loss(data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    for pair in out.chunks_exact_mut(2) {
        if u16::from_le_bytes([pair[0], pair[1]]) & 0x7F80 == 0 {
            pair.fill(0);
        }
    }
    out
}

struct Params {
    signed: bool,
    bf16: bool,
    bias0: u8,
    bias1: u8,
    zero_guard: bool,
    raw_bytes: usize,
    stream_bytes: usize,
}

fn params(v: &Value) -> Result<Params, String> {
    let p = &v["params"];
    let num = |x: &Value, name: &str| x.as_u64().ok_or_else(|| format!("params.{name} missing"));
    let vlc = &p["vlc"];
    Ok(Params {
        signed: num(&vlc["signed"], "vlc.signed")? != 0,
        bf16: num(&vlc["bf16"], "vlc.bf16")? != 0,
        bias0: num(&vlc["bias0"], "vlc.bias0")? as u8,
        bias1: num(&vlc["bias1"], "vlc.bias1")? as u8,
        zero_guard: num(&vlc["zero_guard"], "vlc.zero_guard")? != 0,
        raw_bytes: num(&p["raw_bytes"], "raw_bytes")? as usize,
        stream_bytes: num(&p["stream_bytes"], "stream_bytes")? as usize,
    })
}

fn check_decompress(v: &Value, p: &Params) -> Result<(), String> {
    let stream = region(v, "gmem_init", 0)?;
    let want = region(v, "gmem_expect", 0)?;
    if stream.len() != p.stream_bytes || want.len() != p.raw_bytes {
        return Err(format!(
            "regions are {} / {} bytes, params say stream {} / raw {}",
            stream.len(),
            want.len(),
            p.stream_bytes,
            p.raw_bytes
        ));
    }
    let h = VlcHeader::parse(&stream).map_err(|e| e.to_string())?;
    if (h.signed, h.bf16, h.bias0, h.bias1, h.zero_guard) != (p.signed, p.bf16, p.bias0, p.bias1, p.zero_guard) {
        return Err(format!("header {h:?} differs from params.vlc"));
    }
    let got = decompress(&stream, p.raw_bytes).map_err(|e| format!("decompress: {e}"))?;
    if got != want {
        return Err(format!("decompressed data: {}", first_diff(&got, &want)));
    }
    let again = compress(&got, h.signed, h.bf16, h.bias0, h.bias1, h.zero_guard);
    if again != stream {
        return Err(format!("compress(decompress(stream)) differs from the stream: {}", first_diff(&again, &stream)));
    }
    Ok(())
}

fn check_compress(v: &Value, p: &Params) -> Result<(), String> {
    let raw = region(v, "gmem_init", 0)?;
    let background = region(v, "gmem_init", 1)?;
    let want = region(v, "gmem_expect", 0)?;
    if raw.len() != p.raw_bytes || background.len() != want.len() {
        return Err("region sizes do not match params".into());
    }
    check_store_params(p.signed, p.bf16, p.bias0, p.bias1, p.zero_guard).map_err(|e| e.to_string())?;
    let stream = compress(&raw, p.signed, p.bf16, p.bias0, p.bias1, p.zero_guard);
    if stream.len() != p.stream_bytes || stream.len() > want.len() {
        return Err(format!("stream is {} bytes, params say {}", stream.len(), p.stream_bytes));
    }
    if stream[..] != want[..stream.len()] {
        return Err(format!("stream: {}", first_diff(&stream, &want[..stream.len()])));
    }
    if want[stream.len()..] != background[stream.len()..] {
        return Err("bytes after the stream are not the untouched background".into());
    }
    let back = decompress(&stream, raw.len()).map_err(|e| format!("decompress of own stream: {e}"))?;
    let expect_back = if p.bf16 && p.zero_guard { zero_guard_loss(&raw) } else { raw };
    if back != expect_back {
        return Err(format!("round trip: {}", first_diff(&back, &expect_back)));
    }
    Ok(())
}

fn run_chip(chip: &str) {
    let path = corpus().join("vectors").join(chip).join("tdma_vlc.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (mut passed, mut failures) = (0usize, Vec::new());
    let (mut n_decompress, mut n_compress) = (0usize, 0usize);
    for (line_no, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            Err(e) => {
                failures.push(format!("line {}: bad JSON: {e}", line_no + 1));
                continue;
            }
        };
        let id = v["id"].as_str().unwrap_or("?").to_string();
        let xfer = v["params"]["xfer"].as_str().unwrap_or("");
        let result = params(&v).and_then(|p| {
            if xfer.ends_with("_decompress") {
                n_decompress += 1;
                check_decompress(&v, &p)
            } else if xfer.ends_with("_compress") {
                n_compress += 1;
                check_compress(&v, &p)
            } else {
                Err(format!("unknown xfer {xfer:?}"))
            }
        });
        match result {
            Ok(()) => passed += 1,
            Err(e) => failures.push(format!("{id} ({xfer}): {e}")),
        }
    }
    println!(
        "{chip} tdma_vlc: {passed} passed, {} failed ({n_decompress} decompress, {n_compress} compress vectors)",
        failures.len()
    );
    assert!(passed > 0, "{chip}: no vectors in {}", path.display());
    assert!(failures.is_empty(), "{chip}: {} failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn cv180x_tdma_vlc() {
    run_chip("cv180x");
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn cv181x_tdma_vlc() {
    run_chip("cv181x");
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn cv182x_tdma_vlc() {
    run_chip("cv182x");
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn cv183x_tdma_vlc() {
    run_chip("cv183x");
}
