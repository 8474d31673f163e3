//! TIU convolution against a plain reference written from the spec (`isa.md` §1.2–1.3 layouts,
//! §3.6.1 geometry and arithmetic, §3.7, §9 errata, and the truncating fp32 accumulation the
//! vectors show): random shapes, strides, pads, dilation, insertion, start lanes, signedness,
//! per-tensor and per-channel quantisation, partial sums, bf16, on all four chips.

mod tiu_conv_support;

use cvsim_isa::{Chip, LayoutFamily, TiuDesc};
use cvsim_sim::memory::Lmem;
use cvsim_sim::tiu;
use cvsim_sim::ExecErrorKind;
use proptest::prelude::*;
use tiu_conv_support::*;

/// A conv problem: geometry (c = input channels), output channels, data.
#[derive(Clone, Debug)]
struct Conv {
    chip: Chip,
    g: Geom,
    oc: u32,
    /// x[n][ic][h][w]
    x: Vec<u16>,
    /// w[oc][kh][kw][ic]
    w: Vec<u16>,
}

impl Conv {
    fn x(&self, n: u32, c: u32, h: u32, w: u32) -> u16 {
        let g = &self.g;
        self.x[(((n * g.c + c) * g.ih + h) * g.iw + w) as usize]
    }
    fn w(&self, oc: u32, ky: u32, kx: u32, ic: u32) -> u16 {
        let g = &self.g;
        self.w[(((oc * g.kh + ky) * g.kw + kx) * g.c + ic) as usize]
    }
}

/// Where the operands went.
struct Placed {
    d: TiuDesc,
    res: Place,
}

/// Lay out opd0 (EU-aligned, code 0), opd1 (weight layout, code 1) and res0 (explicit strides,
/// code 3, starting at `res_lane`), and fill in the descriptor's operand fields.
fn place(cv: &Conv, l: &mut Lmem, esz: u32, res_lane: u32, alloc: &mut Alloc) -> Option<Placed> {
    let lanes = cv.chip.lanes();
    let g = &cv.g;
    let mut d = base_desc(cv.chip);
    d.tsk_typ = 0;
    d.tsk_eu_typ = 0;
    d.tsk_opd_num = 2;
    d.opd_typ = (esz == 2) as u32;
    g.fill(&mut d, true);
    let x = alloc.aligned(lanes, [g.n, g.c, g.ih, g.iw], esz)?;
    // §1.3 weight layout, with output channels counted from the result's start lane: lane
    // (res_lane + oc) % NPU, offset (res_lane + oc) / NPU·KH·KW·IC + ((kh·KW + kw)·IC + ic).
    let per_oc = g.kh * g.kw * g.c * esz;
    let wt = Place {
        str: [esz, per_oc, g.kw * g.c * esz, g.c * esz],
        ..alloc.per_result_channel(lanes, res_lane, cv.oc, per_oc)?
    };
    let res = alloc.strided(lanes, res_lane, [g.n, cv.oc, g.oh, g.ow], esz, 2)?;
    for n in 0..g.n {
        for c in 0..g.c {
            for h in 0..g.ih {
                for w in 0..g.iw {
                    let i = x.idx(lanes, n, c, h, w);
                    if esz == 1 {
                        l.data[i] = cv.x(n, c, h, w) as u8;
                    } else {
                        put16(l, i, cv.x(n, c, h, w));
                    }
                }
            }
        }
    }
    for oc in 0..cv.oc {
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                for ic in 0..g.c {
                    let i = wt.idx(lanes, ic, oc, ky, kx);
                    if esz == 1 {
                        l.data[i] = cv.w(oc, ky, kx, ic) as u8;
                    } else {
                        put16(l, i, cv.w(oc, ky, kx, ic));
                    }
                }
            }
        }
    }
    (d.opd0_addr, d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (x.addr(), g.n, g.c, g.ih, g.iw);
    d.short_opd0_str = 0;
    (d.opd1_addr, d.opd1_n, d.opd1_c) = (wt.off0, g.c, cv.oc);
    d.short_opd1_str = 1;
    (d.res0_addr, d.res0_n, d.res0_c) = (res.addr(), g.n, cv.oc);
    d.short_res0_str = 3;
    [d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str] = res.str;
    Some(Placed { d, res })
}

/// Σ x·w over the window (int8 operands, exact in i64), pads and inserts = `pad`.
fn acc_i8(cv: &Conv, n: u32, oc: u32, oh: u32, ow: u32, xs: bool, ws: bool, pad: i64) -> i64 {
    let g = &cv.g;
    let v = |b: u16, s: bool| if s { b as u8 as i8 as i64 } else { b as u8 as i64 };
    let mut acc = 0;
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            for ic in 0..g.c {
                let x = match g.tap(oh, ow, ky, kx) {
                    Some((h, w)) => v(cv.x(n, ic, h, w), xs),
                    None => pad,
                };
                acc += x * v(cv.w(oc, ky, kx, ic), ws);
            }
        }
    }
    acc
}

/// The bf16 sum: kh → kw → ic, truncating fp32 adds.
fn acc_bf16(cv: &Conv, n: u32, oc: u32, oh: u32, ow: u32, pad: f32) -> f32 {
    acc_bf16_from(0.0, cv, n, oc, oh, ow, pad)
}

/// [`acc_bf16`] continuing from `acc` (a previous partial sum).
fn acc_bf16_from(mut acc: f32, cv: &Conv, n: u32, oc: u32, oh: u32, ow: u32, pad: f32) -> f32 {
    let g = &cv.g;
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            for ic in 0..g.c {
                let x = match g.tap(oh, ow, ky, kx) {
                    Some((h, w)) => bf(cv.x(n, ic, h, w)),
                    None => pad,
                };
                acc = trunc_add(acc, x * bf(cv.w(oc, ky, kx, ic)));
            }
        }
    }
    acc
}

fn conv_i8() -> impl Strategy<Value = Conv> {
    (chip(), geom(20, 3, true, true, false), 1u32..=20)
        .prop_flat_map(|(chip, g, oc)| {
            let xs = (g.n * g.c * g.ih * g.iw) as usize;
            let ws = (oc * g.kh * g.kw * g.c) as usize;
            (
                prop::collection::vec(any::<u8>().prop_map(|b| b as u16), xs),
                prop::collection::vec(any::<u8>().prop_map(|b| b as u16), ws),
            )
                .prop_map(move |(x, w)| Conv { chip, g, oc, x, w })
        })
        .prop_map(full_output)
}

/// A convolution asks for exactly the outputs its geometry gives (the vendor simulator asserts
/// it); the shared geometry also draws output prefixes, which pooling allows.
fn full_output(mut cv: Conv) -> Conv {
    if let Some((oh, ow)) = cv.g.max_out() {
        (cv.g.oh, cv.g.ow) = (oh, ow);
    }
    cv
}

fn conv_bf16() -> impl Strategy<Value = Conv> {
    (chip(), geom(12, 3, true, true, false), 1u32..=12)
        .prop_flat_map(|(chip, g, oc)| {
            let xs = (g.n * g.c * g.ih * g.iw) as usize;
            let ws = (oc * g.kh * g.kw * g.c) as usize;
            (prop::collection::vec(bf16_val(), xs), prop::collection::vec(bf16_val(), ws))
                .prop_map(move |(x, w)| Conv { chip, g, oc, x, w })
        })
        .prop_map(full_output)
}

#[derive(Clone, Debug)]
struct Int8Opts {
    x_signed: bool,
    w_signed: bool,
    res_signed: bool,
    relu: bool,
    rs: u32,
    pad: u8,
    res_lane: u32,
    /// Per output channel: 16-bit bias (per-tensor) or (bias32, mult, shift) (QM).
    bias: Option<Vec<i32>>,
    qm: Option<Vec<(i32, i32)>>,
    seed: u64,
}

fn int8_opts(oc: u32, qm: bool) -> impl Strategy<Value = Int8Opts> {
    let bias32 = prop_oneof![Just(i32::MAX), Just(i32::MIN), -100_000i32..100_000, any::<i32>()];
    let mult = prop_oneof![Just(i32::MAX), 1i32 << 30..i32::MAX, 0i32..1000];
    (
        (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>(), 0u32..=20, any::<u8>(), 0u32..8),
        prop::option::of(prop::collection::vec(
            if qm { bias32.boxed() } else { (-32768i32..32768).boxed() },
            oc as usize,
        )),
        // Record shift bytes: mostly the 6-bit range, now and then any byte (CV18[0-2]x ignore
        // bits 7:6; CV183x reads a signed byte).
        prop::collection::vec((mult, prop_oneof![3 => -32i32..=31, 1 => any::<i8>().prop_map(i32::from)]), oc as usize),
        any::<u64>(),
    )
        .prop_map(move |((x_signed, w_signed, _, relu, rs, pad, res_lane), bias, q, seed)| Int8Opts {
            // The vendor simulator's sign rules for a convolution: the result is signed (CV18[0-2]x)
            // and signed exactly when an operand is (CV183x), so an operand is signed too.
            x_signed,
            w_signed: w_signed || !x_signed,
            res_signed: true,
            relu,
            rs,
            pad,
            res_lane,
            bias,
            qm: qm.then_some(q),
            seed,
        })
}

/// Run an int8 conv and return (got, want) for every output.
fn run_int8(cv: &Conv, o: &Int8Opts) -> Option<(Vec<u8>, Vec<u8>)> {
    let chip = cv.chip;
    let lanes = chip.lanes();
    let g = &cv.g;
    let mut l = random_lmem(chip, o.seed);
    let mut alloc = Alloc::new();
    let res_lane = o.res_lane % lanes;
    let Placed { mut d, res } = place(cv, &mut l, 1, res_lane, &mut alloc)?;
    d.opt_opd0_sign = o.x_signed as u32;
    d.opt_opd1_sign = o.w_signed as u32;
    d.opt_res0_sign = o.res_signed as u32;
    d.opt_relu_typ = o.relu as u32;
    d.opd0_ins_val = o.pad as u32;
    let pad = if o.x_signed { o.pad as i8 as i64 } else { o.pad as i64 };
    match &o.qm {
        None => {
            d.opt_res_shift = o.rs;
            // The vendor refuses a per-tensor shift whose flavour disagrees with the result sign.
            d.opt_shift_typ = o.res_signed as u32;
            if let Some(b) = &o.bias {
                // (2, OC, 1, 1) per-channel layout: low bytes, then high bytes b_str further on.
                let b_str = (res_lane + cv.oc).div_ceil(lanes);
                let at = alloc.per_result_channel(lanes, res_lane, cv.oc, 1)?;
                alloc.take(b_str)?;
                for (c, &v) in b.iter().enumerate() {
                    let i = at.idx(lanes, 0, c as u32, 0, 0);
                    l.data[i] = v as u8;
                    l.data[i + b_str as usize] = (v >> 8) as u8;
                }
                d.tsk_opd_num = 3;
                d.opd2_addr = at.off0;
                (d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (1, cv.oc, 1, 1);
                d.short_opd2_str = 2;
                d.opd2_b_str = b_str;
                d.opt_opd2_sign = 1;
            }
        }
        Some(q) => {
            d.opt_chl_quan = 1;
            d.opt_opd2_seg = 1;
            let r = if o.bias.is_some() { 9 } else { 5 };
            let at = alloc.per_result_channel(lanes, res_lane, cv.oc, r)?;
            for c in 0..cv.oc {
                let (m, s) = q[c as usize];
                let rec = record(o.bias.as_ref().map(|b| b[c as usize]), m, s);
                let i = at.idx(lanes, 0, c, 0, 0);
                l.data[i..i + rec.len()].copy_from_slice(&rec);
            }
            d.tsk_opd_num = if o.bias.is_some() { 3 } else { 2 };
            d.opd2_addr = at.off0;
            d.short_opd2_str = 2;
        }
    }
    tiu::exec(chip, &mut l, &d).unwrap_or_else(|e| panic!("{e}"));
    let mut got = Vec::new();
    let mut want = Vec::new();
    for n in 0..g.n {
        for oc in 0..cv.oc {
            for oh in 0..g.oh {
                for ow in 0..g.ow {
                    got.push(l.data[res.idx(lanes, n, oc, oh, ow)]);
                    let acc = acc_i8(cv, n, oc, oh, ow, o.x_signed, o.w_signed, pad);
                    let bias = o.bias.as_ref().map_or(0, |b| b[oc as usize]);
                    want.push(match &o.qm {
                        None => per_tensor_ref(acc, bias as i64, o.relu, o.rs, o.res_signed),
                        Some(q) => {
                            let (m, s) = q[oc as usize];
                            if record_shift_adds_one(chip, s as u8) {
                                qm_ref_adding_one(acc, bias, m, s as u8, o.relu)
                            } else {
                                qm_ref(acc, bias, m, record_shift(chip, s as u8), o.relu)
                            }
                        }
                    });
                }
            }
        }
    }
    Some((got, want))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn int8_per_tensor_matches_reference(cv in conv_i8(), o in int8_opts(20, false)) {
        let o = Int8Opts { bias: o.bias.map(|b| b[..cv.oc as usize].to_vec()), ..o };
        if let Some((got, want)) = run_int8(&cv, &o) {
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn int8_per_channel_qm_matches_reference(cv in conv_i8(), o in int8_opts(20, true)) {
        let o = Int8Opts {
            bias: o.bias.map(|b| b[..cv.oc as usize].to_vec()),
            qm: o.qm.map(|q| q[..cv.oc as usize].to_vec()),
            ..o
        };
        if let Some((got, want)) = run_int8(&cv, &o) {
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn bf16_matches_reference(cv in conv_bf16(), relu in any::<bool>(), bias in prop::option::of(prop::collection::vec(any::<u32>(), 12)), pad in bf16_val(), res_lane in 0u32..8, seed in any::<u64>()) {
        let chip = cv.chip;
        let lanes = chip.lanes();
        let g = cv.g;
        let mut l = random_lmem(chip, seed);
        let mut alloc = Alloc::new();
        let res_lane = res_lane % lanes;
        let Some(Placed { mut d, res }) = place(&cv, &mut l, 2, res_lane, &mut alloc) else { return Ok(()) };
        d.opt_relu_typ = relu as u32;
        // CV183x keeps the bf16 pad value in its own field.
        if chip.layout().bf16_pad_field() { d.opd0_ins_fp = pad as u32 } else { d.opd0_ins_val = pad as u32 }
        // fp32 bias, kept in the same exponent range as the data: planes high half, low half.
        let bias: Option<Vec<f32>> = bias.map(|b| b[..cv.oc as usize].iter().map(|&v| f32::from_bits((v & 0x807F_FFFF) | 0x3F00_0000)).collect());
        if let Some(b) = &bias {
            let b_str = 2 * (res_lane + cv.oc).div_ceil(lanes);
            let Some(at) = alloc.per_result_channel(lanes, res_lane, cv.oc, 2) else { return Ok(()) };
            let Some(_) = alloc.take(b_str) else { return Ok(()) };
            for (c, &v) in b.iter().enumerate() {
                let i = at.idx(lanes, 0, c as u32, 0, 0);
                put16(&mut l, i, (v.to_bits() >> 16) as u16);
                put16(&mut l, i + b_str as usize, v.to_bits() as u16);
            }
            d.tsk_opd_num = 3;
            d.opd2_addr = at.off0;
            (d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (1, cv.oc, 1, 1);
            d.short_opd2_str = 2;
            d.opd2_b_str = b_str;
        }
        tiu::exec(chip, &mut l, &d).unwrap_or_else(|e| panic!("{e}"));
        for n in 0..g.n {
            for oc in 0..cv.oc {
                for oh in 0..g.oh {
                    for ow in 0..g.ow {
                        let mut acc = acc_bf16(&cv, n, oc, oh, ow, pad_ref(pad));
                        if let Some(b) = &bias {
                            acc = trunc_add(acc, b[oc as usize]);
                        }
                        let want = bf16_relu(bf16_out(acc), relu);
                        prop_assert_eq!(get16(&l, res.idx(lanes, n, oc, oh, ow)), want, "n {} oc {} oh {} ow {}", n, oc, oh, ow);
                    }
                }
            }
        }
    }

    /// ps32: first (2), middle (3) and last (1) passes over three slices of the input channels
    /// equal one conv over all of them (integer sums are exact modulo 2^32).
    #[test]
    fn int8_partial_sums_chain_equals_one_pass(cv in conv_i8(), o in int8_opts(20, false)) {
        prop_assume!(cv.g.c >= 3);
        let o = Int8Opts { bias: o.bias.map(|b| b[..cv.oc as usize].to_vec()), qm: None, ..o };
        let Some((_, want)) = run_int8(&cv, &o) else { return Ok(()) };
        let chip = cv.chip;
        let lanes = chip.lanes();
        let g = cv.g;
        // Slice the input channels: [0, a), [a, b), [b, IC).
        let (a, b) = (g.c / 3, 2 * g.c / 3);
        let slice = |lo: u32, hi: u32| -> Conv {
            let mut s = cv.clone();
            s.g.c = hi - lo;
            s.x = (0..g.n).flat_map(|n| (lo..hi).flat_map(move |c| (0..g.ih).flat_map(move |h| (0..g.iw).map(move |w| (n, c, h, w))))).map(|(n, c, h, w)| cv.x(n, c, h, w)).collect();
            s.w = (0..cv.oc).flat_map(|oc| (0..g.kh).flat_map(move |ky| (0..g.kw).flat_map(move |kx| (lo..hi).map(move |ic| (oc, ky, kx, ic))))).map(|(oc, ky, kx, ic)| cv.w(oc, ky, kx, ic)).collect();
            s
        };
        let parts = [slice(0, a.max(1)), slice(a.max(1), b.max(2)), slice(b.max(2), g.c)];
        let mut l = random_lmem(chip, o.seed);
        // The result (4 planes of N·n_str bytes) stays put; each pass gets fresh input buffers.
        let mut alloc = Alloc::new();
        let res_lane = o.res_lane % lanes;
        let Some(res) = alloc.strided(lanes, res_lane, [g.n, cv.oc, g.oh, g.ow], 1, 2) else { return Ok(()) };
        let b_str = g.n * res.str[0];
        let Some(_) = alloc.take(3 * b_str) else { return Ok(()) };
        let mut bias_at = None;
        if let Some(bv) = &o.bias {
            let bs = (res_lane + cv.oc).div_ceil(lanes);
            let Some(at) = alloc.per_result_channel(lanes, res_lane, cv.oc, 1) else { return Ok(()) };
            let Some(_) = alloc.take(bs) else { return Ok(()) };
            for (c, &v) in bv.iter().enumerate() {
                let i = at.idx(lanes, 0, c as u32, 0, 0);
                l.data[i] = v as u8;
                l.data[i + bs as usize] = (v >> 8) as u8;
            }
            bias_at = Some((at.off0, bs));
        }
        for (k, part) in parts.iter().enumerate() {
            let mut pa = Alloc { next: alloc.next };
            let Some(Placed { mut d, .. }) = place(part, &mut l, 1, res_lane, &mut pa) else { return Ok(()) };
            d.res0_addr = res.addr();
            [d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str] = res.str;
            d.res0_b_str = b_str;
            d.ps32_md = [2, 3, 1][k];
            d.opt_opd0_sign = o.x_signed as u32;
            d.opt_opd1_sign = o.w_signed as u32;
            d.opt_res0_sign = o.res_signed as u32;
            d.opd0_ins_val = o.pad as u32;
            if k == 2 {
                d.opt_relu_typ = o.relu as u32;
                d.opt_res_shift = o.rs;
                d.opt_shift_typ = o.res_signed as u32;
                if let Some((off, bs)) = bias_at {
                    d.tsk_opd_num = 3;
                    d.opd2_addr = off;
                    (d.opd2_n, d.opd2_c) = (1, cv.oc);
                    d.short_opd2_str = 2;
                    d.opd2_b_str = bs;
                    d.opt_opd2_sign = 1;
                }
            }
            tiu::exec(chip, &mut l, &d).unwrap_or_else(|e| panic!("pass {k}: {e}"));
        }
        let mut got = Vec::new();
        for n in 0..g.n { for oc in 0..cv.oc { for oh in 0..g.oh { for ow in 0..g.ow {
            got.push(l.data[res.idx(lanes, n, oc, oh, ow)]);
        }}}}
        prop_assert_eq!(got, want);
    }
}

/// The input channels [lo, hi) of a conv: its own input and weights.
fn channel_slice(cv: &Conv, lo: u32, hi: u32) -> Conv {
    let g = cv.g;
    let mut s = cv.clone();
    s.g.c = hi - lo;
    s.x = (0..g.n)
        .flat_map(|n| (lo..hi).flat_map(move |c| (0..g.ih).flat_map(move |h| (0..g.iw).map(move |w| (n, c, h, w)))))
        .map(|(n, c, h, w)| cv.x(n, c, h, w))
        .collect();
    s.w = (0..cv.oc)
        .flat_map(|oc| {
            (0..g.kh).flat_map(move |ky| (0..g.kw).flat_map(move |kx| (lo..hi).map(move |ic| (oc, ky, kx, ic))))
        })
        .map(|(oc, ky, kx, ic)| cv.w(oc, ky, kx, ic))
        .collect();
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// bf16 ps32: the first (2), middle (3) and last (1) passes over three slices of the input
    /// channels. Each pass continues the sum from the fp32 partial sum the previous pass left
    /// (high half in plane 0, low half `res0_b_str` further; kh → kw → ic within the slice,
    /// truncating), and the last adds the bias and rounds to bf16. Truncation makes the order
    /// visible, so the reference follows it pass by pass; the vendor simulator gives these bytes
    /// for a resnet18 layer cut into eight slices (summing each slice from zero and adding the
    /// sums does not).
    #[test]
    fn bf16_partial_sums_chain(cv in conv_bf16(), relu in any::<bool>(), bias in prop::option::of(prop::collection::vec(any::<u32>(), 12)), pad in bf16_val(), res_lane in 0u32..8, seed in any::<u64>()) {
        prop_assume!(cv.g.c >= 3);
        let chip = cv.chip;
        let lanes = chip.lanes();
        let g = cv.g;
        let (a, b) = (g.c / 3, 2 * g.c / 3);
        let parts = [channel_slice(&cv, 0, a), channel_slice(&cv, a, b), channel_slice(&cv, b, g.c)];
        let bias: Option<Vec<f32>> = bias.map(|v| v[..cv.oc as usize].iter().map(|&x| f32::from_bits((x & 0x807F_FFFF) | 0x3F00_0000)).collect());
        let mut l = random_lmem(chip, seed);
        let mut alloc = Alloc::new();
        let Some(res) = alloc.strided(lanes, res_lane % lanes, [g.n, cv.oc, g.oh, g.ow], 2, 2) else { return Ok(()) };
        let b_str = g.n * res.str[0];
        let Some(_) = alloc.take(b_str) else { return Ok(()) };
        let mut bias_at = None;
        if let Some(bv) = &bias {
            // Biases live in the lanes of their result channels, counted from res0's start lane.
            let rl = res_lane % lanes;
            let bs = 2 * (rl + cv.oc).div_ceil(lanes);
            let Some(off) = alloc.take(2 * bs) else { return Ok(()) };
            for (c, &v) in bv.iter().enumerate() {
                let slot = rl + c as u32;
                let i = ((slot % lanes) * LANE_BYTES + off + 2 * (slot / lanes)) as usize;
                put16(&mut l, i, (v.to_bits() >> 16) as u16);
                put16(&mut l, i + bs as usize, v.to_bits() as u16);
            }
            bias_at = Some((off, bs));
        }
        for (k, part) in parts.iter().enumerate() {
            let mut pa = Alloc { next: alloc.next };
            let Some(Placed { mut d, .. }) = place(part, &mut l, 2, res_lane % lanes, &mut pa) else { return Ok(()) };
            d.res0_addr = res.addr();
            [d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str] = res.str;
            d.res0_b_str = b_str;
            d.ps32_md = [2, 3, 1][k];
            if chip.layout().bf16_pad_field() { d.opd0_ins_fp = pad as u32 } else { d.opd0_ins_val = pad as u32 }
            if k == 2 {
                d.opt_relu_typ = relu as u32;
                if let Some((off, bs)) = bias_at {
                    d.tsk_opd_num = 3;
                    d.opd2_addr = off;
                    (d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (1, cv.oc, 1, 1);
                    d.short_opd2_str = 2;
                    d.opd2_b_str = bs;
                }
            }
            tiu::exec(chip, &mut l, &d).unwrap_or_else(|e| panic!("pass {k}: {e}"));
        }
        for n in 0..g.n { for oc in 0..cv.oc { for oh in 0..g.oh { for ow in 0..g.ow {
            let mut acc = 0.0;
            for part in &parts {
                acc = acc_bf16_from(acc, part, n, oc, oh, ow, pad_ref(pad));
            }
            if let Some(bv) = &bias {
                acc = trunc_add(acc, bv[oc as usize]);
            }
            let want = bf16_relu(bf16_out(acc), relu);
            prop_assert_eq!(get16(&l, res.idx(lanes, n, oc, oh, ow)), want, "n {} oc {} oh {} ow {}", n, oc, oh, ow);
        }}}}
    }
}

fn small_i8(chip: Chip) -> Conv {
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
    Conv { chip, g, oc: 1, x: (1..=18).collect(), w: vec![1, 2, 1, 2, 1, 2, 1, 2] }
}

/// A hand-checked case: 2 input channels 1..9 and 10..18, a 2×2 kernel of ones on channel 0 and
/// twos on channel 1: output (0,0) = (1+2+4+5) + 2·(10+11+13+14) = 12 + 96 = 108.
#[test]
fn hand_computed_int8() {
    for chip in Chip::ALL {
        let cv = small_i8(chip);
        let o = Int8Opts {
            x_signed: true,
            w_signed: true,
            res_signed: true,
            relu: false,
            rs: 0,
            pad: 0,
            res_lane: 1,
            bias: None,
            qm: None,
            seed: 7,
        };
        let (got, want) = run_int8(&cv, &o).unwrap();
        assert_eq!(want, vec![108, 120, 144, 156].into_iter().map(|v: i64| sat8(v, true)).collect::<Vec<_>>());
        assert_eq!(got, want, "{chip}");
    }
}

/// A grouped 1×1 convolution the way tpu-mlir emits it (`yolov8n_det_hand_mv3_384_640_INT8_cv181x`):
/// one QM descriptor per group, each result starting in the lane of the group's first output
/// channel and each input in the lane of its first input channel, all naming the same lane-0
/// weight and record offsets (advanced by one channel slot once a group's first output channel is
/// past the last lane). The per-group weights and records were loaded into the lanes of the
/// result channels, so each lane must read the parameters of the channels it computes. Three
/// groups of 2 → 3 channels on CV181x (8 lanes): results start at lanes 0, 3 and 6, the last
/// group wrapping from lane 7 to lane 0.
#[test]
fn grouped_conv_reads_parameters_in_the_result_lanes() {
    let chip = Chip::Cv181x;
    let lanes = chip.lanes();
    let (groups, icg, ocg, h, w) = (3u32, 2u32, 3u32, 2u32, 3u32);
    let (ic, oc) = (groups * icg, groups * ocg);
    let x = |c: u32, y: u32, xx: u32| ((c * 37 + y * 11 + xx * 5) % 251) as i64 - 125;
    let wt = |o: u32, i: u32| ((o * 29 + i * 13) % 15) as i64 - 7;
    let bias = |o: u32| o as i32 * 1000 - 4000;
    let (mult, shift) = (1_500_000_000i32, 3i32);
    let mut l = random_lmem(chip, 11);
    let mut alloc = Alloc::new();
    let input = alloc.aligned(lanes, [1, ic, h, w], 1).unwrap();
    let out = alloc.strided(lanes, 0, [1, oc, h, w], 1, 2).unwrap();
    // Output channel o's weights (icg bytes) and 9-byte record in lane o % NPU, slot o / NPU.
    let w_off = alloc.take(icg * oc.div_ceil(lanes)).unwrap();
    let r_off = alloc.take(9 * oc.div_ceil(lanes)).unwrap();
    for c in 0..ic {
        for y in 0..h {
            for xx in 0..w {
                l.data[input.idx(lanes, 0, c, y, xx)] = x(c, y, xx) as u8;
            }
        }
    }
    for o in 0..oc {
        let at = |off: u32, step: u32| ((o % lanes) * LANE_BYTES + off + (o / lanes) * step) as usize;
        for i in 0..icg {
            l.data[at(w_off, icg) + i as usize] = wt(o, i) as u8;
        }
        let rec = record(Some(bias(o)), mult, shift);
        l.data[at(r_off, 9)..at(r_off, 9) + rec.len()].copy_from_slice(&rec);
    }
    for g in 0..groups {
        let (c0, o0) = (g * icg, g * ocg);
        let mut d = base_desc(chip);
        (d.tsk_typ, d.tsk_eu_typ, d.tsk_opd_num) = (0, 0, 3);
        (d.opt_chl_quan, d.opt_opd2_seg) = (1, 1);
        (d.opt_opd0_sign, d.opt_opd1_sign, d.opt_res0_sign) = (1, 1, 1);
        (d.opd1_h, d.opd1_w, d.res0_h, d.res0_w) = (1, 1, h, w);
        let sub = |p: &Place, c: u32| (c % lanes) << 15 | (p.off0 + (c / lanes) * p.str[1]);
        (d.opd0_addr, d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (sub(&input, c0), 1, icg, h, w);
        d.short_opd0_str = 0;
        (d.opd1_addr, d.opd1_n, d.opd1_c) = (w_off + (o0 / lanes) * icg, icg, ocg);
        d.short_opd1_str = 1;
        d.opd2_addr = r_off + (o0 / lanes) * 9;
        d.short_opd2_str = 2;
        (d.res0_addr, d.res0_n, d.res0_c) = (sub(&out, o0), 1, ocg);
        d.short_res0_str = 3;
        [d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str] = out.str;
        tiu::exec(chip, &mut l, &d).unwrap_or_else(|e| panic!("group {g}: {e}"));
    }
    for o in 0..oc {
        let g = o / ocg;
        for y in 0..h {
            for xx in 0..w {
                let acc: i64 = (0..icg).map(|i| x(g * icg + i, y, xx) * wt(o, i)).sum();
                let want = qm_ref(acc, bias(o), mult, shift, false);
                assert_eq!(l.data[out.idx(lanes, 0, o, y, xx)], want, "output channel {o} ({y}, {xx})");
            }
        }
    }
}

/// `opt_opd1_const`: every tap uses the scalar in opd1_addr (§3.6.1 "Weights as a scalar").
#[test]
fn constant_weight() {
    for chip in Chip::ALL {
        let mut cv = small_i8(chip);
        let mut l = random_lmem(chip, 3);
        let Placed { mut d, res } = place(&cv, &mut l, 1, 0, &mut Alloc::new()).unwrap();
        d.opt_opd1_const = 1;
        d.opd1_addr = 0xFD; // −3
        d.opt_opd0_sign = 1;
        d.opt_opd1_sign = 1;
        d.opt_res0_sign = 1;
        d.opt_res_shift = 1;
        tiu::exec(chip, &mut l, &d).unwrap();
        cv.w = vec![0xFD; 8];
        for oh in 0..2 {
            for ow in 0..2 {
                let want = per_tensor_ref(acc_i8(&cv, 0, 0, oh, ow, true, true, 0), 0, false, 1, true);
                assert_eq!(l.data[res.idx(chip.lanes(), 0, 0, oh, ow)], want);
            }
        }
    }
}

/// bf16 special values: ±inf operands read as NaN and every NaN, infinity or overflow is written
/// as +0x7F7F, also with ReLU (§9.3–9.5); subnormal inputs are zero (§9.6); −0 is never written.
#[test]
fn bf16_special_values() {
    let chip = Chip::Cv181x;
    let g = Geom {
        n: 1,
        c: 1,
        ih: 1,
        iw: 5,
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
        oh: 1,
        ow: 5,
    };
    //            +inf    NaN     max     subnormal  −1
    let x = vec![0x7F80, 0x7FC0, 0x7F7F, 0x0001, 0xBF80];
    for (w, relu, want) in [
        (0x4000u16, false, [0x7F7F, 0x7F7F, 0x7F7F, 0x0000, 0xC000]),
        (0xC000, true, [0x7F7F, 0x7F7F, 0x7F7F, 0x0000, 0x4000]),
        (0x0000, false, [0x7F7F, 0x7F7F, 0x0000, 0x0000, 0x0000]),
    ] {
        let cv = Conv { chip, g, oc: 1, x: x.clone(), w: vec![w] };
        let mut l = random_lmem(chip, 1);
        let Placed { mut d, res } = place(&cv, &mut l, 2, 0, &mut Alloc::new()).unwrap();
        d.opt_relu_typ = relu as u32;
        tiu::exec(chip, &mut l, &d).unwrap();
        let got: Vec<u16> = (0..5).map(|w| get16(&l, res.idx(chip.lanes(), 0, 0, 0, w))).collect();
        assert_eq!(got, want, "w {w:#x} relu {relu}");
    }
}

fn desc_for_errors(chip: Chip) -> (Lmem, TiuDesc) {
    let cv = small_i8(chip);
    let mut l = random_lmem(chip, 5);
    let Placed { mut d, .. } = place(&cv, &mut l, 1, 0, &mut Alloc::new()).unwrap();
    (d.opt_opd0_sign, d.opt_opd1_sign, d.opt_res0_sign) = (1, 1, 1);
    (l, d)
}

#[test]
fn undocumented_fields_are_reported() {
    for chip in Chip::ALL {
        let (mut l, d0) = desc_for_errors(chip);
        let mut d = d0.clone();
        d.opt_relu_typ = 2;
        assert!(
            matches!(tiu::exec(chip, &mut l, &d), Err(ExecErrorKind::Unsupported { what }) if what.contains("opt_relu_typ"))
        );
        let mut d = d0.clone();
        d.opt_opd0_const = 1;
        assert!(
            matches!(tiu::exec(chip, &mut l, &d), Err(ExecErrorKind::Unsupported { what }) if what.contains("opt_opd0_const"))
        );
        let mut d = d0.clone();
        d.fp_round_typ = 1;
        assert!(
            matches!(tiu::exec(chip, &mut l, &d), Err(ExecErrorKind::Unsupported { what }) if what.contains("fp_round_typ"))
        );
        if chip.layout() == LayoutFamily::Cv18x {
            let mut d = d0.clone();
            d.opt_opd0_seg = 2;
            assert!(
                matches!(tiu::exec(chip, &mut l, &d), Err(ExecErrorKind::Unsupported { what }) if what.contains("opt_opd0_seg"))
            );
        }
        let mut d = d0.clone();
        d.tsk_opd_num = 1;
        assert!(matches!(tiu::exec(chip, &mut l, &d), Err(ExecErrorKind::Illegal { field: "tsk_opd_num", .. })));
    }
}

#[test]
fn inconsistent_geometry_is_illegal() {
    for chip in Chip::ALL {
        let (mut l, d0) = desc_for_errors(chip);
        let mut d = d0.clone();
        d.res0_h = 3; // a 2×2 kernel over 3 rows gives 2
        assert!(matches!(tiu::exec(chip, &mut l, &d), Err(ExecErrorKind::Illegal { field: "res0_h", .. })));
        let mut d = d0.clone();
        d.conv_op_x_str = 0;
        assert!(matches!(tiu::exec(chip, &mut l, &d), Err(ExecErrorKind::Illegal { field: "conv_op_x_str", .. })));
        let mut d = d0.clone();
        d.opd1_n = 3;
        assert!(matches!(tiu::exec(chip, &mut l, &d), Err(ExecErrorKind::Illegal { field: "opd1_n", .. })));
    }
}

/// A convolution must ask for exactly the outputs its padded input, kernel and stride give: the
/// vendor simulator stops on fewer (`assert_output_hw`, every chip), where depthwise convolution
/// and pooling may ask for a prefix. cvsim names the axis.
#[test]
fn fewer_outputs_than_the_geometry_gives_are_illegal() {
    for chip in Chip::ALL {
        let (mut l, d0) = desc_for_errors(chip);
        tiu::exec(chip, &mut l, &d0).unwrap_or_else(|e| panic!("{chip}: {e}"));
        for (field, d) in
            [("res0_h", TiuDesc { res0_h: 1, ..d0.clone() }), ("res0_w", TiuDesc { res0_w: 1, ..d0.clone() })]
        {
            let e = tiu::exec(chip, &mut l, &d).unwrap_err();
            assert!(matches!(e, ExecErrorKind::Illegal { field: f, .. } if f == field), "{chip}: {e}");
        }
        // Also when padding and stride set the size: 3 rows padded to 5, kernel 2, stride 2 → 2.
        let mut d = d0.clone();
        (d.conv_opd0_up_pad, d.conv_opd0_dn_pad, d.conv_op_y_str) = (1, 1, 2);
        tiu::exec(chip, &mut l, &d).unwrap_or_else(|e| panic!("{chip}: {e}"));
        d.res0_h = 1;
        let e = tiu::exec(chip, &mut l, &d).unwrap_err();
        assert!(matches!(e, ExecErrorKind::Illegal { field: "res0_h", .. }), "{chip}: {e}");
    }
}

#[test]
fn operands_outside_local_memory_are_reported() {
    for chip in Chip::ALL {
        let (mut l, mut d) = desc_for_errors(chip);
        d.res0_addr = 0x7FFE;
        assert!(matches!(tiu::exec(chip, &mut l, &d), Err(ExecErrorKind::LmemOutOfRange { .. })));
        let (mut l, mut d) = desc_for_errors(chip);
        d.res0_addr = chip.lanes() << 15;
        assert!(matches!(tiu::exec(chip, &mut l, &d), Err(ExecErrorKind::LmemOutOfRange { .. })));
    }
}

/// The fp32 accumulator truncates: (1 + 2^-7) + 2^-8 − 2^-25 is a quarter ulp below the bf16
/// midpoint between 0x3F81 and 0x3F82. Round-to-nearest would land on the midpoint and then round
/// to even (0x3F82); truncation stays below it (0x3F81). This is the rule the CV182x conv and the
/// average-pooling vectors need (`arith::f32_add_toward_zero`).
#[test]
fn bf16_accumulation_truncates() {
    for chip in Chip::ALL {
        let g = Geom {
            n: 1,
            c: 3,
            ih: 1,
            iw: 1,
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
            oh: 1,
            ow: 1,
        };
        let cv = Conv { chip, g, oc: 1, x: vec![0x3F81, 0x3B80, 0xB300], w: vec![0x3F80; 3] };
        let mut l = random_lmem(chip, 1);
        let Placed { d, res } = place(&cv, &mut l, 2, 0, &mut Alloc::new()).unwrap();
        tiu::exec(chip, &mut l, &d).unwrap();
        assert_eq!(get16(&l, res.idx(chip.lanes(), 0, 0, 0, 0)), 0x3F81, "{chip}");
    }
}

/// An input wide and deep enough that the executor gathers it in several bands of output rows
/// (32 Ki elements a band: three bands here), with padding, stride 2 and dilation on the row axis so
/// that bands overlap in the input rows they read: every output equals the reference.
#[test]
fn an_input_gathered_in_bands_gives_the_reference_everywhere() {
    for chip in [Chip::Cv181x, Chip::Cv183x] {
        let g = Geom {
            n: 1,
            c: 32,
            ih: 40,
            iw: 60,
            kh: 3,
            kw: 3,
            st_h: 2,
            st_w: 1,
            dil_h: 2,
            dil_w: 1,
            pad: [1, 1, 1, 1],
            ins_h: 0,
            ins_w: 0,
            ins_h_last: 0,
            ins_w_last: 0,
            oh: 19,
            ow: 60,
        };
        let val = |i: u32| (i.wrapping_mul(2654435761) >> 24) as u16;
        let oc = 3;
        let cv = Conv {
            chip,
            g,
            oc,
            x: (0..g.n * g.c * g.ih * g.iw).map(val).collect(),
            w: (0..oc * 9 * g.c).map(|i| val(i + 99)).collect(),
        };
        let o = Int8Opts {
            x_signed: true,
            w_signed: true,
            res_signed: true,
            relu: false,
            rs: 9,
            pad: 3,
            res_lane: 1,
            bias: None,
            qm: None,
            seed: 5,
        };
        let (got, want) = run_int8(&cv, &o).expect("fits local memory");
        assert_eq!(got.len(), (g.n * oc * g.oh * g.ow) as usize);
        assert_eq!(got, want, "{chip}");
    }
}

/// The same banded conv with its result written over its own input (same lanes and offset): the
/// rows a later band reads are ones an earlier band's results overwrite, so the executor must read
/// the input as it was before the descriptor, giving the values of the result placed apart.
#[test]
fn a_result_written_over_the_input_reads_the_input_as_it_was() {
    let chip = Chip::Cv183x;
    let lanes = chip.lanes();
    let g = Geom {
        n: 1,
        c: 32,
        ih: 40,
        iw: 60,
        kh: 3,
        kw: 3,
        st_h: 1,
        st_w: 1,
        dil_h: 1,
        dil_w: 1,
        pad: [1, 1, 1, 1],
        ins_h: 0,
        ins_w: 0,
        ins_h_last: 0,
        ins_w_last: 0,
        oh: 40,
        ow: 60,
    };
    let val = |i: u32| (i.wrapping_mul(2654435761) >> 24) as u16;
    let cv = Conv {
        chip,
        g,
        oc: 32,
        x: (0..g.c * g.ih * g.iw).map(val).collect(),
        w: (0..32 * 9 * g.c).map(|i| val(i + 7)).collect(),
    };
    let mut l = random_lmem(chip, 3);
    let Placed { mut d, res } = place(&cv, &mut l, 1, 0, &mut Alloc::new()).expect("fits");
    d.opt_opd0_sign = 1;
    d.opt_opd1_sign = 1;
    d.opt_res0_sign = 1;
    d.opt_res_shift = 10;
    let mut apart = l.clone();
    tiu::exec(chip, &mut apart, &d).unwrap();
    // The input's own layout: compact rows of 60, channel planes of 2400 bytes.
    let over = TiuDesc {
        res0_addr: d.opd0_addr,
        res0_n_str: 2400,
        res0_c_str: 2400,
        res0_h_str: 60,
        res0_w_str: 1,
        ..d.clone()
    };
    tiu::exec(chip, &mut l, &over).unwrap();
    let base = (d.opd0_addr & 0x7FFF) as usize;
    // Every output: only the rows next to a band boundary read input an earlier band overwrote.
    for oc in 0..32 {
        for (oh, ow) in (0..40).flat_map(|h| (0..60).map(move |w| (h, w))) {
            let a = res.idx(lanes, 0, oc, oh, ow);
            let b = l.index(oc % lanes, base as u32 + (oc / lanes) * 2400 + oh * 60 + ow);
            assert_eq!(apart.data[a], l.data[b], "oc {oc} ({oh},{ow})");
        }
    }
}
