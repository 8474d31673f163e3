//! TIU depthwise convolution against a plain reference written from the spec (`isa.md` §3.6.2,
//! geometry and epilogues of §3.6.1, §3.7, §9) plus the rules the vectors show: kernel dilation
//! is ignored by per-channel-quantised depthwise on CV18[0-2]x, and bf16 sums truncate.

mod tiu_conv_support;

use cvsim_isa::{Chip, TiuDesc};
use cvsim_sim::memory::Lmem;
use cvsim_sim::tiu;
use cvsim_sim::ExecErrorKind;
use proptest::prelude::*;
use tiu_conv_support::*;

#[derive(Clone, Debug)]
struct Dw {
    chip: Chip,
    g: Geom,
    /// x[n][c][h][w]
    x: Vec<u16>,
    /// w[c][kh][kw]
    w: Vec<u16>,
}

impl Dw {
    fn x(&self, n: u32, c: u32, h: u32, w: u32) -> u16 {
        let g = &self.g;
        self.x[(((n * g.c + c) * g.ih + h) * g.iw + w) as usize]
    }
    fn w(&self, c: u32, ky: u32, kx: u32) -> u16 {
        let g = &self.g;
        self.w[((c * g.kh + ky) * g.kw + kx) as usize]
    }
}

fn dw(vals: BoxedStrategy<u16>) -> impl Strategy<Value = Dw> {
    (chip(), geom(20, 5, true, true, true)).prop_flat_map(move |(chip, g)| {
        let xs = (g.n * g.c * g.ih * g.iw) as usize;
        let ws = (g.c * g.kh * g.kw) as usize;
        (prop::collection::vec(vals.clone(), xs), prop::collection::vec(vals.clone(), ws)).prop_map(move |(x, w)| Dw {
            chip,
            g,
            x,
            w,
        })
    })
}

/// opd0 with explicit strides from `in_lane` (code 3, as the emitters do), weights EU-aligned
/// (1, C, KH, KW) (code 0) with channels counted from the result's start lane, res0 with explicit
/// strides from `res_lane`.
fn place(p: &Dw, l: &mut Lmem, esz: u32, in_lane: u32, res_lane: u32, alloc: &mut Alloc) -> Option<(TiuDesc, Place)> {
    let lanes = p.chip.lanes();
    let g = &p.g;
    let mut d = base_desc(p.chip);
    d.tsk_typ = 1;
    d.tsk_eu_typ = 2;
    d.tsk_opd_num = 2;
    d.opd_typ = (esz == 2) as u32;
    g.fill(&mut d, true);
    let x = alloc.strided(lanes, in_lane, [g.n, g.c, g.ih, g.iw], esz, 4)?;
    let c_str = (g.kh * g.kw * esz).div_ceil(16) * 16;
    let wt = Place { str: [0, c_str, g.kw * esz, esz], ..alloc.per_result_channel(lanes, res_lane, g.c, c_str)? };
    let res = alloc.strided(lanes, res_lane, [g.n, g.c, g.oh, g.ow], esz, 2)?;
    let put = |l: &mut Lmem, i: usize, v: u16| if esz == 1 { l.data[i] = v as u8 } else { put16(l, i, v) };
    for n in 0..g.n {
        for c in 0..g.c {
            for h in 0..g.ih {
                for w in 0..g.iw {
                    put(l, x.idx(lanes, n, c, h, w), p.x(n, c, h, w));
                }
            }
        }
    }
    for c in 0..g.c {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                put(l, wt.idx(lanes, 0, c, ky, kx), p.w(c, ky, kx));
            }
        }
    }
    (d.opd0_addr, d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (x.addr(), g.n, g.c, g.ih, g.iw);
    d.short_opd0_str = 3;
    [d.opd0_n_str, d.opd0_c_str, d.opd0_h_str, d.opd0_w_str] = x.str;
    (d.opd1_addr, d.opd1_n, d.opd1_c) = (wt.off0, 1, g.c);
    d.short_opd1_str = 0;
    (d.res0_addr, d.res0_n, d.res0_c) = (res.addr(), g.n, g.c);
    d.short_res0_str = 3;
    [d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str] = res.str;
    Some((d, res))
}

fn i8v(b: u16, signed: bool) -> i64 {
    if signed {
        b as u8 as i8 as i64
    } else {
        b as u8 as i64
    }
}

#[derive(Clone, Debug)]
struct Opts {
    x_signed: bool,
    w_signed: bool,
    res_signed: bool,
    relu: bool,
    rs: u32,
    pad: u8,
    lanes: (u32, u32),
    bias: Option<Vec<i32>>,
    q: Vec<(i32, i32)>,
    seed: u64,
}

fn opts(qm: bool) -> impl Strategy<Value = Opts> {
    let bias = if qm {
        prop_oneof![Just(i32::MAX), Just(i32::MIN), -70_000i32..70_000, any::<i32>()].boxed()
    } else {
        (-32768i32..32768).boxed()
    };
    (
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(), 0u32..=16, any::<u8>(), (0u32..32, 0u32..32)),
        prop::option::of(prop::collection::vec(bias, 20)),
        // Record shift bytes: mostly the 6-bit range, now and then any byte (CV18[0-2]x ignore
        // bits 7:6; CV183x reads a signed byte).
        prop::collection::vec(
            (
                prop_oneof![Just(i32::MAX), 1i32 << 30..i32::MAX, 0i32..100],
                prop_oneof![3 => -32i32..=31, 1 => any::<i8>().prop_map(i32::from)],
            ),
            20,
        ),
        any::<u64>(),
    )
        .prop_map(move |((x_signed, _, res_signed, relu, rs, pad, lanes), bias, q, seed)| Opts {
            x_signed,
            // Depthwise weights in local memory are signed: the vendor simulator stops on unsigned
            // ones (`unsigned_weights_are_illegal`).
            w_signed: true,
            res_signed: res_signed || qm,
            relu,
            rs,
            pad,
            lanes,
            bias,
            q,
            seed,
        })
}

fn run_int8(p: &Dw, o: &Opts, qm: bool) -> Option<(Vec<u8>, Vec<u8>)> {
    let chip = p.chip;
    let lanes = chip.lanes();
    let g = p.g;
    let mut l = random_lmem(chip, o.seed);
    let mut alloc = Alloc::new();
    let res_lane = o.lanes.1 % lanes;
    let (mut d, res) = place(p, &mut l, 1, o.lanes.0 % lanes, res_lane, &mut alloc)?;
    d.opt_opd0_sign = o.x_signed as u32;
    d.opt_opd1_sign = o.w_signed as u32;
    d.opt_res0_sign = o.res_signed as u32;
    // The vendor refuses a per-tensor shift whose flavour disagrees with the result sign.
    d.opt_shift_typ = o.res_signed as u32;
    d.opt_relu_typ = o.relu as u32;
    d.opd0_ins_val = o.pad as u32;
    let bias = o.bias.as_ref().map(|b| &b[..g.c as usize]);
    if qm {
        d.opt_chl_quan = 1;
        d.opt_opd2_seg = 1;
        let r = if bias.is_some() { 9 } else { 5 };
        let at = alloc.per_result_channel(lanes, res_lane, g.c, r)?;
        for c in 0..g.c {
            let (m, s) = o.q[c as usize];
            let rec = record(bias.map(|b| b[c as usize]), m, s);
            let i = at.idx(lanes, 0, c, 0, 0);
            l.data[i..i + rec.len()].copy_from_slice(&rec);
        }
        d.tsk_opd_num = if bias.is_some() { 3 } else { 2 };
        d.opd2_addr = at.off0;
        d.short_opd2_str = 2;
    } else {
        d.opt_res_shift = o.rs;
        if let Some(b) = bias {
            let b_str = (res_lane + g.c).div_ceil(lanes);
            let at = alloc.per_result_channel(lanes, res_lane, g.c, 1)?;
            alloc.take(b_str)?;
            for (c, &v) in b.iter().enumerate() {
                let i = at.idx(lanes, 0, c as u32, 0, 0);
                l.data[i] = v as u8;
                l.data[i + b_str as usize] = (v >> 8) as u8;
            }
            d.tsk_opd_num = 3;
            d.opd2_addr = at.off0;
            (d.opd2_n, d.opd2_c) = (1, g.c);
            d.short_opd2_str = 2;
            d.opd2_b_str = b_str;
            d.opt_opd2_sign = 1;
        }
    }
    tiu::exec(chip, &mut l, &d).unwrap_or_else(|e| panic!("{e}"));
    // The vendor simulator reads dense taps in QM depthwise on CV18[0-2]x (vectors), while the
    // output size still follows the dilated geometry.
    let mut tg = g;
    if qm && chip.quirks().depthwise_qm_ignores_dilation {
        (tg.dil_h, tg.dil_w) = (1, 1);
    }
    let pad = i8v(o.pad as u16, o.x_signed);
    let (mut got, mut want) = (Vec::new(), Vec::new());
    for n in 0..g.n {
        for c in 0..g.c {
            for oh in 0..g.oh {
                for ow in 0..g.ow {
                    got.push(l.data[res.idx(lanes, n, c, oh, ow)]);
                    let mut acc = 0i64;
                    for ky in 0..g.kh {
                        for kx in 0..g.kw {
                            let x = tg.tap(oh, ow, ky, kx).map_or(pad, |(h, w)| i8v(p.x(n, c, h, w), o.x_signed));
                            acc += x * i8v(p.w(c, ky, kx), o.w_signed);
                        }
                    }
                    let b = bias.map_or(0, |b| b[c as usize]);
                    want.push(if qm {
                        let (m, s) = o.q[c as usize];
                        if record_shift_adds_one(chip, s as u8) {
                            qm_ref_adding_one(acc, b, m, s as u8, o.relu)
                        } else {
                            qm_ref(acc, b, m, record_shift(chip, s as u8), o.relu)
                        }
                    } else {
                        per_tensor_ref(acc, b as i64, o.relu, o.rs, o.res_signed)
                    });
                }
            }
        }
    }
    Some((got, want))
}

fn bytes() -> BoxedStrategy<u16> {
    any::<u8>().prop_map(|b| b as u16).boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn int8_per_tensor_matches_reference(p in dw(bytes()), o in opts(false)) {
        if let Some((got, want)) = run_int8(&p, &o, false) {
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn int8_per_channel_qm_matches_reference(p in dw(bytes()), o in opts(true)) {
        if let Some((got, want)) = run_int8(&p, &o, true) {
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn bf16_matches_reference(p in dw(bf16_val().boxed()), relu in any::<bool>(), bias in prop::option::of(prop::collection::vec(any::<u32>(), 20)), pad in bf16_val(), lanes in (0u32..32, 0u32..32), seed in any::<u64>()) {
        let chip = p.chip;
        let nl = chip.lanes();
        let g = p.g;
        let mut l = random_lmem(chip, seed);
        let mut alloc = Alloc::new();
        let res_lane = lanes.1 % nl;
        let Some((mut d, res)) = place(&p, &mut l, 2, lanes.0 % nl, res_lane, &mut alloc) else { return Ok(()) };
        d.opt_relu_typ = relu as u32;
        if chip.layout().bf16_pad_field() { d.opd0_ins_fp = pad as u32 } else { d.opd0_ins_val = pad as u32 }
        let bias: Option<Vec<f32>> = bias.map(|b| b[..g.c as usize].iter().map(|&v| f32::from_bits((v & 0x807F_FFFF) | 0x3F00_0000)).collect());
        if let Some(b) = &bias {
            let b_str = 2 * (res_lane + g.c).div_ceil(nl);
            let Some(at) = alloc.per_result_channel(nl, res_lane, g.c, 2) else { return Ok(()) };
            let Some(_) = alloc.take(b_str) else { return Ok(()) };
            for (c, &v) in b.iter().enumerate() {
                let i = at.idx(nl, 0, c as u32, 0, 0);
                put16(&mut l, i, (v.to_bits() >> 16) as u16);
                put16(&mut l, i + b_str as usize, v.to_bits() as u16);
            }
            d.tsk_opd_num = 3;
            d.opd2_addr = at.off0;
            (d.opd2_n, d.opd2_c) = (1, g.c);
            d.short_opd2_str = 2;
            d.opd2_b_str = b_str;
        }
        tiu::exec(chip, &mut l, &d).unwrap_or_else(|e| panic!("{e}"));
        for n in 0..g.n { for c in 0..g.c { for oh in 0..g.oh { for ow in 0..g.ow {
            let mut acc = 0f32;
            for ky in 0..g.kh {
                for kx in 0..g.kw {
                    let x = g.tap(oh, ow, ky, kx).map_or(pad_ref(pad), |(h, w)| bf(p.x(n, c, h, w)));
                    acc = trunc_add(acc, x * bf(p.w(c, ky, kx)));
                }
            }
            if let Some(b) = &bias { acc = trunc_add(acc, b[c as usize]); }
            prop_assert_eq!(get16(&l, res.idx(nl, n, c, oh, ow)), bf16_relu(bf16_out(acc), relu), "n {} c {} oh {} ow {}", n, c, oh, ow);
        }}}}
    }
}

/// `opt_opd1_const`: the scalar in opd1_addr is every channel's every tap.
#[test]
fn constant_weight() {
    for chip in Chip::ALL {
        let g = Geom {
            n: 1,
            c: 3,
            ih: 3,
            iw: 4,
            kh: 2,
            kw: 3,
            st_h: 1,
            st_w: 1,
            dil_h: 1,
            dil_w: 1,
            pad: [1, 0, 0, 1],
            ins_h: 0,
            ins_w: 0,
            ins_h_last: 0,
            ins_w_last: 0,
            oh: 3,
            ow: 3,
        };
        let mut p = Dw { chip, g, x: (0..36).map(|v| (v * 7 % 256) as u16).collect(), w: vec![0; 18] };
        let mut l = random_lmem(chip, 9);
        let (mut d, res) = place(&p, &mut l, 1, 1, 0, &mut Alloc::new()).unwrap();
        d.opt_opd1_const = 1;
        d.opd1_addr = 0x05;
        (d.opt_opd0_sign, d.opt_opd1_sign, d.opt_res0_sign, d.opt_shift_typ) = (0, 1, 0, 0);
        d.opt_res_shift = 3;
        tiu::exec(chip, &mut l, &d).unwrap();
        p.w = vec![5; 18];
        for c in 0..3 {
            for oh in 0..3 {
                for ow in 0..3 {
                    let mut acc = 0;
                    for ky in 0..2 {
                        for kx in 0..3 {
                            acc += g.tap(oh, ow, ky, kx).map_or(0, |(h, w)| p.x(0, c, h, w) as i64) * 5;
                        }
                    }
                    assert_eq!(
                        l.data[res.idx(chip.lanes(), 0, c, oh, ow)],
                        per_tensor_ref(acc, 0, false, 3, false),
                        "{chip} c {c} oh {oh} ow {ow}"
                    );
                }
            }
        }
    }
}

#[test]
fn partial_sums_are_unsupported() {
    for chip in Chip::ALL {
        let g = Geom {
            n: 1,
            c: 2,
            ih: 2,
            iw: 2,
            kh: 1,
            kw: 1,
            st_h: 1,
            st_w: 1,
            dil_h: 1,
            dil_w: 1,
            pad: [0; 4],
            ins_h: 0,
            ins_w: 0,
            ins_h_last: 0,
            ins_w_last: 0,
            oh: 2,
            ow: 2,
        };
        let p = Dw { chip, g, x: vec![1; 8], w: vec![1; 2] };
        let mut l = random_lmem(chip, 2);
        let (mut d, _) = place(&p, &mut l, 1, 0, 0, &mut Alloc::new()).unwrap();
        d.ps32_md = 2;
        assert!(
            matches!(tiu::exec(chip, &mut l, &d), Err(ExecErrorKind::Unsupported { what }) if what.contains("ps32_md"))
        );
        d.ps32_md = 0;
        d.res0_c = 3;
        assert!(matches!(tiu::exec(chip, &mut l, &d), Err(ExecErrorKind::Illegal { field: "res0_c", .. })));
    }
}

/// A result that overwrites input channels not yet convolved (here channel c's output lands on
/// channel c + lanes's input, one lane wrap on) still reads the input as it was before the
/// descriptor: the same values as with the result placed apart.
#[test]
fn a_result_overlapping_later_input_channels_reads_the_input_as_it_was() {
    for chip in Chip::ALL {
        for esz in [1, 2] {
            let lanes = chip.lanes();
            let g = Geom {
                n: 1,
                c: lanes + 5,
                ih: 3,
                iw: 3,
                kh: 2,
                kw: 2,
                st_h: 1,
                st_w: 1,
                dil_h: 1,
                dil_w: 1,
                pad: [0; 4],
                ins_h: 0,
                ins_w: 0,
                ins_h_last: 0,
                ins_w_last: 0,
                oh: 2,
                ow: 2,
            };
            let val = |i: u32| (i * 37 % 251) as u16 | if esz == 2 { 0x3F00 } else { 0 };
            let p = Dw { chip, g, x: (0..g.c * 9).map(val).collect(), w: (0..g.c * 4).map(|i| val(i + 7)).collect() };
            let mut l = random_lmem(chip, 9);
            let (mut d, res) = place(&p, &mut l, esz, 0, 0, &mut Alloc::new()).unwrap();
            d.opt_res_shift = 3;
            d.opt_shift_typ = d.opt_res0_sign;
            let mut apart = l.clone();
            tiu::exec(chip, &mut apart, &d).unwrap();
            let on_input = Place { off0: (d.opd0_addr & 0x7FFF) + d.opd0_c_str, ..res };
            let d2 = TiuDesc { res0_addr: on_input.addr(), ..d.clone() };
            tiu::exec(chip, &mut l, &d2).unwrap();
            for c in 0..g.c {
                for (oh, ow) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
                    let (a, b) = (res.idx(lanes, 0, c, oh, ow), on_input.idx(lanes, 0, c, oh, ow));
                    assert_eq!(apart.data[a..a + esz as usize], l.data[b..b + esz as usize], "{chip} esz {esz} c {c}");
                }
            }
        }
    }
}

/// The vendor simulator stops on a depthwise convolution whose weights in local memory are
/// unsigned (found by the differential fuzzer on every chip); cvsim names `opt_opd1_sign`. A
/// constant weight carries its own sign and may be unsigned.
#[test]
fn unsigned_weights_are_illegal() {
    for chip in Chip::ALL {
        let g = Geom {
            n: 1,
            c: 2,
            ih: 3,
            iw: 3,
            kh: 2,
            kw: 2,
            st_h: 1,
            st_w: 1,
            dil_h: 1,
            dil_w: 1,
            pad: [0; 4],
            ins_h: 0,
            ins_w: 0,
            ins_h_last: 0,
            ins_w_last: 0,
            oh: 2,
            ow: 2,
        };
        let p = Dw { chip, g, x: vec![3; 18], w: vec![2; 8] };
        let mut l = random_lmem(chip, 2);
        let (mut d, res) = place(&p, &mut l, 1, 0, 0, &mut Alloc::new()).unwrap();
        (d.opt_opd0_sign, d.opt_res0_sign, d.opt_opd1_sign) = (1, 1, 1);
        tiu::exec(chip, &mut l, &d).unwrap();
        assert_eq!(l.data[res.idx(chip.lanes(), 0, 1, 1, 1)], 24, "{chip}");
        d.opt_opd1_sign = 0;
        let e = tiu::exec(chip, &mut l, &d).unwrap_err();
        assert!(matches!(e, ExecErrorKind::Illegal { field: "opt_opd1_sign", .. }), "{chip}: {e}");
        d.opt_opd1_const = 1;
        d.opd1_addr = 2;
        tiu::exec(chip, &mut l, &d).unwrap_or_else(|e| panic!("{chip}: {e}"));
    }
}
