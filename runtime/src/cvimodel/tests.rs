//! Loading synthetic models: what is accepted, and each defect rejected with the right error.

use super::testutil::*;
use super::*;
use cvsim_isa::Region;

fn load(spec: &Spec) -> Result<Model, ModelError> {
    Model::from_bytes(&spec.build())
}

#[test]
fn simple_model_round_trips_into_owned_types() {
    let m = load(&simple()).unwrap();
    assert_eq!(m.chip(), Chip::Cv181x);
    assert!(m.md5_matches());
    assert_eq!(m.version, Version { major: 1, minor: 4, sub_minor: 0 });
    assert_eq!(m.target.as_deref(), Some("cv181x"));
    let p = &m.programs[0];
    let out = p.tensor("out").unwrap();
    assert_eq!(out.shape, [1, 10, 1, 1]);
    assert_eq!((out.region, out.region_offset, out.dtype), (Region::io(1), 0, DType::F32));
    assert_eq!((out.qscale, out.zero_point), (0.5, 3));
    assert_eq!(out.byte_size(), Some(40));
    let s = m.section("subfunc_0").unwrap();
    assert_eq!(s.file_offset, (48 + m.header.body_size + 100) as u64);
    assert_eq!(m.section_data("subfunc_0").unwrap().len(), 2 * 120 + 3 * 72);
    assert_eq!(m.decode_cmdbuf(s).unwrap().len(), 5);
    assert_eq!(p.routines[0].tpu_section(), Some("subfunc_0"));
    assert_eq!(m.routine_section(&p.routines[0]), Some(s));
    assert_eq!(m.weight_map[0].region, Some(Region::WEIGHT));
    assert!(matches!(m.section_data("nope"), Err(ModelError::NoSuchSection { .. })));
    assert!(matches!(m.program(1), Err(ModelError::NoSuchProgram { index: 1, count: 1 })));
}

#[test]
fn compressed_section_is_inflated() {
    let mut spec = simple();
    let data = cmdbuf(0xA7, 4, 4);
    spec.sections[1] = SecSpec { kind: 1, name: "subfunc_0", compress: Some(data.len() as u32), data: data.clone(), place: None };
    let m = load(&spec).unwrap();
    assert!(m.sections[1].compress);
    assert_eq!(&*m.section_data("subfunc_0").unwrap(), &data[..]);
    assert_eq!(m.decode_cmdbuf(&m.sections[1]).unwrap().len(), 8);
}

#[test]
fn absurd_decompressed_size_rejected_at_load() {
    let mut spec = simple();
    spec.sections[1].compress = Some(u32::MAX);
    assert!(matches!(load(&spec), Err(ModelError::SectionTooLarge { .. })));
}

#[test]
fn section_outside_file_names_section_and_range() {
    let mut spec = simple();
    spec.sections[1].place = Some((100, 1_000_000));
    let e = load(&spec).unwrap_err();
    let ModelError::SectionOutside { ref name, start, end, .. } = e else { panic!("{e}") };
    assert_eq!(name, "subfunc_0");
    assert_eq!(end - start, 1_000_000);
    assert!(e.to_string().contains("subfunc_0"), "{e}");
}

#[test]
fn version_check_matches_runtime() {
    let mut spec = simple();
    spec.version = (1, 5, 0);
    assert!(matches!(load(&spec), Err(ModelError::UnsupportedVersion { minor: 5, .. })));
    // A lower major version is accepted whatever the minor.
    spec.version = (0, 9, 0);
    assert!(load(&spec).is_ok());
    spec.version = (2, 4, 0);
    assert!(load(&spec).is_ok());
}

#[test]
fn unknown_chip_rejected() {
    let mut spec = simple();
    spec.chip = "bm1684";
    assert!(matches!(load(&spec), Err(ModelError::UnknownChip { ref found }) if found == "bm1684"));
}

#[test]
fn routine_naming_missing_or_wrong_section_rejected() {
    let mut spec = simple();
    spec.routines = vec![RoutineSpec::Tpu { cmdbuf: Some("subfunc_9"), dmabuf: None, ins: vec![], outs: vec![] }];
    let e = load(&spec).unwrap_err();
    assert!(matches!(e, ModelError::BadRoutine { routine: 0, .. }) && e.to_string().contains("subfunc_9"), "{e}");
    spec.routines = vec![RoutineSpec::Tpu { cmdbuf: None, dmabuf: Some("subfunc_0"), ins: vec![], outs: vec![] }];
    assert!(load(&spec).unwrap_err().to_string().contains("as Dmabuf, but it is Cmdbuf"));
    spec.routines = vec![RoutineSpec::Tpu { cmdbuf: None, dmabuf: None, ins: vec![], outs: vec![] }];
    assert!(matches!(load(&spec), Err(ModelError::BadRoutine { .. })));
    spec.routines = vec![RoutineSpec::Raw { kind: 0 }];
    assert!(load(&spec).unwrap_err().to_string().contains("without tpu_routine"));
    spec.routines = vec![RoutineSpec::Raw { kind: 9 }];
    assert!(matches!(load(&spec), Err(ModelError::UnknownEnum { what: "routine type", value: 9, .. })));
}

#[test]
fn tensor_defects_rejected() {
    let mut spec = simple();
    spec.tensors[1] = tensor("act", 1, 6, &[1, 3, 4, 4]);
    let e = load(&spec).unwrap_err();
    assert!(matches!(e, ModelError::BadTensor { index: 1, .. }) && e.to_string().contains("region 1"), "{e}");
    let mut spec = simple();
    spec.tensors[1].dtype = 8;
    assert!(load(&spec).unwrap_err().to_string().contains("unknown dtype 8"));
    let mut spec = simple();
    spec.tensors[1].dims = vec![1, 1, 1, 1, 1];
    assert!(load(&spec).unwrap_err().to_string().contains("5 dims"));
    // The vendor runtime reads exactly four dims (a flatbuffers assertion aborts it below four).
    let mut spec = simple();
    spec.tensors[2].dims = vec![1, 10];
    let e = load(&spec).unwrap_err();
    assert!(matches!(e, ModelError::BadTensor { index: 2, .. }) && e.to_string().contains("field `shape` has 2 dims"), "{e}");
    // It asserts that a tensor without a pixel format is not aligned, and knows only its formats.
    let mut spec = simple();
    spec.tensors[0].aligned = true;
    assert!(load(&spec).unwrap_err().to_string().contains("field `aligned` is set without a `pixel_format`"));
    spec.tensors[0].pixel_format = Some("BGR_PLANAR");
    load(&spec).unwrap();
    spec.tensors[0].pixel_format = Some("NV12");
    assert!(load(&spec).unwrap_err().to_string().contains("field `pixel_format` \"NV12\" is not a format"));
    let mut spec = simple();
    spec.tensors[1].offset = -5;
    assert!(load(&spec).unwrap_err().to_string().contains("not a tagged address"));
    let mut spec = simple();
    spec.outputs = vec!["missing"];
    assert!(matches!(load(&spec), Err(ModelError::BadProgram { .. })));
    let mut spec = simple();
    spec.routines = vec![RoutineSpec::Tpu { cmdbuf: Some("subfunc_0"), dmabuf: None, ins: vec!["ghost"], outs: vec![] }];
    assert!(load(&spec).unwrap_err().to_string().contains("ghost"));
}

/// The vendor runtime reads four dims of a weight shape that is present and maps that many
/// bytes of the weight buffer; a weight without a shape it skips.
#[test]
fn weight_shape_defects_rejected() {
    let mut spec = simple();
    spec.weight_dims = vec![2, 2];
    let e = load(&spec).unwrap_err();
    assert!(matches!(e, ModelError::BadWeight { index: 0, .. }) && e.to_string().contains("field `shape` has 2 dims"), "{e}");
    spec.weight_dims = vec![1, 1, 10, 10];
    assert_eq!(load(&spec).unwrap().weight_map[0].shape, [1, 1, 10, 10]);
    spec.weight_dims = vec![1, 1, 10, 11];
    let e = load(&spec).unwrap_err();
    assert!(e.to_string().contains("covers bytes 0..110 of the weight buffer, which holds 100"), "{e}");
    spec.weight_dims = vec![1, -1, 1, 1];
    assert!(load(&spec).unwrap_err().to_string().contains("negative dim"));
    spec.weight_dims = vec![1, 1, 1, 1, 7];
    load(&spec).unwrap();
}

#[test]
fn tensor_without_memory() {
    let mut spec = simple();
    spec.tensors[1] = tensor("act", -1, 6, &[1, 3, 4, 4]);
    let m = load(&spec).unwrap();
    let t = m.programs[0].tensor("act").unwrap();
    assert_eq!((t.region, t.region_offset, t.memory_class(false)), (None, 0, "-"));
}

#[test]
fn cpu_routine_args_decoded_and_bad_args_rejected() {
    let mut b = flatbuffers::FlatBufferBuilder::new();
    use crate::generated::cpu_op;
    let k = b.create_string("axis");
    let ia = cpu_op::IntAttr::create(&mut b, &cpu_op::IntAttrArgs { key: Some(k), value: 3 });
    let a = cpu_op::Attribute::create(&mut b, &cpu_op::AttributeArgs { int_attr: Some(ia), ..Default::default() });
    let v = b.create_vector(&[a]);
    let p = cpu_op::Parameter::create(&mut b, &cpu_op::ParameterArgs { attributes: Some(v) });
    b.finish(p, None);
    let mut spec = simple();
    spec.routines.push(RoutineSpec::Cpu {
        function: "argmax_v3",
        args: b.finished_data().to_vec(),
        ins: vec!["out"],
        outs: vec!["out"],
    });
    let m = load(&spec).unwrap();
    let r = &m.programs[0].routines[1];
    assert_eq!(r.cpu_function(), Some("argmax_v3"));
    assert_eq!(r.attr("axis"), Some(&AttrValue::Int(3)));
    spec.routines[1] = RoutineSpec::Cpu { function: "quant", args: vec![0xAB; 7], ins: vec![], outs: vec![] };
    assert!(matches!(load(&spec), Err(ModelError::CpuArgs { routine: 1, .. })));
}

#[test]
fn corrupt_flatbuffer_is_an_error() {
    let good = simple().build();
    // Zero the root offset: the verifier must refuse it.
    let mut f = good.clone();
    f[48..52].copy_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    assert!(matches!(Model::from_bytes(&f), Err(ModelError::Flatbuffer { start: 48, .. })));
    // A body_size too small cuts the flatbuffer.
    let mut f = good.clone();
    f[8..12].copy_from_slice(&16u32.to_le_bytes());
    assert!(Model::from_bytes(&f).is_err());
    // Every single-byte corruption of the body loads or fails, never panics.
    let body_end = 48 + u32::from_le_bytes(good[8..12].try_into().unwrap()) as usize;
    for i in 48..body_end {
        for v in [0x00, 0xFF, 0x80, 0x7F] {
            let mut f = good.clone();
            f[i] = v;
            if let Ok(m) = Model::from_bytes(&f) {
                let _ = crate::info::render_info(&m);
            }
        }
    }
}

#[test]
fn io_error_names_the_path() {
    let e = Model::from_file("/nonexistent/model.cvimodel").unwrap_err();
    assert!(e.to_string().contains("/nonexistent/model.cvimodel"));
}
