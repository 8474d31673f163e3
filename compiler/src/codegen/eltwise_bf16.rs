//! Element-wise bf16 layers: add, multiply (element-wise or one factor per channel) and the
//! activations built from them (isa.md §3.6.5: fp32 arithmetic, one rounding to bf16 per op).
//! Tiles: channels in multiples of the lane count, then rows; double-buffered when there is
//! more than one tile.

use super::conv::scale_bf16_desc;
use super::local::{Arena, Local};
use super::softmax::bf16;
use super::tdma::{g2l_bf16, l2g_bf16, Global};
use super::tiu::eu::{ADD, MAX, MIN, MUL};
use super::tiu::{opd0_shape, opd0_strides, opd1_strides, res0_shape, res0_strides};
use super::{CompileError, LayerCx};
use crate::lower::{ActBf16, TensorRef};
use cvsim_isa::Region;
use cvsim_isa::TiuDesc;
use cvsim_runtime::cvimodel::DType;

fn bytes(lanes: u32, [n, c, h, w]: [u32; 4]) -> u32 {
    (2 * h * w).div_ceil(16) * 16 * c.div_ceil(lanes) * n
}

/// The largest (channels, rows) tile such that `bufs` buffers plus `fixed` bytes fit a lane.
pub(super) fn tile(cx: &LayerCx, [n, c, h, w]: [u32; 4], bufs: u32, fixed: u32) -> Result<(u32, u32), CompileError> {
    if n > 4095 || w > 4063 {
        return Err(cx.error(format!("shape {:?} exceeds the TIU's 12-bit shape fields", [n, c, h, w])));
    }
    let lanes = cx.lanes;
    let mut best: Option<(u32, u32)> = None;
    for pl in (1..=c.div_ceil(lanes)).rev() {
        let c_t = c.min(pl * lanes);
        let fits = |h_t| fixed + bufs * bytes(lanes, [n, c_t, h_t, w]) <= cx.lmem;
        if let Some(h_t) = (1..=h.min(4063)).rev().find(|&h_t| fits(h_t)) {
            if best.is_none_or(|(bc, bh)| c_t * h_t > bc * bh) {
                best = Some((c_t, h_t));
            }
        }
    }
    best.ok_or_else(|| cx.error("no tile fits local memory".into()))
}

/// A bf16 element-wise descriptor on explicit strides; `opd1` is a tensor or a constant.
fn op(cx: &LayerCx, eu: u32, res: &Local, opd0: &Local, opd1: Result<&Local, f32>, relu: bool) -> TiuDesc {
    let mut d = TiuDesc::reset(cx.chip);
    d.tsk_typ = 3;
    d.tsk_eu_typ = eu;
    d.tsk_opd_num = 2;
    d.opd_typ = 1;
    d.opt_relu_typ = relu as u32;
    d.opt_res_shift = 0;
    d.opt_shift_typ = 0;
    (d.opt_res0_sign, d.opt_opd0_sign, d.opt_opd1_sign) = (0, 0, 0);
    (d.short_res0_str, d.short_opd0_str, d.short_opd1_str, d.short_opd2_str) = (3, 3, 3, 3);
    (d.res0_addr, d.opd0_addr) = (res.addr, opd0.addr);
    res0_shape(&mut d, res);
    res0_strides(&mut d, res);
    opd0_shape(&mut d, opd0);
    opd0_strides(&mut d, opd0);
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (res.n, res.c, res.h, res.w);
    (d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (res.n, res.c, res.h, res.w);
    match opd1 {
        Ok(t) => {
            d.opd1_addr = t.addr;
            opd1_strides(&mut d, t);
        }
        Err(v) => {
            d.opt_opd1_const = 1;
            d.opd1_addr = bf16(v) as u32;
        }
    }
    d
}

/// What one tile computes: `y` from `a` (and `b`).
enum Kind {
    Add { relu: bool },
    Mul { broadcast: bool },
    Act(ActBf16),
}

fn run(
    cx: &mut LayerCx,
    a: TensorRef,
    b: Option<TensorRef>,
    output: TensorRef,
    kind: Kind,
) -> Result<(), CompileError> {
    let s = cx.shape(a);
    let lanes = cx.lanes;
    let broadcast = matches!(kind, Kind::Mul { broadcast: true });
    // Buffers per tile: a, y and (b, or a scratch for the activations' intermediate).
    let per_tile = if broadcast { 2 } else { 3 };
    // HardSigmoid's affine step runs as a 1×1 depthwise convolution whose per-channel weight
    // (`alpha`, EU-aligned) and fp32 bias (`beta`, two planes) stay in local memory throughout.
    // Every channel has the same values, so one copy serves every tile; but CV18[0-2]x find the
    // bias's low plane `ceil(C/lanes)·2` bytes on from the tile's own C, so there is one bias
    // copy per distinct tile width (the full width and a narrower last tile).
    let affine = match kind {
        Kind::Act(ActBf16::HardSigmoid { alpha, beta } | ActBf16::HardSwish { alpha, beta }) => Some((alpha, beta)),
        _ => None,
    };
    let per_lane = s[1].div_ceil(lanes);
    let affine_bytes = [16 * per_lane, (4 * per_lane).div_ceil(16) * 16];
    let fixed = if broadcast { bytes(lanes, [s[0], s[1], 1, 1]) * 2 } else { 0 }
        + if affine.is_some() { affine_bytes[0] + 2 * affine_bytes[1] } else { 0 };
    let (c_max, h_max) = match tile(cx, s, per_tile, fixed) {
        Ok((c, h)) if c == s[1] && h == s[2] => (c, h),
        _ => tile(cx, s, 2 * per_tile, fixed)?,
    };
    let tiles: Vec<(u32, u32, u32, u32)> = (0..s[1])
        .step_by(c_max as usize)
        .flat_map(|c0| {
            (0..s[2]).step_by(h_max as usize).map(move |h0| (c0, c_max.min(s[1] - c0), h0, h_max.min(s[2] - h0)))
        })
        .collect();
    let bufs = if tiles.len() > 1 { 2 } else { 1 };
    let buf = bytes(lanes, [s[0], c_max, h_max, s[3]]);
    let mut arena = Arena::new(cx.lmem);
    let scale = affine.map(|(alpha, beta)| {
        let name = cx.tensor_name(output);
        let w: Vec<u8> = (0..c_max).flat_map(|_| bf16(alpha).to_le_bytes()).collect();
        let w_off = cx.w.add(format!("{name}_scale_filter_bf16"), &w, [1, c_max as i64, 1, 1], DType::Bf16);
        let wl = Local::eu_aligned_bf16(arena.alloc(affine_bytes[0]).expect("fits"), lanes, 1, c_max, 1, 1);
        cx.load(g2l_bf16(cx.chip, &Global::dense(Region::WEIGHT, w_off, c_max, 1, 2), &wl), &wl);
        let (hi, lo) = ((beta.to_bits() >> 16) as u16, beta.to_bits() as u16);
        let mut biases: Vec<Local> = Vec::new();
        for c in [c_max, s[1] % c_max] {
            if c == 0 || biases.iter().any(|b| b.c == c) {
                continue;
            }
            let planes: Vec<u8> =
                (0..c).flat_map(|_| hi.to_le_bytes()).chain((0..c).flat_map(|_| lo.to_le_bytes())).collect();
            let b_off =
                cx.w.add(format!("{name}_scale_bias_fp32_planes_{c}"), &planes, [2, c as i64, 1, 1], DType::Bf16);
            let bl = Local {
                addr: arena.alloc(affine_bytes[1]).expect("fits"),
                n: 2,
                c,
                h: 1,
                w: 1,
                n_str: 2 * c.div_ceil(lanes),
                c_str: 2,
                h_str: 2,
                w_str: 2,
            };
            let bg = Global { region: Region::WEIGHT, offset: b_off, n_str: c * 2, c_str: 2, h_str: 2 };
            cx.load(g2l_bf16(cx.chip, &bg, &bl), &bl);
            biases.push(bl);
        }
        (wl, biases)
    });
    let at: Vec<[u32; 3]> = (0..bufs)
        .map(|_| {
            let bb = if broadcast { bytes(lanes, [s[0], c_max, 1, 1]) } else { buf };
            [arena.alloc(buf).expect("fits"), arena.alloc(bb).expect("fits"), arena.alloc(buf).expect("fits")]
        })
        .collect();
    let (ga, gy) = (cx.global(a), cx.global(output));
    let gb = b.map(|b| cx.global(b));
    let off = |c0: u32, h0: u32| ((c0 * s[2] * s[3] + h0 * s[3]) * 2) as u64;
    let local = |addr, c_t, h_t| Local::eu_aligned_bf16(addr, lanes, s[0], c_t, h_t, s[3]);
    let load = |cx: &mut LayerCx, k: usize| {
        let (c0, c_t, h0, h_t) = tiles[k];
        let [x, bb, _] = at[k % bufs];
        let la = local(x, c_t, h_t);
        cx.load(g2l_bf16(cx.chip, &ga.at(off(c0, h0)), &la), &la);
        if let Some(gb) = gb {
            if broadcast {
                let lb = Local::eu_aligned_bf16(bb, lanes, s[0], c_t, 1, 1);
                let g = Global { n_str: s[1] * 2, c_str: 2, h_str: 2, ..gb.at((c0 * 2) as u64) };
                cx.load(g2l_bf16(cx.chip, &g, &lb), &lb);
            } else {
                let lb = local(bb, c_t, h_t);
                cx.load(g2l_bf16(cx.chip, &gb.at(off(c0, h0)), &lb), &lb);
            }
        }
    };
    load(cx, 0);
    for k in 0..tiles.len() {
        if k + 1 < tiles.len() {
            load(cx, k + 1);
        }
        let (c0, c_t, h0, h_t) = tiles[k];
        let [x, bb, yy] = at[k % bufs];
        let (la, y) = (local(x, c_t, h_t), local(yy, c_t, h_t));
        match &kind {
            Kind::Add { relu } => {
                let lb = local(bb, c_t, h_t);
                cx.tiu(op(cx, ADD, &y, &la, Ok(&lb), *relu), &[&la, &lb], &[&y]);
            }
            Kind::Mul { broadcast } => {
                let lb = if *broadcast {
                    Local { h: h_t, w: s[3], h_str: 0, w_str: 0, ..Local::eu_aligned_bf16(bb, lanes, s[0], c_t, 1, 1) }
                } else {
                    local(bb, c_t, h_t)
                };
                cx.tiu(op(cx, MUL, &y, &la, Ok(&lb), false), &[&la, &lb], &[&y]);
            }
            Kind::Act(act) => {
                let params = scale.as_ref().map(|(wl, biases)| {
                    let bl = biases.iter().find(|b| b.c == c_t).expect("a bias copy for every tile width");
                    (Local { c: c_t, ..*wl }, *bl)
                });
                act_ops(cx, *act, &la, &y, params)
            }
        }
        cx.store(l2g_bf16(cx.chip, &y, &gy.at(off(c0, h0))), &y);
    }
    Ok(())
}

/// An activation of `x` into `y`, each step in place on `y`; `scale` holds the per-channel
/// weight and bias of HardSigmoid's affine step for this tile.
fn act_ops(cx: &mut LayerCx, act: ActBf16, x: &Local, y: &Local, scale: Option<(Local, Local)>) {
    let step = |cx: &mut LayerCx, eu: u32, src: &Local, v: Result<&Local, f32>| {
        let mut reads = vec![src];
        if let Ok(t) = v {
            reads.push(t);
        }
        cx.tiu(op(cx, eu, y, src, v, false), &reads, &[y]);
    };
    match act {
        ActBf16::Relu => step(cx, MAX, x, Err(0.0)),
        ActBf16::Clip { lo, hi } => {
            step(cx, MAX, x, Err(lo));
            step(cx, MIN, y, Err(hi));
        }
        ActBf16::HardSigmoid { .. } | ActBf16::HardSwish { .. } => {
            let (w, b) = scale.expect("HardSigmoid tiles carry their scale");
            cx.tiu(scale_bf16_desc(cx, x, &w, &b, y), &[x, &w, &b], &[y]);
            step(cx, MIN, y, Err(1.0));
            step(cx, MAX, y, Err(0.0));
            if matches!(act, ActBf16::HardSwish { .. }) {
                step(cx, MUL, y, Ok(x));
            }
        }
        ActBf16::LeakyRelu { alpha } => {
            step(cx, MUL, x, Err(alpha));
            step(cx, MAX, y, Ok(x));
        }
        ActBf16::ShiftClip { shift, hi } | ActBf16::ShiftClipMul { shift, hi } => {
            step(cx, ADD, x, Err(shift));
            step(cx, MIN, y, Err(hi));
            step(cx, MAX, y, Err(0.0));
            if matches!(act, ActBf16::ShiftClipMul { .. }) {
                step(cx, MUL, y, Ok(x));
            }
        }
    }
}

pub fn add(cx: &mut LayerCx, a: TensorRef, b: TensorRef, output: TensorRef, relu: bool) -> Result<(), CompileError> {
    run(cx, a, Some(b), output, Kind::Add { relu })
}

pub fn mul(cx: &mut LayerCx, a: TensorRef, b: TensorRef, output: TensorRef) -> Result<(), CompileError> {
    let broadcast = cx.shape(b) != cx.shape(a);
    run(cx, a, Some(b), output, Kind::Mul { broadcast })
}

pub fn act(cx: &mut LayerCx, input: TensorRef, output: TensorRef, act: ActBf16) -> Result<(), CompileError> {
    run(cx, input, None, output, Kind::Act(act))
}
