//! bf16 `mac` rounding, pinned by the vendor simulator.
//!
//! The product of two bf16 operands is exact in f32, but adding the accumulator can drop its low
//! bits. When the f32 sum then lies exactly halfway between two bf16 values, the vendor rounds
//! toward the exact value (the dropped bits decide), not to even; a subnormal accumulator never
//! decides. Found on a bf16 softmax with random inputs, whose exponent products hit such ties.
//! The vectors in `tests/data/bf16_mac.jsonl` are made by [`vectors`] below (three loads, the mac,
//! a store); their `gmem_expect` is the oracle's output, recorded with
//! `python3 tools/vendor_vectors.py sim/tests/data/bf16_mac.jsonl sim/tests/data/bf16_mac.jsonl`
//! after `cargo test -p cvsim-sim --test bf16_mac -- --ignored write_vectors` wrote them.

use cvsim_isa::cmdbuf::encode_descs;
use cvsim_isa::{Chip, Desc, TdmaDesc, TiuDesc};
use cvsim_sim::vectors::{run_vector, MemRegion, Outcome, Vector};
use serde_json::json;

mod oracle_vectors;
use oracle_vectors::Rng;

const DATA: &str = "tests/data/bf16_mac.jsonl";
const C: u32 = 16;
const W: u32 = 32;
const N_ELEM: u32 = C * W;
/// Global addresses (offsets from base register 0) of a, b, the accumulator and the result.
const G: [u64; 4] = [0x1000, 0x2000, 0x3000, 0x4000];
/// Local addresses of a, b and the accumulator (which is also the result).
const L: [u32; 3] = [0x0, 0x400, 0x800];

fn below(rng: &mut Rng, n: u64) -> u64 {
    rng.next() % n
}

fn bf(b: u16) -> f64 {
    f32::from_bits((b as u32) << 16) as f64
}

/// A normal bf16 with its exponent in `lo..hi` (biased) and a random sign and mantissa.
fn normal(rng: &mut Rng, lo: u64, hi: u64) -> u16 {
    let sign = (below(rng, 2) as u16) << 15;
    let exp = (lo + below(rng, hi - lo)) as u16;
    sign | exp << 7 | below(rng, 128) as u16
}

/// The operands of one element: (a, b, acc). Most products are exact bf16 ties, met by an
/// accumulator that is a small normal of either sign, a subnormal, or zero; the rest are ordinary.
fn element(rng: &mut Rng) -> (u16, u16, u16) {
    let kind = below(rng, 8);
    loop {
        let a = normal(rng, 110, 144);
        let b = normal(rng, 110, 144);
        let p = bf(a) * bf(b);
        // The product's significand has at most 16 bits; a tie has exactly bit 8 below the bf16
        // LSB set and nothing under it.
        let m = (p.abs() / 2f64.powi(p.abs().log2().floor() as i32 - 15)) as u32;
        let tie = m & 0xFF == 0x80;
        if kind < 6 && !tie {
            continue;
        }
        let pe = ((p.abs().log2().floor() as i64) + 127).clamp(1, 254) as u64;
        let acc = match kind {
            // far below the product's last f32 bit, either sign
            0 | 1 => normal(rng, pe.saturating_sub(60).max(1), pe.saturating_sub(30).max(2)),
            // just below the f32 sum's reach
            2 => normal(rng, pe.saturating_sub(26).max(1), pe.saturating_sub(24).max(2)),
            3 => (below(rng, 2) as u16) << 15 | (1 + below(rng, 127) as u16),
            4 => (below(rng, 2) as u16) << 15,
            5 => normal(rng, pe.saturating_sub(8).max(1), pe + 1),
            _ => normal(rng, 100, 154),
        };
        return (a, b, acc);
    }
}

fn tdma(chip: Chip, load: bool, g: u64, l: u32) -> TdmaDesc {
    let mut d = TdmaDesc::reset(chip);
    d.trans_dir = if load { 0 } else { 1 };
    (d.src_fmt, d.dst_fmt) = (2, 2);
    // bf16: two bytes per element, each channel in its own lane.
    let (ln, lc, lh) = (C.div_ceil(chip.lanes()) * W * 2, W * 2, W * 2);
    let (gn, gc, gh) = (C * W * 2, W * 2, W * 2);
    let ((sn, sc, sh), (dn, dc, dh)) = if load { ((gn, gc, gh), (ln, lc, lh)) } else { ((ln, lc, lh), (gn, gc, gh)) };
    if load {
        (d.src_base_addr_low, d.dst_base_addr_low) = (g as u32, l);
    } else {
        (d.src_base_addr_low, d.dst_base_addr_low) = (l, g as u32);
    }
    (d.src_n, d.src_c, d.src_h, d.src_w) = (1, C, 1, W);
    (d.dst_c, d.dst_h, d.dst_w) = (C, 1, W);
    (d.src_n_stride, d.src_c_stride_low, d.src_h_stride) = (sn, sc, sh);
    (d.dst_n_stride, d.dst_c_stride_low, d.dst_h_stride) = (dn, dc, dh);
    d
}

fn mac(chip: Chip) -> TiuDesc {
    let mut d = TiuDesc::reset(chip);
    (d.tsk_typ, d.tsk_eu_typ, d.tsk_opd_num, d.opd_typ) = (3, 1, 2, 1);
    (d.opt_res_add, d.opt_rshift_typ, d.opt_opd2_sign) = (1, 1, 1);
    (d.opt_res0_seg, d.opt_opd0_seg, d.opt_opd1_seg) = (1, 1, 1);
    (d.res0_addr, d.opd0_addr, d.opd1_addr) = (L[2], L[0], L[1]);
    let (n_str, c_str, h_str) = (C.div_ceil(chip.lanes()) * W * 2, W * 2, W * 2);
    (d.res0_n, d.res0_c, d.res0_h, d.res0_w) = (1, C, 1, W);
    (d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (1, C, 1, W);
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (1, C, 1, W);
    (d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (1, C, 1, W);
    (d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str) = (n_str, c_str, h_str, 2);
    (d.opd0_n_str, d.opd0_c_str, d.opd0_h_str, d.opd0_w_str) = (n_str, c_str, h_str, 2);
    (d.opd1_n_str, d.opd1_c_str, d.opd1_h_str, d.opd1_w_str) = (n_str, c_str, h_str, 2);
    (d.short_res0_str, d.short_opd0_str, d.short_opd1_str, d.short_opd2_str) = (3, 3, 3, 3);
    (d.conv_op_x_str, d.conv_op_y_str) = (1, 1);
    d
}

fn vector(chip: Chip, seed: u64) -> Vector {
    let mut rng = Rng(seed);
    let (mut a, mut b, mut acc) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..N_ELEM {
        let (x, y, z) = element(&mut rng);
        a.extend_from_slice(&x.to_le_bytes());
        b.extend_from_slice(&y.to_le_bytes());
        acc.extend_from_slice(&z.to_le_bytes());
    }
    let mut descs: Vec<Desc> = (0..3).map(|i| Desc::Tdma(Box::new(tdma(chip, true, G[i], L[i])))).collect();
    let mut t = mac(chip);
    (t.cmd_en, t.cmd_id_en, t.cmd_id_tpu, t.cmd_id_gdma) = (1, 1, 1, 3);
    descs.push(Desc::Tiu(Box::new(t)));
    let mut store = tdma(chip, false, G[3], L[2]);
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
    Vector {
        id: format!("{}-bf16-mac-ties-{seed:x}", chip.name()),
        chip: chip.name().into(),
        op: "mac".into(),
        params: json!({"seed": seed, "shape": [1, C, 1, W]}),
        cmdbuf_hex: hex::encode(cmdbuf),
        gmem_init: [a, b, acc].iter().zip(G).map(|(d, addr)| MemRegion { addr, hex: hex::encode(d) }).collect(),
        gmem_expect: vec![MemRegion { addr: G[3], hex: "00".repeat(N_ELEM as usize * 2) }],
    }
}

fn vectors() -> Vec<Vector> {
    let mut out = Vec::new();
    for (i, chip) in [Chip::Cv180x, Chip::Cv181x, Chip::Cv182x].into_iter().enumerate() {
        for k in 0..2 {
            out.push(vector(chip, 0xBF16_0000 + (i * 2 + k) as u64 + 1));
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
fn mac_ties_give_the_oracle_bytes() {
    for r in oracle_vectors::recorded(DATA) {
        let v: Vector = serde_json::from_value(r).expect("a vector");
        match run_vector(&v) {
            Outcome::Pass => {}
            other => panic!("{}: {other:?}", v.id),
        }
    }
}
