//! Every cvimodel of the conformance corpus loads, agrees with its manifest, and its command
//! buffers decode and re-encode byte for byte.

mod common;

use cvsim_isa::cmdbuf::encode_cmdbuf;
use cvsim_runtime::info::{info_json, io_tensors, render_info, IoTensor};
use cvsim_runtime::memory::{tensor_mem_size, vendor_estimate, MemoryOptions, MemoryPlan};
use cvsim_runtime::{Model, SectionType};
use serde_json::Value;
use std::path::Path;

fn manifest(model: &Path) -> Value {
    let text = std::fs::read_to_string(model.with_file_name("manifest.json")).expect("manifest.json next to model");
    serde_json::from_str(&text).expect("manifest is JSON")
}

fn npz_dtype(d: &str) -> &str {
    match d {
        "float32" => "fp32",
        other => other,
    }
}

/// Compare the runtime-visible view of tensors with the manifest's `inputs` / `outputs`.
fn check_io(what: &str, got: &[IoTensor], want: &Value, errs: &mut Vec<String>) {
    let want = want.as_array().cloned().unwrap_or_default();
    if got.len() != want.len() {
        errs.push(format!("{what}: {} tensors, manifest has {}", got.len(), want.len()));
        return;
    }
    for (g, w) in got.iter().zip(&want) {
        let shape: Vec<i64> = w["shape"].as_array().unwrap().iter().map(|v| v.as_i64().unwrap()).collect();
        let qscale = w["qscale"].as_f64().unwrap() as f32;
        let ok = g.name == w["name"].as_str().unwrap()
            && g.dtype == npz_dtype(w["dtype"].as_str().unwrap())
            && g.shape[..] == shape[..]
            && (g.qscale - qscale).abs() <= qscale.abs() * 1e-6
            && i64::from(g.zero_point) == w["zero_point"].as_i64().unwrap()
            && w.get("mem_size").is_none_or(|m| g.mem_size == m.as_u64())
            && w.get("pixel_format").is_none_or(|p| i64::from(g.cvi_pixel_format) == p.as_i64().unwrap());
        if !ok {
            errs.push(format!("{what} {}: got {g:?}, manifest {w}", g.name));
        }
    }
}

fn check_case(path: &Path) -> Vec<String> {
    let mut errs = Vec::new();
    let model = match Model::from_file(path) {
        Ok(m) => m,
        Err(e) => return vec![format!("does not load: {e}")],
    };
    let man = manifest(path);
    if man["chip"].as_str() != Some(model.chip().name()) {
        errs.push(format!("header chip {} but manifest chip {}", model.chip(), man["chip"]));
    }
    if model.target.as_deref() != Some(model.chip().name()) {
        errs.push(format!("target {:?} differs from header chip", model.target));
    }
    // tpu-mlir writes the MD5 of everything after the header; a file merged by the vendor
    // model tool (header padding "AA") leaves it unset.
    if model.header.padding == *b"Cv" && !model.md5_matches() {
        errs.push("header MD5 does not match the file".into());
    }

    for (pi, p) in model.programs.iter().enumerate() {
        for (ri, r) in p.routines.iter().enumerate() {
            let Some(sec) = r.tpu_section() else { continue };
            let sec = model.section(sec).unwrap();
            if sec.kind != SectionType::Cmdbuf {
                continue;
            }
            let bytes = model.section_bytes(sec).unwrap();
            match cvsim_isa::parse_cmdbuf(&bytes, Some(model.chip())) {
                Err(e) => errs.push(format!("program {pi} routine {ri}: section {} does not decode: {e}", sec.name)),
                Ok((_, cmds)) => match encode_cmdbuf(model.chip(), &cmds) {
                    Ok(re) if re[..] == bytes[..] => {}
                    Ok(re) => {
                        let at = re.iter().zip(bytes.iter()).position(|(a, b)| a != b).unwrap_or(re.len().min(bytes.len()));
                        errs.push(format!("section {}: re-encoding differs first at byte {at}", sec.name));
                    }
                    Err(e) => errs.push(format!("section {}: re-encoding fails: {e}", sec.name)),
                },
            }
        }

        let plan = match MemoryPlan::new(&model, MemoryOptions { program: pi, ..Default::default() }) {
            Ok(plan) => plan,
            Err(e) => {
                errs.push(format!("program {pi}: no memory plan: {e}"));
                continue;
            }
        };
        let weight: u64 = model.sections.iter().filter(|s| s.kind == SectionType::Weight).map(|s| s.size as u64).sum();
        let largest_shared = model.programs.iter().map(|p| p.shared_gmem as u64).max().unwrap();
        let sane = plan.weight == weight
            && plan.cmdbufs.len() == model.sections.iter().filter(|s| s.kind == SectionType::Cmdbuf).count()
            // The dmabuf holds every descriptor body (cmdbuf record headers dropped) plus its own
            // header and segment table.
            && plan.cmdbufs.iter().all(|c| c.dmabuf >= 128 + 112 * c.tiu_descriptors + 64 * c.tdma_descriptors && c.pmubuf == 0)
            && plan.cmdbufs.iter().all(|c| c.section_size == 120 * c.tiu_descriptors + 72 * c.tdma_descriptors)
            && plan.shared_gmem % 4096 == 0
            && plan.shared_gmem >= largest_shared
            && plan.shared_gmem < largest_shared + 4096
            && plan.private_gmem == p.private_gmem as u64
            && plan.total == plan.per_model + plan.per_instance + plan.shared_gmem
            && plan.vendor_estimate == vendor_estimate(&model);
        if !sane {
            errs.push(format!("program {pi}: implausible memory plan {plan:?}"));
        }
        // Every input and output in an IO region has a buffer at least as large as it.
        for t in p.inputs().chain(p.outputs()).filter(|t| t.region.is_some_and(cvsim_isa::Region::is_io)) {
            let buf = plan.io.iter().find(|m| Some(m.region) == t.region);
            let (need, _) = tensor_mem_size(model.chip(), t).unwrap();
            if buf.is_none_or(|b| b.size < need) {
                errs.push(format!("program {pi}: tensor {} has no big enough IO buffer", t.name));
            }
        }

        let (ins, outs) = io_tensors(&model, p);
        let (want_in, want_out) = match man.get("programs") {
            Some(progs) => (&progs[pi]["inputs"], &progs[pi]["outputs"]),
            None => (&man["inputs"], &man["outputs"]),
        };
        check_io(&format!("program {pi} input"), &ins, want_in, &mut errs);
        check_io(&format!("program {pi} output"), &outs, want_out, &mut errs);
    }

    let text = render_info(&model);
    if !model.sections.iter().all(|s| text.contains(&s.name)) || !text.contains("Device memory") {
        errs.push("info report misses sections or the memory block".into());
    }
    let json = info_json(&model);
    if json["programs"][0]["memory"]["total"].as_u64().is_none() || json["sections"][0]["md5"].as_str().is_none() {
        errs.push("info JSON misses the memory plan or section MD5".into());
    }
    errs
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn every_corpus_model() {
    let cases = common::corpus_models();
    let mut failed = Vec::new();
    for (case, path) in &cases {
        for e in check_case(path) {
            failed.push(format!("{case}: {e}"));
        }
    }
    eprintln!("{} corpus models checked", cases.len());
    assert!(failed.is_empty(), "{} problems:\n{}", failed.len(), failed.join("\n"));
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn corpus_facts() {
    let cases = common::corpus_models();
    let mut cpu_functions = std::collections::BTreeSet::new();
    for (_, path) in &cases {
        let m = Model::from_file(path).unwrap();
        assert!(m
            .sections
            .iter()
            .all(|s| matches!(s.kind, SectionType::Weight | SectionType::Cmdbuf) && !s.compress && !s.encrypt));
        for p in &m.programs {
            cpu_functions.extend(p.routines.iter().filter_map(|r| r.cpu_function().map(str::to_owned)));
        }
    }
    assert_eq!(cpu_functions.into_iter().collect::<Vec<_>>(), ["argmax_v3", "quant"]);
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn aligned_feature_inputs_match_runtime_mem_size() {
    // The sizes the vendor runtime reported (features/README.md), from the VPSS rules and the model.
    for (case, size) in [
        ("features/pp_rgb_planar_aligned_cv181x", 3840),
        ("features/pp_yuv_nv12_cv181x", 1920),
        ("features/pp_yuv_nv12_cv183x", 8192),
    ] {
        let path = common::corpus_case(case);
        let m = Model::from_file(path).unwrap();
        let plan = MemoryPlan::new(&m, MemoryOptions::default()).unwrap();
        assert_eq!(plan.io[0].size, size, "{case}");
        // The model also stores the size; the VPSS formula gives the same.
        let t = m.programs[0].inputs().next().unwrap();
        let fmt = t.pixel_format_kind().unwrap();
        assert_eq!(cvsim_runtime::memory::vpss_frame_size(m.chip(), fmt, t.shape), Some(size), "{case}");
    }
}

#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn multiprogram_selects_program() {
    let path = common::corpus_case("features/multiprogram_cv181x_int8");
    let m = Model::from_file(path).unwrap();
    assert_eq!(m.programs.len(), 2);
    assert_eq!(&m.header.padding, b"AA");
    let p0 = MemoryPlan::new(&m, MemoryOptions { program: 0, ..Default::default() }).unwrap();
    let p1 = MemoryPlan::new(&m, MemoryOptions { program: 1, ..Default::default() }).unwrap();
    // Both programs' command buffers are loaded whichever is selected; the shared request is the
    // larger program's.
    assert_eq!(p0.cmdbufs.len(), 2);
    assert_eq!((p0.per_model, p0.shared_gmem), (p1.per_model, p1.shared_gmem));
    assert!(p1.io_total > p0.io_total);
}

/// Each descriptor of every corpus command buffer, decoded to its typed fields and encoded
/// again, gives its own bytes back; a failure names the section, the descriptor index and the
/// first differing byte. Also the dmabuf form: the buffer the runtime would build from those
/// descriptors parses back to them (with the builder's documented edits).
#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn every_corpus_descriptor_re_encodes() {
    use cvsim_isa::dmabuf::{build_dmabuf, parse_dmabuf, segments};
    use cvsim_isa::{Desc, Engine, LayoutFamily};
    let cases = common::corpus_models();
    let (mut failed, mut count) = (Vec::new(), 0usize);
    for (case, path) in &cases {
        let m = Model::from_file(path).unwrap();
        let chip = m.chip();
        for sec in m.sections.iter().filter(|s| s.kind == SectionType::Cmdbuf) {
            let bytes = m.section_bytes(sec).unwrap();
            let cmds = match m.decode_cmdbuf(sec) {
                Ok(c) => c,
                Err(e) => {
                    failed.push(format!("{case} {}: does not decode: {e}", sec.name));
                    continue;
                }
            };
            for (i, c) in cmds.iter().enumerate() {
                count += 1;
                let end = cmds.get(i + 1).map_or(bytes.len(), |n| n.offset);
                let stored = &bytes[c.offset + cvsim_isa::cmdbuf::HEADER_BYTES..end];
                match c.desc.encode(chip) {
                    Ok(enc) if enc[..] == stored[..] => {}
                    Ok(enc) => {
                        let at = enc.iter().zip(stored).position(|(a, b)| a != b).unwrap_or(enc.len().min(stored.len()));
                        failed.push(format!(
                            "{case} {} descriptor {i} ({:?} at byte {}): re-encoding differs at body byte {at} ({} vs {} bytes)",
                            sec.name,
                            c.desc.engine(),
                            c.offset,
                            enc.len(),
                            stored.len()
                        ));
                    }
                    Err(e) => failed.push(format!("{case} {} descriptor {i}: does not encode: {e}", sec.name)),
                }
            }

            // The dmabuf builder sets end/interrupt bits on each segment's last TIU and TDMA
            // descriptor and the barrier on every TDMA one; CV183x also tags TIU chunks in its
            // reserved nibbles. Apply the same edits to the originals and compare.
            let mut want = cmds.clone();
            for s in segments(&cmds) {
                let seg = &mut want[s.range.clone()];
                let last = |e: Engine| seg.iter().rposition(|c| c.desc.engine() == e);
                let (lt, ld) = (last(Engine::Tiu), last(Engine::Tdma));
                for (i, c) in seg.iter_mut().enumerate() {
                    match &mut c.desc {
                        Desc::Tiu(d) if Some(i) == lt => (d.cmd_end, d.cmd_intr_en) = (1, 1),
                        Desc::Tdma(d) => {
                            d.bar_en = 1;
                            if Some(i) == ld {
                                (d.eod, d.intp_en) = (1, 1);
                            }
                        }
                        _ => {}
                    }
                }
            }
            // The dmabuf keeps each engine's order, not the interleaving, so compare per engine.
            let got = build_dmabuf(chip, &cmds)
                .map_err(|e| e.to_string())
                .and_then(|b| parse_dmabuf(&b, chip).map_err(|e| e.to_string()));
            let got = match got {
                Ok(d) => d,
                Err(e) => {
                    failed.push(format!("{case} {}: dmabuf round trip fails: {e}", sec.name));
                    continue;
                }
            };
            for engine in [Engine::Tiu, Engine::Tdma] {
                let from_dmabuf: Vec<&Desc> = got
                    .segments
                    .iter()
                    .flat_map(|(tiu, tdma)| if engine == Engine::Tiu { tiu } else { tdma })
                    .map(|c| &c.desc)
                    .collect();
                let expected: Vec<&Desc> = want.iter().map(|c| &c.desc).filter(|d| d.engine() == engine).collect();
                if from_dmabuf.len() != expected.len() {
                    failed.push(format!(
                        "{case} {}: dmabuf holds {} {engine:?} descriptors, not {}",
                        sec.name,
                        from_dmabuf.len(),
                        expected.len()
                    ));
                    continue;
                }
                for (i, (g, w)) in from_dmabuf.into_iter().zip(expected).enumerate() {
                    let same = match (g, w) {
                        (Desc::Tiu(g), Desc::Tiu(w)) if chip.layout() == LayoutFamily::Cv183x => {
                            let mut g = (**g).clone();
                            (g.rsvd1, g.rsvd2, g.rsvd3, g.rsvd4, g.rsvd5, g.rsvd6) =
                                (w.rsvd1, w.rsvd2, w.rsvd3, w.rsvd4, w.rsvd5, w.rsvd6);
                            g == **w
                        }
                        _ => g == w,
                    };
                    if !same {
                        failed.push(format!("{case} {}: dmabuf {engine:?} descriptor {i} differs from the cmdbuf's", sec.name));
                        break;
                    }
                }
            }
        }
    }
    eprintln!("{count} descriptors of {} corpus models checked", cases.len());
    assert!(failed.is_empty(), "{} problems:\n{}", failed.len(), failed.join("\n"));
}
