//! Matrix copies (`sys_dtype = 1`, spec `isa.md` §1.3, §4.2–4.3): a global `rows × cols` matrix
//! (row stride = the global side's C stride) and the local matrix layout, where row r is LMEM
//! "n" = r and its columns are cut into chunks of `w` elements, chunk i in channel i.

use super::convert::{self, with_conv, Conv};
use super::side::{require_eq, Side};
use super::tensor::sizes;
use super::walk::{Loc, Mem, Split};
use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::{Gmem, Lmem};
use cvsim_isa::{Chip, Direction, TdmaDesc};

/// The global side of a matrix, resolved: row r, column k at `start + r * row_str + k * esz`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GRows {
    pub loc: Loc,
    pub start: usize,
    pub rows: usize,
    pub cols: usize,
    pub row_str: usize,
    pub esz: usize,
}

/// The local side of a matrix, resolved: row r, column k in chunk `k / w` at
/// `bases[k / w] + r * n_str + (k % w) * esz`, esz being the element size of the transfer.
#[derive(Clone, Debug)]
pub(crate) struct LRows {
    pub bases: Vec<usize>,
    pub n_str: usize,
    pub w: usize,
}

impl GRows {
    /// Resolve `rows × cols` at a side whose C stride is the row stride.
    pub fn resolve(gmem: &Gmem, side: &Side, rows: u32, cols: u32, esz: usize) -> ExecResult<GRows> {
        let g = side.global(gmem, [1, rows, 1, cols], esz)?;
        Ok(GRows {
            loc: Loc::Gmem(g.region),
            start: g.start,
            rows: rows as usize,
            cols: cols as usize,
            row_str: side.c_str as usize,
            esz,
        })
    }
}

impl LRows {
    /// Resolve the local matrix `(n = rows, c, h, w)` of a side; the chunks must hold `cols`.
    /// `fields` names the side's C and H fields for errors.
    pub fn resolve(
        lmem: &Lmem,
        side: &Side,
        [rows, c, h, w]: [u32; 4],
        cols: u32,
        esz: usize,
        (c_field, h_field): (&'static str, &'static str),
    ) -> ExecResult<LRows> {
        require_eq(h_field, h, 1, "a local matrix has H = 1")?;
        if (c as u64) * (w as u64) < cols as u64 {
            return Err(ExecErrorKind::Illegal {
                field: c_field,
                value: c as i64,
                why: "the local matrix's C·W chunks are fewer than its columns",
            });
        }
        let t = side.local([rows, c, h, w], esz)?;
        Ok(LRows { bases: t.channel_bases(lmem, side.what)?, n_str: t.n_str as usize, w: w as usize })
    }
}

/// Call `f(global byte, local byte, elements)` for each contiguous piece of every row, in order.
pub(crate) fn pieces(g: &GRows, l: &LRows, mut f: impl FnMut(usize, usize, usize)) {
    if l.bases.is_empty() {
        return;
    }
    for r in 0..g.rows {
        let (grow, lrow) = (g.start + r * g.row_str, r * l.n_str);
        let mut k = 0;
        for &base in &l.bases {
            if k >= g.cols {
                break;
            }
            let n = l.w.min(g.cols - k);
            f(grow + k * g.esz, base + lrow, n);
            k += n;
        }
    }
}

fn g2l<M: Mem, C: Conv>(m: &mut M, g: &GRows, l: &LRows, conv: &C) {
    pieces(g, l, |gp, lp, n| m.chunk(gp, lp, n, conv))
}

fn l2g<M: Mem, C: Conv>(m: &mut M, g: &GRows, l: &LRows, conv: &C) {
    pieces(g, l, |gp, lp, n| m.chunk(lp, gp, n, conv))
}

/// G2L: `src_n` rows (= `src_c`) of `src_w` columns → local (src_n, dst_c, 1, dst_w).
/// L2G: local (src_n, src_c, 1, src_w) → `dst_c` rows (= `src_n`) of `dst_w` columns.
pub(crate) fn copy(chip: Chip, lmem: &mut Lmem, gmem: &mut Gmem, d: &TdmaDesc, dir: Direction) -> ExecResult {
    let sel = convert::select(chip, d, dir)?;
    let (se, de) = sizes(sel);
    let (src, dst) = (Side::src(d, dir), Side::dst(d, dir));
    match dir {
        Direction::G2L => {
            require_eq("src_c", d.src_c, d.src_n, "a global matrix's src_c repeats its row count src_n")?;
            let g = GRows::resolve(gmem, &src, d.src_n, d.src_w, se)?;
            let l = LRows::resolve(lmem, &dst, [d.src_n, d.dst_c, d.dst_h, d.dst_w], d.src_w, de, ("dst_c", "dst_h"))?;
            let Loc::Gmem(r) = g.loc else { unreachable!() };
            with_conv!(sel, conv => g2l(&mut Split { src: &gmem.regions[r].data, dst: &mut lmem.data }, &g, &l, &conv));
            Ok(())
        }
        Direction::L2G => {
            require_eq("dst_c", d.dst_c, d.src_n, "a global matrix's dst_c is its row count src_n")?;
            let g = GRows::resolve(gmem, &dst, d.dst_c, d.dst_w, de)?;
            let l = LRows::resolve(lmem, &src, [d.src_n, d.src_c, d.src_h, d.src_w], d.dst_w, se, ("src_c", "src_h"))?;
            let Loc::Gmem(r) = g.loc else { unreachable!() };
            with_conv!(sel, conv => l2g(&mut Split { src: &lmem.data, dst: &mut gmem.regions[r].data }, &g, &l, &conv));
            Ok(())
        }
        _ => Err(ExecErrorKind::Unsupported {
            what: format!("TDMA {} matrix copy (only g2l and l2g are defined)", dir.name()),
        }),
    }
}
