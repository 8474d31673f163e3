//! Convolutions (group 1 and depthwise) and fully connected layers, int8 with per-channel (QM)
//! requantisation (isa.md §3.6.1, §3.6.2).
//!
//! Tiles: output channels in multiples of the lane count, output rows with the input rows they
//! need (the halo) and the padding that falls inside the tile. For each channel tile the weights
//! and QM records are loaded once; for each row tile the input rows are loaded, convolved and the
//! result stored. A max pooling that alone reads the convolution's output can run on each tile
//! before the store (tiles then cover pooling output rows, the convolution rows they read
//! computed again at tile edges), so the convolution's output never reaches device memory.

use super::local::{eu_bytes, Arena, Local};
use super::memory::REGION_WEIGHT;
use super::tdma::{g2l_bf16, g2l_tensor, l2g_bf16, l2g_tensor, Global};
use super::tiu::{opd0_shape, opd0_strides, res0_shape, res0_strides};
use super::{CompileError, LayerCx};
use crate::lower::{ChannelQuant, Conv, ConvBf16, FullyConnected, Pads, Pool, TensorRef};
use cvsim_isa::TiuDesc;
use cvsim_runtime::cvimodel::DType;

/// Input plus output bytes from which a layer that fits local memory whole is still cut into
/// (at least four) row tiles for overlap.
const OVERLAP_BYTES: u32 = 64 * 1024;

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
    bf16: bool,
}

impl Geom {
    /// Input rows a tile of `oh_t` output rows reads at most.
    fn rows_for(&self, oh_t: u32) -> u32 {
        ((oh_t - 1) * self.sh + (self.kh - 1) * self.dh + 1).min(self.ih)
    }

    fn esz(&self) -> u32 {
        if self.bf16 {
            2
        } else {
            1
        }
    }

    fn weight_bytes_per_lane(&self, lanes: u32, oc_t: u32) -> u32 {
        if self.depthwise {
            (self.kh * self.kw * self.esz()).div_ceil(16) * 16 * oc_t.div_ceil(lanes)
        } else {
            self.kh * self.kw * self.ic * self.esz() * oc_t.div_ceil(lanes)
        }
    }

    /// Per-lane bytes of the per-channel parameters: QM records, or the fp32 bias as two bf16
    /// planes.
    fn param_bytes_per_lane(&self, lanes: u32, oc_t: u32) -> u32 {
        if self.bf16 {
            4 * oc_t.div_ceil(lanes)
        } else {
            QM_RECORD as u32 * oc_t.div_ceil(lanes)
        }
    }

    fn lmem(&self, lanes: u32, oc_t: u32, oh_t: u32) -> [u32; 4] {
        let in_c = if self.depthwise { oc_t } else { self.ic };
        let e = self.esz();
        [
            self.weight_bytes_per_lane(lanes, oc_t),
            self.param_bytes_per_lane(lanes, oc_t),
            eu_bytes(lanes, self.n, in_c, self.rows_for(oh_t), self.iw * e),
            eu_bytes(lanes, self.n, oc_t, oh_t, self.ow * e),
        ]
    }

    /// A local activation tile.
    fn act(&self, addr: u32, lanes: u32, n: u32, c: u32, h: u32, w: u32) -> Local {
        if self.bf16 {
            Local::eu_aligned_bf16(addr, lanes, n, c, h, w)
        } else {
            Local::eu_aligned(addr, lanes, n, c, h, w)
        }
    }
}

/// The rows of a max pooling fused into the convolution.
#[derive(Clone, Copy, Debug)]
struct PoolRows {
    kh: u32,
    sh: u32,
    top: u32,
    /// The pooling's output height and width.
    oh: u32,
    ow: u32,
}

impl PoolRows {
    /// Convolution output rows (at most `conv_oh`) that pooling rows `q0 .. q0 + qt` read:
    /// `(first, end, padding rows above, padding rows below)`.
    fn span(&self, conv_oh: u32, q0: u32, qt: u32) -> (u32, u32, u32, u32) {
        let lo = (q0 * self.sh) as i64 - self.top as i64;
        let hi = ((q0 + qt - 1) * self.sh + self.kh) as i64 - self.top as i64;
        (lo.max(0) as u32, hi.min(conv_oh as i64) as u32, (-lo).max(0) as u32, (hi - conv_oh as i64).max(0) as u32)
    }

    /// Convolution rows a tile of `qt` pooling rows holds at most.
    fn conv_rows(&self, conv_oh: u32, qt: u32) -> u32 {
        ((qt - 1) * self.sh + self.kh).min(conv_oh)
    }
}

/// The channel and row tile sizes with the least estimated traffic, when `bufs` copies of every
/// tile buffer and `extra` bytes must fit a lane. Rows are output rows: the fused pooling's when
/// there is one.
fn choose_tiles(
    g: &Geom,
    lanes: u32,
    size: u32,
    bufs: u32,
    extra: u32,
    max_oh: u32,
    pool: Option<PoolRows>,
) -> Option<(u32, u32)> {
    let per_lane = g.oc.div_ceil(lanes);
    let total = pool.map_or(g.oh, |p| p.oh);
    let conv_rows = |qt: u32| pool.map_or(qt, |p| p.conv_rows(g.oh, qt));
    let fits = |oc_t: u32, qt: u32| {
        let oh_t = conv_rows(qt);
        let b = g.lmem(lanes, oc_t, oh_t).map(|b| b.div_ceil(16) * 16);
        let pooled = pool.map_or(0, |p| eu_bytes(lanes, g.n, oc_t, qt, p.ow * g.esz()).div_ceil(16) * 16);
        // Weights are double-buffered only when there is more than one channel tile.
        let wbufs = if oc_t < g.oc { bufs } else { 1 };
        extra + wbufs * (b[0] + b[1]) + bufs * (b[2] + b[3] + pooled) <= size && g.rows_for(oh_t) <= 4063
    };
    let mut best: Option<(u64, u32, u32)> = None;
    let mut last_oc_t = 0;
    for pl in (1..=per_lane).rev() {
        let oc_t = g.oc.min(pl * lanes);
        if oc_t == last_oc_t {
            continue;
        }
        last_oc_t = oc_t;
        let Some(qt) = (1..=total.min(max_oh)).rev().find(|&qt| fits(oc_t, qt)) else {
            continue;
        };
        let oc_tiles = g.oc.div_ceil(oc_t) as u64;
        let h_tiles = total.div_ceil(qt) as u64;
        let input = (g.n * g.ic * g.rows_for(conv_rows(qt)) * g.iw) as u64 * h_tiles;
        let weights = (g.kh * g.kw * if g.depthwise { 1 } else { g.ic } * g.oc) as u64;
        let traffic = if g.depthwise { input + weights } else { input * oc_tiles + weights };
        // A tile costs a few descriptors' worth of fixed overhead.
        let cost = traffic + 4096 * oc_tiles * h_tiles;
        if best.is_none_or(|b| cost < b.0) {
            best = Some((cost, oc_t, qt));
        }
    }
    best.map(|b| (b.1, b.2))
}

/// An activation table applied to the convolution's result in local memory before it is
/// stored (a `Lut` layer fused into the convolution): the table and the tensor it writes.
pub type FusedLut<'a> = Option<(&'a [i8; 256], TensorRef)>;

#[derive(Clone, Copy)]
struct Tile {
    oc_i: usize,
    oc0: u32,
    oc_t: u32,
    /// Convolution output rows.
    oh0: u32,
    oh_t: u32,
    /// Stored rows (the pooling's output when one is fused) and the pooling's padding rows
    /// above and below inside the tile.
    q0: u32,
    qt: u32,
    pad_top: u32,
    pad_bottom: u32,
}

/// A convolution ready for tiling: geometry, weights in the TIU's order and the per-channel
/// parameters, as bytes of the weight section.
struct Spec<'a> {
    input: TensorRef,
    output: TensorRef,
    g: Geom,
    relu: bool,
    w_off: u64,
    p_off: u64,
    act: FusedLut<'a>,
    pool: Option<&'a Pool>,
}

#[allow(clippy::too_many_arguments)]
fn geom(
    cx: &LayerCx,
    input: TensorRef,
    output: TensorRef,
    kernel: [usize; 2],
    stride: [usize; 2],
    pads: Pads,
    dilation: [usize; 2],
    depthwise: bool,
    bf16: bool,
) -> Result<Geom, CompileError> {
    let [n, ic, ih, iw] = cx.shape(input);
    let [_, oc, oh, ow] = cx.shape(output);
    let g = Geom {
        n,
        ic,
        ih,
        iw,
        oc,
        oh,
        ow,
        kh: kernel[0] as u32,
        kw: kernel[1] as u32,
        sh: stride[0] as u32,
        sw: stride[1] as u32,
        dh: dilation[0] as u32,
        dw: dilation[1] as u32,
        pads,
        depthwise,
        bf16,
    };
    if (n.max(ic).max(oc)) > 4095 || ow > 4063 || iw > 4063 {
        return Err(cx.error(format!("{n}×{ic}×{ih}×{iw} → {oc} channels exceeds the TIU's 12-bit shape fields")));
    }
    Ok(g)
}

/// `[oc][icg][kh][kw]` → the TIU's order: conv `[oc][kh][kw][icg]`, depthwise unchanged.
fn reorder<T: Copy + Default>(w: &[T], oc: usize, icg: usize, kh: usize, kw: usize, depthwise: bool) -> Vec<T> {
    if depthwise {
        return w.to_vec();
    }
    let mut out = vec![T::default(); w.len()];
    for o in 0..oc {
        for i in 0..icg {
            for y in 0..kh {
                for x in 0..kw {
                    out[((o * kh + y) * kw + x) * icg + i] = w[((o * icg + i) * kh + y) * kw + x];
                }
            }
        }
    }
    out
}

/// `pool`: a max pooling applied to each tile before the store (it alone reads the output).
pub fn conv(cx: &mut LayerCx, c: &Conv, act: FusedLut, pool: Option<&Pool>) -> Result<(), CompileError> {
    let ic = cx.shape(c.input)[1];
    let g = geom(cx, c.input, c.output, c.kernel, c.stride, c.pads, c.dilation, c.is_depthwise(ic as usize), false)?;
    let (kh, kw, icg, oc) = (g.kh as usize, g.kw as usize, ic as usize / c.group, g.oc as usize);
    let wt: Vec<u8> = reorder(&c.weight, oc, icg, kh, kw, g.depthwise).into_iter().map(|v| v as u8).collect();
    let name = cx.tensor_name(c.output);
    let w_shape =
        if g.depthwise { [1, oc as i64, kh as i64, kw as i64] } else { [1, oc as i64, (kh * kw) as i64, icg as i64] };
    let w_off = cx.w.add(format!("{name}_filter_reordered"), &wt, w_shape, DType::I8);
    let p_off =
        cx.w.add(format!("{name}_bias_packed"), &qm_records(&c.quant), [1, oc as i64, 1, QM_RECORD as i64], DType::I8);
    tiled(cx, Spec { input: c.input, output: c.output, g, relu: c.relu, w_off, p_off, act, pool })
}

/// A bf16 convolution: bf16 weights, the fp32 bias as two planes (high halves, then low halves).
pub fn conv_bf16(cx: &mut LayerCx, c: &ConvBf16, pool: Option<&Pool>) -> Result<(), CompileError> {
    let ic = cx.shape(c.input)[1];
    let depthwise = c.group > 1 && c.group == ic as usize;
    let g = geom(cx, c.input, c.output, c.kernel, c.stride, c.pads, c.dilation, depthwise, true)?;
    let (kh, kw, icg, oc) = (g.kh as usize, g.kw as usize, ic as usize / c.group, g.oc as usize);
    let wt: Vec<u8> =
        reorder(&c.weight, oc, icg, kh, kw, depthwise).into_iter().flat_map(|v| v.to_le_bytes()).collect();
    let name = cx.tensor_name(c.output);
    let w_shape =
        if depthwise { [1, oc as i64, kh as i64, kw as i64] } else { [1, oc as i64, (kh * kw) as i64, icg as i64] };
    let w_off = cx.w.add(format!("{name}_filter_bf16"), &wt, w_shape, DType::Bf16);
    let mut planes: Vec<u8> = c.bias.iter().flat_map(|b| ((b.to_bits() >> 16) as u16).to_le_bytes()).collect();
    planes.extend(c.bias.iter().flat_map(|b| (b.to_bits() as u16).to_le_bytes()));
    let p_off = cx.w.add(format!("{name}_bias_fp32_planes"), &planes, [2, oc as i64, 1, 1], DType::Bf16);
    tiled(cx, Spec { input: c.input, output: c.output, g, relu: c.relu, w_off, p_off, act: None, pool })
}

fn tiled(cx: &mut LayerCx, sp: Spec) -> Result<(), CompileError> {
    let Spec { input, output, g, relu, w_off, p_off, act, pool } = sp;
    let (n, ic, ih, iw, oc, oh, ow) = (g.n, g.ic, g.ih, g.iw, g.oc, g.oh, g.ow);
    let e = g.esz();
    // One tile with single buffers if the whole layer fits; otherwise double buffers, so the
    // next tile's loads overlap this tile's convolution.
    let extra = if act.is_some() { 256 } else { 0 };
    let lanes = cx.lanes;
    // A layer that fits whole but moves much data is still cut into row tiles, so that loads,
    // convolution and stores of neighbouring tiles overlap.
    let moved = (n * ic * ih * iw + n * oc * oh * ow) * e;
    let pr = pool.map(|p| {
        let [_, _, poh, pow] = cx.shape(p.output);
        PoolRows { kh: p.kernel[0] as u32, sh: p.stride[0] as u32, top: p.pads.top as u32, oh: poh, ow: pow }
    });
    let total = pr.map_or(oh, |p| p.oh);
    let (bufs, (oc_t_max, q_t_max)) = match choose_tiles(&g, lanes, cx.lmem, 1, extra, total, pr) {
        Some((o, h)) if o == oc && h == total => {
            let split = if moved >= OVERLAP_BYTES && total >= 4 {
                choose_tiles(&g, lanes, cx.lmem, 2, extra, total.div_ceil(4), pr)
            } else {
                None
            };
            match split {
                Some(t) if t.0 == oc => (2, t),
                _ => (1, (o, h)),
            }
        }
        _ => (
            2,
            choose_tiles(&g, lanes, cx.lmem, 2, extra, total, pr).ok_or_else(|| {
                cx.error(format!("no tile of {:?} fits {} bytes of local memory per lane", g, cx.lmem))
            })?,
        ),
    };
    let oh_t_max = pr.map_or(q_t_max, |p| p.conv_rows(oh, q_t_max));
    let sizes = g.lmem(lanes, oc_t_max, oh_t_max);
    let pooled_bytes = pr.map_or(0, |p| eu_bytes(lanes, n, oc_t_max, q_t_max, p.ow * e));
    let mut arena = Arena::new(cx.lmem);
    let table = act.map(|(t, out)| {
        let bytes: Vec<u8> = t.iter().map(|&v| v as u8).collect();
        let off = cx.w.add(format!("{}_table", cx.tensor_name(out)), &bytes, [1, 1, 1, 256], DType::I8);
        let a = arena.alloc(256).expect("fits");
        (Local { addr: a, n: 1, c: lanes, h: 1, w: 256, n_str: 256, c_str: 256, h_str: 256, w_str: 1 }, off, out)
    });
    let mut alloc = |b| arena.alloc(b).expect("the tile was chosen to fit");
    let shared_weights = (oc_t_max >= oc).then(|| (alloc(sizes[0]), alloc(sizes[1])));
    let bufs_at: Vec<[u32; 5]> = (0..bufs)
        .map(|_| {
            let (w, p) = shared_weights.unwrap_or_else(|| (alloc(sizes[0]), alloc(sizes[1])));
            let pooled = if pr.is_some() { alloc(pooled_bytes) } else { 0 };
            [w, p, alloc(sizes[2]), alloc(sizes[3]), pooled]
        })
        .collect();

    let src = cx.global(input);
    let dst = cx.global(pool.map_or(table.map_or(output, |t| t.2), |p| p.output));
    if let Some((tl, off, _)) = table {
        let tg = Global { region: REGION_WEIGHT, offset: off, n_str: 0, c_str: 0, h_str: 256 };
        cx.load(g2l_tensor(cx.chip, &tg, &tl, true), &tl);
    }
    let mut tiles = Vec::new();
    for (oc_i, oc0) in (0..oc).step_by(oc_t_max as usize).enumerate() {
        for q0 in (0..total).step_by(q_t_max as usize) {
            let qt = q_t_max.min(total - q0);
            let (oh0, oh1, pad_top, pad_bottom) = match pr {
                Some(p) => p.span(oh, q0, qt),
                None => (q0, q0 + qt, 0, 0),
            };
            if oh1 <= oh0 {
                return Err(cx.error(format!("pooling rows {q0}..{} read only padding", q0 + qt)));
            }
            let oc_t = oc_t_max.min(oc - oc0);
            tiles.push(Tile { oc_i, oc0, oc_t, oh0, oh_t: oh1 - oh0, q0, qt, pad_top, pad_bottom });
        }
    }
    let per_oc = if g.depthwise { g.kh * g.kw } else { g.kh * g.kw * ic } * e;
    let weights_of = |t: &Tile| {
        let [a_w, a_q, _, _, _] = bufs_at[t.oc_i % bufs as usize];
        let wl = match (g.depthwise, g.bf16) {
            (true, false) => Local::eu_aligned(a_w, lanes, 1, t.oc_t, g.kh, g.kw),
            (true, true) => Local::eu_aligned_bf16(a_w, lanes, 1, t.oc_t, g.kh, g.kw),
            (false, false) => Local::compact(a_w, lanes, 1, t.oc_t, g.kh * g.kw, ic),
            (false, true) => {
                Local { w: ic, h_str: 2 * ic, w_str: 2, ..Local::compact(a_w, lanes, 1, t.oc_t, g.kh * g.kw, 2 * ic) }
            }
        };
        let pl = if g.bf16 {
            // (2, oc, 1, 1): the per-channel layout, one plane after the other.
            let n_str = 2 * t.oc_t.div_ceil(lanes);
            Local { addr: a_q, n: 2, c: t.oc_t, h: 1, w: 1, n_str, c_str: 2, h_str: 2, w_str: 2 }
        } else {
            Local::compact(a_q, lanes, 1, t.oc_t, 1, QM_RECORD as u32)
        };
        (wl, pl)
    };
    // Input rows of a tile, and the padding inside it.
    let rows = |t: &Tile| {
        let lo = (t.oh0 * g.sh) as i64 - g.pads.top as i64;
        let hi = ((t.oh0 + t.oh_t - 1) * g.sh + (g.kh - 1) * g.dh + 1) as i64 - g.pads.top as i64;
        (lo.max(0) as u32, hi.min(ih as i64) as u32, (-lo).max(0) as u32, (hi - ih as i64).max(0) as u32)
    };
    let input_of = |k: usize, t: &Tile| {
        let (r0, r1, _, _) = rows(t);
        let in_c = if g.depthwise { t.oc_t } else { ic };
        g.act(bufs_at[k % bufs as usize][2], lanes, n, in_c, r1 - r0, iw)
    };
    for t in &tiles {
        let (r0, r1, _, _) = rows(t);
        if r1 <= r0 {
            return Err(cx.error(format!("output rows {}..{} read only padding", t.oh0, t.oh0 + t.oh_t)));
        }
    }
    let load = |cx: &mut LayerCx, k: usize| {
        let t = &tiles[k];
        if k == 0 || tiles[k - 1].oc_i != t.oc_i {
            let (wl, ql) = weights_of(t);
            let wg = Global::dense(REGION_WEIGHT, w_off + (t.oc0 * per_oc) as u64, oc, wl.h, wl.w * e);
            if g.bf16 {
                cx.load(g2l_bf16(cx.chip, &wg, &wl), &wl);
                let pg = Global {
                    region: REGION_WEIGHT,
                    offset: p_off + (t.oc0 * 2) as u64,
                    n_str: oc * 2,
                    c_str: 2,
                    h_str: 2,
                };
                cx.load(g2l_bf16(cx.chip, &pg, &ql), &ql);
            } else {
                cx.load(g2l_tensor(cx.chip, &wg, &wl, true), &wl);
                let qg =
                    Global::dense(REGION_WEIGHT, p_off + (t.oc0 as u64) * QM_RECORD as u64, oc, 1, QM_RECORD as u32);
                cx.load(g2l_tensor(cx.chip, &qg, &ql, false), &ql);
            }
        }
        let (r0, _, _, _) = rows(t);
        let c_first = if g.depthwise { t.oc0 } else { 0 };
        let xl = input_of(k, t);
        let at = src.at(((c_first * ih * iw + r0 * iw) * e) as u64);
        if g.bf16 {
            cx.load(g2l_bf16(cx.chip, &at, &xl), &xl);
        } else {
            cx.load(g2l_tensor(cx.chip, &at, &xl, true), &xl);
        }
    };
    load(cx, 0);
    for k in 0..tiles.len() {
        if k + 1 < tiles.len() {
            load(cx, k + 1);
        }
        let t = &tiles[k];
        let (_, _, pt, pb) = rows(t);
        let (wl, ql) = weights_of(t);
        let xl = input_of(k, t);
        let yl = g.act(bufs_at[k % bufs as usize][3], lanes, n, t.oc_t, t.oh_t, ow);
        let d = if g.depthwise {
            depthwise_desc(cx, &g, relu, &xl, &wl, &ql, &yl, pt, pb)
        } else {
            conv_desc(cx, &g, relu, &xl, &wl, &ql, &yl, pt, pb)
        };
        cx.tiu(d, &[&xl, &wl, &ql], &[&yl]);
        if let Some((tl, _, _)) = table {
            cx.tiu(super::eltwise::lut_desc(cx, &yl, &yl, &tl), &[&yl, &tl], &[&yl]);
        }
        let (yl, ow) = match (pool, pr) {
            (Some(p), Some(r)) => {
                let pl = g.act(bufs_at[k % bufs as usize][4], lanes, n, t.oc_t, t.qt, r.ow);
                let d = super::pool::pool_desc(cx, p, g.bf16, &yl, &pl, t.pad_top, t.pad_bottom);
                cx.tiu(d, &[&yl], &[&pl]);
                (pl, r.ow)
            }
            _ => (yl, ow),
        };
        // The destination's own channel stride: a concat input may be stored to every
        // `groups`-th channel of a shuffle's output.
        let at = dst.at(t.oc0 as u64 * dst.c_str as u64 + (t.q0 * ow * e) as u64);
        if g.bf16 {
            cx.store(l2g_bf16(cx.chip, &yl, &at), &yl);
        } else {
            cx.store(l2g_tensor(cx.chip, &yl, &at, true), &yl);
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn conv_desc(
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
    d.tsk_typ = 0;
    d.tsk_eu_typ = 0;
    d.tsk_opd_num = 3; // records (or the bias planes) carry the bias
    d.opt_res_shift = 0;
    d.opt_relu_typ = relu as u32;
    if g.bf16 {
        d.opd_typ = 1;
        d.opt_shift_typ = 0;
        (d.opt_res0_sign, d.opt_opd0_sign, d.opt_opd1_sign, d.opt_opd2_sign) = (0, 0, 0, 0);
    } else {
        d.opt_chl_quan = 1;
        d.opt_opd2_seg = 1; // forced for QM records
        (d.opt_res0_sign, d.opt_opd0_sign, d.opt_opd1_sign, d.opt_opd2_sign) = (1, 1, 1, 1);
        // cvikernel enables it for even ifmap/weight addresses and an even IC >= 4 (int8 only);
        // no numeric effect.
        d.double_conv = (x.addr & 1 == 0 && w.addr & 1 == 0 && g.ic & 1 == 0 && g.ic >= 4) as u32;
    }
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
    // The records' shape is (1, oc, 1, 1); their stride and b_str are unused in QM mode. The bf16
    // bias's second plane is b_str further on.
    (d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (1, y.c, 1, 1);
    d.opd2_b_str = if g.bf16 { q.n_str } else { 0 };
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
    d.opt_res_shift = 0;
    d.opt_shift_typ = 1;
    if g.bf16 {
        d.opd_typ = 1;
        (d.opt_res0_sign, d.opt_opd0_sign) = (0, 0);
    } else {
        d.opt_chl_quan = 1;
        d.opt_opd2_seg = 1;
        (d.opt_res0_sign, d.opt_opd0_sign, d.opt_opd1_sign, d.opt_opd2_sign) = (1, 1, 1, 1);
    }
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
    d.opd2_b_str = if g.bf16 { q.n_str } else { 0 };
    d
}

/// A bf16 per-channel `x · w + b` as a 1×1 depthwise convolution: the product and the fp32 bias
/// are summed before the one rounding to bf16, as the vendor's Scale layer does (an element-wise
/// multiply followed by an add would round twice).
pub(super) fn scale_bf16_desc(cx: &LayerCx, x: &Local, w: &Local, b: &Local, y: &Local) -> TiuDesc {
    let g = Geom {
        n: x.n,
        ic: x.c,
        ih: x.h,
        iw: x.w,
        oc: y.c,
        oh: y.h,
        ow: y.w,
        kh: 1,
        kw: 1,
        sh: 1,
        sw: 1,
        dh: 1,
        dw: 1,
        pads: Pads::ZERO,
        depthwise: true,
        bf16: true,
    };
    depthwise_desc(cx, &g, false, x, w, b, y, 0, 0)
}

/// An FC is a 1×1 convolution of `[M, K, 1, 1]`: the TIU's convolution path gives it per-channel
/// requantisation with the same records.
pub fn fully_connected(cx: &mut LayerCx, f: &FullyConnected, act: FusedLut) -> Result<(), CompileError> {
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
    conv(cx, &c, act, None)
}

/// A bf16 FC as a 1×1 bf16 convolution of `[M, K, 1, 1]`.
pub fn fully_connected_bf16(
    cx: &mut LayerCx,
    input: TensorRef,
    output: TensorRef,
    weight: &[u16],
    bias: &[f32],
    relu: bool,
) -> Result<(), CompileError> {
    let c = ConvBf16 {
        input,
        output,
        weight: weight.to_vec(),
        bias: bias.to_vec(),
        kernel: [1, 1],
        stride: [1, 1],
        pads: Pads::ZERO,
        dilation: [1, 1],
        group: 1,
        relu,
    };
    conv_bf16(cx, &c, None)
}
