//! The feature cases of the conformance corpus (fused preprocessing in every pixel format, a
//! two-program model) through the vendor-style Rust API: tensor information as the vendor runtime
//! reported it (the manifests), outputs byte for byte. Both programs of the two-program model run
//! on clones of one registration, sharing its weights.

use cvsim::commands::case::{self, Case};
use cvsim::npz;
use cvsim_runtime::api::{AllocKind, Config, ModelHandle, Runtime, VideoFrame};
use std::path::Path;

fn features() -> Vec<Case> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/conformance/features");
    let cases = case::find(&[root.clone()]);
    assert!(!cases.is_empty(), "no feature cases under {}", root.display());
    cases
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
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn feature_cases_through_the_api() {
    let cases = features();
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

/// A VPSS-style frame of a compact planar/packed uint8 tensor: rows padded to `align` bytes with
/// noise, channel c's rows starting at c · h · align(w).
fn padded_frame(data: &[u8], channels: usize, h: usize, w: usize, align: usize) -> Vec<u8> {
    let stride = w.div_ceil(align) * align;
    let mut rng = cvsim_compiler::example::SplitMix64::new(7);
    let mut out: Vec<u8> = (0..channels * h * stride).map(|_| rng.next_u64() as u8).collect();
    for r in 0..channels * h {
        out[r * stride..r * stride + w].copy_from_slice(&data[r * w..(r + 1) * w]);
    }
    out
}

fn outputs_match(c: &Case, h: &ModelHandle) -> Result<(), String> {
    for e in npz::read(&c.expected)? {
        let got = h.tensor_bytes(&e.name).map_err(|e| e.to_string())?;
        if got != e.data {
            return Err(format!("output `{}` differs", e.name));
        }
    }
    Ok(())
}

/// Every fused-preprocessing case fed from a frame in device memory, through each of the three
/// frame calls: an unaligned model gets the row padding stripped at the call (changing the frame
/// afterwards changes nothing), an aligned one is bound to the frame.
#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn feature_cases_from_video_frames() {
    let cases = features();
    let mut tried = 0;
    for c in cases.iter().filter(|c| c.dir.file_name().unwrap().to_string_lossy().starts_with("pp_")) {
        let rt = Runtime::new();
        let h = rt.register_file(c.dir.join("model.cvimodel")).unwrap();
        let (ins, _) = h.tensors().unwrap();
        let t = &ins[0];
        let input = npz::read(&c.input).unwrap().remove(0).data;
        let chip_align = h.model().chip().params().vpss_row_align as usize;
        let packed = matches!(t.pixel_format, 0 | 1);
        let (ch, rows, row) = if t.aligned {
            (1, 1, input.len())
        } else if packed {
            (1, t.shape[1] as usize, (t.shape[2] * t.shape[3]) as usize)
        } else {
            (t.shape[1] as usize, t.shape[2] as usize, t.shape[3] as usize)
        };
        let frame = if t.aligned { input.clone() } else { padded_frame(&input, ch, rows, row, chip_align) };
        let buf = rt.alloc(frame.len() as u64).unwrap();
        let planes: Vec<u64> = (0..3)
            .map(|i| buf + if t.aligned { 0 } else { (i * rows * row.div_ceil(chip_align) * chip_align) as u64 })
            .collect();
        let name = c.dir.display();
        for call in ["video_frame", "aligned_frames", "feed_frames"] {
            let h = h.clone_model();
            h.tensors().unwrap();
            rt.write(buf, &frame).unwrap();
            let r = match call {
                "video_frame" => h.set_video_frame(
                    &t.name,
                    &VideoFrame {
                        pixel_format: t.pixel_format,
                        shape: t.shape,
                        plane_addrs: [planes[0], planes[1], planes[2]],
                    },
                ),
                "aligned_frames" => h.set_aligned_frames(&t.name, &[buf], t.pixel_format),
                _ => {
                    let (hh, ww) = if packed { (t.shape[1], t.shape[2]) } else { (t.shape[2], t.shape[3]) };
                    h.feed_frames(&t.name, t.pixel_format, &planes[..ch], hh, ww)
                }
            };
            r.unwrap_or_else(|e| panic!("{name} {call}: {e}"));
            if !t.aligned {
                // Copied at the call: the frame buffer is free for the next frame.
                rt.write(buf, &vec![0x5A; frame.len()]).unwrap();
            }
            h.forward().unwrap();
            outputs_match(c, &h).unwrap_or_else(|e| panic!("{name} {call}: {e}"));
            tried += 1;
        }
        // The vendor's error cases: a frame of another size, another format for an aligned input.
        let mut wrong = t.shape;
        wrong[2] += 1;
        let e = h
            .set_video_frame(&t.name, &VideoFrame { pixel_format: t.pixel_format, shape: wrong, plane_addrs: [buf; 3] })
            .unwrap_err();
        assert_eq!(e.status(), cvsim_runtime::api::rc::DATA_ERR, "{name}: {e}");
        if t.aligned {
            let e = h.set_aligned_frames(&t.name, &[buf], t.pixel_format + 1).unwrap_err();
            assert_eq!(e.status(), cvsim_runtime::api::rc::INVALID_ARG, "{name}: {e}");
        }
        let e = h.set_aligned_frames(&t.name, &[0x10], t.pixel_format).unwrap_err();
        assert!(e.to_string().contains("0x10"), "{name}: {e}");
    }
    assert_eq!(tried, 18, "6 fused-preprocessing cases × 3 calls");
}
