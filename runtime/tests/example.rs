//! The bundled example model: it loads, its command buffer decodes and re-encodes byte for byte,
//! its sync ids follow the serial-mode rules, its disassembly is a reviewed snapshot, and the
//! emulator's output equals the plain reference, layer by layer.

use cvsim_compiler::example::layout::{Local, FC_N, IC, IH, IW, OC, PH, PW};
use cvsim_compiler::example::{self, Example, Layer, SplitMix64};
use cvsim_isa::cmdbuf::encode_cmdbuf;
use cvsim_isa::disasm::{self, check_reserved};
use cvsim_isa::{Command, Desc, Region};
use cvsim_runtime::{DType, Model, SectionType};
use cvsim_sim::Machine;

const SEEDS: [u64; 4] = [0, 1, 7, 0xC0FFEE];

fn load(ex: &Example) -> (Model, Vec<Command>) {
    let m = Model::from_bytes(&ex.model_bytes).unwrap_or_else(|e| panic!("seed {}: model does not load: {e}", ex.seed));
    let sec = m.section(example::CMDBUF_SECTION).expect("cmdbuf section");
    let cmds = m.decode_cmdbuf(sec).unwrap_or_else(|e| panic!("seed {}: cmdbuf does not decode: {e}", ex.seed));
    (m, cmds)
}

#[test]
fn model_loads_with_the_expected_interface() {
    let ex = example::build(0);
    let (m, _) = load(&ex);
    assert_eq!(m.chip(), example::CHIP);
    assert!(m.md5_matches());
    let p = m.program(0).unwrap();
    assert_eq!((&p.input_tensors[..], &p.output_tensors[..]), (&[ex.input_name.clone()][..], &[ex.output_name.clone()][..]));
    let i = p.tensor(&ex.input_name).unwrap();
    assert_eq!(
        (i.region, i.region_offset, i.dtype, i.shape),
        (Some(Region::IO_FIRST), 0, DType::I8, [1, IC as i64, IH as i64, IW as i64])
    );
    let o = p.tensor(&ex.output_name).unwrap();
    assert_eq!((o.region, o.region_offset, o.dtype, o.shape), (Region::io(1), 0, DType::I8, [1, FC_N as i64, 1, 1]));
    assert_eq!(p.tensor(example::SPILL_NAME).unwrap().region, Some(Region::SHARED));
    assert_eq!(p.shared_gmem as usize, OC * PH * PW);
    let kinds: Vec<_> = m.sections.iter().map(|s| (s.kind, s.name.as_str())).collect();
    assert_eq!(kinds, [(SectionType::Weight, "weight"), (SectionType::Cmdbuf, "subfunc_0")]);
    assert_eq!(&*m.section_data("weight").unwrap(), &ex.params.weight_bytes()[..]);
    assert!(m.weight_map.iter().all(|w| w.region == Some(Region::WEIGHT)));
    // The same seed builds the same file.
    assert_eq!(example::build(0).model_bytes, ex.model_bytes);
    assert_ne!(example::build(1).model_bytes, ex.model_bytes);
}

#[test]
fn cmdbuf_decodes_to_the_built_descriptors_and_re_encodes() {
    for seed in SEEDS {
        let ex = example::build(seed);
        let (m, cmds) = load(&ex);
        let decoded: Vec<&Desc> = cmds.iter().map(|c| &c.desc).collect();
        let built: Vec<&Desc> = ex.steps.iter().map(|s| &s.desc).collect();
        assert_eq!(decoded, built, "seed {seed}: decoding the cmdbuf gives other descriptors than were built");
        let bytes = m.section_data(example::CMDBUF_SECTION).unwrap();
        assert_eq!(&encode_cmdbuf(example::CHIP, &cmds).unwrap()[..], &bytes[..], "seed {seed}: re-encoding differs");
        for (i, c) in cmds.iter().enumerate() {
            assert_eq!(
                check_reserved(example::CHIP, &c.desc),
                vec![],
                "seed {seed}: descriptor {i} has a reserved field off its reset value"
            );
        }
    }
}

/// Serial mode (isa.md §2.2): ids count 1, 2, 3 … per engine; a descriptor waits for the last
/// descriptor of the other engine before it when that one is its immediate predecessor, and a
/// TDMA descriptor otherwise repeats the previous TDMA wait; TDMA barriers are always on.
#[test]
fn sync_ids_follow_serial_mode() {
    let ex = example::build(0);
    let (mut tiu, mut tdma, mut tdma_wait) = (0u32, 0u32, 0u32);
    let mut prev_tiu = false;
    for (i, s) in ex.steps.iter().enumerate() {
        match &s.desc {
            Desc::Tiu(d) => {
                tiu += 1;
                assert_eq!((d.cmd_en, d.cmd_id_en, d.cmd_id_tpu), (1, 1, tiu), "descriptor {i}");
                assert_eq!(d.cmd_id_gdma, if prev_tiu { 0 } else { tdma }, "descriptor {i}: TIU wait");
                prev_tiu = true;
            }
            Desc::Tdma(d) => {
                tdma += 1;
                if prev_tiu {
                    tdma_wait = tiu;
                }
                assert_eq!((d.vld, d.bar_en, d.cmd_id, d.wait_id_tpu), (1, 1, tdma, tdma_wait), "descriptor {i}");
                prev_tiu = false;
            }
            Desc::Cpu(_) => panic!("no CPU descriptors expected"),
        }
    }
    assert_eq!((tiu, tdma), (5, 8));
}

/// The layer list as the disassembler prints it, reviewed as a snapshot.
#[test]
fn disassembly() {
    let ex = example::build(0);
    let (_, cmds) = load(&ex);
    let mut text = String::new();
    for (i, (c, s)) in cmds.iter().zip(&ex.steps).enumerate() {
        text.push_str(&format!("{:<5}{}\n", s.layer.name(), disasm::line(example::CHIP, "subfunc_0", i, c)));
    }
    let p = &ex.params;
    text.push_str(&format!(
        "conv shifts {:?}\nadd m0 {} m1 {} rshift {}\nfc rshift {}\n",
        p.conv_shift, p.add_m0, p.add_m1, p.add_rshift, p.fc_rshift
    ));
    insta::assert_snapshot!(text);
}

#[test]
fn calibrated_outputs_use_the_int8_range() {
    for seed in SEEDS {
        let ex = example::build(seed);
        let acts = example::reference_layers(&ex, &ex.input);
        assert_eq!(ex.expected, acts.fc);
        let distinct = |v: &[i8]| v.iter().collect::<std::collections::BTreeSet<_>>().len();
        assert!(distinct(&acts.conv) > 40, "seed {seed}: conv output nearly constant");
        assert!(distinct(&acts.add) > 20, "seed {seed}: add output nearly constant");
        assert!(distinct(&acts.fc) > 3, "seed {seed}: fc output nearly constant: {:?}", acts.fc);
        assert!(acts.fc.iter().all(|&v| v.abs() <= 121), "seed {seed}: calibrated output saturates: {:?}", acts.fc);
    }
}

// ---- running on the emulator ----

/// Device addresses of the regions: well apart, as the runtime's allocations would be.
const BASES: [(u8, u64); 4] = [(0, 0x1000_0000), (1, 0x2000_0000), (3, 0x3000_0000), (4, 0x4000_0000)];

/// Run the example on the emulator for one input; the machine is returned to read LMEM back.
fn emulate(ex: &Example, cmds: &[Command], m: &Model, input: &[i8]) -> (Machine, Vec<i8>) {
    let p = m.program(0).unwrap();
    let mut mach = Machine::new(example::CHIP);
    let weights = m.section_data(example::WEIGHT_SECTION).unwrap();
    let sizes = [(0, p.shared_gmem as usize), (1, weights.len()), (3, input.len()), (4, FC_N)];
    for ((region, base), (_, len)) in BASES.iter().zip(sizes) {
        mach.gmem.add_region(format!("region{region}"), *base, len);
        mach.gmem.base_regs[*region as usize] = *base;
    }
    mach.gmem.write(BASES[1].1, &weights).unwrap();
    mach.gmem.write(BASES[2].1, &input.iter().map(|&v| v as u8).collect::<Vec<_>>()).unwrap();
    let stream = m.cmdbuf_stream(m.section(example::CMDBUF_SECTION).expect("cmdbuf section")).unwrap();
    if let Err(e) = mach.run(&stream) {
        let line = disasm::line(example::CHIP, "subfunc_0", e.index, &cmds[e.index]);
        panic!("seed {}: the emulator stopped: {e}\n  at {line}", ex.seed);
    }
    let out = mach.gmem.read(BASES[3].1, FC_N).unwrap().iter().map(|&b| b as i8).collect();
    (mach, out)
}

/// An LMEM tensor of the plan as dense NCHW bytes.
fn read_local(mach: &Machine, t: &Local) -> Vec<u8> {
    let lanes = mach.params.lanes;
    let mut out = Vec::new();
    for n in 0..t.n {
        for c in 0..t.c {
            for h in 0..t.h {
                for w in 0..t.w {
                    let (lane, off) = t.locate(lanes, n, c, h, w);
                    out.push(mach.lmem.data[mach.lmem.index(lane, off)]);
                }
            }
        }
    }
    out
}

/// The first element where a layer's emulated result differs from the reference.
fn first_mismatch(got: &[u8], want: &[u8], shape: (usize, usize, usize)) -> Option<String> {
    let (c, h, w) = shape;
    let i = got.iter().zip(want).position(|(a, b)| a != b)?;
    let count = got.iter().zip(want).filter(|(a, b)| a != b).count();
    Some(format!(
        "first at (c={}, h={}, w={}): emulator {} vs reference {} ({count} of {} elements differ)",
        i / (h * w) % c,
        i / w % h,
        i % w,
        got[i] as i8,
        want[i] as i8,
        want.len()
    ))
}

/// Compare every layer's result left in LMEM with the reference and name the first op that
/// disagrees, with its disassembly.
fn explain(ex: &Example, mach: &Machine, cmds: &[Command], input: &[i8]) -> String {
    let plan = example::plan();
    let acts = example::reference_layers(ex, input);
    let bytes = |v: &[i8]| v.iter().map(|&x| x as u8).collect::<Vec<_>>();
    let checks = [
        (Layer::Conv, "conv (QM, relu)", read_local(mach, &plan.conv_out), bytes(&acts.conv), (OC, IH, IW)),
        (Layer::Pool, "max pool", read_local(mach, &plan.pool_out), bytes(&acts.pool), (OC, PH, PW)),
        // After the mac the low plane holds the int8 add result. What an 8-bit mac leaves in the
        // high plane is open (isa.md §8 item 15), so it is not compared.
        (
            Layer::Add,
            "mul+mac (add, int8 result in the low plane)",
            read_local(mach, &plan.add_lo),
            bytes(&acts.add),
            (OC, PH, PW),
        ),
        (Layer::Fc, "fc", read_local(mach, &plan.fc_out), bytes(&acts.fc), (1, 1, FC_N)),
    ];
    let mut report = String::new();
    for (layer, what, got, want, shape) in checks {
        if let Some(d) = first_mismatch(&got, &want, shape) {
            report.push_str(&format!("layer {} ({what}) disagrees: {d}\n  its descriptors:\n", layer.name()));
            for (i, (c, _)) in cmds.iter().zip(&ex.steps).enumerate().filter(|(_, (_, s))| s.layer == layer) {
                report.push_str(&format!("    {}\n", disasm::line(example::CHIP, "subfunc_0", i, c)));
            }
            break;
        }
    }
    report
}

#[test]
fn emulator_matches_the_reference() {
    let mut failures = Vec::new();
    for seed in SEEDS {
        let ex = example::build(seed);
        let (m, cmds) = load(&ex);
        let mut rng = SplitMix64::new(seed ^ 0x5EED);
        let mut inputs = vec![ex.input.clone()];
        inputs.extend((0..3).map(|_| rng.i8s(IC * IH * IW, i8::MIN, i8::MAX)));
        for (k, input) in inputs.iter().enumerate() {
            let (mach, out) = emulate(&ex, &cmds, &m, input);
            let want = example::reference(&ex, input);
            if out != want {
                failures.push(format!(
                    "seed {seed} input {k}: output {out:?}, reference {want:?}\n{}",
                    explain(&ex, &mach, &cmds, input)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The diagnosis names the right layer: with a reference that computes one op differently from
/// the descriptors, the first disagreeing layer is that op.
#[test]
fn a_disagreement_is_traced_to_its_layer() {
    let ex = example::build(3);
    let (m, cmds) = load(&ex);
    let (mach, out) = emulate(&ex, &cmds, &m, &ex.input);
    assert_eq!(out, ex.expected, "the unmodified example must match before this test means anything");
    for (layer, tweak) in [
        ("conv", &(|p: &mut example::Params| p.conv_shift[3] -= 1) as &dyn Fn(&mut example::Params)),
        ("add", &|p: &mut example::Params| p.add_m1 += 1),
        ("fc", &|p: &mut example::Params| p.fc_bias[0] += 3000),
    ] {
        let mut wrong = ex.clone();
        tweak(&mut wrong.params);
        let report = explain(&wrong, &mach, &cmds, &ex.input);
        assert!(report.starts_with(&format!("layer {layer} ")), "tweaking {layer}: {report}");
    }
}
