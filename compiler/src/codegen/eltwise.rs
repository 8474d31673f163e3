//! Element-wise layers, int8: lookup table, add (mul + mac, as the vendor lowers an int8 add),
//! per-channel or element-wise multiply with QM requantisation, and the concat copy with an
//! optional rescale (isa.md §3.6.5). Tiles: channels in multiples of the lane count, then rows.

use super::local::{eu_bytes, Arena, Local};
use super::tdma::{g2l_tensor, l2g_tensor, Global};
use super::tiu::{opd0_shape, opd0_strides, opd1_strides, res0_shape, res0_strides};
use super::{CompileError, LayerCx};
use crate::lower::{Rescale, TensorRef};
use cvsim_isa::Region;
use cvsim_isa::TiuDesc;
use cvsim_runtime::cvimodel::DType;

/// The largest (channels, rows) tile of an (n, c, h, w) tensor such that `bufs` tiles plus
/// `fixed` bytes fit a lane.
fn tile(cx: &LayerCx, [n, c, h, w]: [u32; 4], bufs: u32, fixed: u32) -> Result<(u32, u32), CompileError> {
    let lanes = cx.lanes;
    let mut best: Option<(u32, u32)> = None;
    for pl in (1..=c.div_ceil(lanes)).rev() {
        let c_t = c.min(pl * lanes);
        let fits = |h_t| fixed + bufs * eu_bytes(lanes, n, c_t, h_t, w).div_ceil(16) * 16 <= cx.lmem;
        if let Some(h_t) = (1..=h.min(4063)).rev().find(|&h_t| fits(h_t)) {
            if best.is_none_or(|(bc, bh)| c_t * h_t > bc * bh) {
                best = Some((c_t, h_t));
            }
        }
    }
    if n > 4095 || w > 4063 {
        return Err(cx.error(format!("shape {:?} exceeds the TIU's 12-bit shape fields", [n, c, h, w])));
    }
    best.ok_or_else(|| cx.error("no tile fits local memory".into()))
}

/// Every tile of an (n, c, h, w) tensor: (first channel, channels, first row, rows).
fn tiles([_, c, h, _]: [u32; 4], c_max: u32, h_max: u32) -> impl Iterator<Item = (u32, u32, u32, u32)> {
    (0..c).step_by(c_max as usize).flat_map(move |c0| {
        (0..h).step_by(h_max as usize).map(move |h0| (c0, c_max.min(c - c0), h0, h_max.min(h - h0)))
    })
}

/// Offset of (channel c0, row h0) in a dense NCHW int8 tensor.
fn at([_, _, h, w]: [u32; 4], c0: u32, h0: u32) -> u64 {
    (c0 * h * w + h0 * w) as u64
}

/// The element-wise descriptor skeleton: one shape in all four operands, explicit strides.
fn eltwise(cx: &LayerCx, eu: u32, res: &Local, opd0: &Local) -> TiuDesc {
    let mut d = TiuDesc::reset(cx.chip);
    d.tsk_typ = 3;
    d.tsk_eu_typ = eu;
    d.tsk_opd_num = 2;
    // The CV183x reset value of `opt_relu` is 1.
    d.opt_relu_typ = 0;
    (d.opt_res0_sign, d.opt_opd0_sign, d.opt_opd1_sign) = (1, 1, 1);
    (d.short_res0_str, d.short_opd0_str, d.short_opd1_str, d.short_opd2_str) = (3, 3, 3, 3);
    (d.res0_addr, d.opd0_addr) = (res.addr, opd0.addr);
    res0_shape(&mut d, res);
    res0_strides(&mut d, res);
    opd0_shape(&mut d, opd0);
    opd0_strides(&mut d, opd0);
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (res.n, res.c, res.h, res.w);
    (d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (res.n, res.c, res.h, res.w);
    d
}

/// The int8 lookup `y = table[x as u8]` (derived strides; `y` may be `x`).
pub fn lut_desc(cx: &LayerCx, y: &Local, x: &Local, tl: &Local) -> TiuDesc {
    let mut d = TiuDesc::reset(cx.chip);
    d.tsk_typ = 3;
    if cx.chip.layout().tiu_ops_by_flag() {
        d.tens_lookup = 1;
    } else {
        d.tsk_eu_typ = 12;
    }
    d.tsk_opd_num = 2;
    d.opt_relu_typ = 0;
    d.opt_res_shift = 0;
    d.opt_shift_typ = 0;
    d.opt_opd1_sign = 0;
    (d.res0_addr, d.opd0_addr, d.opd1_addr) = (y.addr, x.addr, tl.addr);
    res0_shape(&mut d, y);
    opd0_shape(&mut d, x);
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (1, cx.lanes, 16, 16);
    d
}

/// `y = table[x as u8]`; the table is broadcast to every lane by a zero channel stride.
pub fn lut(cx: &mut LayerCx, input: TensorRef, output: TensorRef, table: &[i8; 256]) -> Result<(), CompileError> {
    let s = cx.shape(input);
    let lanes = cx.lanes;
    let bytes: Vec<u8> = table.iter().map(|&v| v as u8).collect();
    let name = cx.tensor_name(output);
    let t_off = cx.w.add(format!("{name}_table"), &bytes, [1, 1, 1, 256], DType::I8);
    let (c_max, h_max) = tile(cx, s, 2, 256)?;
    let mut arena = Arena::new(cx.lmem);
    let a_t = arena.alloc(256).expect("fits");
    let buf = eu_bytes(lanes, s[0], c_max, h_max, s[3]);
    let (a_x, a_y) = (arena.alloc(buf).expect("fits"), arena.alloc(buf).expect("fits"));
    let tl = Local { addr: a_t, n: 1, c: lanes, h: 1, w: 256, n_str: 256, c_str: 256, h_str: 256, w_str: 1 };
    let tg = Global { region: Region::WEIGHT, offset: t_off, n_str: 0, c_str: 0, h_str: 256 };
    cx.load(g2l_tensor(cx.chip, &tg, &tl, true), &tl);
    let (src, dst) = (cx.global(input), cx.global(output));
    for (c0, c_t, h0, h_t) in tiles(s, c_max, h_max) {
        let x = Local::eu_aligned(a_x, lanes, s[0], c_t, h_t, s[3]);
        let y = Local::eu_aligned(a_y, lanes, s[0], c_t, h_t, s[3]);
        cx.load(g2l_tensor(cx.chip, &src.at(at(s, c0, h0)), &x, true), &x);
        let d = lut_desc(cx, &y, &x, &tl);
        cx.tiu(d, &[&x, &tl], &[&y]);
        cx.store(l2g_tensor(cx.chip, &y, &dst.at(at(s, c0, h0)), true), &y);
    }
    Ok(())
}

/// `y = sat8(rshr(a·ma + b·mb, rshift))`: `mul` of a into a 16-bit accumulator, then `mac` of b
/// with the rounding shift into int8.
#[allow(clippy::too_many_arguments)]
pub fn add(
    cx: &mut LayerCx,
    a: TensorRef,
    b: TensorRef,
    output: TensorRef,
    ma: i8,
    mb: i8,
    rshift: u8,
    relu: bool,
) -> Result<(), CompileError> {
    let s = cx.shape(a);
    let lanes = cx.lanes;
    let (c_max, h_max) = tile(cx, s, 4, 0)?;
    let buf = eu_bytes(lanes, s[0], c_max, h_max, s[3]);
    let mut arena = Arena::new(cx.lmem);
    let [a_a, a_b, a_lo, a_hi] = [0; 4].map(|_| arena.alloc(buf).expect("fits"));
    let (ga, gb, gy) = (cx.global(a), cx.global(b), cx.global(output));
    for (c0, c_t, h0, h_t) in tiles(s, c_max, h_max) {
        let off = at(s, c0, h0);
        let l = |addr| Local::eu_aligned(addr, lanes, s[0], c_t, h_t, s[3]);
        let (la, lb, lo, hi) = (l(a_a), l(a_b), l(a_lo), l(a_hi));
        cx.load(g2l_tensor(cx.chip, &ga.at(off), &la, true), &la);
        cx.load(g2l_tensor(cx.chip, &gb.at(off), &lb, true), &lb);
        let [mul, mac] = add_descs(cx, &la, &lb, &lo, &hi, ma, mb, rshift, relu);
        cx.tiu(mul, &[&la], &[&lo, &hi]);
        cx.tiu(mac, &[&lb, &lo, &hi], &[&lo, &hi]);
        cx.store(l2g_tensor(cx.chip, &lo, &gy.at(off), true), &lo);
    }
    Ok(())
}

/// The two descriptors of an int8 add: `lo:hi = a·ma` (16-bit), then `lo = sat8(rshr(lo:hi +
/// b·mb, rshift))`.
#[allow(clippy::too_many_arguments)]
pub(super) fn add_descs(
    cx: &LayerCx,
    la: &Local,
    lb: &Local,
    lo: &Local,
    hi: &Local,
    ma: i8,
    mb: i8,
    rshift: u8,
    relu: bool,
) -> [TiuDesc; 2] {
    let mut d = eltwise(cx, 0, lo, la);
    d.opt_opd1_const = 1;
    d.opd1_addr = ma as u8 as u32; // int8 mul/mac constants are masked to 8 bits
    d.opt_res_shift = 0;
    d.opt_res0_seg = 0;
    d.res0_b_str = hi.addr - lo.addr;
    let mut e = eltwise(cx, 1, lo, lb);
    e.opt_opd1_const = 1;
    e.opd1_addr = mb as u8 as u32;
    e.opt_res_add = 1;
    e.opt_left_shift = 0;
    e.opt_res_shift = rshift as u32;
    e.opt_res0_seg = 1;
    e.res0_b_str = hi.addr - lo.addr;
    e.opt_relu_typ = relu as u32;
    [d, e]
}

/// `y = clamp(MBQM(a·b, multiplier, shift))` with `mul_qm`; a `[N, C, 1, 1]` b is read with zero
/// row and column strides (one factor per channel).
pub fn mul(
    cx: &mut LayerCx,
    a: TensorRef,
    b: TensorRef,
    output: TensorRef,
    multiplier: u32,
    shift: i8,
) -> Result<(), CompileError> {
    let s = cx.shape(a);
    let sb = cx.shape(b);
    let broadcast = sb != s;
    let lanes = cx.lanes;
    let (c_max, h_max) = if broadcast {
        tile(cx, s, 2, eu_bytes(lanes, s[0], s[1], 1, 1).div_ceil(16) * 16)?
    } else {
        tile(cx, s, 3, 0)?
    };
    let buf = eu_bytes(lanes, s[0], c_max, h_max, s[3]);
    let mut arena = Arena::new(cx.lmem);
    let a_b = arena.alloc(if broadcast { eu_bytes(lanes, s[0], c_max, 1, 1) } else { buf }).expect("fits");
    let (a_a, a_y) = (arena.alloc(buf).expect("fits"), arena.alloc(buf).expect("fits"));
    let (ga, gb, gy) = (cx.global(a), cx.global(b), cx.global(output));
    let mut loaded_b = None;
    for (c0, c_t, h0, h_t) in tiles(s, c_max, h_max) {
        let off = at(s, c0, h0);
        let la = Local::eu_aligned(a_a, lanes, s[0], c_t, h_t, s[3]);
        let y = Local::eu_aligned(a_y, lanes, s[0], c_t, h_t, s[3]);
        cx.load(g2l_tensor(cx.chip, &ga.at(off), &la, true), &la);
        let lb = if broadcast {
            let lb = Local::eu_aligned(a_b, lanes, s[0], c_t, 1, 1);
            if loaded_b != Some(c0) {
                cx.load(g2l_tensor(cx.chip, &gb.at(c0 as u64), &lb, true), &lb);
                loaded_b = Some(c0);
            }
            Local { h: h_t, w: s[3], h_str: 0, w_str: 0, ..lb }
        } else {
            let lb = Local::eu_aligned(a_b, lanes, s[0], c_t, h_t, s[3]);
            cx.load(g2l_tensor(cx.chip, &gb.at(off), &lb, true), &lb);
            lb
        };
        let mut d = eltwise(cx, 0, &y, &la);
        d.opt_chl_quan = 1;
        d.quan_m = multiplier;
        d.opt_res_shift = (shift as i32 as u32) & 0x3F;
        d.opd1_addr = lb.addr;
        opd1_strides(&mut d, &lb);
        cx.tiu(d, &[&la, &lb], &[&y]);
        cx.store(l2g_tensor(cx.chip, &y, &gy.at(off), true), &y);
    }
    Ok(())
}

/// Channel-wise concat: each input copied to its destination `(tensor, first channel, channel
/// step)`, rescaled by a `mul` with a rounding shift when its scale differs.
pub fn concat(
    cx: &mut LayerCx,
    inputs: &[TensorRef],
    dests: &[(TensorRef, u32, u32)],
    rescale: &[Option<Rescale>],
    in_place: &[bool],
) -> Result<(), CompileError> {
    let lanes = cx.lanes;
    for (((&t, r), &done), &(dst, first, step)) in inputs.iter().zip(rescale).zip(in_place).zip(dests) {
        let s = cx.shape(t);
        if done {
            continue;
        }
        let w = cx.shape(dst)[3];
        let gd = cx.global(dst);
        let gy = Global { c_str: gd.c_str * step, ..gd.at(first as u64 * gd.c_str as u64) };
        let (c_max, h_max) = tile(cx, s, 2, 0)?;
        let buf = eu_bytes(lanes, s[0], c_max, h_max, s[3]);
        let mut arena = Arena::new(cx.lmem);
        let (a_x, a_y) = (arena.alloc(buf).expect("fits"), arena.alloc(buf).expect("fits"));
        let gx = cx.global(t);
        for (c0, c_t, h0, h_t) in tiles(s, c_max, h_max) {
            let x = Local::eu_aligned(a_x, lanes, s[0], c_t, h_t, s[3]);
            cx.load(g2l_tensor(cx.chip, &gx.at(at(s, c0, h0)), &x, true), &x);
            let y = match r {
                None => x,
                Some(r) => {
                    let y = Local::eu_aligned(a_y, lanes, s[0], c_t, h_t, s[3]);
                    let mut d = eltwise(cx, 0, &y, &x);
                    d.opt_opd1_const = 1;
                    d.opd1_addr = r.multiplier as u8 as u32;
                    d.opt_res_shift = r.rshift as u32;
                    d.opt_res0_seg = 1;
                    cx.tiu(d, &[&x], &[&y]);
                    y
                }
            };
            let to = gy.at(c0 as u64 * gy.c_str as u64 + (h0 * w) as u64);
            cx.store(l2g_tensor(cx.chip, &y, &to, true), &y);
        }
    }
    Ok(())
}
