//! Memory plans of synthetic models, checked against the rules of spec runtime.md §2.5 by hand.

use super::*;
use crate::cvimodel::testutil::*;
use crate::cvimodel::Model;

fn plan(spec: &Spec, options: MemoryOptions) -> MemoryPlan {
    MemoryPlan::new(&Model::from_bytes(&spec.build()).unwrap(), options).unwrap()
}

#[test]
fn simple_model_plan() {
    let p = plan(&simple(), MemoryOptions::default());
    assert_eq!(p.weight, 100);
    // One segment (no sync id 0xFFFF, so the whole stream is one), 2 TIU and 3 TDMA descriptors:
    // align64(align256(128 + 224) + align256(2·112 + 128)) + 3·64 = 512 + 512 + 192.
    assert_eq!(p.cmdbufs.len(), 1);
    assert_eq!((p.cmdbufs[0].dmabuf, p.cmdbufs[0].pmubuf, p.cmdbufs[0].total), (1216, 0, 1216));
    assert_eq!((p.cmdbufs[0].tiu_descriptors, p.cmdbufs[0].tdma_descriptors), (2, 3));
    assert_eq!(p.shared_gmem, 4096, "100 rounded up to a page");
    assert_eq!(p.private_gmem, 0);
    let io: Vec<(u8, &str, u64)> = p.io.iter().map(|m| (m.region.number(), m.tensor.as_str(), m.size)).collect();
    assert_eq!(io, vec![(3, "in", 192), (4, "out", 40)]);
    assert_eq!(p.per_model, 100 + 1216);
    assert_eq!(p.per_instance, 232);
    assert_eq!(p.total, 100 + 1216 + 232 + 4096);
    // Tool estimate: stored sections + private + largest shared (unrounded) + region ≥ 3 tensors.
    let sections = 100 + (2 * 120 + 3 * 72);
    assert_eq!(p.vendor_estimate, sections + 100 + 192 + 40);
}

#[test]
fn pmu_and_protect() {
    let p = plan(&simple(), MemoryOptions { pmu: true, protect: true, ..Default::default() });
    // align4096(16 · 5 + 1 MiB)
    assert_eq!(p.cmdbufs[0].pmubuf, (1 << 20) + 4096);
    assert_eq!(p.cmdbufs[0].total, align(1216 + (1 << 20) + 4096, 4096));
    assert_eq!(p.weight, 4096);
}

#[test]
fn dmabuf_section_used_as_is() {
    let mut spec = simple();
    let (_, cmds) = cvsim_isa::parse_cmdbuf(&cmdbuf(0xA7, 2, 3), None).unwrap();
    let dmabuf = cvsim_isa::dmabuf::build_dmabuf(cvsim_isa::Chip::Cv181x, &cmds).unwrap();
    let len = dmabuf.len() as u64;
    spec.sections[1] = SecSpec { kind: 4, name: "dma_0", data: dmabuf, compress: None, place: None };
    spec.routines = vec![RoutineSpec::Tpu { cmdbuf: None, dmabuf: Some("dma_0"), ins: vec![], outs: vec![] }];
    let p = plan(&spec, MemoryOptions { pmu: true, ..Default::default() });
    assert_eq!((p.cmdbufs[0].dmabuf, p.cmdbufs[0].tiu_descriptors, p.cmdbufs[0].tdma_descriptors), (len, 2, 3));
    assert_eq!(p.cmdbufs[0].total, len + (1 << 20) + 4096);
}

#[test]
fn shared_request_is_max_over_programs_and_preset() {
    let mut spec = simple();
    spec.shared_gmem = 5000;
    spec.extra_programs = 1;
    let p = plan(&spec, MemoryOptions { program: 1, ..Default::default() });
    assert_eq!(p.shared_gmem, 8192);
    let p = plan(&spec, MemoryOptions { shared_preset: 10_000, ..Default::default() });
    assert_eq!(p.shared_gmem, 12288);
    spec.shared_gmem = 0;
    assert_eq!(plan(&spec, MemoryOptions { shared_preset: 10_000, ..Default::default() }).shared_gmem, 0);
    let m = Model::from_bytes(&spec.build()).unwrap();
    assert!(matches!(
        MemoryPlan::new(&m, MemoryOptions { program: 2, ..Default::default() }),
        Err(ModelError::NoSuchProgram { .. })
    ));
}

#[test]
fn io_region_sized_by_first_tensor_and_aligned_frames() {
    let mut spec = simple();
    // A second, larger tensor in region 3 is a view: it does not grow the buffer.
    spec.tensors.push(TensorSpec { offset: (3 << 40) | 0x40, ..tensor("in_view", 3, 0, &[1, 100, 1, 1]) });
    spec.tensors[0] =
        TensorSpec { aligned: true, pixel_format: Some("YUV_NV12"), dtype: 7, ..tensor("in", 3, 7, &[1, 3, 20, 36]) };
    let p = plan(&spec, MemoryOptions::default());
    assert_eq!((p.io[0].size, p.io[0].rule), (1920, IoSizeRule::VpssFrame));
    spec.chip = "cv183x";
    spec.sections[1].data = cmdbuf(0xA5, 1, 1);
    assert_eq!(plan(&spec, MemoryOptions::default()).io[0].size, 8192);
    spec.tensors[0].size = 5000;
    assert_eq!(plan(&spec, MemoryOptions::default()).io[0].rule, IoSizeRule::ModelSize);
    // A first tensor not at offset 0 is refused, as the runtime asserts.
    let mut spec = simple();
    spec.tensors[0].offset |= 0x10;
    let m = Model::from_bytes(&spec.build()).unwrap();
    assert!(matches!(MemoryPlan::new(&m, MemoryOptions::default()), Err(ModelError::BadTensor { .. })));
}

#[test]
fn wrong_chip_cmdbuf_is_an_error() {
    let mut spec = simple();
    spec.sections[1].data = cmdbuf(0xA5, 1, 1);
    let m = Model::from_bytes(&spec.build()).unwrap();
    let e = MemoryPlan::new(&m, MemoryOptions::default()).unwrap_err();
    assert!(matches!(e, ModelError::Stream { .. }) && e.to_string().contains("subfunc_0"), "{e}");
}

#[test]
fn combine_shares_weights_between_clones_and_pools_shared_gmem() {
    let a = plan(&simple(), MemoryOptions::default());
    let mut big = simple();
    big.shared_gmem = 9000;
    let b = plan(&big, MemoryOptions::default());
    let c = combine(&[(&a, 2), (&b, 1)]);
    assert_eq!(c.per_model, a.per_model + b.per_model);
    assert_eq!(c.per_instance, 2 * a.per_instance + b.per_instance);
    // 4096 first, then 12288 cannot reuse it: both stay.
    assert_eq!(c.shared.buffers, vec![12288, 4096]);
    // Registering the largest first lets the smaller one reuse it (the vendor FAQ's advice).
    let c2 = combine(&[(&b, 1), (&a, 2)]);
    assert_eq!(c2.shared.buffers, vec![12288]);
    assert_eq!(c2.total, c.total - 4096);
}

#[test]
fn mib_format() {
    assert_eq!(format_mib(0), "0.00");
    assert_eq!(format_mib(3 << 19), "1.50");
}
