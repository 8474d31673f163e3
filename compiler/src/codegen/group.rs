//! Layer groups: a chain of int8 convolutions (group 1 or depthwise, any kernel and stride), each
//! optionally followed by its lookup table, and optionally closed by a residual `Add` of the
//! chain's input, lowered as one unit that keeps every intermediate tensor in local memory.
//!
//! The last layer's output rows are cut into tiles; for each tile every earlier layer computes
//! exactly the rows the next one reads (its halo, its stride, the padding that falls inside the
//! tile at the image borders). Weights, QM records and tables of every layer stay resident, so
//! device memory sees one load of the chain's input and one store of its output per tile; the
//! input and output tiles are double-buffered so that those moves overlap the convolutions.
//! Every descriptor is the one the layer-by-layer lowering would emit for the same rows, so the
//! results are identical to it bit for bit.

use super::conv::{self, Spec, QM_RECORD};
use super::eltwise::{add_descs, lut_desc};
use super::local::{Arena, Local};
use super::tdma::{g2l_tensor, l2g_tensor, Global};
use super::{CompileError, LayerCx};
use crate::lower::{DType, Layer, Network, TensorRef};
use cvsim_isa::Region;
use cvsim_runtime::cvimodel::DType as FileDType;

/// One convolution of a chain and the table applied to its result, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stage {
    pub conv: usize,
    pub lut: Option<usize>,
}

/// A chain lowered as one unit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub stages: Vec<Stage>,
    /// The residual `Add` of the last stage's result and the chain's input.
    pub add: Option<usize>,
    /// Output rows per tile.
    pub rows: u32,
}

impl Group {
    /// Every layer of the group, in order.
    pub fn layers(&self) -> Vec<usize> {
        let mut v: Vec<usize> = self.stages.iter().flat_map(|s| std::iter::once(s.conv).chain(s.lut)).collect();
        v.extend(self.add);
        v
    }

    pub fn first(&self) -> usize {
        self.stages[0].conv
    }

    pub fn last(&self) -> usize {
        *self.layers().last().expect("a group has layers")
    }
}

/// The geometry of one stage, in u32.
#[derive(Clone, Copy, Debug)]
struct Shape {
    n: u32,
    ic: u32,
    ih: u32,
    iw: u32,
    oc: u32,
    oh: u32,
    ow: u32,
    kh: u32,
    sh: u32,
    dh: u32,
    top: u32,
    depthwise: bool,
    weight_bytes: u32,
    param_bytes: u32,
}

fn shape_of(net: &Network, l: &Layer, lanes: u32) -> Option<Shape> {
    let Layer::Conv(c) = l else { return None };
    let s = |t: TensorRef| net.tensors[t].shape.map(|d| d as u32);
    let ([n, ic, ih, iw], [_, oc, oh, ow]) = (s(c.input), s(c.output));
    let depthwise = c.is_depthwise(ic as usize);
    if c.group != 1 && !depthwise {
        return None;
    }
    let (kh, kw) = (c.kernel[0] as u32, c.kernel[1] as u32);
    let per_lane = oc.div_ceil(lanes);
    let weight_bytes = if depthwise { (kh * kw).div_ceil(16) * 16 * per_lane } else { kh * kw * ic * per_lane };
    Some(Shape {
        n,
        ic,
        ih,
        iw,
        oc,
        oh,
        ow,
        kh,
        sh: c.stride[0] as u32,
        dh: c.dilation[0] as u32,
        top: c.pads.top as u32,
        depthwise,
        weight_bytes,
        param_bytes: QM_RECORD as u32 * per_lane,
    })
}

/// The rows one stage reads and writes for one tile: input rows `lo..hi`, `pt`/`pb` rows of
/// padding inside the tile, output rows `o0..o1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rows {
    lo: u32,
    hi: u32,
    pt: u32,
    pb: u32,
    o0: u32,
    o1: u32,
}

/// Each stage's rows for the last stage's output rows `o0..o1`, first stage first; None when a
/// stage would read only padding.
fn tile_rows(shapes: &[Shape], o0: u32, o1: u32) -> Option<Vec<Rows>> {
    let mut v = Vec::with_capacity(shapes.len());
    let (mut a, mut b) = (o0, o1);
    for s in shapes.iter().rev() {
        let lo = (a * s.sh) as i64 - s.top as i64;
        let hi = ((b - 1) * s.sh + (s.kh - 1) * s.dh + 1) as i64 - s.top as i64;
        let (rl, rh) = (lo.max(0) as u32, hi.min(s.ih as i64) as u32);
        if rh <= rl {
            return None;
        }
        v.push(Rows { lo: rl, hi: rh, pt: (-lo).max(0) as u32, pb: (hi - s.ih as i64).max(0) as u32, o0: a, o1: b });
        (a, b) = (rl, rh);
    }
    v.reverse();
    Some(v)
}

/// Per-lane bytes of an EU-aligned int8 tile.
fn eu(lanes: u32, n: u32, c: u32, h: u32, w: u32) -> u32 {
    super::local::eu_bytes(lanes, n, c, h, w).div_ceil(16) * 16
}

/// The per-lane bytes of every buffer for tiles of `rows` output rows, and whether the residual
/// rows lie inside every input tile; None when a tile reads only padding.
fn footprint(shapes: &[Shape], luts: usize, add: bool, lanes: u32, rows: u32) -> Option<u32> {
    let last = shapes.last()?;
    let mut max_rows = vec![(0u32, 0u32); shapes.len()];
    for o0 in (0..last.oh).step_by(rows as usize) {
        let r = tile_rows(shapes, o0, (o0 + rows).min(last.oh))?;
        if add && !(r[0].lo <= o0 && (o0 + rows).min(last.oh) <= r[0].hi) {
            return None;
        }
        for (m, t) in max_rows.iter_mut().zip(&r) {
            *m = (m.0.max(t.hi - t.lo), m.1.max(t.o1 - t.o0));
        }
    }
    let fixed: u32 =
        shapes.iter().map(|s| s.weight_bytes.div_ceil(16) * 16 + s.param_bytes.div_ceil(16) * 16).sum::<u32>()
            + 256 * luts as u32;
    let first = shapes[0];
    let input = eu(lanes, first.n, first.ic, max_rows[0].0, first.iw);
    let outs: Vec<u32> = shapes.iter().zip(&max_rows).map(|(s, m)| eu(lanes, s.n, s.oc, m.1, s.ow)).collect();
    let (inner, out) = outs.split_at(outs.len() - 1);
    let tail = if add { 4 * out[0] } else { 2 * out[0] };
    Some(fixed + 2 * input + inner.iter().sum::<u32>() + tail)
}

/// Rows computed by every stage, and input rows loaded, over all tiles, relative to the rows of
/// the layer-by-layer lowering (halos of neighbouring tiles are computed or loaded twice).
fn recompute(shapes: &[Shape], rows: u32) -> f64 {
    let last = shapes.last().expect("a chain has stages");
    let mut done = vec![0u64; shapes.len()];
    let mut loaded = 0u64;
    for o0 in (0..last.oh).step_by(rows as usize) {
        if let Some(r) = tile_rows(shapes, o0, (o0 + rows).min(last.oh)) {
            for (d, t) in done.iter_mut().zip(&r) {
                *d += (t.o1 - t.o0) as u64;
            }
            loaded += (r[0].hi - r[0].lo) as u64;
        }
    }
    let computed = shapes.iter().zip(&done).map(|(s, &d)| d as f64 / s.oh as f64).fold(1.0, f64::max);
    computed.max(loaded as f64 / shapes[0].ih as f64 / INPUT_HALO)
}

/// Input plus output bytes from which a chain that fits local memory in one tile is still cut
/// into row tiles, so that its loads and stores overlap its convolutions.
const OVERLAP_BYTES: u32 = 64 * 1024;

/// Halo rows computed twice may cost at most this fraction of a stage's rows.
const MAX_RECOMPUTE: f64 = 1.25;

/// Input halo rows loaded twice are cheaper than rows computed twice (the loads overlap the
/// convolutions): they are weighed by this factor less.
const INPUT_HALO: f64 = 1.5;

/// Fewer output rows per tile than this (unless one tile covers the output) cost more in
/// per-descriptor overhead and halos than the group saves in device-memory traffic (a chip with
/// few lanes holds only a few rows of a wide tensor).
const MIN_ROWS: u32 = 8;

/// The output rows per tile of a chain, or None when no tiling fits local memory.
fn choose_rows(net: &Network, stages: &[Stage], add: bool) -> Option<u32> {
    let p = net.chip.params();
    let shapes: Vec<Shape> =
        stages.iter().map(|s| shape_of(net, &net.layers[s.conv], p.lanes)).collect::<Option<_>>()?;
    let luts = stages.iter().filter(|s| s.lut.is_some()).count();
    let last = *shapes.last()?;
    let first = shapes[0];
    if shapes.iter().any(|s| s.n.max(s.ic).max(s.oc) > 4095 || s.iw > 4063 || s.ow > 4063) {
        return None;
    }
    let fits = |rows: u32| footprint(&shapes, luts, add, p.lanes, rows).is_some_and(|b| b <= p.lmem_per_lane);
    let best = (1..=last.oh).rev().find(|&r| fits(r))?;
    let moved = first.n * first.ic * first.ih * first.iw + last.n * last.oc * last.oh * last.ow;
    let rows = if best == last.oh && moved >= OVERLAP_BYTES && last.oh >= 4 {
        // Tiles small enough to overlap, if their halos stay cheap.
        let quarter = last.oh.div_ceil(4);
        if recompute(&shapes, quarter) <= MAX_RECOMPUTE {
            quarter
        } else {
            best
        }
    } else {
        best
    };
    (recompute(&shapes, rows) <= MAX_RECOMPUTE && (rows >= MIN_ROWS || rows == last.oh)).then_some(rows)
}

/// Whether `t` is read by exactly one layer and is not a network output.
fn private(net: &Network, t: TensorRef) -> bool {
    !net.outputs.contains(&t) && net.layers.iter().filter(|l| l.inputs().contains(&t)).count() == 1
}

/// Every layer group of the network: maximal chains of consecutive int8 convolutions whose
/// intermediate tensors have one reader each, cut greedily into the longest runs that fit local
/// memory. Layers outside the groups are lowered one by one.
pub fn groups(net: &Network) -> Vec<Group> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < net.layers.len() {
        let (stages, add) = chain_at(net, i);
        if stages.len() < 2 && add.is_none() {
            i += 1;
            continue;
        }
        let end = stages.last().map_or(i, |s| s.lut.unwrap_or(s.conv)).max(add.unwrap_or(0));
        let mut s0 = 0;
        while s0 < stages.len() {
            // The longest run from s0 that fits; the Add only closes a run of the whole chain.
            let found = (s0..stages.len()).rev().find_map(|s1| {
                let with_add = add.filter(|_| s0 == 0 && s1 == stages.len() - 1);
                let run = &stages[s0..=s1];
                if run.len() + usize::from(with_add.is_some()) < 2 {
                    return None;
                }
                choose_rows(net, run, with_add.is_some()).map(|rows| (s1, with_add, rows))
            });
            match found {
                Some((s1, add, rows)) => {
                    out.push(Group { stages: stages[s0..=s1].to_vec(), add, rows });
                    s0 = s1 + 1;
                }
                None => s0 += 1,
            }
        }
        i = end + 1;
    }
    out
}

/// The chain of int8 convolutions starting at layer `i`: its stages and closing residual Add.
fn chain_at(net: &Network, i: usize) -> (Vec<Stage>, Option<usize>) {
    let mut stages = Vec::new();
    let Some(Layer::Conv(c0)) = net.layers.get(i) else { return (stages, None) };
    if net.tensors[c0.input].dtype != DType::I8 {
        return (stages, None);
    }
    let x = c0.input;
    let mut at = i;
    while let Some(Layer::Conv(c)) = net.layers.get(at) {
        let mut stage = Stage { conv: at, lut: None };
        let mut out = c.output;
        at += 1;
        if let Some(Layer::Lut { input, output, .. }) = net.layers.get(at) {
            if *input == out && private(net, out) {
                stage.lut = Some(at);
                out = *output;
                at += 1;
            }
        }
        stages.push(stage);
        if !private(net, out) {
            return (stages, None);
        }
        match net.layers.get(at) {
            Some(Layer::Conv(n)) if n.input == out => continue,
            Some(Layer::Add { a, b, .. }) if (*a == out && *b == x) || (*b == out && *a == x) => {
                return (stages, Some(at));
            }
            // The chain ends here; its last result is stored.
            _ => return (stages, None),
        }
    }
    (stages, None)
}

/// What the lowering of one stage needs.
struct StageCode<'a> {
    conv: usize,
    sp: Spec<'a>,
    shape: Shape,
    table: Option<(usize, TensorRef, &'a [i8; 256])>,
    /// The stage's output as the next stage or the store sees it (after the table).
    out: TensorRef,
}

/// Per-lane offsets of a group's buffers.
struct Layout {
    /// Weights, QM records and table of every stage.
    resident: Vec<(u32, u32, Option<u32>)>,
    /// The two input tiles.
    input: [u32; 2],
    /// Every stage's result: one buffer, two for the last when it is stored as it is.
    outs: Vec<Vec<u32>>,
    /// The sum's low bytes (two buffers) and high bytes.
    sums: Option<[u32; 3]>,
}

fn layout(
    code: &[StageCode],
    shapes: &[Shape],
    max_rows: &[(u32, u32)],
    add: bool,
    lanes: u32,
    size: u32,
) -> Option<Layout> {
    let mut arena = Arena::new(size);
    let mut resident = Vec::new();
    for c in code {
        let (w, q) = (arena.alloc(c.shape.weight_bytes)?, arena.alloc(c.shape.param_bytes)?);
        let t = match c.table {
            Some(_) => Some(arena.alloc(256)?),
            None => None,
        };
        resident.push((w, q, t));
    }
    let first = shapes[0];
    let ib = eu(lanes, first.n, first.ic, max_rows[0].0, first.iw);
    let input = [arena.alloc(ib)?, arena.alloc(ib)?];
    let mut outs = Vec::new();
    for (i, (s, m)) in shapes.iter().zip(max_rows).enumerate() {
        let bytes = eu(lanes, s.n, s.oc, m.1, s.ow);
        let copies = if i + 1 < shapes.len() || add { 1 } else { 2 };
        outs.push((0..copies).map(|_| arena.alloc(bytes)).collect::<Option<Vec<u32>>>()?);
    }
    let sums = if add {
        let last = shapes[shapes.len() - 1];
        let bytes = eu(lanes, last.n, last.oc, max_rows[shapes.len() - 1].1, last.ow);
        Some([arena.alloc(bytes)?, arena.alloc(bytes)?, arena.alloc(bytes)?])
    } else {
        None
    };
    Some(Layout { resident, input, outs, sums })
}

/// Lower one group (int8).
pub fn lower(cx: &mut LayerCx, g: &Group) -> Result<(), CompileError> {
    let net = cx.net;
    let lanes = cx.lanes;
    let mut code = Vec::new();
    for s in &g.stages {
        let Layer::Conv(c) = &net.layers[s.conv] else { unreachable!("groups hold convolutions") };
        cx.index = s.conv;
        cx.kind = net.layers[s.conv].kind();
        let sp = conv::spec(cx, c, None)?;
        let shape = shape_of(net, &net.layers[s.conv], lanes).expect("checked by groups()");
        let (table, out) = match s.lut.map(|l| (l, &net.layers[l])) {
            Some((l, Layer::Lut { output, table, .. })) => (Some((l, *output, &**table)), *output),
            _ => (None, c.output),
        };
        code.push(StageCode { conv: s.conv, sp, shape, table, out });
    }
    let shapes: Vec<Shape> = code.iter().map(|c| c.shape).collect();
    let last = *shapes.last().expect("a group has stages");
    let first = shapes[0];

    // Buffer sizes: the largest tile of every stage.
    let mut max_rows = vec![(0u32, 0u32); shapes.len()];
    let mut tiles = Vec::new();
    for o0 in (0..last.oh).step_by(g.rows as usize) {
        let r = tile_rows(&shapes, o0, (o0 + g.rows).min(last.oh))
            .ok_or_else(|| cx.error("a tile of the group reads only padding".into()))?;
        for (m, t) in max_rows.iter_mut().zip(&r) {
            *m = (m.0.max(t.hi - t.lo), m.1.max(t.o1 - t.o0));
        }
        tiles.push(r);
    }
    let lay = layout(&code, &shapes, &max_rows, g.add.is_some(), lanes, cx.lmem)
        .ok_or_else(|| cx.error("the group does not fit local memory".into()))?;

    // Resident weights, records and tables.
    let locals: Vec<(Local, Local, Option<Local>)> = code
        .iter()
        .zip(&lay.resident)
        .map(|(c, &(w, q, t))| {
            let s = c.shape;
            let wl = if s.depthwise {
                Local::eu_aligned(w, lanes, 1, s.oc, c.sp.g.kh, c.sp.g.kw)
            } else {
                Local::compact(w, lanes, 1, s.oc, c.sp.g.kh * c.sp.g.kw, s.ic)
            };
            let ql = Local::compact(q, lanes, 1, s.oc, 1, QM_RECORD as u32);
            let tl = t.map(|t| Local {
                addr: t,
                n: 1,
                c: lanes,
                h: 1,
                w: 256,
                n_str: 256,
                c_str: 256,
                h_str: 256,
                w_str: 1,
            });
            (wl, ql, tl)
        })
        .collect();
    let (in_buf, out_bufs, sum_bufs) = (lay.input, &lay.outs, lay.sums);
    let mut table_offs = Vec::new();
    for c in &code {
        table_offs.push(c.table.map(|(_, out, t)| {
            let bytes: Vec<u8> = t.iter().map(|&v| v as u8).collect();
            cx.w.add(format!("{}_table", cx.tensor_name(out)), &bytes, [1, 1, 1, 256], FileDType::I8)
        }));
    }
    // The first stage's weights go first with the first input tile, so its convolution starts
    // while the others load.
    let load_resident = |cx: &mut LayerCx, i: usize| {
        let c = &code[i];
        cx.index = c.conv;
        let (wl, ql, tl) = &locals[i];
        let wg = Global::dense(Region::WEIGHT, c.sp.w_off, c.shape.oc, wl.h, wl.w);
        cx.load(g2l_tensor(cx.chip, &wg, wl, true), wl);
        let qg = Global::dense(Region::WEIGHT, c.sp.p_off, c.shape.oc, 1, QM_RECORD as u32);
        cx.load(g2l_tensor(cx.chip, &qg, ql, false), ql);
        if let (Some(tl), Some(off), Some((l, _, _))) = (tl, table_offs[i], c.table) {
            cx.index = l;
            let tg = Global { region: Region::WEIGHT, offset: off, n_str: 0, c_str: 0, h_str: 256 };
            cx.load(g2l_tensor(cx.chip, &tg, tl, true), tl);
        }
    };

    let src = cx.global(code[0].sp.input);
    let final_out = g.add.map_or(code[code.len() - 1].out, |a| net.layers[a].output());
    let dst = cx.global(final_out);
    let input_of = |k: usize| {
        let r = &tiles[k][0];
        Local::eu_aligned(in_buf[k % 2], lanes, first.n, first.ic, r.hi - r.lo, first.iw)
    };
    let load_input = |cx: &mut LayerCx, k: usize| {
        cx.index = code[0].conv;
        let xl = input_of(k);
        let at = src.at((tiles[k][0].lo * first.iw) as u64);
        cx.load(g2l_tensor(cx.chip, &at, &xl, true), &xl);
    };
    load_resident(cx, 0);
    load_input(cx, 0);
    for i in 1..code.len() {
        load_resident(cx, i);
    }
    for k in 0..tiles.len() {
        if k + 1 < tiles.len() {
            load_input(cx, k + 1);
        }
        let mut x = input_of(k);
        for (i, c) in code.iter().enumerate() {
            let r = tiles[k][i];
            let buf = &out_bufs[i];
            let y = Local::eu_aligned(buf[k % buf.len()], lanes, c.shape.n, c.shape.oc, r.o1 - r.o0, c.shape.ow);
            let (wl, ql, tl) = &locals[i];
            cx.index = c.conv;
            cx.kind = net.layers[c.conv].kind();
            let d = if c.shape.depthwise {
                conv::depthwise_desc(cx, &c.sp.g, c.sp.relu, &x, wl, ql, &y, r.pt, r.pb)
            } else {
                conv::conv_desc(cx, &c.sp.g, c.sp.relu, &x, wl, ql, &y, r.pt, r.pb, 0)
            };
            cx.tiu(d, &[&x, wl, ql], &[&y]);
            if let (Some(tl), Some((l, _, _))) = (tl, c.table) {
                cx.index = l;
                cx.tiu(lut_desc(cx, &y, &y, tl), &[&y, tl], &[&y]);
            }
            x = y;
        }
        let r = tiles[k][code.len() - 1];
        let result = match (g.add, sum_bufs) {
            (Some(a), Some(sb)) => {
                let Layer::Add { a: ta, ma, mb, rshift, relu, .. } = &net.layers[a] else {
                    unreachable!("groups close with an Add")
                };
                cx.index = a;
                cx.kind = "Add";
                // The residual rows are already in the input tile.
                let xin = input_of(k);
                let res = Local { addr: xin.addr + (r.o0 - tiles[k][0].lo) * first.iw, h: r.o1 - r.o0, ..xin };
                let shape = |addr| Local::eu_aligned(addr, lanes, last.n, last.oc, r.o1 - r.o0, last.ow);
                let (lo, hi) = (shape(sb[k % 2]), shape(sb[2]));
                let (la, lb) = if *ta == code[code.len() - 1].out { (x, res) } else { (res, x) };
                let [mul, mac] = add_descs(cx, &la, &lb, &lo, &hi, *ma, *mb, *rshift, *relu);
                // The residual's reads are charged to the whole input tile it lies in.
                let span_a = if *ta == code[code.len() - 1].out { x } else { xin };
                let span_b = if *ta == code[code.len() - 1].out { xin } else { x };
                cx.tiu(mul, &[&span_a], &[&lo, &hi]);
                cx.tiu(mac, &[&span_b, &lo, &hi], &[&lo, &hi]);
                lo
            }
            _ => x,
        };
        let at = dst.at((r.o0 * last.ow) as u64);
        cx.store(l2g_tensor(cx.chip, &result, &at, true), &result);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(ih: u32, kh: u32, sh: u32, top: u32) -> Shape {
        let oh = (ih + 2 * top - kh) / sh + 1;
        Shape {
            n: 1,
            ic: 8,
            ih,
            iw: ih,
            oc: 8,
            oh,
            ow: oh,
            kh,
            sh,
            dh: 1,
            top,
            depthwise: kh > 1,
            weight_bytes: 0,
            param_bytes: 0,
        }
    }

    #[test]
    fn rows_of_an_inverted_residual_tile() {
        // 1×1 → 3×3 stride 2 pad 1 → 1×1 on 16 rows: output rows 2..4 read rows 3..8 of the
        // depthwise input, one padding row never needed inside the image.
        let s = [shape(16, 1, 1, 0), shape(16, 3, 2, 1), shape(8, 1, 1, 0)];
        let r = tile_rows(&s, 2, 4).unwrap();
        assert_eq!(r[2], Rows { lo: 2, hi: 4, pt: 0, pb: 0, o0: 2, o1: 4 });
        assert_eq!(r[1], Rows { lo: 3, hi: 8, pt: 0, pb: 0, o0: 2, o1: 4 });
        assert_eq!(r[0], Rows { lo: 3, hi: 8, pt: 0, pb: 0, o0: 3, o1: 8 });
        // The first tile has the top padding inside it, the last one the bottom padding.
        let s = [shape(16, 1, 1, 0), shape(16, 3, 1, 1), shape(16, 1, 1, 0)];
        assert_eq!(tile_rows(&s, 0, 4).unwrap()[1], Rows { lo: 0, hi: 5, pt: 1, pb: 0, o0: 0, o1: 4 });
        assert_eq!(tile_rows(&s, 12, 16).unwrap()[1], Rows { lo: 11, hi: 16, pt: 0, pb: 1, o0: 12, o1: 16 });
    }
}
