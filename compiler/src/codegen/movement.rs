//! Layers that only move data between device-memory tensors (any element type): channel slices,
//! channel shuffles and concatenations without rescaling. Each tile goes through local memory:
//! one TDMA load, one TDMA store with the destination's channel stride.

use super::local::{eu_bytes, Arena, Local};
use super::tdma::{g2l_tensor, l2g_tensor, Global};
use super::{CompileError, LayerCx};
use crate::lower::TensorRef;

/// Copy channels `src_c0 .. src_c0 + count` of `src` to `dst`, channel `src_c0 + i` going to
/// `dst_c0 + i · dst_step`. Both tensors have the same N, H and W.
pub fn copy_channels(
    cx: &mut LayerCx,
    src: TensorRef,
    src_c0: u32,
    count: u32,
    dst: TensorRef,
    dst_c0: u32,
    dst_step: u32,
) -> Result<(), CompileError> {
    let [n, cs, h, w] = cx.shape(src);
    let cd = cx.shape(dst)[1];
    let esz = cx.net.tensors[src].dtype.size() as u32;
    // Bytes are bytes: a bf16 row is moved as 2·W int8 elements.
    let wb = w * esz;
    let lanes = cx.lanes;
    if n > 65535 || wb > 65535 || h * wb > 65535 {
        return Err(cx.error(format!("shape {:?} exceeds the TDMA's 16-bit fields", [n, cs, h, w])));
    }
    let mut best: Option<(u32, u32)> = None;
    for pl in (1..=count.div_ceil(lanes)).rev() {
        let c_t = count.min(pl * lanes);
        if let Some(h_t) = (1..=h).rev().find(|&h_t| eu_bytes(lanes, n, c_t, h_t, wb) <= cx.lmem) {
            if best.is_none_or(|(bc, bh)| c_t * h_t > bc * bh) {
                best = Some((c_t, h_t));
            }
        }
    }
    let (c_max, h_max) = best.ok_or_else(|| cx.error("no tile fits local memory".into()))?;
    let mut arena = Arena::new(cx.lmem);
    let a = arena.alloc(eu_bytes(lanes, n, c_max, h_max, wb)).expect("fits");
    let (gs, gd) = (cx.global(src), cx.global(dst));
    let plane = (h * wb) as u64;
    let gs = Global { n_str: cs * h * wb, c_str: h * wb, h_str: wb, ..gs };
    let gd = Global { n_str: cd * h * wb, c_str: dst_step * h * wb, h_str: wb, ..gd };
    for c0 in (0..count).step_by(c_max as usize) {
        let c_t = c_max.min(count - c0);
        for h0 in (0..h).step_by(h_max as usize) {
            let h_t = h_max.min(h - h0);
            let l = Local::eu_aligned(a, lanes, n, c_t, h_t, wb);
            let from = gs.at((src_c0 + c0) as u64 * plane + (h0 * wb) as u64);
            cx.load(g2l_tensor(cx.chip, &from, &l, true), &l);
            let to = gd.at((dst_c0 + c0 * dst_step) as u64 * plane + (h0 * wb) as u64);
            cx.store(l2g_tensor(cx.chip, &l, &to, true), &l);
        }
    }
    Ok(())
}
