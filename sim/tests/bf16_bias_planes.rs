//! How a bf16 convolution reads and adds its fp32 bias, pinned by the vendor simulator.
//!
//! Adding: products that land exactly on a bf16 tie, plus tiny biases. A normal negative bias,
//! however small, takes the sum below the tie (the adder truncates toward zero); a subnormal one
//! adds as zero, so the tie rounds to even ([`tie_vector`]).
//!
//! Reading:
//! The bias is two 16-bit planes, high halves then low halves. cvikernel always sets
//! `opd2_b_str = ceil(C / lanes) · 2`; a compiler that keeps the bias of a whole layer in local
//! memory and convolves a channel tile of it gives a larger plane distance. The vectors here do
//! that: a 1×1 bf16 depthwise convolution of C channels whose bias planes are laid out for
//! C + 2·lanes channels, with `opd2_b_str` saying so, and one with the two distances equal. On
//! CV180x–CV182x the oracle reads the low plane at `ceil(C / lanes) · 2` whatever `opd2_b_str` says.
//! (CV183x reads it at `opd2_b_str`: compiled models whose bias tiles are laid out so ran
//! identically on both simulators; this script's CV183x runs abort in the oracle's address check, so
//! they are not vectors here.) The vectors in `tests/data/bf16_bias_planes.jsonl` are made by
//! [`vectors`] below; their `gmem_expect` is the oracle's output, recorded with
//! `python3 tools/vendor_vectors.py sim/tests/data/bf16_bias_planes.jsonl sim/tests/data/bf16_bias_planes.jsonl`
//! after `cargo test -p cvsim-sim --test bf16_bias_planes -- --ignored write_vectors` wrote them.

use cvsim_isa::cmdbuf::encode_descs;
use cvsim_isa::{Chip, Desc, TdmaDesc, TiuDesc};
use cvsim_sim::vectors::{run_vector, MemRegion, Outcome, Vector};
use serde_json::json;

mod oracle_vectors;
use oracle_vectors::Rng;

const DATA: &str = "tests/data/bf16_bias_planes.jsonl";
const W: u32 = 8;
/// Global addresses of the input, the weights, the bias planes and the result.
const G: [u64; 4] = [0x280_1000, 0x280_3000, 0x280_4000, 0x280_6000];
/// Local addresses of the input, the weights, the bias planes and the result.
const L: [u32; 4] = [0x0, 0x400, 0x600, 0x800];

/// A (n, c, h, w) transfer between global memory (dense, `esz`-byte elements) and a local layout
/// with the given per-lane strides.
#[allow(clippy::too_many_arguments)]
fn tdma(
    chip: Chip,
    load: bool,
    g: u64,
    l: u32,
    (n, c, h, w): (u32, u32, u32, u32),
    local: (u32, u32, u32),
) -> TdmaDesc {
    let mut d = TdmaDesc::reset(chip);
    d.trans_dir = if load { 0 } else { 1 };
    (d.src_fmt, d.dst_fmt) = (2, 2);
    let global = (c * h * w * 2, h * w * 2, w * 2);
    let ((sn, sc, sh), (dn, dc, dh)) = if load { (global, local) } else { (local, global) };
    // CV183x descriptors carry DDR + 4 GiB.
    let g = g + chip.params().gmem_start;
    if load {
        (d.src_base_addr_low, d.src_base_addr_high, d.dst_base_addr_low) = (g as u32, (g >> 32) as u32, l);
    } else {
        (d.src_base_addr_low, d.dst_base_addr_low, d.dst_base_addr_high) = (l, g as u32, (g >> 32) as u32);
    }
    (d.src_n, d.src_c, d.src_h, d.src_w) = (n, c, h, w);
    (d.dst_c, d.dst_h, d.dst_w) = (c, h, w);
    (d.src_n_stride, d.src_c_stride_low, d.src_h_stride) = (sn, sc, sh);
    (d.dst_n_stride, d.dst_c_stride_low, d.dst_h_stride) = (dn, dc, dh);
    d
}

/// 1×1 bf16 depthwise convolution of (1, c, 1, W) with a bias whose planes are `b_str` apart.
fn dwconv(chip: Chip, c: u32, b_str: u32) -> TiuDesc {
    let mut d = TiuDesc::reset(chip);
    (d.tsk_typ, d.tsk_eu_typ, d.tsk_opd_num, d.opd_typ) = (1, 2, 3, 1);
    (d.opt_res_shift, d.opt_shift_typ, d.opt_relu_typ) = (0, 1, 0);
    (d.opt_res0_sign, d.opt_opd0_sign) = (0, 0);
    (d.conv_op_x_str, d.conv_op_y_str) = (1, 1);
    (d.res0_addr, d.opd0_addr, d.opd1_addr, d.opd2_addr) = (L[3], L[0], L[1], L[2]);
    (d.short_res0_str, d.short_opd0_str, d.short_opd1_str, d.short_opd2_str) = (3, 3, 0, 2);
    let (n_str, c_str) = (c.div_ceil(chip.lanes()) * 16, 16);
    (d.res0_n, d.res0_c, d.res0_h, d.res0_w) = (1, c, 1, W);
    (d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (1, c, 1, W);
    (d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str) = (n_str, c_str, W * 2, 2);
    (d.opd0_n_str, d.opd0_c_str, d.opd0_h_str, d.opd0_w_str) = (n_str, c_str, W * 2, 2);
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (1, c, 1, 1);
    (d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (1, c, 1, 1);
    d.opd2_b_str = b_str;
    d
}

/// A random normal bf16 between 2^-8 and 2^8 in magnitude.
fn bf16(rng: &mut Rng) -> u16 {
    let sign = ((rng.next() % 2) as u16) << 15;
    sign | (119 + (rng.next() % 16) as u16) << 7 | (rng.next() % 128) as u16
}

/// `extra` more lane-rows of bias than the convolution's C, so the planes lie further apart.
fn vector(chip: Chip, seed: u64, extra: u32) -> Vector {
    let lanes = chip.lanes();
    let c = 2 * lanes;
    let cb = c + extra * lanes;
    let b_str = cb.div_ceil(lanes) * 2;
    let mut rng = Rng(seed);
    let x: Vec<u8> = (0..c * W).flat_map(|_| bf16(&mut rng).to_le_bytes()).collect();
    let w: Vec<u8> = (0..c).flat_map(|_| bf16(&mut rng).to_le_bytes()).collect();
    // Every bias word random, low halves included, so reading the wrong plane shows.
    let b: Vec<u8> = (0..2 * cb).flat_map(|_| bf16(&mut rng).to_le_bytes()).collect();
    assemble(
        chip,
        format!("{}-bf16-bias-planes-extra{extra}-{seed:x}", chip.name()),
        json!({"seed": seed, "channels": c, "bias_channels": cb, "opd2_b_str": b_str}),
        (c, cb),
        [x, w, b],
    )
}

/// The fp32 biases of the tie probes, one per channel (cycled): tiny normal and subnormal values
/// of both signs, zero, and values near the smallest normal.
const TIE_BIASES: [u32; 12] = [
    0x9E3C_E508, // -1e-20
    0x8000_3F81, // subnormal
    0x0000_0000,
    0x8DA2_4260, // -1e-30
    0x1E3C_E508, // +1e-20
    0xAEDB_E6FF, // -1e-10
    0x806C_E3EE, // -1e-38 (subnormal)
    0x8082_AB1E, // -1.2e-38 (normal)
    0x0000_0001, // +smallest subnormal
    0x8080_0000, // -smallest normal
    0x807F_FFFF, // -largest subnormal
    0x2EDB_E6FF, // +1e-10
];

/// Every element `x · w` exactly on a bf16 tie (0xBBE0 · 0xBD94 = 0x3A018000), per channel one of
/// [`TIE_BIASES`].
fn tie_vector(chip: Chip, seed: u64) -> Vector {
    let lanes = chip.lanes();
    let c = 2 * lanes;
    let x: Vec<u8> = (0..c * W).flat_map(|_| 0xBBE0u16.to_le_bytes()).collect();
    let w: Vec<u8> = (0..c).flat_map(|_| 0xBD94u16.to_le_bytes()).collect();
    let bias = |ch: u32| TIE_BIASES[ch as usize % TIE_BIASES.len()];
    let b: Vec<u8> = (0..c)
        .flat_map(|ch| ((bias(ch) >> 16) as u16).to_le_bytes())
        .chain((0..c).flat_map(|ch| (bias(ch) as u16).to_le_bytes()))
        .collect();
    assemble(
        chip,
        format!("{}-bf16-bias-add-ties-{seed:x}", chip.name()),
        json!({"channels": c, "biases": TIE_BIASES}),
        (c, c),
        [x, w, b],
    )
}

/// Loads of the input `(1, c, 1, W)`, weights `(1, c, 1, 1)` and bias planes laid out for `cb`
/// channels, the depthwise convolution, the store: one vector (expectations zeroed).
fn assemble(chip: Chip, id: String, params: serde_json::Value, (c, cb): (u32, u32), data: [Vec<u8>; 3]) -> Vector {
    let lanes = chip.lanes();
    let base = chip.params().gmem_start;
    let b_str = cb.div_ceil(lanes) * 2;
    let act = (c.div_ceil(lanes) * 16, 16, W * 2);
    let mut descs = vec![
        Desc::Tdma(Box::new(tdma(chip, true, G[0], L[0], (1, c, 1, W), act))),
        Desc::Tdma(Box::new(tdma(chip, true, G[1], L[1], (1, c, 1, 1), (c.div_ceil(lanes) * 16, 16, 2)))),
        Desc::Tdma(Box::new(tdma(chip, true, G[2], L[2], (2, cb, 1, 1), (b_str, 2, 2)))),
    ];
    let mut t = dwconv(chip, c, b_str);
    (t.cmd_en, t.cmd_id_en, t.cmd_id_tpu, t.cmd_id_gdma) = (1, 1, 1, 3);
    descs.push(Desc::Tiu(Box::new(t)));
    let mut store = tdma(chip, false, G[3], L[3], (1, c, 1, W), act);
    store.wait_id_tpu = 1;
    descs.push(Desc::Tdma(Box::new(store)));
    let mut id_no = 0;
    for d in &mut descs {
        if let Desc::Tdma(t) = d {
            id_no += 1;
            (t.vld, t.bar_en, t.cmd_id) = (1, 1, id_no);
        }
    }
    let cmdbuf = encode_descs(chip, &descs).expect("the generated descriptors encode");
    Vector {
        id,
        chip: chip.name().into(),
        op: "dwconv".into(),
        params,
        cmdbuf_hex: hex::encode(cmdbuf),
        gmem_init: data.iter().zip(G).map(|(d, addr)| MemRegion { addr: addr + base, hex: hex::encode(d) }).collect(),
        gmem_expect: vec![MemRegion { addr: G[3] + base, hex: "00".repeat((c * W * 2) as usize) }],
    }
}

fn vectors() -> Vec<Vector> {
    let mut out = Vec::new();
    for (i, chip) in [Chip::Cv180x, Chip::Cv181x, Chip::Cv182x].into_iter().enumerate() {
        out.push(tie_vector(chip, 0x71E_0000 + i as u64));
    }
    for (i, chip) in [Chip::Cv180x, Chip::Cv181x, Chip::Cv182x].into_iter().enumerate() {
        for extra in [0, 2] {
            out.push(vector(chip, 0xB1A5_0000 + (i * 4 + extra as usize) as u64 + 1, extra));
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
    for r in oracle_vectors::recorded(DATA) {
        assert!(r["gmem_expect"][0]["hex"].as_str().unwrap().chars().any(|c| c != '0'), "{}: no oracle bytes", r["id"]);
    }
}

#[test]
fn bias_planes_give_the_oracle_bytes() {
    for r in oracle_vectors::recorded(DATA) {
        let v: Vector = serde_json::from_value(r).expect("a vector");
        match run_vector(&v) {
            Outcome::Pass => {}
            other => panic!("{}: {other:?}", v.id),
        }
    }
}
