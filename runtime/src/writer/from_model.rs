//! A loaded [`Model`] described as a [`ModelSpec`], so that it can be re-written.

use super::{ModelSpec, PreprocessHints, ProgramSpec, RoutineSpec, SectionSpec, TaggedAddr, TensorSpec, WeightSpec};
use crate::cvimodel::{Model, ModelError};
use crate::generated::model as fb;

pub(super) fn spec_of(m: &Model) -> Result<ModelSpec, ModelError> {
    let mut sections = Vec::with_capacity(m.sections.len());
    for s in &m.sections {
        let data = m.section_bytes(s)?.into_owned();
        sections.push(SectionSpec { kind: s.kind, name: s.name.clone(), data, compress: s.compress });
    }
    // The loader validated every tagged address, so decoding them again cannot fail.
    let addr = |raw: i64| TaggedAddr::decode(raw).unwrap_or(TaggedAddr::None);
    let weight_map = m
        .weight_map
        .iter()
        .map(|w| WeightSpec { name: w.name.clone(), addr: addr(w.offset), size: w.size, shape: w.shape.clone(), dtype: w.dtype })
        .collect();
    let programs = m
        .programs
        .iter()
        .map(|p| ProgramSpec {
            batch_num: p.batch_num,
            neuron_size: p.neuron_size,
            input_tensors: p.input_tensors.clone(),
            output_tensors: p.output_tensors.clone(),
            tensor_map: p
                .tensor_map
                .iter()
                .map(|t| TensorSpec {
                    id: t.id,
                    name: t.name.clone(),
                    addr: addr(t.offset),
                    dtype: t.dtype,
                    shape: t.shape.to_vec(),
                    stride: t.stride.clone(),
                    quant: t.quant,
                    overwrote: t.overwrote,
                    scale: t.scale.clone(),
                    mean: t.mean.clone(),
                    pixel_format: t.pixel_format.clone(),
                    aligned: t.aligned,
                    size: t.size,
                })
                .collect(),
            routines: p
                .routines
                .iter()
                .map(|r| RoutineSpec {
                    in_tensors: r.in_tensors.clone(),
                    out_tensors: r.out_tensors.clone(),
                    kind: r.kind.clone(),
                })
                .collect(),
            shared_gmem: p.shared_gmem,
            private_gmem: p.private_gmem,
        })
        .collect();
    Ok(ModelSpec {
        chip: m.chip(),
        version: m.version,
        name: m.name.clone(),
        build_time: m.build_time.clone(),
        target: m.target.clone(),
        mlir_version: m.mlir_version.clone(),
        preprocess: preprocess_hints(m)?,
        done_softmax: m.done_softmax,
        weight_map,
        programs,
        sections,
        header_padding: m.header.padding,
    })
}

/// The loaded model does not keep `PreProcessHints`; read them from the body again.
fn preprocess_hints(m: &Model) -> Result<Option<PreprocessHints>, ModelError> {
    let (start, end) = (m.header.len, m.header.payload_start());
    let body = &m.file_bytes()[start..end];
    let root = fb::root_as_model(body).map_err(|source| ModelError::Flatbuffer { start, end, source })?;
    Ok(root.preprocess_hints().map(|h| PreprocessHints {
        color: h.color().map(str::to_owned),
        raw_scale: h.raw_scale(),
        mean: h.mean().map(str::to_owned),
        std: h.std_().map(str::to_owned),
        input_scale: h.input_scale(),
        data_format: h.data_format().map(str::to_owned),
    }))
}
