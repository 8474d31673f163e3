//! TIU pooling against a plain reference written from the spec (`isa.md` §3.6.3, geometry of
//! §3.6.1, §3.7, §9) and the bf16 rules the vectors show (±inf read as NaN, NaN propagating
//! through max/min, truncating fp32 sums): max, min and average, int8 and bf16, all four chips.

mod tiu_conv_support;

use cvsim_isa::{Chip, TiuDesc};
use cvsim_sim::memory::Lmem;
use cvsim_sim::tiu;
use cvsim_sim::ExecErrorKind;
use proptest::prelude::*;
use tiu_conv_support::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Max,
    Min,
    Avg,
}

#[derive(Clone, Debug)]
struct Pool {
    chip: Chip,
    kind: Kind,
    /// The geometry the pooling computes (the reference's).
    g: Geom,
    /// The insertion fields written to the descriptor (y_ins0, x_ins0, y_ins0_last, x_ins0_last):
    /// `g`'s own where the chip inserts, anything where it ignores them.
    ins: [u32; 4],
    /// x[n][c][h][w]
    x: Vec<u16>,
}

/// A generated geometry as the chip pools it. Max and min pooling ignore the insertion fields on
/// every chip (the vendor simulator reads neighbouring inputs, not the insert value), so the descriptor keeps the
/// generated fields while the window and the output size follow the input without insertion; a
/// prefix of the outputs stays a prefix. None when the kernel no longer fits.
fn as_pooled(kind: Kind, g: Geom) -> Option<(Geom, [u32; 4])> {
    let ins = [g.ins_h, g.ins_w, g.ins_h_last, g.ins_w_last];
    // Average pooling inserts on every chip (the fuzzer's average-pooling cases).
    if kind == Kind::Avg {
        return Some((g, ins));
    }
    let (full_h, full_w) = g.max_out()?;
    let plain = Geom { ins_h: 0, ins_w: 0, ins_h_last: 0, ins_w_last: 0, ..g };
    let (oh, ow) = plain.max_out()?;
    let oh = if g.oh == full_h { oh } else { (oh + 1) / 2 };
    let ow = if g.ow == full_w { ow } else { (ow + 1) / 2 };
    Some((Geom { oh, ow, ..plain }, ins))
}

impl Pool {
    fn x(&self, n: u32, c: u32, h: u32, w: u32) -> u16 {
        let g = &self.g;
        self.x[(((n * g.c + c) * g.ih + h) * g.iw + w) as usize]
    }
}

/// Kinds the chip has: min pooling is CV18[0-2]x only, and bf16 min pooling is unusable on CV182x
/// (§9.9).
fn pool(vals: BoxedStrategy<u16>, bf16: bool) -> impl Strategy<Value = Pool> {
    let kinds = prop::sample::select(vec![Kind::Max, Kind::Min, Kind::Avg]);
    (chip(), kinds, geom(40, 4, false, true, true))
        .prop_filter("min pooling missing on this chip", move |(chip, kind, _)| {
            *kind != Kind::Min
                || (chip.layout().has_ge_and_min_pool() && !(bf16 && chip.quirks().bf16_min_pool_unreproducible))
        })
        .prop_filter_map("kernel does not fit the input without insertion", |(chip, kind, g)| {
            as_pooled(kind, g).map(|(g, ins)| (chip, kind, g, ins))
        })
        .prop_flat_map(move |(chip, kind, g, ins)| {
            prop::collection::vec(vals.clone(), (g.n * g.c * g.ih * g.iw) as usize).prop_map(move |x| Pool {
                chip,
                kind,
                g,
                ins,
                x,
            })
        })
}

/// opd0 and res0 both EU-aligned (stride code 0), as the pooling emitters require.
fn place(p: &Pool, l: &mut Lmem, esz: u32) -> Option<(TiuDesc, Place)> {
    let lanes = p.chip.lanes();
    let g = &p.g;
    let mut d = base_desc(p.chip);
    d.tsk_typ = 1;
    (d.tsk_eu_typ, d.tsk_opd_num) = match p.kind {
        Kind::Max => (0, 1),
        Kind::Avg => (1, 2),
        Kind::Min => (3, 1),
    };
    d.opd_typ = (esz == 2) as u32;
    g.fill(&mut d, false);
    [d.conv_opd0_y_ins0, d.conv_opd0_x_ins0, d.conv_opd0_y_ins0_last, d.conv_opd0_x_ins0_last] = p.ins;
    let mut alloc = Alloc::new();
    let x = alloc.aligned(lanes, [g.n, g.c, g.ih, g.iw], esz)?;
    let res = alloc.aligned(lanes, [g.n, g.c, g.oh, g.ow], esz)?;
    for n in 0..g.n {
        for c in 0..g.c {
            for h in 0..g.ih {
                for w in 0..g.iw {
                    let i = x.idx(lanes, n, c, h, w);
                    if esz == 1 {
                        l.data[i] = p.x(n, c, h, w) as u8;
                    } else {
                        put16(l, i, p.x(n, c, h, w));
                    }
                }
            }
        }
    }
    (d.opd0_addr, d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w) = (x.addr(), g.n, g.c, g.ih, g.iw);
    (d.res0_addr, d.res0_n, d.res0_c) = (res.addr(), g.n, g.c);
    (d.short_opd0_str, d.short_res0_str) = (0, 0);
    Some((d, res))
}

fn bytes() -> BoxedStrategy<u16> {
    any::<u8>().prop_map(|b| b as u16).boxed()
}

/// bf16 data for max/min: mostly normals, with ±0, ±inf, NaN and subnormals mixed in.
fn bf16_mixed() -> BoxedStrategy<u16> {
    prop_oneof![8 => bf16_val(), 1 => prop::sample::select(vec![0x0000u16, 0x8000, 0x7F80, 0xFF80, 0x7FC0, 0x0001, 0x807F, 0x7F7F, 0xFF7F])].boxed()
}

/// bf16 operand as read: subnormal → 0, exponent all ones → NaN.
fn operand(b: u16) -> f32 {
    match b & 0x7F80 {
        0 => 0.0,
        0x7F80 => f32::NAN,
        _ => bf(b),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn int8_matches_reference(p in pool(bytes(), false), signed in any::<bool>(), pad in any::<u8>(), k in any::<u8>(), rs in 0u32..=12, seed in any::<u64>()) {
        let chip = p.chip;
        let lanes = chip.lanes();
        let g = p.g;
        let mut l = random_lmem(chip, seed);
        let Some((mut d, res)) = place(&p, &mut l, 1) else { return Ok(()) };
        (d.opt_opd0_sign, d.opt_res0_sign, d.opt_shift_typ) = (signed as u32, signed as u32, signed as u32);
        d.opd0_ins_val = pad as u32;
        if p.kind == Kind::Avg {
            d.opt_opd1_const = 1;
            d.opt_opd1_sign = 0;
            d.opd1_addr = k as u32;
            d.opt_res_shift = rs;
        }
        tiu::exec(chip, &mut l, &d).unwrap_or_else(|e| panic!("{e}"));
        let v = |b: u16| if signed { b as u8 as i8 as i64 } else { b as u8 as i64 };
        for n in 0..g.n { for c in 0..g.c { for oh in 0..g.oh { for ow in 0..g.ow {
            let vals: Vec<i64> = (0..g.kh).flat_map(|ky| (0..g.kw).map(move |kx| (ky, kx)))
                .map(|(ky, kx)| g.tap(oh, ow, ky, kx).map_or(v(pad as u16), |(h, w)| v(p.x(n, c, h, w)))).collect();
            // The vendor simulator starts a max or min at the pad value, so it takes part in
            // every window, padded or not.
            let want = match p.kind {
                Kind::Max => vals.iter().fold(v(pad as u16), |a, &x| a.max(x)) as u8,
                Kind::Min => vals.iter().fold(v(pad as u16), |a, &x| a.min(x)) as u8,
                Kind::Avg => sat8(rshr(vals.iter().map(|x| x * k as i64).sum(), rs), signed),
            };
            prop_assert_eq!(l.data[res.idx(lanes, n, c, oh, ow)], want, "n {} c {} oh {} ow {}", n, c, oh, ow);
        }}}}
    }

    #[test]
    fn bf16_matches_reference(p in pool(bf16_mixed(), true), pad in bf16_mixed(), k in bf16_val(), seed in any::<u64>()) {
        let chip = p.chip;
        let lanes = chip.lanes();
        let g = p.g;
        // Average pooling sums: keep its data finite and in range so the f64 reference is exact.
        let p = if p.kind == Kind::Avg {
            Pool { x: p.x.iter().map(|&b| if b & 0x7F80 == 0 || b & 0x7F80 == 0x7F80 || (b & 0x7F80) >> 7 > 134 { 0x3F80 } else { b }).collect(), ..p }
        } else { p };
        let pad = if p.kind == Kind::Avg { 0 } else { pad };
        let mut l = random_lmem(chip, seed);
        let Some((mut d, res)) = place(&p, &mut l, 2) else { return Ok(()) };
        if chip.layout().bf16_pad_field() { d.opd0_ins_fp = pad as u32 } else { d.opd0_ins_val = pad as u32 }
        if p.kind == Kind::Avg {
            d.opt_opd1_const = 1;
            d.opd1_addr = k as u32;
        }
        tiu::exec(chip, &mut l, &d).unwrap_or_else(|e| panic!("{e}"));
        for n in 0..g.n { for c in 0..g.c { for oh in 0..g.oh { for ow in 0..g.ow {
            let vals: Vec<f32> = (0..g.kh).flat_map(|ky| (0..g.kw).map(move |kx| (ky, kx)))
                .map(|(ky, kx)| operand(g.tap(oh, ow, ky, kx).map_or(pad, |(h, w)| p.x(n, c, h, w)))).collect();
            let nan = vals.iter().any(|v| v.is_nan());
            let r = match p.kind {
                Kind::Max if nan => f32::NAN,
                Kind::Min if nan => f32::NAN,
                Kind::Max => vals.iter().cloned().fold(f32::NEG_INFINITY, f32::max),
                Kind::Min => vals.iter().cloned().fold(f32::INFINITY, f32::min),
                Kind::Avg => vals.iter().fold(0f32, |a, &x| trunc_add(a, x * bf(k))),
            };
            prop_assert_eq!(get16(&l, res.idx(lanes, n, c, oh, ow)), bf16_out(r), "n {} c {} oh {} ow {}", n, c, oh, ow);
        }}}}
    }
}

fn one_row(chip: Chip, kind: Kind, x: Vec<u16>) -> Pool {
    let w = x.len() as u32;
    let g = Geom {
        n: 1,
        c: 1,
        ih: 1,
        iw: w,
        kh: 1,
        kw: w,
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
    Pool { chip, kind, g, ins: [0; 4], x }
}

/// Average pooling sums truncate: (1 + 2^-7) + 2^-8 − 2^-25 stays below the bf16 midpoint
/// (0x3F81); round-to-nearest would give 0x3F82. And a subnormal product (2^-125 · 0.25) is flushed
/// before it can shift a huge partial sum by one ulp (`cv183x-tiu_pool_bf16-005`).
#[test]
fn bf16_average_truncates_and_flushes_subnormal_products() {
    for chip in Chip::ALL {
        for (x, k, want) in [
            (vec![0x3F81u16, 0x3B80, 0xB300], 0x3F80u16, 0x3F81u16),
            (vec![0xFF7F, 0x0100, 0x7F7F, 0xC1CF], 0x3E80, 0xC0CF),
        ] {
            let p = one_row(chip, Kind::Avg, x);
            let mut l = random_lmem(chip, 4);
            let (mut d, res) = place(&p, &mut l, 2).unwrap();
            d.opt_opd1_const = 1;
            d.opd1_addr = k as u32;
            tiu::exec(chip, &mut l, &d).unwrap();
            assert_eq!(get16(&l, res.idx(chip.lanes(), 0, 0, 0, 0)), want, "{chip}");
        }
    }
}

#[test]
fn unsupported_forms_are_reported() {
    for chip in Chip::ALL {
        let p = one_row(chip, Kind::Max, vec![1, 2, 3]);
        let mut l = random_lmem(chip, 4);
        let (mut d, _) = place(&p, &mut l, 1).unwrap();
        d.opt_relu_typ = 1;
        assert!(
            matches!(tiu::exec(chip, &mut l, &d), Err(ExecErrorKind::Unsupported { what }) if what.contains("opt_relu_typ"))
        );
        d.opt_relu_typ = 0;
        d.conv_opd1_x_ins0 = 1;
        assert!(matches!(tiu::exec(chip, &mut l, &d), Err(ExecErrorKind::Illegal { field: "conv_opd1_x_ins0", .. })));
        d.conv_opd1_x_ins0 = 0;
        d.tsk_eu_typ = 1; // average pooling needs its constant as an immediate
        assert!(
            matches!(tiu::exec(chip, &mut l, &d), Err(ExecErrorKind::Unsupported { what }) if what.contains("opt_opd1_const"))
        );
    }
    let p = one_row(Chip::Cv182x, Kind::Min, vec![0x3F80, 0x4000]);
    let mut l = random_lmem(Chip::Cv182x, 4);
    let (d, _) = place(&p, &mut l, 2).unwrap();
    assert!(matches!(tiu::exec(Chip::Cv182x, &mut l, &d), Err(ExecErrorKind::Unsupported { .. })));
}

/// A result that overwrites input channels not yet pooled (here channel c's output lands on
/// channel c + lanes's input, one lane wrap on) still reads the input as it was before the
/// descriptor: the same values as with the result placed apart.
#[test]
fn a_result_overlapping_later_input_channels_reads_the_input_as_it_was() {
    for chip in Chip::ALL {
        for esz in [1, 2] {
            let lanes = chip.lanes();
            let g =
                Geom { c: lanes + 5, ih: 3, iw: 3, kh: 2, kw: 2, oh: 2, ow: 2, ..one_row(chip, Kind::Max, vec![0]).g };
            let x: Vec<u16> = (0..g.c * 9).map(|i| (i * 37 % 251) as u16 | if esz == 2 { 0x3F00 } else { 0 }).collect();
            let p = Pool { chip, kind: Kind::Max, g, ins: [0; 4], x };
            let mut l = random_lmem(chip, 9);
            let (d, res) = place(&p, &mut l, esz).unwrap();
            let mut apart = l.clone();
            tiu::exec(chip, &mut apart, &d).unwrap();
            // The aligned layout of the input: channel slots of 16 bytes at offset 0 of each lane.
            let on_input = Place { off0: 16, ..res };
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

/// Max pooling ignores the insertion fields on every chip: a window over a row with
/// `conv_opd0_x_ins0` = 1 reads neighbouring inputs, not the insert value (differential fuzzing
/// against the vendor simulator), and the output size follows the row without insertion.
#[test]
fn max_pooling_ignores_insertion() {
    for chip in Chip::ALL {
        let mut p = one_row(chip, Kind::Max, vec![1, 5, 2, 7]);
        p.g.kw = 2;
        p.g.ow = 3;
        p.ins = [0, 1, 0, 0];
        let mut l = random_lmem(chip, 6);
        let (mut d, res) = place(&p, &mut l, 1).unwrap();
        d.opd0_ins_val = 3;
        tiu::exec(chip, &mut l, &d).unwrap_or_else(|e| panic!("{chip}: {e}"));
        let got: Vec<u8> = (0..p.g.ow).map(|w| l.data[res.idx(chip.lanes(), 0, 0, 0, w)]).collect();
        assert_eq!(got, [5, 5, 7], "{chip}");
        // Four outputs would need the inserted row.
        d.res0_w = 4;
        let e = tiu::exec(chip, &mut l, &d).unwrap_err();
        assert!(matches!(e, ExecErrorKind::Illegal { field: "res0_w", .. }), "{chip}: {e}");
    }
}

/// The vendor simulator stops on int8 pooling whose result sign differs from its input's (every
/// chip); cvsim names `opt_res0_sign`.
#[test]
fn int8_pooling_keeps_its_input_sign() {
    for chip in Chip::ALL {
        let kinds: &[Kind] = if chip.layout().has_ge_and_min_pool() {
            &[Kind::Max, Kind::Min, Kind::Avg]
        } else {
            &[Kind::Max, Kind::Avg]
        };
        for &kind in kinds {
            let p = one_row(chip, kind, vec![1, 2, 3]);
            let mut l = random_lmem(chip, 4);
            let (mut d, _) = place(&p, &mut l, 1).unwrap();
            if kind == Kind::Avg {
                (d.opt_opd1_const, d.opd1_addr) = (1, 1);
            }
            (d.opt_opd0_sign, d.opt_res0_sign, d.opt_shift_typ) = (1, 1, 1);
            tiu::exec(chip, &mut l, &d).unwrap_or_else(|e| panic!("{chip} {kind:?}: {e}"));
            (d.opt_opd0_sign, d.opt_res0_sign) = (1, 0);
            let e = tiu::exec(chip, &mut l, &d).unwrap_err();
            assert!(matches!(e, ExecErrorKind::Illegal { field: "opt_res0_sign", .. }), "{chip} {kind:?}: {e}");
            (d.opt_opd0_sign, d.opt_res0_sign) = (0, 1);
            let e = tiu::exec(chip, &mut l, &d).unwrap_err();
            assert!(matches!(e, ExecErrorKind::Illegal { field: "opt_res0_sign", .. }), "{chip} {kind:?}: {e}");
        }
    }
}
