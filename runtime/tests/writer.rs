//! The `.cvimodel` writer: what it writes loads back through `Model::from_bytes` with every field
//! equal, for hand-built models, every corpus model re-written from its parsed form, and random
//! small models; and it refuses what the reader would reject.

mod common;

use cvsim_isa::{Chip, Region};
use cvsim_runtime::cvimodel::QuantInfo;
use cvsim_runtime::writer::{
    encode_cpu_args, ModelSpec, PreprocessHints, ProgramSpec, RoutineSpec, SectionSpec, TaggedAddr, TensorSpec, WeightSpec,
    WriteError,
};
use cvsim_runtime::{AttrValue, CpuAttr, DType, Model, QuantType, RoutineKind, SectionType, Version};
use proptest::prelude::*;
use serde_json::Value;

/// A loaded model as JSON without what depends on where things were placed in the file: table
/// positions, section offsets, the body size and the MD5 (checked separately).
fn comparable(m: &Model) -> Value {
    fn strip(v: &mut Value) {
        match v {
            Value::Object(map) => {
                map.remove("table_at");
                map.remove("file_offset");
                for v in map.values_mut() {
                    strip(v);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(m).expect("a model serialises");
    strip(&mut v);
    let h = v["header"].as_object_mut().unwrap();
    h.remove("md5");
    h.remove("body_size");
    for s in v["sections"].as_array_mut().unwrap() {
        let s = s.as_object_mut().unwrap();
        s.remove("offset");
        // A re-compressed section need not have the same stored size.
        if s["compress"] == Value::Bool(true) {
            s.remove("size");
        }
    }
    v
}

/// The first place two JSON values differ, as a path and both values.
fn first_difference(path: &str, a: &Value, b: &Value) -> Option<String> {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for k in x.keys().chain(y.keys()) {
                let (va, vb) = (x.get(k).unwrap_or(&Value::Null), y.get(k).unwrap_or(&Value::Null));
                if let Some(d) = first_difference(&format!("{path}.{k}"), va, vb) {
                    return Some(d);
                }
            }
            None
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).enumerate().find_map(|(i, (va, vb))| first_difference(&format!("{path}[{i}]"), va, vb))
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}

/// Both models hold the same thing: every loaded field, and every section's contents.
fn assert_same_model(what: &str, a: &Model, b: &Model) {
    if let Some(d) = first_difference("model", &comparable(a), &comparable(b)) {
        panic!("{what}: re-read model differs at {d}");
    }
    for (sa, sb) in a.sections.iter().zip(&b.sections) {
        let (da, db) = (a.section_bytes(sa).unwrap(), b.section_bytes(sb).unwrap());
        if da != db {
            let at = da.iter().zip(db.iter()).position(|(x, y)| x != y).unwrap_or(da.len().min(db.len()));
            panic!("{what}: section {:?} contents differ at byte {at} (lengths {} and {})", sa.name, da.len(), db.len());
        }
    }
}

fn write_and_read(spec: &ModelSpec) -> Model {
    let bytes = spec.to_bytes().unwrap_or_else(|e| panic!("write failed: {e}"));
    let m = Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("written model does not load: {e}"));
    assert!(m.md5_matches(), "header MD5 must be the MD5 of everything after the header");
    m
}

fn quant(qscale: f32) -> Option<QuantInfo> {
    Some(QuantInfo { kind: QuantType::Int8Sym, max_value: 3.5, min_value: -3.5, zero_point: 2.0, qscale })
}

/// A model using every kind of field the format has.
fn full_spec() -> ModelSpec {
    let mut spec = ModelSpec::new(Chip::Cv182x, "writer_full");
    spec.build_time = Some("2025-01-02 03:04:05".into());
    spec.mlir_version = Some("cvsim-test".into());
    spec.preprocess = Some(PreprocessHints {
        color: Some("RGB".into()),
        raw_scale: 255.0,
        mean: Some("0,0,0".into()),
        std: Some("1,1,1".into()),
        input_scale: 0.5,
        data_format: None,
    });
    spec.done_softmax = Some(true);
    spec.weight_map = vec![
        WeightSpec { name: "w0".into(), addr: TaggedAddr::at(region(1), 0), size: 16, shape: vec![1, 1, 4, 4], dtype: DType::I8 },
        WeightSpec { name: "w1".into(), addr: TaggedAddr::at(region(1), 16), size: 8, shape: vec![], dtype: DType::I32 },
    ];
    spec.sections = vec![
        SectionSpec::new(SectionType::Weight, "weight", (0..24).collect()),
        SectionSpec::new(SectionType::Cmdbuf, "subfunc_0", vec![0xA6; 40]),
        SectionSpec { kind: SectionType::Dmabuf, name: "dma".into(), data: b"abcdabcdabcdabcdabcd".repeat(8), compress: true },
        SectionSpec::new(SectionType::FuncAarch64, "plugin", vec![1, 2, 3]),
    ];
    let mut input = TensorSpec::new("in", TaggedAddr::at(region(3), 0), DType::F32, &[1, 3, 4, 4]);
    input.pixel_format = Some("BGR_PLANAR".into());
    input.scale = vec![0.5, 0.25, 0.125];
    input.mean = vec![1.0, 2.0, 3.0];
    input.aligned = true;
    let mut q = TensorSpec::new("in_q", TaggedAddr::at(region(2), 0), DType::I8, &[1, 3, 4, 4]).with_qscale(48.5, 0.0);
    q.stride = Some(vec![48, 16, 4, 1]);
    let mut act = TensorSpec::new("act", TaggedAddr::at(region(0), 0x40), DType::Bf16, &[1, 8, 1, 1]);
    act.overwrote = true;
    act.quant = quant(0.75);
    act.id = 7;
    let none = TensorSpec::new("virtual", TaggedAddr::None, DType::U16, &[2, 2, 2, 2]);
    let out = TensorSpec::new("out", TaggedAddr::at(region(4), 0), DType::I8, &[1, 10, 1, 1]).with_qscale(0.125, 0.0);
    let args = vec![
        CpuAttr { key: "from".into(), value: AttrValue::Str("FP32".into()) },
        CpuAttr { key: "scale".into(), value: AttrValue::Float(48.5) },
        CpuAttr { key: "to".into(), value: AttrValue::Str("INT8".into()) },
        CpuAttr { key: "pad".into(), value: AttrValue::Int(0) },
        CpuAttr { key: "flag".into(), value: AttrValue::Bool(true) },
        CpuAttr { key: "ints".into(), value: AttrValue::IntArray(vec![1, -2, 3]) },
        CpuAttr { key: "floats".into(), value: AttrValue::FloatArray(vec![]) },
    ];
    let p0 = ProgramSpec {
        batch_num: 1,
        neuron_size: 0,
        input_tensors: vec!["in".into()],
        output_tensors: vec!["out".into()],
        tensor_map: vec![input, q, act, none, out],
        routines: vec![
            RoutineSpec::cpu("quant", args, &["in"], &["in_q"]),
            RoutineSpec::tpu_cmdbuf("subfunc_0", &["in_q"], &["out"]),
            RoutineSpec {
                in_tensors: vec![],
                out_tensors: vec![],
                kind: RoutineKind::Tpu { cmdbuf_section: None, dmabuf_section: Some("dma".into()) },
            },
        ],
        shared_gmem: 256,
        private_gmem: 48,
    };
    let mut p1 = p0.clone();
    p1.batch_num = 4;
    p1.neuron_size = 1024;
    spec.programs = vec![p0, p1];
    spec
}

#[test]
fn every_field_reads_back() {
    let spec = full_spec();
    let m = write_and_read(&spec);
    assert_eq!((m.chip(), m.header.major, m.header.minor, m.header.len, &m.header.padding), (Chip::Cv182x, 1, 4, 48, b"Cv"));
    assert_eq!(m.version, Version { major: 1, minor: 4, sub_minor: 0 });
    assert_eq!(m.name, "writer_full");
    assert_eq!(m.build_time.as_deref(), Some("2025-01-02 03:04:05"));
    assert_eq!(m.target.as_deref(), Some("cv182x"));
    assert_eq!(m.mlir_version.as_deref(), Some("cvsim-test"));
    assert_eq!(m.done_softmax, Some(true));
    assert_eq!(m.weight_map.len(), 2);
    assert_eq!(
        (m.weight_map[0].region, m.weight_map[0].region_offset, &m.weight_map[0].shape),
        (Some(Region::WEIGHT), 0, &vec![1, 1, 4, 4])
    );
    assert_eq!((m.weight_map[1].offset, m.weight_map[1].dtype, m.weight_map[1].shape.len()), ((1 << 40) | 16, DType::I32, 0));

    // Sections back to back after the body, in order.
    let payload = m.header.payload_start() as u64;
    let mut at = 0u32;
    for (s, want) in m.sections.iter().zip(&spec.sections) {
        assert_eq!(
            (s.kind, &s.name, s.compress, s.offset, s.file_offset),
            (want.kind, &want.name, want.compress, at, payload + at as u64)
        );
        assert_eq!(&*m.section_bytes(s).unwrap(), &want.data[..], "section {}", s.name);
        at += s.size;
    }
    assert_eq!(m.file_bytes().len() as u64, payload + at as u64);
    let dma = m.section("dma").unwrap();
    assert_eq!(dma.decompressed_size, 160);
    assert!(dma.size < 160, "the repetitive DMABUF section compresses");

    for (p, want) in m.programs.iter().zip(&spec.programs) {
        assert_eq!((p.batch_num, p.neuron_size, p.shared_gmem, p.private_gmem), (want.batch_num, want.neuron_size, 256, 48));
        assert_eq!((&p.input_tensors, &p.output_tensors), (&want.input_tensors, &want.output_tensors));
        let i = p.tensor("in").unwrap();
        assert_eq!(
            (i.region, i.region_offset, i.dtype, i.shape, i.size),
            (Some(Region::IO_FIRST), 0, DType::F32, [1, 3, 4, 4], 192)
        );
        assert_eq!(
            (i.pixel_format.as_deref(), i.aligned, &i.scale[..], &i.mean[..]),
            (Some("BGR_PLANAR"), true, &[0.5, 0.25, 0.125][..], &[1.0, 2.0, 3.0][..])
        );
        assert_eq!(i.quant, None);
        let q = p.tensor("in_q").unwrap();
        assert_eq!((q.qscale, q.zero_point, q.stride.as_deref()), (48.5, 0, Some(&[48, 16, 4, 1][..])));
        let a = p.tensor("act").unwrap();
        assert_eq!((a.id, a.overwrote, a.quant, a.zero_point, a.region_offset), (7, true, quant(0.75), 2, 0x40));
        assert_eq!(a.shape, [1, 8, 1, 1]);
        let v = p.tensor("virtual").unwrap();
        assert_eq!((v.offset, v.region), (-1, None));
        for (r, w) in p.routines.iter().zip(&want.routines) {
            assert_eq!((&r.in_tensors, &r.out_tensors, &r.kind), (&w.in_tensors, &w.out_tensors, &w.kind));
        }
    }
    // And the model's own description of itself is what was written.
    assert_eq!(ModelSpec::from_model(&m).unwrap(), normalised(&spec));
}

/// What `from_model` gives back for a spec (every field, as tensor shapes are written whole).
fn normalised(spec: &ModelSpec) -> ModelSpec {
    spec.clone()
}

#[test]
fn cpu_args_use_one_sub_table_each_and_drop_default_scalars() {
    let args = vec![
        CpuAttr { key: "a".into(), value: AttrValue::Int(0) },
        CpuAttr { key: "b".into(), value: AttrValue::Float(0.0) },
        CpuAttr { key: "c".into(), value: AttrValue::Bool(false) },
    ];
    let bytes = encode_cpu_args(&args);
    // Three attributes with a key each and no stored value: the buffer holds no scalar payload.
    let with_values = encode_cpu_args(&[
        CpuAttr { key: "a".into(), value: AttrValue::Int(5) },
        CpuAttr { key: "b".into(), value: AttrValue::Float(1.5) },
        CpuAttr { key: "c".into(), value: AttrValue::Bool(true) },
    ]);
    assert!(bytes.len() < with_values.len(), "{} vs {}", bytes.len(), with_values.len());
    let mut spec = full_spec();
    spec.programs[0].routines[0] = RoutineSpec::cpu("argmax_v3", args.clone(), &[], &[]);
    let m = write_and_read(&spec);
    assert_eq!(m.programs[0].routines[0].kind, RoutineKind::Cpu { function: "argmax_v3".into(), args });
}

#[test]
fn refuses_what_the_reader_rejects() {
    let err = |f: &dyn Fn(&mut ModelSpec)| {
        let mut s = full_spec();
        f(&mut s);
        s.to_bytes().unwrap_err()
    };
    let e = err(&|s| s.programs[1].tensor_map[2].addr = TaggedAddr::at(region(1), 0));
    assert!(matches!(e, WriteError::Tensor { program: 1, index: 2, .. }) && e.to_string().contains("region 1"), "{e}");
    let e = err(&|s| s.programs[0].tensor_map[0].addr = TaggedAddr::at(region(3), 1 << 40));
    assert!(e.to_string().contains("40-bit"), "{e}");
    let e = err(&|s| s.programs[0].tensor_map[0].shape = vec![1; 5]);
    assert!(e.to_string().contains("5 dims"), "{e}");
    // What the vendor runtime aborts on while registering (it reads dims 0..=3 of every tensor
    // shape and of every weight shape present, and maps a shaped weight into the weight buffer).
    let e = err(&|s| s.programs[0].tensor_map[0].shape = vec![1, 3, 16]);
    assert!(matches!(e, WriteError::Tensor { program: 0, index: 0, .. }) && e.to_string().contains("3 dims"), "{e}");
    let e = err(&|s| s.weight_map[0].shape = vec![16]);
    assert!(matches!(e, WriteError::Weight { index: 0, .. }) && e.to_string().contains("1 dims"), "{e}");
    let e = err(&|s| s.weight_map[0].shape = vec![1, 1, 5, 5]);
    assert!(matches!(e, WriteError::Weight { index: 0, .. }) && e.to_string().contains("24-byte weight buffer"), "{e}");
    let e = err(&|s| s.programs[0].tensor_map[0].pixel_format = None);
    assert!(e.to_string().contains("aligned without a pixel format"), "{e}");
    let e = err(&|s| s.programs[0].tensor_map[0].pixel_format = Some("BGR".into()));
    assert!(e.to_string().contains("\"BGR\" is not one the runtime knows"), "{e}");
    let e = err(&|s| s.programs[0].output_tensors = vec!["missing".into()]);
    assert!(matches!(e, WriteError::Program { program: 0, .. }) && e.to_string().contains("missing"), "{e}");
    let e = err(&|s| s.programs[0].routines[1].in_tensors.push("ghost".into()));
    assert!(matches!(e, WriteError::Routine { program: 0, routine: 1, .. }) && e.to_string().contains("ghost"), "{e}");
    let e = err(&|s| s.programs[0].routines[1] = RoutineSpec::tpu_cmdbuf("nope", &[], &[]));
    assert!(e.to_string().contains("\"nope\", which does not exist"), "{e}");
    let e = err(&|s| s.programs[0].routines[1] = RoutineSpec::tpu_cmdbuf("dma", &[], &[]));
    assert!(e.to_string().contains("as Cmdbuf, but it is Dmabuf"), "{e}");
    let e = err(&|s| s.programs[0].routines[1].kind = RoutineKind::Tpu { cmdbuf_section: None, dmabuf_section: None });
    assert!(e.to_string().contains("neither"), "{e}");
    let e = err(&|s| s.sections[3].name = "weight".into());
    assert!(matches!(e, WriteError::Section { ref name, .. } if name == "weight"), "{e}");
    let e = err(&|s| s.version = Version { major: 1, minor: 5, sub_minor: 0 });
    assert!(matches!(e, WriteError::Version { .. }), "{e}");
    let e = err(&|s| s.weight_map[1].addr = TaggedAddr::at(region(1), 1 << 40));
    assert!(matches!(e, WriteError::Weight { index: 1, .. }), "{e}");
    // An older major version with a higher minor is what the runtime accepts.
    let mut s = full_spec();
    s.version = Version { major: 0, minor: 9, sub_minor: 1 };
    assert_eq!(write_and_read(&s).version, s.version);
}

#[test]
fn tagged_addresses_round_trip() {
    for (addr, raw) in [
        (TaggedAddr::None, -1),
        (TaggedAddr::at(region(0), 0), 0),
        (TaggedAddr::at(region(3), 0x1234), (3 << 40) | 0x1234),
        (TaggedAddr::at(region(7), (1 << 40) - 1), (7 << 40) | ((1 << 40) - 1)),
    ] {
        assert_eq!(addr.encode(), Ok(raw));
        assert_eq!(TaggedAddr::decode(raw), Ok(addr));
    }
    assert!(TaggedAddr::decode(-2).is_err());
}

/// Every corpus model, re-written from its parsed form, loads to the same model. The corpus
/// places its sections back to back from payload offset 0, as the writer does, so the payload is
/// even byte-identical.
#[test]
#[cfg_attr(no_corpus, ignore = "needs the conformance corpus at ../shared/conformance")]
fn corpus_models_rewrite_to_equal_models() {
    let models = common::corpus_models();
    let mut failures = Vec::new();
    for (case, path) in &models {
        let orig = Model::from_file(path).unwrap();
        let spec = ModelSpec::from_model(&orig).unwrap_or_else(|e| panic!("{case}: cannot describe: {e}"));
        let bytes = match spec.to_bytes() {
            Ok(b) => b,
            Err(e) => {
                failures.push(format!("{case}: does not write: {e}"));
                continue;
            }
        };
        let re = Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("{case}: re-written model does not load: {e}"));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            assert!(re.md5_matches());
            assert_same_model(case, &orig, &re);
            assert_eq!(ModelSpec::from_model(&re).unwrap(), spec, "{case}: the re-read model describes itself differently");
            let (po, pr) = (&orig.file_bytes()[orig.header.payload_start()..], &re.file_bytes()[re.header.payload_start()..]);
            assert!(po == pr, "{case}: payload differs ({} vs {} bytes)", po.len(), pr.len());
        }));
        if let Err(e) = result {
            failures.push(e.downcast_ref::<String>().cloned().unwrap_or_else(|| format!("{case}: failed")));
        }
    }
    eprintln!("{} corpus models re-written, {} failed", models.len(), failures.len());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---- random small models ----

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_.]{0,10}"
}

fn opt_name() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(name())
}

fn finite() -> impl Strategy<Value = f32> {
    -1.0e6f32..1.0e6f32
}

fn dtype() -> impl Strategy<Value = DType> {
    proptest::sample::select(DType::ALL.to_vec())
}

fn addr(allow_weight: bool) -> impl Strategy<Value = TaggedAddr> {
    prop_oneof![
        1 => Just(TaggedAddr::None),
        6 => (0u8..=7, 0u64..(1 << 40)).prop_map(move |(r, o)| TaggedAddr::at(region(if r == 1 && !allow_weight { 2 } else { r }), o)),
    ]
}

/// Absent, or a name the runtime knows.
fn pixel_format() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(
        proptest::sample::select(vec![
            "RGB_PACKED",
            "BGR_PACKED",
            "RGB_PLANAR",
            "BGR_PLANAR",
            "YUV_NV12",
            "YUV_NV21",
            "YUV420_PLANAR",
            "GRAYSCALE",
            "RGBA_PLANAR",
        ])
        .prop_map(String::from),
    )
}

fn quant_info() -> impl Strategy<Value = QuantInfo> {
    (0u8..4, finite(), finite(), finite(), finite()).prop_map(|(k, max_value, min_value, zero_point, qscale)| QuantInfo {
        kind: [QuantType::None, QuantType::Bf16, QuantType::Int8Sym, QuantType::Int8Asym][k as usize],
        max_value,
        min_value,
        zero_point,
        qscale,
    })
}

fn tensor() -> impl Strategy<Value = TensorSpec> {
    (
        (any::<u32>(), addr(false), dtype(), prop::collection::vec(-1i64..100, 4)),
        (proptest::option::of(prop::collection::vec(any::<i64>(), 0..4)), proptest::option::of(quant_info()), any::<bool>()),
        (
            prop::collection::vec(finite(), 0..3),
            prop::collection::vec(finite(), 0..3),
            pixel_format(),
            any::<bool>(),
            any::<u32>(),
        ),
    )
        .prop_map(|((id, addr, dtype, shape), (stride, quant, overwrote), (scale, mean, pixel_format, aligned, size))| {
            TensorSpec {
                id,
                name: String::new(),
                addr,
                dtype,
                shape,
                stride,
                quant,
                overwrote,
                scale,
                mean,
                // The runtime asserts that a tensor without a pixel format is not aligned.
                aligned: aligned && pixel_format.is_some(),
                pixel_format,
                size,
            }
        })
}

fn attr_value() -> impl Strategy<Value = AttrValue> {
    prop_oneof![
        any::<i32>().prop_map(AttrValue::Int),
        finite().prop_map(AttrValue::Float),
        any::<bool>().prop_map(AttrValue::Bool),
        name().prop_map(AttrValue::Str),
        prop::collection::vec(any::<i32>(), 0..4).prop_map(AttrValue::IntArray),
        prop::collection::vec(finite(), 0..4).prop_map(AttrValue::FloatArray),
    ]
}

/// A routine whose section and tensor references are indices, resolved against the model later.
#[derive(Clone, Debug)]
enum RawRoutine {
    Tpu { cmdbuf: Option<usize>, dmabuf: Option<usize>, ins: Vec<usize>, outs: Vec<usize> },
    Cpu { function: String, args: Vec<(String, AttrValue)>, ins: Vec<usize>, outs: Vec<usize> },
}

fn raw_routine() -> impl Strategy<Value = RawRoutine> {
    let idx = || prop::collection::vec(any::<usize>(), 0..3);
    prop_oneof![
        (proptest::option::of(any::<usize>()), proptest::option::of(any::<usize>()), idx(), idx())
            .prop_map(|(cmdbuf, dmabuf, ins, outs)| RawRoutine::Tpu { cmdbuf, dmabuf, ins, outs }),
        (name(), prop::collection::vec((name(), attr_value()), 0..4), idx(), idx())
            .prop_map(|(function, args, ins, outs)| RawRoutine::Cpu { function, args, ins, outs }),
    ]
}

#[derive(Clone, Debug)]
struct RawProgram {
    scalars: (u32, u32, u32, u32),
    tensors: Vec<TensorSpec>,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    routines: Vec<RawRoutine>,
}

fn raw_program() -> impl Strategy<Value = RawProgram> {
    (
        any::<(u32, u32, u32, u32)>(),
        prop::collection::vec(tensor(), 1..5),
        prop::collection::vec(any::<usize>(), 0..3),
        prop::collection::vec(any::<usize>(), 0..3),
        prop::collection::vec(raw_routine(), 0..4),
    )
        .prop_map(|(scalars, tensors, inputs, outputs, routines)| RawProgram { scalars, tensors, inputs, outputs, routines })
}

fn section_kind() -> impl Strategy<Value = SectionType> {
    proptest::sample::select(vec![
        SectionType::Weight,
        SectionType::Cmdbuf,
        SectionType::FuncX86,
        SectionType::FuncAarch64,
        SectionType::Dmabuf,
    ])
}

fn model_spec() -> impl Strategy<Value = ModelSpec> {
    let header = (
        proptest::sample::select(Chip::ALL.to_vec()),
        (0u8..=1, 0u8..=4, any::<u8>()),
        name(),
        (opt_name(), opt_name(), opt_name()),
        proptest::option::of(any::<bool>()),
        proptest::option::of((opt_name(), finite(), opt_name(), opt_name(), finite(), opt_name())),
        any::<[u8; 2]>(),
    );
    let weights = prop::collection::vec((name(), addr(true), any::<u32>(), prop::collection::vec(0i64..4, 4), dtype()), 0..3);
    let sections = prop::collection::vec((section_kind(), prop::collection::vec(any::<u8>(), 0..64), any::<bool>()), 1..5);
    (header, weights, sections, prop::collection::vec(raw_program(), 1..3)).prop_map(
        |(
            (chip, (major, minor, sub_minor), name, (build_time, target, mlir_version), done_softmax, pre, padding),
            weights,
            sections,
            programs,
        )| {
            let mut spec = ModelSpec::new(chip, name);
            spec.version = Version { major, minor, sub_minor };
            (spec.build_time, spec.target, spec.mlir_version, spec.done_softmax) =
                (build_time, target, mlir_version, done_softmax);
            spec.preprocess = pre.map(|(color, raw_scale, mean, std, input_scale, data_format)| PreprocessHints {
                color,
                raw_scale,
                mean,
                std,
                input_scale,
                data_format,
            });
            spec.header_padding = padding;
            spec.sections = sections
                .into_iter()
                .enumerate()
                .map(|(i, (kind, data, compress))| SectionSpec { kind, name: format!("sec{i}"), data, compress })
                .collect();
            // A weight keeps its shape only where the runtime could map it into the weight buffer.
            let buffer: u64 = spec
                .sections
                .iter()
                .filter(|s| s.kind == SectionType::Weight)
                .map(|s| if s.compress { lz4_flex::block::compress(&s.data).len() } else { s.data.len() } as u64)
                .sum();
            spec.weight_map = weights
                .into_iter()
                .map(|(name, addr, size, shape, dtype): (String, TaggedAddr, u32, Vec<i64>, DType)| {
                    let (addr, offset) = match addr {
                        TaggedAddr::At { region, offset } => {
                            (TaggedAddr::At { region, offset: offset % (buffer + 1) }, offset % (buffer + 1))
                        }
                        TaggedAddr::None => (addr, 0),
                    };
                    let bytes = shape.iter().product::<i64>() as u64 * dtype.size() as u64;
                    let shape = if offset + bytes <= buffer { shape } else { Vec::new() };
                    WeightSpec { name, addr, size, shape, dtype }
                })
                .collect();
            let of_kind =
                |k: SectionType| spec.sections.iter().filter(|s| s.kind == k).map(|s| s.name.clone()).collect::<Vec<_>>();
            let (cmdbufs, dmabufs) = (of_kind(SectionType::Cmdbuf), of_kind(SectionType::Dmabuf));
            let pick = |v: &[String], i: Option<usize>| i.and_then(|i| (!v.is_empty()).then(|| v[i % v.len()].clone()));
            spec.programs = programs
                .into_iter()
                .map(|p| {
                    let mut tensor_map = p.tensors;
                    for (i, t) in tensor_map.iter_mut().enumerate() {
                        t.name = format!("t{i}");
                    }
                    let names = |ix: &[usize]| ix.iter().map(|i| format!("t{}", i % tensor_map.len())).collect::<Vec<_>>();
                    let routines = p
                        .routines
                        .iter()
                        .filter_map(|r| match r {
                            RawRoutine::Tpu { cmdbuf, dmabuf, ins, outs } => {
                                let (c, d) = (pick(&cmdbufs, *cmdbuf), pick(&dmabufs, *dmabuf));
                                (c.is_some() || d.is_some()).then(|| RoutineSpec {
                                    in_tensors: names(ins),
                                    out_tensors: names(outs),
                                    kind: RoutineKind::Tpu { cmdbuf_section: c, dmabuf_section: d },
                                })
                            }
                            RawRoutine::Cpu { function, args, ins, outs } => Some(RoutineSpec {
                                in_tensors: names(ins),
                                out_tensors: names(outs),
                                kind: RoutineKind::Cpu {
                                    function: function.clone(),
                                    args: args.iter().map(|(k, v)| CpuAttr { key: k.clone(), value: v.clone() }).collect(),
                                },
                            }),
                        })
                        .collect();
                    let (batch_num, neuron_size, shared_gmem, private_gmem) = p.scalars;
                    ProgramSpec {
                        batch_num,
                        neuron_size,
                        input_tensors: names(&p.inputs),
                        output_tensors: names(&p.outputs),
                        tensor_map,
                        routines,
                        shared_gmem,
                        private_gmem,
                    }
                })
                .collect();
            spec
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// write → read → describe gives back the spec; writing the re-read model again gives the
    /// same bytes (the writer is deterministic and loses nothing).
    #[test]
    fn random_models_round_trip(spec in model_spec()) {
        let bytes = spec.to_bytes().map_err(|e| TestCaseError::fail(format!("write failed: {e}")))?;
        let m = Model::from_bytes(&bytes).map_err(|e| TestCaseError::fail(format!("does not load: {e}")))?;
        prop_assert!(m.md5_matches());
        prop_assert_eq!(m.chip(), spec.chip);
        prop_assert_eq!(m.header.padding, spec.header_padding);
        let again = ModelSpec::from_model(&m).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&again, &normalised(&spec));
        // Tagged addresses decode to the region and offset that were written.
        for (t, w) in m.programs.iter().flat_map(|p| &p.tensor_map).zip(spec.programs.iter().flat_map(|p| &p.tensor_map)) {
            match w.addr {
                TaggedAddr::None => prop_assert_eq!((t.offset, t.region), (-1, None)),
                TaggedAddr::At { region, offset } => prop_assert_eq!((t.region, t.region_offset), (Some(region), offset)),
            }
            prop_assert_eq!(t.qscale, w.quant.map_or(0.0, |q| q.qscale));
        }
        let rewritten = again.to_bytes().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let m2 = Model::from_bytes(&rewritten).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(first_difference("model", &comparable(&m), &comparable(&m2)), None);
    }
}

/// `cvsim example` writes files the vendor runtime registers: every tensor and weight shape has
/// the four dims it reads, and each shaped weight lies inside the weight buffer (the reader checks
/// both; the oracle run is recorded in traces/).
#[test]
fn example_models_carry_what_the_vendor_runtime_reads() {
    for seed in 0..6 {
        let ex = cvsim_compiler::example::build(seed);
        let m = Model::from_bytes(&ex.model_bytes).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        let weight_buffer: u64 = m.sections.iter().filter(|s| s.kind == SectionType::Weight).map(|s| s.size as u64).sum();
        for w in &m.weight_map {
            assert_eq!(w.shape.len(), 4, "seed {seed}: weight {}", w.name);
            let bytes = w.shape.iter().product::<i64>() as u64 * w.dtype.size() as u64;
            assert_eq!(bytes, w.size as u64, "seed {seed}: weight {} shape and size", w.name);
            assert!(w.region_offset + bytes <= weight_buffer, "seed {seed}: weight {}", w.name);
        }
        let spec = ModelSpec::from_model(&m).unwrap();
        for t in spec.programs.iter().flat_map(|p| &p.tensor_map) {
            assert_eq!(t.shape.len(), 4, "seed {seed}: tensor {}", t.name);
            assert!(t.pixel_format.is_some() || !t.aligned);
        }
    }
}

fn region(n: u8) -> Region {
    Region::new(n).expect("one of the eight regions")
}
