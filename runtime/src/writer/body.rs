//! The flatbuffer body (`cvi.model.Model`) and the CPU-routine argument buffers, built with the
//! generated builders. Children are built before their parents, as flatbuffers requires.

use super::{ModelSpec, ProgramSpec, RoutineSpec, Stored, TensorSpec, WriteError};
use crate::cvimodel::{AttrValue, CpuAttr, DType, RoutineKind, SectionType};
use crate::generated::{cpu_op, model as fb};
use flatbuffers::{FlatBufferBuilder, ForwardsUOffset, Vector, WIPOffset};

type StrVec<'a> = WIPOffset<Vector<'a, ForwardsUOffset<&'a str>>>;

pub(super) fn encode(spec: &ModelSpec, stored: &[Stored]) -> Result<Vec<u8>, WriteError> {
    let mut b = FlatBufferBuilder::new();

    let mut sections = Vec::with_capacity(spec.sections.len());
    for (s, st) in spec.sections.iter().zip(stored) {
        let name = b.create_string(&s.name);
        let args = fb::SectionArgs {
            type_: section_type(s.kind),
            name: Some(name),
            size_: st.size,
            offset: st.offset,
            encrypt: false,
            compress: s.compress,
            decompressed_size: st.decompressed_size,
        };
        sections.push(fb::Section::create(&mut b, &args));
    }
    let sections = b.create_vector(&sections);

    let mut weights = Vec::with_capacity(spec.weight_map.len());
    for (index, w) in spec.weight_map.iter().enumerate() {
        let offset = w.addr.encode().map_err(|why| super::WriteError::Weight { index, name: w.name.clone(), why })?;
        let name = b.create_string(&w.name);
        let shape = (!w.shape.is_empty()).then(|| shape(&mut b, &w.shape));
        let args = fb::WeightArgs { name: Some(name), offset, size_: w.size, shape, type_: dtype(w.dtype) };
        weights.push(fb::Weight::create(&mut b, &args));
    }
    let weight_map = b.create_vector(&weights);

    let mut programs = Vec::with_capacity(spec.programs.len());
    for (pi, p) in spec.programs.iter().enumerate() {
        programs.push(program(&mut b, pi, p)?);
    }
    let programs = b.create_vector(&programs);

    let preprocess = spec.preprocess.as_ref().map(|h| {
        let color = h.color.as_deref().map(|s| b.create_string(s));
        let mean = h.mean.as_deref().map(|s| b.create_string(s));
        let std_ = h.std.as_deref().map(|s| b.create_string(s));
        let data_format = h.data_format.as_deref().map(|s| b.create_string(s));
        let args = fb::PreProcessHintsArgs { color, raw_scale: h.raw_scale, mean, std_, input_scale: h.input_scale, data_format };
        fb::PreProcessHints::create(&mut b, &args)
    });
    let postprocess =
        spec.done_softmax.map(|d| fb::PostProcessHints::create(&mut b, &fb::PostProcessHintsArgs { done_softmax: d }));
    let name = b.create_string(&spec.name);
    let build_time = spec.build_time.as_deref().map(|s| b.create_string(s));
    let target = spec.target.as_deref().map(|s| b.create_string(s));
    let mlir_version = spec.mlir_version.as_deref().map(|s| b.create_string(s));
    let version = fb::Version::new(spec.version.major, spec.version.minor, spec.version.sub_minor);
    let root = fb::Model::create(
        &mut b,
        &fb::ModelArgs {
            version: Some(&version),
            name: Some(name),
            build_time,
            preprocess_hints: preprocess,
            postprocess_hints: postprocess,
            weight_map: Some(weight_map),
            programs: Some(programs),
            sections: Some(sections),
            target,
            mlir_version,
        },
    );
    b.finish(root, None);
    Ok(b.finished_data().to_vec())
}

fn program<'a>(b: &mut FlatBufferBuilder<'a>, pi: usize, p: &ProgramSpec) -> Result<WIPOffset<fb::Program<'a>>, WriteError> {
    let mut tensors = Vec::with_capacity(p.tensor_map.len());
    for (ti, t) in p.tensor_map.iter().enumerate() {
        tensors.push(tensor(b, pi, ti, t)?);
    }
    let tensor_map = b.create_vector(&tensors);
    let routines: Vec<_> = p.routines.iter().map(|r| routine(b, r)).collect();
    let routines = b.create_vector(&routines);
    let input_tensors = strings(b, &p.input_tensors);
    let output_tensors = strings(b, &p.output_tensors);
    Ok(fb::Program::create(
        b,
        &fb::ProgramArgs {
            batch_num: p.batch_num,
            neuron_size: p.neuron_size,
            input_tensors: Some(input_tensors),
            output_tensors: Some(output_tensors),
            tensor_map: Some(tensor_map),
            routines: Some(routines),
            shared_gmem: p.shared_gmem,
            private_gmem: p.private_gmem,
        },
    ))
}

fn tensor<'a>(
    b: &mut FlatBufferBuilder<'a>,
    pi: usize,
    ti: usize,
    t: &TensorSpec,
) -> Result<WIPOffset<fb::Tensor<'a>>, WriteError> {
    let offset = t.addr.encode().map_err(|why| WriteError::Tensor { program: pi, index: ti, name: t.name.clone(), why })?;
    let name = b.create_string(&t.name);
    let shape_ = shape(b, &t.shape);
    let stride = t.stride.as_deref().map(|s| shape(b, s));
    let quant = t.quant.map(|q| {
        let args = fb::QuantInfoArgs {
            type_: fb::QuantType(q.kind as u8),
            max_value: q.max_value,
            min_value: q.min_value,
            zero_point: q.zero_point,
            qscale: q.qscale,
        };
        fb::QuantInfo::create(b, &args)
    });
    let scale = (!t.scale.is_empty()).then(|| b.create_vector(&t.scale));
    let mean = (!t.mean.is_empty()).then(|| b.create_vector(&t.mean));
    let pixel_format = t.pixel_format.as_deref().map(|s| b.create_string(s));
    Ok(fb::Tensor::create(
        b,
        &fb::TensorArgs {
            tensor_id: t.id,
            name: Some(name),
            offset,
            dtype: dtype(t.dtype),
            shape: Some(shape_),
            stride,
            quant,
            overwrote: t.overwrote,
            scale,
            mean,
            pixel_format,
            aligned: t.aligned,
            size_: t.size,
        },
    ))
}

fn routine<'a>(b: &mut FlatBufferBuilder<'a>, r: &RoutineSpec) -> WIPOffset<fb::Routine<'a>> {
    let (type_, tpu_routine, cpu_routine) = match &r.kind {
        RoutineKind::Tpu { cmdbuf_section, dmabuf_section } => {
            let c = cmdbuf_section.as_deref().map(|s| b.create_string(s));
            let d = dmabuf_section.as_deref().map(|s| b.create_string(s));
            let t = fb::TpuRoutine::create(b, &fb::TpuRoutineArgs { cmdbuf_section: c, dmabuf_section: d });
            (fb::RoutineType::TPU, Some(t), None)
        }
        RoutineKind::Cpu { function, args } => {
            let f = b.create_string(function);
            let a = b.create_vector(&cpu_args(args));
            let c = fb::CpuRoutine::create(b, &fb::CpuRoutineArgs { function_section: Some(f), function_args: Some(a) });
            (fb::RoutineType::CPU, None, Some(c))
        }
    };
    let in_tensors = strings(b, &r.in_tensors);
    let out_tensors = strings(b, &r.out_tensors);
    fb::Routine::create(
        b,
        &fb::RoutineArgs { type_, in_tensors: Some(in_tensors), out_tensors: Some(out_tensors), tpu_routine, cpu_routine },
    )
}

/// A `cvi.cpu_op.Parameter` with one `Attribute` per entry, each setting exactly one sub-table.
pub(super) fn cpu_args(args: &[CpuAttr]) -> Vec<u8> {
    let mut b = FlatBufferBuilder::new();
    let mut attrs = Vec::with_capacity(args.len());
    for a in args {
        let key = Some(b.create_string(&a.key));
        let mut attr = cpu_op::AttributeArgs::default();
        match &a.value {
            AttrValue::Int(v) => attr.int_attr = Some(cpu_op::IntAttr::create(&mut b, &cpu_op::IntAttrArgs { key, value: *v })),
            AttrValue::Float(v) => {
                attr.float_attr = Some(cpu_op::FloatAttr::create(&mut b, &cpu_op::FloatAttrArgs { key, value: *v }))
            }
            AttrValue::Bool(v) => {
                attr.bool_attr = Some(cpu_op::BoolAttr::create(&mut b, &cpu_op::BoolAttrArgs { key, value: *v }))
            }
            AttrValue::Str(v) => {
                let value = Some(b.create_string(v));
                attr.str_attr = Some(cpu_op::StrAttr::create(&mut b, &cpu_op::StrAttrArgs { key, value }));
            }
            AttrValue::IntArray(v) => {
                let value = Some(b.create_vector(v));
                attr.int_array_attr = Some(cpu_op::IntArrayAttr::create(&mut b, &cpu_op::IntArrayAttrArgs { key, value }));
            }
            AttrValue::FloatArray(v) => {
                let value = Some(b.create_vector(v));
                attr.float_array_attr = Some(cpu_op::FloatArrayAttr::create(&mut b, &cpu_op::FloatArrayAttrArgs { key, value }));
            }
        }
        attrs.push(cpu_op::Attribute::create(&mut b, &attr));
    }
    let attributes = Some(b.create_vector(&attrs));
    let p = cpu_op::Parameter::create(&mut b, &cpu_op::ParameterArgs { attributes });
    b.finish(p, None);
    b.finished_data().to_vec()
}

fn shape<'a>(b: &mut FlatBufferBuilder<'a>, dims: &[i64]) -> WIPOffset<fb::Shape<'a>> {
    let dim = b.create_vector(dims);
    fb::Shape::create(b, &fb::ShapeArgs { dim: Some(dim) })
}

fn strings<'a>(b: &mut FlatBufferBuilder<'a>, v: &[String]) -> StrVec<'a> {
    let offs: Vec<_> = v.iter().map(|s| b.create_string(s)).collect();
    b.create_vector(&offs)
}

fn dtype(d: DType) -> fb::DType {
    fb::DType(d.code())
}

fn section_type(t: SectionType) -> fb::SectionType {
    fb::SectionType(match t {
        SectionType::Weight => 0,
        SectionType::Cmdbuf => 1,
        SectionType::FuncX86 => 2,
        SectionType::FuncAarch64 => 3,
        SectionType::Dmabuf => 4,
    })
}
