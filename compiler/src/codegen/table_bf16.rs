//! A bf16 function of one input from base/slope tables ([`crate::lower::TableBf16`]), per tile:
//! `t = x · scale` in place (after the clamp, if any), `i = trunc(t)` by a TDMA bf16 → int8 move and back, `f = t − i`, the
//! index bytes in the low halves of zeroed 16-bit words, `e = BASE[i] + SLOPE[i] · f` (two bf16
//! lookups and a mac), as the softmax of bf16 logits interpolates its exponential. Tiles:
//! channels in multiples of the lane count, then rows; the two tables stay in every lane.

use super::eltwise_bf16::tile;
use super::local::{Arena, Local};
use super::softmax::{bf16, eltwise, lut_bf16, table_bytes};
use super::tdma::{g2l_bf16, l2g_bf16, l2l_convert, Global};
use super::tiu::eu::{COPY, MAC, MAX, MIN, MUL, SUB, XOR};
use super::tiu::opd1_strides;
use super::{CompileError, LayerCx};
use crate::lower::{TableBf16, TensorRef};
use cvsim_isa::Region;
use cvsim_runtime::cvimodel::DType;

pub fn lut_bf16_layer(
    cx: &mut LayerCx,
    input: TensorRef,
    output: TensorRef,
    table: &TableBf16,
) -> Result<(), CompileError> {
    let s = cx.shape(input);
    let lanes = cx.lanes;
    let name = cx.tensor_name(output);
    let offs: Vec<u64> = [(&table.base, "base"), (&table.slope, "slope")]
        .into_iter()
        .map(|(t, what)| cx.w.add(format!("{name}_{what}_table_bf16"), &table_bytes(t), [1, 1, 32, 8], DType::Bf16))
        .collect();
    // Per tile: t, f, index words, e, slope (bf16) and i (int8, at most a bf16 buffer's size).
    let (c_max, h_max) = tile(cx, s, 6, 2 * 512)?;
    let mut arena = Arena::new(cx.lmem);
    let mut alloc = |b: u32| arena.alloc(b).expect("sized to fit");
    let (l_base, l_slope) = (load_table(cx, alloc(512), offs[0]), load_table(cx, alloc(512), offs[1]));
    let buf = Local::eu_aligned_bf16(0, lanes, s[0], c_max, h_max, s[3]).bytes_per_lane();
    let [a_t, a_i, a_f, a_idx, a_e, a_s] = [0; 6].map(|_| alloc(buf));
    let (gx, gy) = (cx.global(input), cx.global(output));
    for c0 in (0..s[1]).step_by(c_max as usize) {
        for h0 in (0..s[2]).step_by(h_max as usize) {
            let (c_t, h_t) = (c_max.min(s[1] - c0), h_max.min(s[2] - h0));
            let v = |addr| Local::eu_aligned_bf16(addr, lanes, s[0], c_t, h_t, s[3]);
            let off = ((c0 * s[2] * s[3] + h0 * s[3]) * 2) as u64;
            let t = v(a_t);
            cx.load(g2l_bf16(cx.chip, &gx.at(off), &t), &t);
            if let Some([lo, hi]) = table.clamp {
                for (eu, v) in [(MAX, lo), (MIN, hi)] {
                    let mut d = eltwise(cx, eu, true, &t, &t);
                    d.opt_opd1_const = 1;
                    d.opd1_addr = bf16(v) as u32;
                    cx.tiu(d, &[&t], &[&t]);
                }
            }
            let mut d = eltwise(cx, MUL, true, &t, &t);
            d.opt_opd1_const = 1;
            d.opd1_addr = bf16(table.scale) as u32;
            cx.tiu(d, &[&t], &[&t]);
            let scratch = Scratch { i: a_i, f: a_f, idx: a_idx, e: a_e, slope: a_s };
            let e = interpolate(cx, &t, scratch, [&l_base, &l_slope]);
            cx.store(l2g_bf16(cx.chip, &e, &gy.at(off)), &e);
        }
    }
    Ok(())
}

/// Per-lane offsets of [`interpolate`]'s buffers, each the size of the interpolated tile in bf16.
pub(super) struct Scratch {
    pub i: u32,
    pub f: u32,
    pub idx: u32,
    pub e: u32,
    pub slope: u32,
}

/// `e = BASE[i] + SLOPE[i]·(t − i)` with `i = trunc(t)` as int8, for a bf16 EU-aligned tile `t`
/// already scaled to table steps: `i` by a TDMA bf16 → int8 move and back, the index bytes in the
/// low halves of zeroed 16-bit words, two bf16 lookups and a mac. Returns `e` (at `at.e`).
pub(super) fn interpolate(cx: &mut LayerCx, t: &Local, at: Scratch, [base, slope]: [&Local; 2]) -> Local {
    let lanes = cx.lanes;
    let v = |addr| Local::eu_aligned_bf16(addr, lanes, t.n, t.c, t.h, t.w);
    let i8l = Local::eu_aligned(at.i, lanes, t.n, t.c, t.h, t.w);
    cx.l2l(l2l_convert(cx.chip, t, &i8l, true, true), t, &i8l);
    let f = v(at.f);
    cx.l2l(l2l_convert(cx.chip, &i8l, &f, false, false), &i8l, &f);
    // A sub's result is signed.
    let mut d = eltwise(cx, SUB, true, &f, t);
    d.opt_res0_sign = 1;
    (d.opd0_b_str, d.opd1_b_str) = (0, 0);
    d.opd1_addr = f.addr;
    opd1_strides(&mut d, &f);
    cx.tiu(d, &[t, &f], &[&f]);
    let idx_bytes = Local::eu_aligned(at.idx, lanes, t.n, t.c, t.h, 2 * t.w);
    let mut d = eltwise(cx, XOR, false, &idx_bytes, &idx_bytes);
    d.opd1_addr = idx_bytes.addr;
    opd1_strides(&mut d, &idx_bytes);
    cx.tiu(d, &[&idx_bytes], &[&idx_bytes]);
    let idx_low = Local { w: t.w, w_str: 2, ..idx_bytes };
    let mut d = eltwise(cx, COPY, false, &idx_low, &i8l);
    d.tsk_opd_num = 1;
    cx.tiu(d, &[&i8l, &idx_bytes], &[&idx_bytes]);
    let idx = v(at.idx);
    let (e, sl) = (v(at.e), v(at.slope));
    cx.tiu(lut_bf16(cx, &e, &idx, base), &[&idx, base], &[&e]);
    cx.tiu(lut_bf16(cx, &sl, &idx, slope), &[&idx, slope], &[&sl]);
    let mut d = eltwise(cx, MAC, true, &e, &sl);
    d.opt_res_add = 1;
    d.opt_left_shift = 0;
    d.res0_b_str = 0;
    d.opd1_addr = f.addr;
    opd1_strides(&mut d, &f);
    cx.tiu(d, &[&sl, &f, &e], &[&e]);
    e
}

/// A 256-entry bf16 table from the weight region at `offset` into every lane at `addr` (512 bytes
/// per lane), as the TIU's lookup reads it.
pub(super) fn load_table(cx: &mut LayerCx, addr: u32, offset: u64) -> Local {
    let l = Local { addr, n: 1, c: cx.lanes, h: 32, w: 8, n_str: 512, c_str: 512, h_str: 16, w_str: 2 };
    let g = Global { region: Region::WEIGHT, offset, n_str: 512, c_str: 0, h_str: 16 };
    cx.load(g2l_bf16(cx.chip, &g, &l), &l);
    l
}
