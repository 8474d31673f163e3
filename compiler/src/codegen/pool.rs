//! Max and average pooling, int8 (isa.md §3.6.3). Tiles: channels in multiples of the lane count,
//! output rows with their input halo, as for depthwise convolutions.

use super::local::{eu_bytes, Arena, Local};
use super::softmax::bf16 as to_bf16;
use super::tdma::{g2l_bf16, g2l_tensor, l2g_bf16, l2g_tensor};
use super::tiu::{opd0_shape, res0_shape};
use super::{CompileError, LayerCx};
use crate::lower::{DType, Pool, PoolKind};
use cvsim_isa::TiuDesc;

pub fn pool(cx: &mut LayerCx, p: &Pool) -> Result<(), CompileError> {
    let [n, c, ih, iw] = cx.shape(p.input);
    let [_, _, oh, ow] = cx.shape(p.output);
    let kh = p.kernel[0] as u32;
    let sh = p.stride[0] as u32;
    let lanes = cx.lanes;
    let bf16 = cx.net.tensors[p.input].dtype == DType::Bf16;
    let e = if bf16 { 2 } else { 1 };
    let rows_for = |oh_t: u32| ((oh_t - 1) * sh + kh).min(ih);
    let bytes =
        |c_t: u32, oh_t: u32| [eu_bytes(lanes, n, c_t, rows_for(oh_t), iw * e), eu_bytes(lanes, n, c_t, oh_t, ow * e)];
    let local = |addr, c_t, h, w| {
        if bf16 {
            Local::eu_aligned_bf16(addr, lanes, n, c_t, h, w)
        } else {
            Local::eu_aligned(addr, lanes, n, c_t, h, w)
        }
    };
    let fits =
        |c_t, oh_t, bufs: u32| bufs * bytes(c_t, oh_t).iter().map(|b| b.div_ceil(16) * 16).sum::<u32>() <= cx.lmem;
    let choose = |bufs: u32, max_oh: u32| {
        let mut best: Option<(u32, u32)> = None;
        for pl in (1..=c.div_ceil(lanes)).rev() {
            let c_t = c.min(pl * lanes);
            if let Some(oh_t) = (1..=oh.min(max_oh)).rev().find(|&h| fits(c_t, h, bufs)) {
                if best.is_none_or(|(bc, bh)| c_t * oh_t > bc * bh) {
                    best = Some((c_t, oh_t));
                }
            }
        }
        best
    };
    // Double buffers when there is more than one tile; a large layer that fits whole is still
    // cut into row tiles so that loads, pooling and stores overlap.
    let moved = (n * c * (ih * iw + oh * ow)) * e;
    let best = match choose(1, oh) {
        Some((ct, ht)) if ct == c && ht == oh && (moved < 64 * 1024 || oh < 4) => Some((ct, ht)),
        _ => choose(2, if moved >= 64 * 1024 && oh >= 4 { oh.div_ceil(4) } else { oh })
            .or(choose(2, oh))
            .or(choose(1, oh)),
    };
    let (c_max, oh_max) = best.ok_or_else(|| cx.error("no tile fits local memory".into()))?;
    if n.max(c) > 4095 || iw > 4063 || rows_for(oh_max) > 4063 {
        return Err(cx.error(format!("{n}×{c}×{ih}×{iw} exceeds the TIU's 12-bit shape fields")));
    }
    let mut arena = Arena::new(cx.lmem);
    let sizes = bytes(c_max, oh_max);
    let mut tiles = Vec::new();
    for c0 in (0..c).step_by(c_max as usize) {
        for oh0 in (0..oh).step_by(oh_max as usize) {
            tiles.push((c0, c_max.min(c - c0), oh0, oh_max.min(oh - oh0)));
        }
    }
    let bufs = if tiles.len() > 1 && fits(c_max, oh_max, 2) { 2 } else { 1 };
    let at_buf: Vec<(u32, u32)> =
        (0..bufs).map(|_| (arena.alloc(sizes[0]).expect("fits"), arena.alloc(sizes[1]).expect("fits"))).collect();
    let (src, dst) = (cx.global(p.input), cx.global(p.output));
    // Input rows of a tile and the padding inside it.
    let rows = |oh0: u32, oh_t: u32| {
        let lo = (oh0 * sh) as i64 - p.pads.top as i64;
        let hi = ((oh0 + oh_t - 1) * sh + kh) as i64 - p.pads.top as i64;
        (lo.max(0) as u32, hi.min(ih as i64) as u32, (-lo).max(0) as u32, (hi - ih as i64).max(0) as u32)
    };
    for &(_, _, oh0, oh_t) in &tiles {
        let (r0, r1, _, _) = rows(oh0, oh_t);
        if r1 <= r0 {
            return Err(cx.error(format!("output rows {oh0}..{} read only padding", oh0 + oh_t)));
        }
    }
    let load = |cx: &mut LayerCx, k: usize| {
        let (c0, c_t, oh0, oh_t) = tiles[k];
        let (r0, r1, _, _) = rows(oh0, oh_t);
        let x = local(at_buf[k % bufs].0, c_t, r1 - r0, iw);
        let at = src.at(((c0 * ih * iw + r0 * iw) * e) as u64);
        if bf16 {
            cx.load(g2l_bf16(cx.chip, &at, &x), &x);
        } else {
            cx.load(g2l_tensor(cx.chip, &at, &x, true), &x);
        }
    };
    load(cx, 0);
    for k in 0..tiles.len() {
        if k + 1 < tiles.len() {
            load(cx, k + 1);
        }
        let (c0, c_t, oh0, oh_t) = tiles[k];
        let (r0, r1, pt, pb) = rows(oh0, oh_t);
        let (a_in, a_out) = at_buf[k % bufs];
        let x = local(a_in, c_t, r1 - r0, iw);
        let y = local(a_out, c_t, oh_t, ow);
        let d = pool_desc(cx, p, bf16, &x, &y, pt, pb);
        cx.tiu(d, &[&x], &[&y]);
        let at = dst.at(((c0 * oh * ow + oh0 * ow) * e) as u64);
        if bf16 {
            cx.store(l2g_bf16(cx.chip, &y, &at), &y);
        } else {
            cx.store(l2g_tensor(cx.chip, &y, &at, true), &y);
        }
    }
    Ok(())
}

/// The pooling descriptor of `p` over the local tile `x` (rows `pt` and `pb` of padding inside
/// it) into `y`; also the max pooling a convolution applies before its store.
pub(super) fn pool_desc(cx: &LayerCx, p: &Pool, bf16: bool, x: &Local, y: &Local, pt: u32, pb: u32) -> TiuDesc {
    let (kh, kw) = (p.kernel[0] as u32, p.kernel[1] as u32);
    let (sh, sw) = (p.stride[0] as u32, p.stride[1] as u32);
    let mut d = TiuDesc::reset(cx.chip);
    d.tsk_typ = 1;
    // Pooling emitters force ReLU off (the CV183x reset value is on).
    d.opt_relu_typ = 0;
    d.opt_res_shift = 0;
    (d.opt_res0_sign, d.opt_opd0_sign) = (1, 1);
    let bf16_pad = |d: &mut TiuDesc, v: u16| {
        if cx.chip.layout().bf16_pad_field() {
            d.opd0_ins_fp = v as u32;
        } else {
            d.opd0_ins_val = v as u32;
        }
    };
    match p.kind {
        PoolKind::Max if bf16 => {
            d.tsk_eu_typ = 0;
            d.tsk_opd_num = 1;
            d.opd_typ = 1;
            d.opt_shift_typ = 0;
            (d.opt_res0_sign, d.opt_opd0_sign) = (0, 0);
            // The most negative finite bf16: padding never wins.
            bf16_pad(&mut d, 0xFF7F);
        }
        PoolKind::Mean => {
            d.tsk_eu_typ = 1;
            d.tsk_opd_num = 2;
            d.opd_typ = 1;
            d.opt_shift_typ = 0;
            (d.opt_res0_sign, d.opt_opd0_sign) = (0, 0);
            d.opt_opd1_sign = 0;
            d.opt_opd1_const = 1;
            // The hardware has no divider: the constant is 1/(kh·kw), made on the host.
            d.opd1_addr = to_bf16(1.0 / (kh * kw) as f32) as u32;
            bf16_pad(&mut d, 0);
        }
        PoolKind::Max => {
            d.tsk_eu_typ = 0;
            d.tsk_opd_num = 1;
            // cvikernel turns a pad value of 0 into -128 for signed input; CV183x
            // has an 8-bit int8 pad field beside its bf16 one.
            d.opd0_ins_val = if cx.chip.layout().bf16_pad_field() { 0x80 } else { 0xFF80 };
        }
        PoolKind::Avg { multiplier, rshift } => {
            d.tsk_eu_typ = 1;
            d.tsk_opd_num = 2;
            d.opt_res_shift = rshift as u32;
            d.opt_opd1_sign = 0;
            d.opt_opd1_const = 1;
            d.opd1_addr = multiplier as u32;
            d.opd0_ins_val = 0;
        }
    }
    (d.conv_opd0_up_pad, d.conv_opd0_dn_pad, d.conv_opd0_lf_pad, d.conv_opd0_rt_pad) =
        (pt, pb, p.pads.left as u32, p.pads.right as u32);
    (d.opd1_h, d.opd1_w) = (kh, kw);
    (d.conv_op_x_str, d.conv_op_y_str) = (sw, sh);
    (d.res0_addr, d.opd0_addr) = (y.addr, x.addr);
    res0_shape(&mut d, y);
    opd0_shape(&mut d, x);
    d
}
