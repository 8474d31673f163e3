//! Operand views: how a TIU descriptor's address, shape and stride-code fields name a tensor in
//! local memory (spec `isa.md` §1.3, §3.5).

use crate::memory::LTensor;
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
