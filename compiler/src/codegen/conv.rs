//! Convolutions (group 1 and depthwise) and fully connected layers, int8 with per-channel (QM)
//! requantisation (isa.md §3.6.1, §3.6.2).
//!
//! Tiles: output channels in multiples of the lane count, output rows with the input rows they
//! need (the halo) and the padding that falls inside the tile. For each channel tile the weights
//! and QM records are loaded once; for each row tile the input rows are loaded, convolved and the
//! result stored.

use super::local::{eu_bytes, Arena, Local};
use super::tdma::{g2l_tensor, l2g_tensor, Global};
use super::tiu::{opd0_shape, opd0_strides, res0_shape, res0_strides};
use super::memory::REGION_WEIGHT;
use super::{CompileError, LayerCx};
use crate::lower::{ChannelQuant, Conv, FullyConnected, Pads};
use cvsim_isa::TiuDesc;
use cvsim_runtime::cvimodel::DType;

/// Bytes of one QM record: int32 bias, uint32 multiplier, shift byte (isa.md §3.6.1).
pub const QM_RECORD: usize = 9;

/// The packed QM records of every output channel.
pub fn qm_records(q: &[ChannelQuant]) -> Vec<u8> {
    let mut v = Vec::with_capacity(q.len() * QM_RECORD);
    for r in q {
        v.extend_from_slice(&r.bias.to_le_bytes());
        v.extend_from_slice(&r.multiplier.to_le_bytes());
        // A 6-bit two's-complement shift, sign in bit 5.
        v.push((r.shift as u8) & 0x3F);
    }
    v
}

/// The shape of one convolution, all in u32.
#[derive(Clone, Copy, Debug)]
struct Geom {
    n: u32,
    ic: u32,
    ih: u32,
    iw: u32,
    oc: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    kw: u32,
    sh: u32,
    sw: u32,
    dh: u32,
    dw: u32,
    pads: Pads,
    depthwise: bool,
}

impl Geom {
    /// Input rows a tile of `oh_t` output rows reads at most.
    fn rows_for(&self, oh_t: u32) -> u32 {
        ((oh_t - 1) * self.sh + (self.kh - 1) * self.dh + 1).min(self.ih)
    }

    fn weight_bytes_per_lane(&self, lanes: u32, oc_t: u32) -> u32 {
        if self.depthwise {
            (self.kh * self.kw).div_ceil(16) * 16 * oc_t.div_ceil(lanes)
        } else {
            self.kh * self.kw * self.ic * oc_t.div_ceil(lanes)
        }
    }

    fn lmem(&self, lanes: u32, oc_t: u32, oh_t: u32) -> [u32; 4] {
        let in_c = if self.depthwise { oc_t } else { self.ic };
        [
            self.weight_bytes_per_lane(lanes, oc_t),
            QM_RECORD as u32 * oc_t.div_ceil(lanes),
            eu_bytes(lanes, self.n, in_c, self.rows_for(oh_t), self.iw),
            eu_bytes(lanes, self.n, oc_t, oh_t, self.ow),
        ]
    }

    fn fits(&self, lanes: u32, size: u32, oc_t: u32, oh_t: u32) -> bool {
        self.lmem(lanes, oc_t, oh_t).iter().map(|b| b.div_ceil(16) * 16).sum::<u32>() <= size
            && self.rows_for(oh_t) <= 4063
    }
}

/// The channel and row tile sizes with the least estimated traffic.
fn choose_tiles(g: &Geom, lanes: u32, size: u32) -> Option<(u32, u32)> {
    let per_lane = g.oc.div_ceil(lanes);
    let mut best: Option<(u64, u32, u32)> = None;
    let mut last_oc_t = 0;
    for pl in (1..=per_lane).rev() {
        let oc_t = g.oc.min(pl * lanes);
        if oc_t == last_oc_t {
            continue;
        }
        last_oc_t = oc_t;
        let Some(oh_t) = (1..=g.oh).rev().find(|&oh_t| g.fits(lanes, size, oc_t, oh_t)) else {
            continue;
        };
        let oc_tiles = g.oc.div_ceil(oc_t) as u64;
        let h_tiles = g.oh.div_ceil(oh_t) as u64;
        let input = (g.n * g.ic * g.rows_for(oh_t) * g.iw) as u64 * h_tiles;
        let weights = (g.kh * g.kw * if g.depthwise { 1 } else { g.ic } * g.oc) as u64;
        let traffic = if g.depthwise { input + weights } else { input * oc_tiles + weights };
        // A tile costs a few descriptors' worth of fixed overhead.
        let cost = traffic + 4096 * oc_tiles * h_tiles;
        if best.is_none_or(|b| cost < b.0) {
            best = Some((cost, oc_t, oh_t));
        }
    }
    best.map(|b| (b.1, b.2))
}

pub fn conv(cx: &mut LayerCx, c: &Conv) -> Result<(), CompileError> {
    let [n, ic, ih, iw] = cx.shape(c.input);
    let [_, oc, oh, ow] = cx.shape(c.output);
    let g = Geom {
        n,
        ic,
        ih,
        iw,
        oc,
        oh,
        ow,
        kh: c.kernel[0] as u32,
        kw: c.kernel[1] as u32,
        sh: c.stride[0] as u32,
        sw: c.stride[1] as u32,
        dh: c.dilation[0] as u32,
        dw: c.dilation[1] as u32,
        pads: c.pads,
        depthwise: c.is_depthwise(ic as usize),
    };
    if (n.max(ic).max(oc)) > 4095 || ow > 4063 || iw > 4063 {
        return Err(cx.error(format!("{n}×{ic}×{ih}×{iw} → {oc} channels exceeds the TIU's 12-bit shape fields")));
    }
    // Weights in the order the TIU reads them: conv [oc][kh][kw][ic], depthwise [c][kh][kw].
    let (kh, kw, icg) = (g.kh as usize, g.kw as usize, ic as usize / c.group);
    let mut wt = vec![0u8; c.weight.len()];
    if g.depthwise {
        wt.iter_mut().zip(&c.weight).for_each(|(d, &s)| *d = s as u8);
    } else {
        for o in 0..oc as usize {
            for i in 0..icg {
                for y in 0..kh {
                    for x in 0..kw {
                        wt[((o * kh + y) * kw + x) * icg + i] = c.weight[((o * icg + i) * kh + y) * kw + x] as u8;
                    }
                }
            }
        }
    }
    let name = cx.tensor_name(c.output);
    let w_shape = if g.depthwise { [1, oc as i64, kh as i64, kw as i64] } else { [1, oc as i64, (kh * kw) as i64, icg as i64] };
    let w_off = cx.w.add(format!("{name}_filter_reordered"), &wt, w_shape, DType::I8);
    let q_off =
        cx.w.add(format!("{name}_bias_packed"), &qm_records(&c.quant), [1, oc as i64, 1, QM_RECORD as i64], DType::I8);

    let (oc_t_max, oh_t_max) = choose_tiles(&g, cx.lanes, cx.lmem)
        .ok_or_else(|| cx.error(format!("no tile of {:?} fits {} bytes of local memory per lane", g, cx.lmem)))?;
    let sizes = g.lmem(cx.lanes, oc_t_max, oh_t_max);
    let mut arena = Arena::new(cx.lmem);
    let a = sizes.map(|b| arena.alloc(b).expect("the tile was chosen to fit"));
    let (a_w, a_q, a_in, a_out) = (a[0], a[1], a[2], a[3]);

    let src = cx.global(c.input);
    let dst = cx.global(c.output);
    let lanes = cx.lanes;
    for oc0 in (0..oc).step_by(oc_t_max as usize) {
        let oc_t = oc_t_max.min(oc - oc0);
        let wl = if g.depthwise {
            Local::eu_aligned(a_w, lanes, 1, oc_t, g.kh, g.kw)
        } else {
            Local::compact(a_w, lanes, 1, oc_t, g.kh * g.kw, ic)
        };
        let per_oc = if g.depthwise { g.kh * g.kw } else { g.kh * g.kw * ic };
        let wg = Global::dense(REGION_WEIGHT, w_off + (oc0 * per_oc) as u64, oc, wl.h, wl.w);
        cx.tdma(g2l_tensor(cx.chip, &wg, &wl, true));
        let ql = Local::compact(a_q, lanes, 1, oc_t, 1, QM_RECORD as u32);
        let qg = Global::dense(REGION_WEIGHT, q_off + (oc0 as u64) * QM_RECORD as u64, oc, 1, QM_RECORD as u32);
        cx.tdma(g2l_tensor(cx.chip, &qg, &ql, false));

        for oh0 in (0..oh).step_by(oh_t_max as usize) {
            let oh_t = oh_t_max.min(oh - oh0);
            let lo = (oh0 * g.sh) as i64 - g.pads.top as i64;
            let hi = ((oh0 + oh_t - 1) * g.sh + (g.kh - 1) * g.dh + 1) as i64 - g.pads.top as i64;
            let (r0, r1) = (lo.max(0) as u32, (hi.min(ih as i64)) as u32);
            if r1 <= r0 {
                return Err(cx.error(format!("output rows {oh0}..{} read only padding", oh0 + oh_t)));
            }
            let (pt, pb) = ((-lo).max(0) as u32, (hi - ih as i64).max(0) as u32);
            let in_c = if g.depthwise { oc_t } else { ic };
            let c_first = if g.depthwise { oc0 } else { 0 };
            let xl = Local::eu_aligned(a_in, lanes, n, in_c, r1 - r0, iw);
            cx.tdma(g2l_tensor(cx.chip, &src.at((c_first * ih * iw + r0 * iw) as u64), &xl, true));
            let yl = Local::eu_aligned(a_out, lanes, n, oc_t, oh_t, ow);
            let d = if g.depthwise {
                depthwise_desc(cx, &g, c.relu, &xl, &wl, &ql, &yl, pt, pb)
            } else {
                conv_desc(cx, &g, c.relu, &xl, &wl, &ql, &yl, pt, pb)
            };
            cx.tiu(d);
            cx.tdma(l2g_tensor(cx.chip, &yl, &dst.at((oc0 * oh * ow + oh0 * ow) as u64), true));
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn conv_desc(cx: &LayerCx, g: &Geom, relu: bool, x: &Local, w: &Local, q: &Local, y: &Local, pt: u32, pb: u32) -> TiuDesc {
    let mut d = TiuDesc::reset(cx.chip);
    d.tsk_typ = 0;
    d.tsk_eu_typ = 0;
    d.tsk_opd_num = 3; // records carry the bias
    d.opt_chl_quan = 1;
    d.opt_res_shift = 0;
    d.opt_opd2_seg = 1; // forced for QM records
    (d.opt_res0_sign, d.opt_opd0_sign, d.opt_opd1_sign, d.opt_opd2_sign) = (1, 1, 1, 1);
    d.opt_relu_typ = relu as u32;
    // cvikernel enables it for even ifmap/weight addresses and an even IC >= 4; no numeric effect.
    d.double_conv = (x.addr & 1 == 0 && w.addr & 1 == 0 && g.ic & 1 == 0 && g.ic >= 4) as u32;
    (d.conv_opd0_up_pad, d.conv_opd0_dn_pad, d.conv_opd0_lf_pad, d.conv_opd0_rt_pad) =
        (pt, pb, g.pads.left as u32, g.pads.right as u32);
    d.opd0_ins_val = 0;
    (d.conv_op_x_str, d.conv_op_y_str) = (g.sw, g.sh);
    (d.conv_opd1_x_ins0, d.conv_opd1_y_ins0) = (g.dw - 1, g.dh - 1);
    (d.res0_addr, d.opd0_addr, d.opd1_addr, d.opd2_addr) = (y.addr, x.addr, w.addr, q.addr);
    (d.short_res0_str, d.short_opd0_str, d.short_opd1_str, d.short_opd2_str) = (3, 0, 1, 2);
    res0_shape(&mut d, y);
    res0_strides(&mut d, y);
    opd0_shape(&mut d, x);
    // The weight operand is (n = ic, c = oc, h = kh, w = kw) in the weight layout (code 1).
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (g.ic, y.c, g.kh, g.kw);
    // The records' shape is (1, oc, 1, 1); their stride and b_str are unused in QM mode.
    (d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (1, y.c, 1, 1);
    d.opd2_b_str = 0;
    d
}

#[allow(clippy::too_many_arguments)]
fn depthwise_desc(
    cx: &LayerCx,
    g: &Geom,
    relu: bool,
    x: &Local,
    w: &Local,
    q: &Local,
    y: &Local,
    pt: u32,
    pb: u32,
) -> TiuDesc {
    let mut d = TiuDesc::reset(cx.chip);
    d.tsk_typ = 1;
    d.tsk_eu_typ = 2;
    d.tsk_opd_num = 3;
    d.opt_chl_quan = 1;
    d.opt_res_shift = 0;
    d.opt_shift_typ = 1;
    d.opt_opd2_seg = 1;
    (d.opt_res0_sign, d.opt_opd0_sign, d.opt_opd1_sign, d.opt_opd2_sign) = (1, 1, 1, 1);
    d.opt_relu_typ = relu as u32;
    (d.conv_opd0_up_pad, d.conv_opd0_dn_pad, d.conv_opd0_lf_pad, d.conv_opd0_rt_pad) =
        (pt, pb, g.pads.left as u32, g.pads.right as u32);
    d.opd0_ins_val = 0;
    (d.conv_op_x_str, d.conv_op_y_str) = (g.sw, g.sh);
    (d.conv_opd1_x_ins0, d.conv_opd1_y_ins0) = (g.dw - 1, g.dh - 1);
    (d.res0_addr, d.opd0_addr, d.opd1_addr, d.opd2_addr) = (y.addr, x.addr, w.addr, q.addr);
    (d.short_res0_str, d.short_opd0_str, d.short_opd1_str, d.short_opd2_str) = (3, 3, 0, 2);
    res0_shape(&mut d, y);
    res0_strides(&mut d, y);
    opd0_shape(&mut d, x);
    opd0_strides(&mut d, x);
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (1, y.c, g.kh, g.kw);
    (d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (1, y.c, 1, 1);
    d.opd2_b_str = 0;
    d
}

/// An FC is a 1×1 convolution of `[M, K, 1, 1]`: the TIU's convolution path gives it per-channel
/// requantisation with the same records.
pub fn fully_connected(cx: &mut LayerCx, f: &FullyConnected) -> Result<(), CompileError> {
    let c = Conv {
        input: f.input,
        output: f.output,
        weight: f.weight.clone(),
        quant: f.quant.clone(),
        kernel: [1, 1],
        stride: [1, 1],
        pads: Pads::ZERO,
        dilation: [1, 1],
        group: 1,
        relu: f.relu,
    };
    conv(cx, &c)
}
