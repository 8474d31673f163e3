//! A model whose command buffer reaches outside its allocated device memory stops in
//! `forward` with an error naming the routine, the descriptor index, the address and the region,
//! and leaves the output untouched. The models are the bundled example with one descriptor
//! changed and re-encoded with the isa encoder.

use cvsim_compiler::example::{self, layout::REGION_OUTPUT, CMDBUF_SECTION};
use cvsim_isa::cmdbuf::encode_descs;
use cvsim_isa::Desc;
use cvsim_runtime::session::{Instance, LoadedModel, RuntimeError};
use cvsim_runtime::writer::ModelSpec;
use cvsim_runtime::Model;

/// The example with `change` applied to its descriptors; returns the model and the index of the
/// descriptor `change` picked.
fn changed_example(change: impl Fn(&mut [Desc]) -> usize) -> (Vec<u8>, usize, example::Example) {
    let ex = example::build(7);
    let mut descs: Vec<Desc> = ex.steps.iter().map(|s| s.desc.clone()).collect();
    let index = change(&mut descs);
    let mut spec = ModelSpec::from_model(&Model::from_bytes(&ex.model_bytes).unwrap()).unwrap();
    let sec = spec.sections.iter_mut().find(|s| s.name == CMDBUF_SECTION).unwrap();
    sec.data = encode_descs(example::CHIP, &descs).unwrap();
    (spec.to_bytes().unwrap(), index, ex)
}

fn forward_error(bytes: Vec<u8>, ex: &example::Example) -> (RuntimeError, Instance) {
    let loaded = LoadedModel::new(Model::from_vec(bytes).unwrap()).unwrap();
    let mut inst = Instance::new(loaded, 0).unwrap();
    let input: Vec<u8> = ex.input.iter().map(|&v| v as u8).collect();
    inst.set_input(&ex.input_name, &input).unwrap();
    let e = inst.forward().expect_err("forward must fail");
    (e, inst)
}

#[test]
fn output_store_past_its_region_stops_forward() {
    let (bytes, index, ex) = changed_example(|descs| {
        let i = descs
            .iter()
            .rposition(|d| matches!(d, Desc::Tdma(t) if t.dst_base_reg_sel == REGION_OUTPUT.number() as u32))
            .expect("the example stores its output");
        let Desc::Tdma(t) = &mut descs[i] else { unreachable!() };
        t.dst_base_addr_low += 4;
        i
    });
    let (e, inst) = forward_error(bytes, &ex);
    let RuntimeError::Tpu { routine: 0, source, .. } = &e else { panic!("wrong error: {e}") };
    assert_eq!(source.index, index);
    let msg = e.to_string();
    assert!(msg.contains(&format!("descriptor {index} (TDMA ")), "{msg}");
    assert!(msg.contains("base register 4 + 0x4"), "{msg}");
    assert!(msg.contains("runs past the end of region `io4`"), "{msg}");
    // The 10-byte output buffer was not written at all.
    assert_eq!(inst.tensor_bytes(&ex.output_name).unwrap(), vec![0; 10]);
}

#[test]
fn load_from_a_region_the_program_does_not_allocate() {
    // The example has no private region (2): its base register is 0, below every allocation.
    let (bytes, index, ex) = changed_example(|descs| {
        let i = descs.iter().position(|d| matches!(d, Desc::Tdma(_))).unwrap();
        let Desc::Tdma(t) = &mut descs[i] else { unreachable!() };
        t.src_base_reg_sel = 2;
        i
    });
    let (e, _) = forward_error(bytes, &ex);
    let RuntimeError::Tpu { source, .. } = &e else { panic!("wrong error: {e}") };
    assert_eq!(source.index, index);
    let msg = e.to_string();
    assert!(msg.contains("(base register 2 + "), "{msg}");
    assert!(msg.contains("is outside every allocated region (nearest: `"), "{msg}");
}
