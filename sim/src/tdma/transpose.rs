//! The element-wise reorderings (spec `isa.md` §4.2): matrix row/column transpose (G2L), C↔W
//! transpose (L2G) and HWC → CHW (G2L, `transpose_md` 1 and 2). The N↔C transpose keeps rows
//! intact and lives with the tensor copies.

use super::convert::formats;
use super::matrix::{GRows, LRows};
use super::side::{require_eq, Side};
use super::walk::Loc;
use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::Label;
use crate::memory::{Gmem, Lmem};
use cvsim_isa::Operand;
use cvsim_isa::{Direction, Fmt, TdmaDesc};

/// These modes move bytes only: the emitters refuse bf16 and conversions for them.
fn int8_only(d: &TdmaDesc, mode: &str) -> ExecResult {
    match formats(d)? {
        (Fmt::I8, Fmt::I8) => Ok(()),
        (s, t) => Err(ExecErrorKind::Unsupported {
            what: format!("TDMA {mode} with {} → {} (only 8-bit data)", s.name(), t.name()),
        }),
    }
}

fn only(dir: Direction, want: Direction, mode: &str) -> ExecResult {
    if dir == want {
        Ok(())
    } else {
        Err(ExecErrorKind::Unsupported {
            what: format!("TDMA {} {mode} (only {} is defined)", dir.name(), want.name()),
        })
    }
}

/// Global `rows × cols` (rows = src_n = src_c, cols = src_w) → local matrix `cols × rows`:
/// element (r, k) goes to local row k, column r, i.e. LMEM n = k, chunk r / dst_w.
pub(crate) fn row_col(lmem: &mut Lmem, gmem: &mut Gmem, d: &TdmaDesc, dir: Direction) -> ExecResult {
    only(dir, Direction::G2L, "matrix row/column transpose")?;
    int8_only(d, "matrix row/column transpose")?;
    require_eq("src_c", d.src_c, d.src_n, "a global matrix's src_c repeats its row count src_n")?;
    let g = GRows::resolve(gmem, &Side::src(d, dir), d.src_n, d.src_w, 1)?;
    let l =
        LRows::resolve(lmem, &Side::dst(d, dir), [d.src_w, d.dst_c, d.dst_h, d.dst_w], d.src_n, 1, ("dst_c", "dst_h"))?;
    if l.bases.is_empty() {
        return Ok(());
    }
    let Loc::Gmem(reg) = g.loc else { unreachable!() };
    let src = &gmem.regions[reg].data;
    let dst = &mut lmem.data;
    for r in 0..g.rows {
        let row = &src[g.start + r * g.row_str..][..g.cols];
        let (base, off) = (l.bases[r / l.w], r % l.w);
        for (k, &v) in row.iter().enumerate() {
            dst[base + k * l.n_str + off] = v;
        }
    }
    Ok(())
}

/// Local (n, c, h, w) → global (n, w, h, c): element goes to global (n, c' = w, h, w' = c) with the
/// destination strides; `dst_c = src_w`, `dst_h = src_h`, `dst_w = src_c`.
pub(crate) fn cw(lmem: &mut Lmem, gmem: &mut Gmem, d: &TdmaDesc, dir: Direction) -> ExecResult {
    only(dir, Direction::L2G, "C↔W transpose")?;
    int8_only(d, "C↔W transpose")?;
    require_eq("dst_c", d.dst_c, d.src_w, "a C↔W transpose's destination C is the source W")?;
    require_eq("dst_h", d.dst_h, d.src_h, "a C↔W transpose keeps H")?;
    require_eq("dst_w", d.dst_w, d.src_c, "a C↔W transpose's destination W is the source C")?;
    let src = Side::src(d, dir).local([d.src_n, d.src_c, d.src_h, d.src_w], 1)?;
    let bases = src.channel_bases(lmem, Label::new(Operand::Src, "TDMA source"))?;
    let g = Side::dst(d, dir).global(gmem, [d.src_n, d.dst_c, d.dst_h, d.dst_w], 1)?;
    let out = &mut gmem.regions[g.region].data;
    let inp = &lmem.data;
    if bases.is_empty() {
        return Ok(());
    }
    for n in 0..src.n {
        for h in 0..src.h {
            for w in 0..src.w {
                let off = src.inner(n, h, w);
                let row = &mut out[g.index(n, w, h)..][..bases.len()];
                for (o, &b) in row.iter_mut().zip(&bases) {
                    *o = inp[b + off];
                }
            }
        }
    }
    Ok(())
}

/// Global pixel-interleaved (N, H, W, C) with C = 3 (`transpose_md = 1`) or 4 (`= 2`) → local
/// (N, C, H, W). Channel k of pixel (h, w) is at `n·n_str + h·h_str + w·C + k·c_str`: the mode
/// implies the W step of C bytes; cvikernel sets `c_str = 1` and `h_str = C·W`.
pub(crate) fn hwc_to_chw(lmem: &mut Lmem, gmem: &mut Gmem, d: &TdmaDesc, dir: Direction, ch: u32) -> ExecResult {
    only(dir, Direction::G2L, "HWC → CHW")?;
    int8_only(d, "HWC → CHW")?;
    require_eq("src_c", d.src_c, ch, "HWC → CHW has C = 3 (transpose_md 1) or 4 (transpose_md 2)")?;
    require_eq("dst_c", d.dst_c, ch, "HWC → CHW keeps C")?;
    require_eq("dst_h", d.dst_h, d.src_h, "HWC → CHW keeps H")?;
    require_eq("dst_w", d.dst_w, d.src_w, "HWC → CHW keeps W")?;
    let s = Side::src(d, dir);
    let (n, h, w) = (d.src_n as u64, d.src_h as u64, d.src_w as u64);
    let (region, start) = if n == 0 || h == 0 || w == 0 {
        return Ok(());
    } else {
        let span = (n - 1) * s.n_str as u64
            + (h - 1) * s.h_str as u64
            + (w - 1) * ch as u64
            + (ch as u64 - 1) * s.c_str as u64
            + 1;
        gmem.resolve(s.sel, s.addr, span)?
    };
    let dst = Side::dst(d, dir).local([d.src_n, ch, d.src_h, d.src_w], 1)?;
    let bases = dst.channel_bases(lmem, Label::new(Operand::Dst, "TDMA destination"))?;
    let inp = &gmem.regions[region].data;
    let out = &mut lmem.data;
    let (ns, hs, cs) = (s.n_str as usize, s.h_str as usize, s.c_str as usize);
    for ni in 0..d.src_n {
        for hi in 0..d.src_h {
            let pix0 = start + ni as usize * ns + hi as usize * hs;
            for (k, &b) in bases.iter().enumerate() {
                let row = &mut out[b + dst.inner(ni, hi, 0)..][..d.src_w as usize];
                for (wi, o) in row.iter_mut().enumerate() {
                    *o = inp[pix0 + wi * ch as usize + k * cs];
                }
            }
        }
    }
    Ok(())
}
