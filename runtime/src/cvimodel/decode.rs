//! Walk the verified flatbuffer and build the owned model, checking what the runtime relies on.
//!
//! The generated verifier guarantees that every offset stays inside the body, so accessors cannot
//! panic; the checks here are the semantic ones (enum values, section ranges, names that must
//! resolve).

use super::cpu_args;
use super::dtype::{DType, QuantType};
use super::header::Header;
use super::program::{Program, Routine, RoutineKind};
use super::section::{Section, SectionType};
use super::tensor::{split_tagged, PixelFormat, QuantInfo, Tensor, Weight};
use super::{Model, ModelError, Version};
use crate::generated::model as fb;
use cvsim_isa::Region;
use std::sync::Arc;

/// Highest flatbuffer minor version the vendor runtime accepts (it is at 1.4).
const RUNTIME_MAJOR: u8 = 1;
const RUNTIME_MINOR: u8 = 4;

/// The runtime reads exactly four dims of every tensor's shape and of every weight's shape that
/// is present (`shape->dim()->Get(0..=3)`, a flatbuffers assertion below four): fewer abort it
/// while registering, more are never read.
const MAX_DIMS: usize = 4;

pub(super) fn parse(file: Arc<Vec<u8>>) -> Result<Model, ModelError> {
    let header = Header::parse(&file)?;
    let body_start = header.len;
    let body_end = header.payload_start();
    let body = &file[body_start..body_end];
    let root = fb::root_as_model(body).map_err(|source| ModelError::Flatbuffer { start: body_start, end: body_end, source })?;
    // File offset of a table: tables know their position inside the body.
    let at = |tab: &flatbuffers::Table| body_start + tab.loc;

    let v = root.version();
    let version = Version { major: v.major_(), minor: v.minor_(), sub_minor: v.sub_minor() };
    if version.minor > RUNTIME_MINOR && version.major >= RUNTIME_MAJOR {
        return Err(ModelError::UnsupportedVersion { major: version.major, minor: version.minor, sub_minor: version.sub_minor });
    }

    let mut sections = Vec::new();
    for (index, s) in root.sections().iter().enumerate() {
        let kind = SectionType::from_code(s.type_().0).ok_or(ModelError::UnknownEnum {
            at: at(&s._tab),
            what: "section type",
            value: s.type_().0 as u32,
        })?;
        let file_offset = body_end as u64 + s.offset() as u64;
        let end = file_offset + s.size_() as u64;
        let name = s.name().to_owned();
        if end > file.len() as u64 {
            return Err(ModelError::SectionOutside {
                index,
                name,
                at: at(&s._tab),
                start: file_offset,
                end,
                file_len: file.len(),
            });
        }
        let sec = Section {
            kind,
            name,
            size: s.size_(),
            offset: s.offset(),
            encrypt: s.encrypt(),
            compress: s.compress(),
            decompressed_size: s.decompressed_size(),
            file_offset,
        };
        sec.check_declared_size()?;
        sections.push(sec);
    }

    let mut weight_map = Vec::new();
    for (index, w) in root.weight_map().iter().flatten().enumerate() {
        let tab_at = at(&w._tab);
        let name = w.name().unwrap_or("").to_owned();
        let bad = |why: String| ModelError::BadWeight { index, name: name.clone(), at: tab_at, why };
        let dtype = DType::from_code(w.type_().0).ok_or_else(|| bad(format!("unknown dtype {}", w.type_().0)))?;
        let (region, region_offset) = split_tagged(w.offset()).map_err(&bad)?.map_or((None, 0), |(g, o)| (Some(g), o));
        let shape: Vec<i64> = w.shape().map(|s| s.dim().iter().collect()).unwrap_or_default();
        if w.shape().is_some() && shape.len() < MAX_DIMS {
            return Err(bad(format!(
                "field `shape` has {} dims; the runtime reads {MAX_DIMS} of every weight shape present",
                shape.len()
            )));
        }
        if !shape.is_empty() {
            // The runtime maps each weight with a shape into the weight buffer (one allocation of
            // the WEIGHT section's size) and asserts that the shape's bytes lie inside it.
            let bytes =
                shape[..MAX_DIMS].iter().try_fold(dtype.size() as i64, |acc, &d| if d < 0 { None } else { acc.checked_mul(d) });
            let weight_buffer: u64 = sections.iter().filter(|s| s.kind == SectionType::Weight).map(|s| s.size as u64).sum();
            match bytes {
                None => return Err(bad(format!("field `shape` {shape:?} has a negative dim or too many bytes"))),
                Some(b) if region_offset + b as u64 > weight_buffer => {
                    return Err(bad(format!(
                    "field `shape` {shape:?} covers bytes {region_offset}..{} of the weight buffer, which holds {weight_buffer}",
                    region_offset + b as u64
                )))
                }
                Some(_) => {}
            }
        }
        weight_map.push(Weight { name, offset: w.offset(), region, region_offset, size: w.size_(), shape, dtype });
    }

    let mut programs = Vec::new();
    for (pi, p) in root.programs().iter().enumerate() {
        programs.push(program(pi, &p, &sections, body_start)?);
    }

    Ok(Model {
        header,
        version,
        name: root.name().to_owned(),
        build_time: root.build_time().map(str::to_owned),
        target: root.target().map(str::to_owned),
        mlir_version: root.mlir_version().map(str::to_owned),
        done_softmax: root.postprocess_hints().map(|h| h.done_softmax()),
        weight_map,
        programs,
        sections,
        file,
    })
}

fn strings(v: Option<flatbuffers::Vector<'_, flatbuffers::ForwardsUOffset<&str>>>) -> Vec<String> {
    v.map(|v| v.iter().map(str::to_owned).collect()).unwrap_or_default()
}

fn program(pi: usize, p: &fb::Program, sections: &[Section], body_start: usize) -> Result<Program, ModelError> {
    let p_at = body_start + p._tab.loc;
    let mut tensor_map = Vec::new();
    for (ti, t) in p.tensor_map().iter().enumerate() {
        tensor_map.push(tensor(pi, ti, &t, body_start)?);
    }
    let input_tensors = strings(Some(p.input_tensors()));
    let output_tensors = strings(Some(p.output_tensors()));
    // The runtime looks every input and output up in the tensor map and aborts if it is missing.
    for (what, names) in [("input", &input_tensors), ("output", &output_tensors)] {
        if let Some(n) = names.iter().find(|n| !tensor_map.iter().any(|t| &t.name == *n)) {
            return Err(ModelError::BadProgram {
                program: pi,
                at: p_at,
                why: format!("{what} tensor {n:?} is not in the tensor map"),
            });
        }
    }
    let mut routines = Vec::new();
    for (ri, r) in p.routines().iter().enumerate() {
        routines.push(routine(pi, ri, &r, sections, &tensor_map, body_start)?);
    }
    Ok(Program {
        batch_num: p.batch_num(),
        neuron_size: p.neuron_size(),
        input_tensors,
        output_tensors,
        tensor_map,
        routines,
        shared_gmem: p.shared_gmem(),
        private_gmem: p.private_gmem(),
    })
}

fn tensor(pi: usize, ti: usize, t: &fb::Tensor, body_start: usize) -> Result<Tensor, ModelError> {
    let table_at = body_start + t._tab.loc;
    let name = t.name().to_owned();
    let bad = |why: String| ModelError::BadTensor { program: pi, index: ti, name: name.clone(), at: table_at, why };
    let dtype = DType::from_code(t.dtype().0).ok_or_else(|| bad(format!("unknown dtype {}", t.dtype().0)))?;
    let tagged = split_tagged(t.offset()).map_err(&bad)?;
    if let Some((Region::WEIGHT, _)) = tagged {
        // The runtime asserts on this: region 1 is the weight buffer, not a tensor home.
        return Err(bad("lives in region 1 (weights); the runtime rejects tensors there".into()));
    }
    let dims = t.shape().dim();
    if dims.len() != MAX_DIMS {
        return Err(bad(format!("field `shape` has {} dims; the runtime reads exactly {MAX_DIMS}", dims.len())));
    }
    let pixel_format = t.pixel_format().filter(|f| !f.is_empty());
    match pixel_format {
        // The runtime asserts that a tensor without a pixel format is not aligned.
        None if t.aligned() => return Err(bad("field `aligned` is set without a `pixel_format`".into())),
        Some(f) if PixelFormat::from_name(f).is_none() => {
            return Err(bad(format!("field `pixel_format` {f:?} is not a format the runtime knows")))
        }
        _ => {}
    }
    let mut shape = [1i64; MAX_DIMS];
    for (s, d) in shape.iter_mut().zip(dims.iter()) {
        *s = d;
    }
    let quant = match t.quant() {
        Some(q) => Some(QuantInfo {
            kind: QuantType::from_code(q.type_().0).ok_or_else(|| bad(format!("unknown quant type {}", q.type_().0)))?,
            max_value: q.max_value(),
            min_value: q.min_value(),
            zero_point: q.zero_point(),
            qscale: q.qscale(),
        }),
        None => None,
    };
    Ok(Tensor {
        id: t.tensor_id(),
        name: name.clone(),
        offset: t.offset(),
        region: tagged.map(|(r, _)| r),
        region_offset: tagged.map_or(0, |(_, o)| o),
        dtype,
        shape,
        stride: t.stride().map(|s| s.dim().iter().collect()),
        qscale: quant.map_or(0.0, |q| q.qscale),
        // C's float-to-int conversion truncates; `as` does too (and saturates instead of UB).
        zero_point: quant.map_or(0, |q| q.zero_point as i32),
        quant,
        overwrote: t.overwrote(),
        scale: t.scale().map(|v| v.iter().collect()).unwrap_or_default(),
        mean: t.mean().map(|v| v.iter().collect()).unwrap_or_default(),
        pixel_format: t.pixel_format().map(str::to_owned),
        aligned: t.aligned(),
        size: t.size_(),
        table_at,
    })
}

fn routine(
    pi: usize,
    ri: usize,
    r: &fb::Routine,
    sections: &[Section],
    tensors: &[Tensor],
    body_start: usize,
) -> Result<Routine, ModelError> {
    let at = body_start + r._tab.loc;
    let bad = |why: String| ModelError::BadRoutine { program: pi, routine: ri, at, why };
    let in_tensors = strings(r.in_tensors());
    let out_tensors = strings(r.out_tensors());
    if let Some(n) = in_tensors.iter().chain(&out_tensors).find(|n| !tensors.iter().any(|t| &t.name == *n)) {
        return Err(bad(format!("tensor {n:?} is not in the tensor map")));
    }
    let kind = match r.type_() {
        fb::RoutineType::TPU => {
            let t = r.tpu_routine().ok_or_else(|| bad("TPU routine without tpu_routine".into()))?;
            let cmdbuf_section = t.cmdbuf_section().map(str::to_owned);
            let dmabuf_section = t.dmabuf_section().map(str::to_owned);
            if cmdbuf_section.is_none() && dmabuf_section.is_none() {
                return Err(bad("TPU routine names neither a cmdbuf nor a dmabuf section".into()));
            }
            for (name, want) in [(&cmdbuf_section, SectionType::Cmdbuf), (&dmabuf_section, SectionType::Dmabuf)] {
                let Some(name) = name else { continue };
                match sections.iter().find(|s| &s.name == name) {
                    None => return Err(bad(format!("names section {name:?}, which does not exist"))),
                    Some(s) if s.kind != want => {
                        return Err(bad(format!("names section {name:?} as {want:?}, but it is {:?}", s.kind)));
                    }
                    Some(_) => {}
                }
            }
            RoutineKind::Tpu { cmdbuf_section, dmabuf_section }
        }
        fb::RoutineType::CPU => {
            let c = r.cpu_routine().ok_or_else(|| bad("CPU routine without cpu_routine".into()))?;
            let args =
                cpu_args::decode(c.function_args()).map_err(|why| ModelError::CpuArgs { program: pi, routine: ri, at, why })?;
            RoutineKind::Cpu { function: c.function_section().to_owned(), args }
        }
        other => return Err(ModelError::UnknownEnum { at, what: "routine type", value: other.0 as u32 }),
    };
    Ok(Routine { in_tensors, out_tensors, kind, table_at: at })
}
