//! Operand views: how a TIU descriptor's address, shape and stride-code fields name a tensor in
//! local memory (spec `isa.md` §1.3, §3.5).

use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::Label;
use crate::memory::{LTensor, Lmem};
use cvsim_isa::chip::LMEM_SHIFT;
use cvsim_isa::{Chip, TiuDesc};

/// Which operand of a TIU descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opd {
    Res0,
    Opd0,
    Opd1,
    Opd2,
}

fn align16(v: u32) -> u32 {
    v.div_ceil(16).saturating_mul(16)
}

/// Raw (addr, n, c, h, w, stride code, n/c/h/w strides) of an operand.
pub fn raw(d: &TiuDesc, o: Opd) -> (u32, [u32; 4], u32, [u32; 4]) {
    match o {
        Opd::Res0 => (
            d.res0_addr,
            [d.res0_n, d.res0_c, d.res0_h, d.res0_w],
            d.short_res0_str,
            [d.res0_n_str, d.res0_c_str, d.res0_h_str, d.res0_w_str],
        ),
        Opd::Opd0 => (
            d.opd0_addr,
            [d.opd0_n, d.opd0_c, d.opd0_h, d.opd0_w],
            d.short_opd0_str,
            [d.opd0_n_str, d.opd0_c_str, d.opd0_h_str, d.opd0_w_str],
        ),
        Opd::Opd1 => (
            d.opd1_addr,
            [d.opd1_n, d.opd1_c, d.opd1_h, d.opd1_w],
            d.short_opd1_str,
            [d.opd1_n_str, d.opd1_c_str, d.opd1_h_str, d.opd1_w_str],
        ),
        Opd::Opd2 => (
            d.opd2_addr,
            [d.opd2_n, d.opd2_c, d.opd2_h, d.opd2_w],
            d.short_opd2_str,
            [d.opd2_n_str, d.opd2_c_str, d.opd2_h_str, d.opd2_w_str],
        ),
    }
}

/// The EU-aligned default strides (stride code 0): w = esz, h = W·esz, c = align16(H·W·esz),
/// n = c · ceil(C / lanes).
///
/// Products saturate: a stride too large for 32 bits is far outside a lane, so the bounds check
/// reports the operand instead of the arithmetic overflowing (products of 12-bit shape fields
/// exceed 32 bits).
pub fn default_strides(lanes: u32, [_, c, h, w]: [u32; 4], esz: u32) -> [u32; 4] {
    let c_str = align16(h.saturating_mul(w).saturating_mul(esz));
    [c_str.saturating_mul(c.div_ceil(lanes)), c_str, w.saturating_mul(esz), esz]
}

/// An operand as a local-memory tensor, with its strides resolved from the stride code.
/// `shape` overrides the descriptor's shape where the operation implies another one.
pub fn view(chip: Chip, d: &TiuDesc, o: Opd, esz: u32) -> LTensor {
    let lanes = chip.lanes();
    let (addr, shape, code, strides) = raw(d, o);
    let [n_str, c_str, h_str, w_str] = match code {
        0 => default_strides(lanes, shape, esz),
        // Weight layout of shape (n = ic, c = oc, h = kh, w = kw): [oc][kh][kw][ic] per lane.
        1 => {
            let [ic, _, kh, kw] = shape;
            let ic_b = ic.saturating_mul(esz);
            [esz, kh.saturating_mul(kw).saturating_mul(ic_b), kw.saturating_mul(ic_b), ic_b]
        }
        // Per-channel parameter layout: one value per channel, back to back in each lane.
        2 => [esz.saturating_mul(shape[1].div_ceil(lanes)), esz, esz, esz],
        _ => strides,
    };
    LTensor { addr, n: shape[0], c: shape[1], h: shape[2], w: shape[3], n_str, c_str, h_str, w_str, esz }
}

/// A per-output-channel operand of a convolution or depthwise convolution (weights, biases, QM
/// records), placed the way the lanes read it: the lane that computes result channel `oc` reads
/// that channel's parameters from its own memory, so the operand's channels are counted from
/// res0's start lane. `t`'s own start lane (opd1/opd2 addresses are 16 bits, so 0 or 1) counts on
/// top of it.
///
/// The spec (`isa.md` §1.2) only expects these operands at lane 0 and says nothing of results that
/// start elsewhere; the corpus decides. tpu-mlir's grouped 1×1 convolutions emit one descriptor per
/// group with res0 starting at lanes 2, 4, 6, … and every descriptor naming the same lane-0
/// weight and record addresses, the per-group values having been loaded into the lanes of the
/// group's result channels (`yolov8n_det_hand_mv3_384_640_INT8_cv181x`). No corpus case has a
/// depthwise result off lane 0; it is given the same rule, its lanes also computing their own
/// channels. With res0 at lane 0 this is the plain channel-to-lane mapping of §1.2.
pub fn anchored_to_result(lanes: u32, d: &TiuDesc, t: LTensor, what: Label) -> ExecResult<LTensor> {
    let (res_lane, _) = Lmem::split(d.res0_addr);
    let (lane, off) = Lmem::split(t.addr);
    if res_lane == 0 || res_lane >= lanes {
        // Lane 0 changes nothing; a result lane past the last one is reported by res0's own check.
        return Ok(t);
    }
    let start = lane + res_lane;
    // Starting past the last lane wraps to lane 0 one channel slot further on.
    let off = off as u64 + (start / lanes) as u64 * t.c_str as u64;
    if off >= 1 << LMEM_SHIFT {
        return Err(ExecErrorKind::LmemOutOfRange {
            what: what.text,
            lane: start % lanes,
            start: off,
            end: off + t.esz as u64,
            limit: 1 << LMEM_SHIFT,
        });
    }
    Ok(LTensor { addr: (start % lanes) << LMEM_SHIFT | off as u32, ..t })
}

/// The result's batch and channel count, which a window operation (depthwise, pooling) requires
/// equal to opd0's: it maps each input channel to its own output channel.
pub(crate) fn same_batch_and_channels(
    d: &TiuDesc,
    why_n: &'static str,
    why_c: &'static str,
) -> Result<(u32, u32), ExecErrorKind> {
    let (n, c) = (d.opd0_n, d.opd0_c);
    if d.res0_n != n {
        return Err(ExecErrorKind::Illegal { field: "res0_n", value: d.res0_n as i64, why: why_n });
    }
    if d.res0_c != c {
        return Err(ExecErrorKind::Illegal { field: "res0_c", value: d.res0_c as i64, why: why_c });
    }
    Ok((n, c))
}
