//! Tensor copies (G2L, L2G, L2L, G2G) with strides, reshape and format conversion, and the N↔C
//! transpose (spec `isa.md` §4.2).

use super::convert::{self, with_conv, ConvSel};
use super::side::{require_eq, Side};
use super::walk::{transfer, Walk};
use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::{Gmem, Lmem};
use cvsim_isa::{Chip, Direction, TdmaDesc};

/// Element sizes (source, destination) of a conversion.
pub(crate) fn sizes(sel: ConvSel) -> (usize, usize) {
    match sel {
        ConvSel::Verbatim(e) => (e, e),
        ConvSel::I8ToBf16 { .. } => (1, 2),
        ConvSel::Bf16ToI8 { .. } => (2, 1),
        ConvSel::LutIdx | ConvSel::LutBase => (2, 2),
    }
}

/// The two sides of a tensor copy: source (src_n, src_c, src_h, src_w), destination
/// (src_n, dst_c, dst_h, dst_w). Both have N = src_n, so equal totals mean equal counts per n and
/// the flat pairing is the per-n row-major reshape (spec §4.2, open item 8).
pub(crate) fn sides(lmem: &Lmem, gmem: &Gmem, d: &TdmaDesc, dir: Direction, sel: ConvSel) -> ExecResult<(Walk, Walk)> {
    let (se, de) = sizes(sel);
    let src = Side::src(d, dir).walk(lmem, gmem, [d.src_n, d.src_c, d.src_h, d.src_w], se)?;
    let dst = Side::dst(d, dir).walk(lmem, gmem, [d.src_n, d.dst_c, d.dst_h, d.dst_w], de)?;
    same_count(d, &src, &dst)?;
    Ok((src, dst))
}

pub(crate) fn same_count(d: &TdmaDesc, src: &Walk, dst: &Walk) -> ExecResult {
    if src.elems() != dst.elems() {
        return Err(ExecErrorKind::Illegal {
            field: "dst_c",
            value: d.dst_c as i64,
            why: "destination C·H·W differs from the source's (a copy moves equal element counts)",
        });
    }
    Ok(())
}

/// Tensor copy in any direction.
pub(crate) fn copy(chip: Chip, lmem: &mut Lmem, gmem: &mut Gmem, d: &TdmaDesc, dir: Direction) -> ExecResult {
    let sel = convert::select(chip, d, dir)?;
    let (src, dst) = sides(lmem, gmem, d, dir, sel)?;
    with_conv!(sel, conv => transfer(lmem, gmem, &src, &dst, &conv))
}

/// N↔C transpose: source (N, C, H, W) → destination (C, N, H·W). The destination's C is `dst_c`
/// (= source N) and its N count is `src_c` (spec §4.3).
pub(crate) fn nc_transpose(chip: Chip, lmem: &mut Lmem, gmem: &mut Gmem, d: &TdmaDesc, dir: Direction) -> ExecResult {
    if !matches!(dir, Direction::G2L | Direction::L2G) {
        return Err(ExecErrorKind::Unsupported {
            what: format!("TDMA {} N↔C transpose (only g2l and l2g are defined)", dir.name()),
        });
    }
    require_eq("dst_c", d.dst_c, d.src_n, "an N↔C transpose's destination C is the source N")?;
    let sel = convert::select(chip, d, dir)?;
    let (se, de) = sizes(sel);
    let src = Side::src(d, dir).walk(lmem, gmem, [d.src_n, d.src_c, d.src_h, d.src_w], se)?;
    // Destination as (n' = src_c, c' = src_n), walked with c' outermost: source order.
    let dst = Side::dst(d, dir).walk(lmem, gmem, [d.src_c, d.dst_c, d.dst_h, d.dst_w], de)?.swapped();
    if d.dst_h * d.dst_w != d.src_h * d.src_w {
        return Err(ExecErrorKind::Illegal {
            field: "dst_h",
            value: d.dst_h as i64,
            why: "an N↔C transpose keeps H·W",
        });
    }
    same_count(d, &src, &dst)?;
    with_conv!(sel, conv => transfer(lmem, gmem, &src, &dst, &conv))
}
