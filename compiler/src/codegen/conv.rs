//! Convolutions (group 1 and depthwise) and fully connected layers, int8 with per-channel (QM)
//! requantisation (isa.md §3.6.1, §3.6.2).
//!
//! Tiles: output channels in multiples of the lane count, output rows with the input rows they
//! need (the halo) and the padding that falls inside the tile. For each channel tile the weights
//! and QM records are loaded once; for each row tile the input rows are loaded, convolved and the
//! result stored. A max pooling that alone reads the convolution's output can run on each tile
//! before the store (tiles then cover pooling output rows, the convolution rows they read
//! computed again at tile edges), so the convolution's output never reaches device memory.
//!
//! When not even one lane's worth of output channels with every input channel fits (weights and
//! input rows double-buffered), the reduction is cut too: the input channels in chunks, each
//! chunk's weights and input rows loaded and convolved into 32-bit partial sums kept in local
//! memory (`ps32_md`: first, middle, last pass; isa.md §3.6.1 "Partial sums"). Only the last pass
//! adds the bias (int8: applies the QM records) and ReLU. int8 sums wrap in 32 bits, so the
//! result is that of one pass; a bf16 pass continues the fp32 sum from the previous one with
//! truncating adds, chunk after chunk, so the chunk boundaries decide the order of the sum
//! ([`reduction_chunks`]).

use super::local::{eu_bytes, Arena, Local};
use super::tdma::{g2l_bf16, g2l_tensor, l2g_bf16, l2g_tensor, Global};
use super::tiu::{opd0_shape, opd0_strides, res0_shape, res0_strides};
use super::{CompileError, LayerCx};
use crate::lower::{ChannelQuant, Conv, ConvBf16, FullyConnected, Pads, Pool, TensorRef};
use cvsim_isa::Region;
use cvsim_isa::{Chip, TiuDesc};
use cvsim_runtime::cvimodel::DType;

/// Input plus output bytes from which a layer that fits local memory whole is still cut into
/// (at least four) row tiles for overlap.
const OVERLAP_BYTES: u32 = 64 * 1024;

/// The largest channel count a TIU shape field holds (12 bits); a layer with more input or
/// output channels is cut into tiles of at most this many.
const MAX_C: u32 = 4095;

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
pub(super) struct Geom {
    pub(super) n: u32,
    pub(super) ic: u32,
    pub(super) ih: u32,
    pub(super) iw: u32,
    pub(super) oc: u32,
    pub(super) oh: u32,
    pub(super) ow: u32,
    pub(super) kh: u32,
    pub(super) kw: u32,
    pub(super) sh: u32,
    pub(super) sw: u32,
    pub(super) dh: u32,
    pub(super) dw: u32,
    pub(super) pads: Pads,
    pub(super) depthwise: bool,
    pub(super) bf16: bool,
}

impl Geom {
    /// Input rows a tile of `oh_t` output rows reads at most.
    pub(super) fn rows_for(&self, oh_t: u32) -> u32 {
        ((oh_t - 1) * self.sh + (self.kh - 1) * self.dh + 1).min(self.ih)
    }

    fn esz(&self) -> u32 {
        if self.bf16 {
            2
        } else {
            1
        }
    }

    fn weight_bytes_per_lane(&self, lanes: u32, oc_t: u32, ic_t: u32) -> u32 {
        if self.depthwise {
            (self.kh * self.kw * self.esz()).div_ceil(16) * 16 * oc_t.div_ceil(lanes)
        } else {
            self.kh * self.kw * ic_t * self.esz() * oc_t.div_ceil(lanes)
        }
    }

    /// Planes of the result buffer: a 32-bit partial sum is 4 byte planes (int8) or 2 half-word
    /// planes (bf16) when the reduction is cut into `ic_t` chunks.
    fn result_planes(&self, ic_t: u32) -> u32 {
        if ic_t < self.ic {
            4 / self.esz()
        } else {
            1
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

    /// Per-lane bytes of weights, parameters, input and result of one tile.
    fn lmem(&self, lanes: u32, oc_t: u32, oh_t: u32, ic_t: u32) -> [u32; 4] {
        let in_c = if self.depthwise { oc_t } else { ic_t };
        let e = self.esz();
        [
            self.weight_bytes_per_lane(lanes, oc_t, ic_t),
            self.param_bytes_per_lane(lanes, oc_t),
            eu_bytes(lanes, self.n, in_c, self.rows_for(oh_t), self.iw * e),
            self.result_planes(ic_t) * eu_bytes(lanes, self.n, oc_t, oh_t, self.ow * e),
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
/// tile buffer and `extra` bytes must fit a lane and the reduction is cut into chunks of `ic_t`
/// input channels; with the estimate. Rows are output rows: the fused pooling's when there is one.
#[allow(clippy::too_many_arguments)]
fn choose_tiles(
    g: &Geom,
    lanes: u32,
    size: u32,
    bufs: u32,
    extra: u32,
    max_oh: u32,
    ic_t: u32,
    pool: Option<PoolRows>,
) -> Option<(u64, u32, u32)> {
    let per_lane = g.oc.div_ceil(lanes);
    let split = ic_t < g.ic;
    if !g.depthwise && ic_t > MAX_C {
        return None;
    }
    let total = pool.map_or(g.oh, |p| p.oh);
    let conv_rows = |qt: u32| pool.map_or(qt, |p| p.conv_rows(g.oh, qt));
    let fits = |oc_t: u32, qt: u32| {
        let oh_t = conv_rows(qt);
        let b = g.lmem(lanes, oc_t, oh_t, ic_t).map(|b| b.div_ceil(16) * 16);
        let pooled = pool.map_or(0, |p| eu_bytes(lanes, g.n, oc_t, qt, p.ow * g.esz()).div_ceil(16) * 16);
        // Weights are double-buffered only when there is more than one channel or reduction tile.
        let wbufs = if oc_t < g.oc || split { bufs } else { 1 };
        extra + wbufs * (b[0] + b[1]) + bufs * (b[2] + b[3] + pooled) <= size && g.rows_for(oh_t) <= 4063
    };
    let mut best: Option<(u64, u32, u32)> = None;
    let mut last_oc_t = 0;
    for pl in (1..=per_lane).rev() {
        let oc_t = g.oc.min(pl * lanes);
        if oc_t == last_oc_t || oc_t > MAX_C {
            continue;
        }
        last_oc_t = oc_t;
        let Some(qt) = (1..=total.min(max_oh)).rev().find(|&qt| fits(oc_t, qt)) else {
            continue;
        };
        let oc_tiles = g.oc.div_ceil(oc_t) as u64;
        let h_tiles = total.div_ceil(qt) as u64;
        let ic_tiles = g.ic.div_ceil(ic_t) as u64;
        let input = (g.n * g.ic * g.rows_for(conv_rows(qt)) * g.iw) as u64 * h_tiles;
        let weights = (g.kh * g.kw * if g.depthwise { 1 } else { g.ic } * g.oc) as u64;
        // With a cut reduction every row tile loads its weight chunks again.
        let weights = if split { weights * h_tiles } else { weights };
        let traffic = if g.depthwise { input + weights } else { input * oc_tiles + weights };
        // A tile costs a few descriptors' worth of fixed overhead.
        let cost = traffic + 4096 * oc_tiles * h_tiles * ic_tiles;
        if best.is_none_or(|b| cost < b.0) {
            best = Some((cost, oc_t, qt));
        }
    }
    best
}

/// How a convolution is cut: buffer copies, output channels, output rows and input channels
/// per tile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Plan {
    bufs: u32,
    oc_t: u32,
    oh_t: u32,
    ic_t: u32,
}

/// Input plus output bytes a layer moves.
fn moved_bytes(g: &Geom) -> u32 {
    (g.n * g.ic * g.ih * g.iw + g.n * g.oc * g.oh * g.ow) * g.esz()
}

/// The tiles of a layer: one tile with single buffers if the whole layer fits; otherwise double
/// buffers, so the next tile's loads overlap this tile's convolution; and only when no tile with
/// every input channel fits, the reduction cut into chunks of whole lane rows, the chunk size
/// with the least estimated traffic.
fn plan(g: &Geom, lanes: u32, size: u32, extra: u32, pool: Option<PoolRows>) -> Option<Plan> {
    let whole = |bufs, (_, oc_t, oh_t): (u64, u32, u32)| Plan { bufs, oc_t, oh_t, ic_t: g.ic };
    let total = pool.map_or(g.oh, |p| p.oh);
    match choose_tiles(g, lanes, size, 1, extra, total, g.ic, pool) {
        Some((c, o, h)) if o == g.oc && h == total => {
            // A layer that fits whole but moves much data is still cut into row tiles, so that
            // loads, convolution and stores of neighbouring tiles overlap.
            let split = if moved_bytes(g) >= OVERLAP_BYTES && total >= 4 {
                choose_tiles(g, lanes, size, 2, extra, total.div_ceil(4), g.ic, pool)
            } else {
                None
            };
            return Some(match split {
                Some(t) if t.1 == g.oc => whole(2, t),
                _ => whole(1, (c, o, h)),
            });
        }
        _ => {}
    }
    if let Some(t) = choose_tiles(g, lanes, size, 2, extra, total, g.ic, pool) {
        return Some(whole(2, t));
    }
    if g.depthwise {
        return None;
    }
    // Smaller chunks leave room for taller and wider tiles but add passes: look a little beyond
    // the fewest chunks that fit.
    let mut best: Option<(u64, Plan)> = None;
    let mut last = 0;
    let mut first_fit = None;
    for chunks in 2..=g.ic.div_ceil(lanes) {
        if first_fit.is_some_and(|f: u32| chunks > 4 * f) {
            break;
        }
        let ic_t = (g.ic.div_ceil(chunks).div_ceil(lanes) * lanes).min(g.ic);
        if ic_t == last || ic_t == g.ic {
            continue;
        }
        last = ic_t;
        if let Some((cost, oc_t, oh_t)) = choose_tiles(g, lanes, size, 2, extra, total, ic_t, pool) {
            first_fit.get_or_insert(chunks);
            if best.is_none_or(|b| cost < b.0) {
                best = Some((cost, Plan { bufs: 2, oc_t, oh_t, ic_t }));
            }
        }
    }
    best.map(|b| b.1)
}

/// An activation table applied to the convolution's result in local memory before it is
/// stored (a `Lut` layer fused into the convolution): the table and the tensor it writes.
pub type FusedLut<'a> = Option<(&'a [i8; 256], TensorRef)>;

/// One pass of the convolution: an output tile (the `j`th) and one chunk of its reduction.
#[derive(Clone, Copy)]
struct Tile {
    oc_i: usize,
    oc0: u32,
    oc_t: u32,
    /// Convolution output rows.
    oh0: u32,
    oh_t: u32,
    j: usize,
    ic0: u32,
    ic_t: u32,
    /// `ps32_md`: 0 for a whole reduction, else 2 first, 3 middle, 1 last chunk.
    ps: u32,
    /// Stored rows (the pooling's output when one is fused) and the pooling's padding rows
    /// above and below inside the tile.
    q0: u32,
    qt: u32,
    pad_top: u32,
    pad_bottom: u32,
}

/// A convolution ready for tiling: geometry, weights in the TIU's order and the per-channel
/// parameters, as bytes of the weight section.
pub(super) struct Spec<'a> {
    pub(super) input: TensorRef,
    pub(super) output: TensorRef,
    pub(super) g: Geom,
    pub(super) relu: bool,
    pub(super) w_off: u64,
    pub(super) p_off: u64,
    pub(super) act: FusedLut<'a>,
    pub(super) pool: Option<&'a Pool>,
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
    let g = geom_of(cx.shape(input), cx.shape(output), kernel, stride, pads, dilation, depthwise, bf16);
    let Geom { n, ic, ih, iw, oc, ow, .. } = g;
    // Channels are cut into tiles that fit the fields; the batch and the row width are not.
    if n > MAX_C || ow > 4063 || iw > 4063 {
        return Err(cx.error(format!("{n}×{ic}×{ih}×{iw} → {oc} channels exceeds the TIU's 12-bit shape fields")));
    }
    Ok(g)
}

#[allow(clippy::too_many_arguments)]
fn geom_of(
    [n, ic, ih, iw]: [u32; 4],
    [_, oc, oh, ow]: [u32; 4],
    kernel: [usize; 2],
    stride: [usize; 2],
    pads: Pads,
    dilation: [usize; 2],
    depthwise: bool,
    bf16: bool,
) -> Geom {
    Geom {
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
    }
}

/// The input-channel chunks the reduction of a convolution from `input` to `output` (NCHW
/// shapes, no fused table) is cut into on `chip`, in order: one chunk when it is not cut, None
/// when no tile fits. A bf16 sum runs kh → kw → ic over one chunk after the other, so a
/// bit-exact reference needs the boundaries.
#[allow(clippy::too_many_arguments)]
pub fn reduction_chunks(
    chip: Chip,
    input: [usize; 4],
    output: [usize; 4],
    kernel: [usize; 2],
    stride: [usize; 2],
    pads: Pads,
    dilation: [usize; 2],
    group: usize,
    bf16: bool,
) -> Option<Vec<std::ops::Range<usize>>> {
    let depthwise = group > 1 && group == input[1];
    let g = geom_of(input.map(|d| d as u32), output.map(|d| d as u32), kernel, stride, pads, dilation, depthwise, bf16);
    let p = chip.params();
    let ic_t = plan(&g, p.lanes, p.lmem_per_lane, 0, None)?.ic_t as usize;
    Some((0..input[1]).step_by(ic_t).map(|c0| c0..(c0 + ic_t).min(input[1])).collect())
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
pub fn conv<'a>(cx: &mut LayerCx, c: &Conv, act: FusedLut<'a>, pool: Option<&'a Pool>) -> Result<(), CompileError> {
    let sp = spec(cx, c, act)?;
    tiled(cx, Spec { pool, ..sp })
}

/// An int8 convolution's geometry, with its weights and QM records added to the weight section.
pub(super) fn spec<'a>(cx: &mut LayerCx, c: &Conv, act: FusedLut<'a>) -> Result<Spec<'a>, CompileError> {
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
    Ok(Spec { input: c.input, output: c.output, g, relu: c.relu, w_off, p_off, act, pool: None })
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
    let extra = if act.is_some() { 256 } else { 0 };
    let lanes = cx.lanes;
    let pr = pool.map(|p| {
        let [_, _, poh, pow] = cx.shape(p.output);
        PoolRows { kh: p.kernel[0] as u32, sh: p.stride[0] as u32, top: p.pads.top as u32, oh: poh, ow: pow }
    });
    let total = pr.map_or(oh, |p| p.oh);
    let Plan { bufs, oc_t: oc_t_max, oh_t: q_t_max, ic_t: ic_t_max } = plan(&g, lanes, cx.lmem, extra, pr)
        .ok_or_else(|| cx.error(format!("no tile of {:?} fits {} bytes of local memory per lane", g, cx.lmem)))?;
    let split = ic_t_max < ic;
    let oh_t_max = pr.map_or(q_t_max, |p| p.conv_rows(oh, q_t_max));
    let sizes = g.lmem(lanes, oc_t_max, oh_t_max, ic_t_max);
    let pooled_bytes = pr.map_or(0, |p| eu_bytes(lanes, n, oc_t_max, q_t_max, p.ow * e));
    let mut arena = Arena::new(cx.lmem);
    let table = act.map(|(t, out)| {
        let bytes: Vec<u8> = t.iter().map(|&v| v as u8).collect();
        let off = cx.w.add(format!("{}_table", cx.tensor_name(out)), &bytes, [1, 1, 1, 256], DType::I8);
        let a = arena.alloc(256).expect("fits");
        (Local { addr: a, n: 1, c: lanes, h: 1, w: 256, n_str: 256, c_str: 256, h_str: 256, w_str: 1 }, off, out)
    });
    let mut alloc = |b| arena.alloc(b).expect("the tile was chosen to fit");
    let shared_weights = (oc_t_max >= oc && !split).then(|| (alloc(sizes[0]), alloc(sizes[1])));
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
        let tg = Global { region: Region::WEIGHT, offset: off, n_str: 0, c_str: 0, h_str: 256 };
        cx.load(g2l_tensor(cx.chip, &tg, &tl, true), &tl);
    }
    let mut tiles = Vec::new();
    let mut j = 0;
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
            for ic0 in (0..ic).step_by(ic_t_max as usize) {
                let ps = match (split, ic0 == 0, ic0 + ic_t_max >= ic) {
                    (false, _, _) => 0,
                    (true, true, _) => 2,
                    (true, false, false) => 3,
                    (true, false, true) => 1,
                };
                let (oc_t, ic_t) = (oc_t_max.min(oc - oc0), ic_t_max.min(ic - ic0));
                tiles.push(Tile {
                    oc_i,
                    oc0,
                    oc_t,
                    oh0,
                    oh_t: oh1 - oh0,
                    j,
                    ic0,
                    ic_t,
                    ps,
                    q0,
                    qt,
                    pad_top,
                    pad_bottom,
                });
            }
            j += 1;
        }
    }
    let per_oc = if g.depthwise { g.kh * g.kw } else { g.kh * g.kw * ic } * e;
    // With a cut reduction the weights change every pass; else with the channel tile.
    let weights_of = |k: usize, t: &Tile| {
        let a_w = bufs_at[if split { k } else { t.oc_i } % bufs as usize][0];
        let a_q = bufs_at[t.oc_i % bufs as usize][1];
        let wl = match (g.depthwise, g.bf16) {
            (true, false) => Local::eu_aligned(a_w, lanes, 1, t.oc_t, g.kh, g.kw),
            (true, true) => Local::eu_aligned_bf16(a_w, lanes, 1, t.oc_t, g.kh, g.kw),
            (false, false) => Local::compact(a_w, lanes, 1, t.oc_t, g.kh * g.kw, t.ic_t),
            (false, true) => Local {
                w: t.ic_t,
                h_str: 2 * t.ic_t,
                w_str: 2,
                ..Local::compact(a_w, lanes, 1, t.oc_t, g.kh * g.kw, 2 * t.ic_t)
            },
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
        let in_c = if g.depthwise { t.oc_t } else { t.ic_t };
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
        let new_channels = k == 0 || tiles[k - 1].oc_i != t.oc_i;
        if split || new_channels {
            let (wl, ql) = weights_of(k, t);
            // Output channel c's weights are [kh·kw][ic]; a chunk takes ic_t of each row.
            let wg = Global {
                region: Region::WEIGHT,
                offset: w_off + t.oc0 as u64 * per_oc as u64 + (t.ic0 * e) as u64,
                n_str: oc * per_oc,
                c_str: per_oc,
                h_str: if g.depthwise { wl.w * e } else { ic * e },
            };
            if g.bf16 {
                cx.load(g2l_bf16(cx.chip, &wg, &wl), &wl);
            } else {
                cx.load(g2l_tensor(cx.chip, &wg, &wl, true), &wl);
            }
            if new_channels {
                if g.bf16 {
                    let pg = Global {
                        region: Region::WEIGHT,
                        offset: p_off + (t.oc0 * 2) as u64,
                        n_str: oc * 2,
                        c_str: 2,
                        h_str: 2,
                    };
                    cx.load(g2l_bf16(cx.chip, &pg, &ql), &ql);
                } else {
                    let qg = Global::dense(
                        Region::WEIGHT,
                        p_off + (t.oc0 as u64) * QM_RECORD as u64,
                        oc,
                        1,
                        QM_RECORD as u32,
                    );
                    cx.load(g2l_tensor(cx.chip, &qg, &ql, false), &ql);
                }
            }
        }
        let (r0, _, _, _) = rows(t);
        let c_first = if g.depthwise { t.oc0 } else { t.ic0 };
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
        let (wl, ql) = weights_of(k, t);
        let xl = input_of(k, t);
        let yl = g.act(bufs_at[t.j % bufs as usize][3], lanes, n, t.oc_t, t.oh_t, ow);
        if t.ps != 0 {
            // The partial sum's planes lie `n · n_str` apart after the result (isa.md §3.6.1).
            let sums = Local { n: n * 4 / e, ..yl };
            let d = conv_desc(cx, &g, relu, &xl, &wl, &ql, &yl, pt, pb, t.ps);
            let mut reads = vec![&xl, &wl];
            if t.ps == 1 {
                reads.push(&ql);
            }
            if t.ps != 2 {
                reads.push(&sums);
            }
            cx.tiu(d, &reads, &[&sums]);
            if t.ps != 1 {
                continue;
            }
        } else {
            let d = if g.depthwise {
                depthwise_desc(cx, &g, relu, &xl, &wl, &ql, &yl, pt, pb)
            } else {
                conv_desc(cx, &g, relu, &xl, &wl, &ql, &yl, pt, pb, 0)
            };
            cx.tiu(d, &[&xl, &wl, &ql], &[&yl]);
        }
        if let Some((tl, _, _)) = table {
            cx.tiu(super::eltwise::lut_desc(cx, &yl, &yl, &tl), &[&yl, &tl], &[&yl]);
        }
        let (yl, ow) = match (pool, pr) {
            (Some(p), Some(r)) => {
                let pl = g.act(bufs_at[t.j % bufs as usize][4], lanes, n, t.oc_t, t.qt, r.ow);
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
pub(super) fn conv_desc(
    cx: &LayerCx,
    g: &Geom,
    relu: bool,
    x: &Local,
    w: &Local,
    q: &Local,
    y: &Local,
    pt: u32,
    pb: u32,
    ps32: u32,
) -> TiuDesc {
    // A pass that writes a partial sum takes no bias, requantisation or ReLU; the vendor's
    // kernels set per-channel quantisation only on the last pass.
    let partial = matches!(ps32, 2 | 3);
    let mut d = TiuDesc::reset(cx.chip);
    d.tsk_typ = 0;
    d.tsk_eu_typ = 0;
    d.tsk_opd_num = if partial { 2 } else { 3 }; // records (or the bias planes) carry the bias
    d.opt_res_shift = 0;
    d.opt_relu_typ = (relu && !partial) as u32;
    d.ps32_md = ps32;
    if ps32 != 0 {
        d.res0_b_str = y.n * y.n_str;
    }
    let ic = x.c;
    if g.bf16 {
        d.opd_typ = 1;
        d.opt_shift_typ = 0;
        (d.opt_res0_sign, d.opt_opd0_sign, d.opt_opd1_sign, d.opt_opd2_sign) = (0, 0, 0, 0);
    } else {
        if !partial {
            d.opt_chl_quan = 1;
            d.opt_opd2_seg = 1; // forced for QM records
        }
        (d.opt_res0_sign, d.opt_opd0_sign, d.opt_opd1_sign, d.opt_opd2_sign) = (1, 1, 1, 1);
        // cvikernel enables it for even ifmap/weight addresses and an even IC >= 4 (int8 only);
        // no numeric effect.
        d.double_conv = (x.addr & 1 == 0 && w.addr & 1 == 0 && ic & 1 == 0 && ic >= 4) as u32;
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
    (d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w) = (ic, y.c, g.kh, g.kw);
    // The records' shape is (1, oc, 1, 1); their stride and b_str are unused in QM mode. The bf16
    // bias's second plane is b_str further on.
    (d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w) = (1, y.c, 1, 1);
    d.opd2_b_str = if g.bf16 { q.n_str } else { 0 };
    d
}

#[allow(clippy::too_many_arguments)]
pub(super) fn depthwise_desc(
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
