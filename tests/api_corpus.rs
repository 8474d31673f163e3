//! The feature cases of the conformance corpus (fused preprocessing in every pixel format, a
//! two-program model) through the vendor-style Rust API: tensor information as the vendor runtime
//! reported it (the manifests), outputs byte for byte. Both programs of the two-program model run
//! on clones of one registration, sharing its weights.

use cvsim::commands::case::{self, Case};
use cvsim::npz;
use cvsim_runtime::api::{AllocKind, Config, ModelHandle, Runtime};
use std::path::Path;

fn features() -> Option<Vec<Case>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/features");
    if !root.is_dir() {
        eprintln!("SKIP: {} not found; the API corpus test checks nothing", root.display());
        return None;
    }
    Some(case::find(&[root]))
}

fn dtype_name(d: cvsim_runtime::DType) -> &'static str {
    use cvsim_runtime::DType::*;
    match d {
        F32 => "float32",
        I32 => "int32",
        U32 => "uint32",
        Bf16 => "bfloat16",
        I16 => "int16",
        U16 => "uint16",
        I8 => "int8",
        U8 => "uint8",
    }
}

/// Run one case on `h` (program already chosen), checking tensor info against the manifest.
fn run(c: &Case, h: &ModelHandle) -> Result<(), String> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(c.dir.join("manifest.json")).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let spec = manifest["programs"].get(c.program).unwrap_or(&manifest);
    let (ins, outs) = h.tensors().map_err(|e| e.to_string())?;
    for (list, key) in [(&ins, "inputs"), (&outs, "outputs")] {
        let want = spec[key].as_array().ok_or(format!("manifest has no {key}"))?;
        if want.len() != list.len() {
            return Err(format!("{} {key}, the manifest lists {}", list.len(), want.len()));
        }
        for (t, w) in list.iter().zip(want) {
            let shape: Vec<i64> = w["shape"].as_array().unwrap().iter().map(|d| d.as_i64().unwrap()).collect();
            let checks = [
                ("name", w["name"].as_str() == Some(t.name.as_str())),
                ("dtype", w["dtype"].as_str() == Some(dtype_name(t.dtype))),
                ("shape", shape == t.shape),
                ("qscale", w["qscale"].as_f64().map(|q| q as f32) == Some(t.qscale)),
                ("zero_point", w["zero_point"].as_i64() == Some(t.zero_point as i64)),
                ("pixel_format", w["pixel_format"].as_i64().map_or(true, |p| p == t.pixel_format as i64)),
                ("aligned", w["aligned"].as_bool().map_or(true, |a| a == t.aligned)),
                ("mem_size", w["mem_size"].as_u64().map_or(true, |m| m == t.mem_size)),
            ];
            if let Some((what, _)) = checks.iter().find(|c| !c.1) {
                return Err(format!("{key} `{}`: {what} differs from the manifest ({w}; got {t:?})", t.name));
            }
        }
    }
    for a in npz::read(&c.input)? {
        h.set_input(&a.name, &a.data).map_err(|e| e.to_string())?;
    }
    h.forward().map_err(|e| e.to_string())?;
    for e in npz::read(&c.expected)? {
        let got = h.tensor_bytes(&e.name).map_err(|e| e.to_string())?;
        if got != e.data {
            let diff = got.iter().zip(&e.data).filter(|(a, b)| a != b).count();
            return Err(format!("output `{}`: {diff} bytes differ (of {})", e.name, e.data.len()));
        }
    }
    Ok(())
}

#[test]
fn feature_cases_through_the_api() {
    let Some(cases) = features() else { return };
    assert!(cases.len() >= 8, "expected the 7 feature folders (one with two programs), found {}", cases.len());
    let mut failures = Vec::new();
    for c in cases.iter().filter(|c| c.program == 0) {
        let rt = Runtime::new();
        let root = rt.register_file(c.dir.join("model.cvimodel")).unwrap();
        for p in cases.iter().filter(|p| p.dir == c.dir) {
            let h = root.clone_model();
            h.set_config(Config::ProgramIndex(p.program)).unwrap();
            if let Err(e) = run(p, &h) {
                failures.push(format!("{}#{}: {e}", c.dir.display(), p.program));
            }
        }
        let weights: Vec<_> = rt.allocations().into_iter().filter(|a| a.kind == AllocKind::Weight).collect();
        assert!(weights.len() <= 1, "{weights:?}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
