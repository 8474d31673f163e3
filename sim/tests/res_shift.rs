//! The per-tensor result shift of CV18[0-2]x int8 ops, pinned by the vendor simulator.
//!
//! The 6-bit `opt_res_shift` is a plain right shift of 0..=63 outside the QM paths: tpu-mlir emits
//! 48 for a PReLU whose slopes quantise to zero (a `dwconv.i8` 1×1 in `feature_cviface_112_112`),
//! and the vendor simulator shifts a 32-bit value right by it. The vectors in
//! `tests/data/res_shift.jsonl` are made by [`vectors`] below (load, the one TIU op, store); their
//! `gmem_expect` is the oracle's output, recorded with
//! `python3 tools/vendor_vectors.py sim/tests/data/res_shift.jsonl sim/tests/data/res_shift.jsonl`
//! after `cargo test -p cvsim-sim --test res_shift -- --ignored write_vectors` wrote them.
//! The shift settings the vendor simulator aborts on must give cvsim errors naming the field.

use cvsim_isa::cmdbuf::{encode_cmdbuf, encode_descs, parse_cmdbuf};
use cvsim_isa::{Chip, Desc, TdmaDesc, TiuDesc};
use cvsim_sim::vectors::{run_vector, MemRegion, Outcome, Vector};
use serde_json::json;

mod oracle_vectors;
use oracle_vectors::Rng;

const DATA: &str = "tests/data/res_shift.jsonl";
/// Global addresses (offsets from base register 0) of the input, weights and output.
const G_X: u64 = 0x1000;
const G_W: u64 = 0x3000;
const G_Y: u64 = 0x4000;
/// Local addresses: input, weights, result.
const L_X: u32 = 0x0;
const L_W: u32 = 0x800;
const L_Y: u32 = 0x1000;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    /// Depthwise 1×1 with per-channel int8 weights (the PReLU negative branch).
    Dw,
    /// Element-wise multiply by a constant.
    Mul,
}

#[derive(Clone, Copy, Debug)]
struct Case {
    chip: Chip,
    op: Op,
    rs: u32,
    /// `opt_shift_typ`: arithmetic (1) or logical (0).
    arith: bool,
    /// `opt_rshift_typ`: round (1) or truncate (0).
    round: bool,
    /// `opt_res0_sign`.
    signed: bool,
    seed: u64,
}

const C: u32 = 16;
const H: u32 = 3;
const W: u32 = 7;

fn bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| (rng.next() >> 56) as u8).collect()
}

/// Per-lane layout of a (1, c, h, w) int8 tensor whose channels each start a lane: the channel
/// stride rounded to the 16-byte EU, as the emitters lay tensors out.
fn local_strides(chip: Chip, c: u32, h: u32, w: u32) -> (u32, u32, u32) {
    let c_str = (h * w).div_ceil(16) * 16;
    (c.div_ceil(chip.lanes()) * c_str, c_str, w)
}

fn tdma(chip: Chip, load: bool, g: u64, l: u32, (c, h, w): (u32, u32, u32)) -> TdmaDesc {
    let mut d = TdmaDesc::reset(chip);
    d.trans_dir = if load { 0 } else { 1 };
    d.int8_sign = 1;
    let (ln, lc, lh) = local_strides(chip, c, h, w);
    let (gn, gc, gh) = (c * h * w, h * w, w);
    let ((sn, sc, sh), (dn, dc, dh)) = if load { ((gn, gc, gh), (ln, lc, lh)) } else { ((ln, lc, lh), (gn, gc, gh)) };
    if load {
        d.src_base_addr_low = g as u32;
        d.dst_base_addr_low = l;
    } else {
        d.src_base_addr_low = l;
        d.dst_base_addr_low = g as u32;
    }
    (d.src_n, d.src_c, d.src_h, d.src_w) = (1, c, h, w);
    (d.dst_c, d.dst_h, d.dst_w) = (c, h, w);
    (d.src_n_stride, d.src_c_stride_low, d.src_h_stride) = (sn, sc, sh);
    (d.dst_n_stride, d.dst_c_stride_low, d.dst_h_stride) = (dn, dc, dh);
    d
}

fn tiu(case: &Case, k: u8) -> TiuDesc {
    let chip = case.chip;
    let mut d = TiuDesc::reset(chip);
    d.tsk_opd_num = 2;
    d.opt_res_shift = case.rs;
    d.opt_shift_typ = case.arith as u32;
    d.opt_rshift_typ = case.round as u32;
    // An unsigned result comes from unsigned operands (the vendor simulator aborts on a signed
    // operand with an unsigned product).
    let s = case.signed as u32;
    (d.opt_res0_sign, d.opt_opd0_sign, d.opt_opd1_sign) = (s, s, s);
    (d.res0_addr, d.opd0_addr) = (L_Y, L_X);
    (d.res0_n, d.res0_c, d.res0_h, d.res0_w) = (1, C, H, W);
    (d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (1, C, H, W);
    let (n_str, c_str, h_str) = local_strides(chip, C, H, W);
    (d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str) = (n_str, c_str, h_str, 1);
    (d.opd0_n_str, d.opd0_c_str, d.opd0_h_str, d.opd0_w_str) = (n_str, c_str, h_str, 1);
    (d.short_res0_str, d.short_opd0_str) = (3, 3);
    match case.op {
        Op::Dw => {
            (d.tsk_typ, d.tsk_eu_typ) = (1, 2);
            d.opd1_addr = L_W;
            (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (1, C, 1, 1);
            (d.conv_op_x_str, d.conv_op_y_str) = (1, 1);
            (d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (1, 1, 1, 1);
        }
        Op::Mul => {
            (d.tsk_typ, d.tsk_eu_typ) = (3, 0);
            d.opt_opd1_const = 1;
            d.opd1_addr = k as u32;
            (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (1, C, H, W);
            (d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (1, C, H, W);
            d.short_opd2_str = 3;
        }
    }
    d
}

/// One vector: the command buffer and the initial memory (`gmem_expect` holds the output
/// region's length only, as zeros, until the oracle fills it).
fn vector(case: &Case) -> Vector {
    let chip = case.chip;
    let mut rng = Rng(case.seed.max(1));
    let x = bytes(&mut rng, (C * H * W) as usize);
    let w = bytes(&mut rng, C as usize);
    let k = bytes(&mut rng, 1)[0];
    let mut descs = vec![Desc::Tdma(Box::new(tdma(chip, true, G_X, L_X, (C, H, W))))];
    if case.op == Op::Dw {
        descs.push(Desc::Tdma(Box::new(tdma(chip, true, G_W, L_W, (C, 1, 1)))));
    }
    let loads = descs.len() as u32;
    let mut t = tiu(case, k);
    (t.cmd_en, t.cmd_id_en, t.cmd_id_tpu, t.cmd_id_gdma) = (1, 1, 1, loads);
    descs.push(Desc::Tiu(Box::new(t)));
    let mut store = tdma(chip, false, G_Y, L_Y, (C, H, W));
    store.wait_id_tpu = 1;
    descs.push(Desc::Tdma(Box::new(store)));
    let mut id = 0;
    for d in &mut descs {
        if let Desc::Tdma(t) = d {
            id += 1;
            (t.vld, t.bar_en, t.cmd_id) = (1, 1, id);
        }
    }
    let cmdbuf = encode_descs(chip, &descs).expect("the generated descriptors encode");
    let mut gmem_init = vec![MemRegion { addr: G_X, hex: hex::encode(&x) }];
    if case.op == Op::Dw {
        gmem_init.push(MemRegion { addr: G_W, hex: hex::encode(&w) });
    }
    let name = format!(
        "{}-{:?}-rs{}-{}{}{}",
        chip.name(),
        case.op,
        case.rs,
        if case.arith { "arith" } else { "logic" },
        if case.round { "-round" } else { "-trunc" },
        if case.signed { "-s8" } else { "-u8" }
    );
    Vector {
        id: name.to_lowercase(),
        chip: chip.name().into(),
        op: format!("{:?}", case.op).to_lowercase(),
        params: json!({"rs": case.rs, "opt_shift_typ": case.arith as u8, "opt_rshift_typ": case.round as u8,
                        "opt_res0_sign": case.signed as u8, "seed": case.seed, "shape": [1, C, H, W]}),
        cmdbuf_hex: hex::encode(cmdbuf),
        gmem_init,
        gmem_expect: vec![MemRegion { addr: G_Y, hex: "00".repeat((C * H * W) as usize) }],
    }
}

/// The cases the oracle executes: shifts of 32..63 (and a small one for contrast) with the
/// shift flavours each op accepts.
fn vectors() -> Vec<Vector> {
    let mut out = Vec::new();
    let mut seed = 0x5EED;
    for chip in [Chip::Cv181x, Chip::Cv182x] {
        for rs in [0, 5, 32, 33, 40, 48, 63] {
            let mut add = |op, arith, round, signed| {
                seed += 1;
                out.push(vector(&Case { chip, op, rs, arith, round, signed, seed }));
            };
            if rs == 0 {
                // No shift: a logical flavour with a signed result runs, and stays signed.
                add(Op::Dw, false, true, true);
                add(Op::Mul, false, true, true);
            }
            add(Op::Dw, true, true, true);
            add(Op::Mul, true, true, true);
            add(Op::Mul, true, false, true);
            add(Op::Mul, false, true, false);
            add(Op::Mul, false, false, false);
        }
    }
    out
}

#[test]
#[ignore]
fn write_vectors() {
    oracle_vectors::write(DATA, &vectors());
}

#[test]
fn recorded_vectors_are_the_generated_ones() {
    oracle_vectors::assert_recorded_are_generated(DATA, &vectors());
}

#[test]
fn shifts_of_32_to_63_give_the_oracle_bytes() {
    let rec = oracle_vectors::recorded(DATA);
    assert!(!rec.is_empty());
    let mut wide = 0;
    for r in rec {
        let v: Vector = serde_json::from_value(r).expect("a vector");
        wide += (v.params["rs"].as_u64().unwrap() >= 32) as u32;
        match run_vector(&v) {
            Outcome::Pass => {}
            other => panic!("{}: {other:?}", v.id),
        }
    }
    assert!(wide >= 40, "only {wide} vectors shift by 32 or more");
}

/// The vector with `opt_opd0_sign` set in its TIU descriptor.
fn with_opd0_signed(mut v: Vector) -> Vector {
    let chip: Chip = v.chip.parse().unwrap();
    let (_, mut cmds) = parse_cmdbuf(&hex::decode(&v.cmdbuf_hex).unwrap(), Some(chip)).unwrap();
    for c in &mut cmds {
        if let Desc::Tiu(t) = &mut c.desc {
            t.opt_opd0_sign = 1;
        }
    }
    v.cmdbuf_hex = hex::encode(encode_cmdbuf(chip, &cmds).unwrap());
    v
}

/// What the vendor simulator aborts on (an assertion in its register checks) is an error naming
/// the descriptor and the field.
#[test]
fn settings_the_vendor_aborts_on_are_errors() {
    let cases = [
        // a logical shift with a signed result
        (
            Case { chip: Chip::Cv181x, op: Op::Mul, rs: 5, arith: false, round: true, signed: true, seed: 1 },
            "opt_shift_typ",
        ),
        (
            Case { chip: Chip::Cv182x, op: Op::Dw, rs: 48, arith: false, round: true, signed: true, seed: 2 },
            "opt_shift_typ",
        ),
        // an arithmetic shift with an unsigned result
        (
            Case { chip: Chip::Cv181x, op: Op::Mul, rs: 33, arith: true, round: true, signed: false, seed: 3 },
            "opt_shift_typ",
        ),
        // a signed operand with an unsigned product, and the other way round
        (
            Case { chip: Chip::Cv181x, op: Op::Mul, rs: 0, arith: false, round: true, signed: false, seed: 6 },
            "opt_res0_sign",
        ),
        // depthwise only rounds
        (
            Case { chip: Chip::Cv181x, op: Op::Dw, rs: 0, arith: true, round: false, signed: true, seed: 4 },
            "opt_rshift_typ",
        ),
    ];
    for (case, field) in cases {
        let mut v = vector(&case);
        if field == "opt_res0_sign" {
            v = with_opd0_signed(v);
        }
        // The TIU descriptor follows the loads: the input, and the weights of a depthwise.
        let index = if case.op == Op::Dw { 2 } else { 1 };
        match run_vector(&v) {
            Outcome::Error(e) => assert!(
                e.contains(&format!("descriptor {index} ")) && e.contains(&format!("`{field}`")),
                "{}: {e}",
                v.id
            ),
            other => panic!("{}: expected an error naming `{field}`, got {other:?}", v.id),
        }
    }
    // Without a shift the flavour does not matter (the oracle runs these).
    let fine = Case { chip: Chip::Cv181x, op: Op::Mul, rs: 0, arith: false, round: true, signed: true, seed: 5 };
    assert!(!matches!(run_vector(&vector(&fine)), Outcome::Error(_)));
}
