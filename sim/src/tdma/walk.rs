//! One side of a transfer as a sequence of contiguous rows in logical element order, and the
//! lockstep mover that pairs a source sequence with a destination sequence.
//!
//! A side is bounds-checked once when its `Walk` is built (through `LTensor::channel_bases` or
//! `GTensor::resolve`); after that the mover works on plain slices, one row segment at a time.
//! Pairing rows in logical order is what makes a reshape (source and destination C/H/W differ,
//! equal element count) come out in flat row-major order, and swapping the two outer levels of a
//! side is all an N↔C transpose needs.

use super::convert::Conv;
use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::Label;
use crate::memory::{GTensor, Gmem, LTensor, Lmem};

/// Which buffer a side lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Loc {
    Lmem,
    /// Index of a `Gmem` region.
    Gmem(usize),
    /// A scratch buffer owned by the caller (decompressed data, data to compress).
    Temp,
}

/// A bounds-checked side of a transfer. Row `(o, m, i)` starts at byte
/// `base + outer[o] + mid[m] + i * inner_str` and holds `row` contiguous elements of `esz` bytes;
/// rows are visited with `o` outermost and `i` innermost.
#[derive(Clone, Debug)]
pub(crate) struct Walk {
    pub loc: Loc,
    pub base: usize,
    pub outer: Vec<usize>,
    pub mid: Vec<usize>,
    pub inner: usize,
    pub inner_str: usize,
    pub row: usize,
    pub esz: usize,
}

impl Walk {
    /// A local tensor in (n, c, h, w) order.
    pub fn local(lmem: &Lmem, t: &LTensor, what: Label) -> ExecResult<Walk> {
        let bases = t.channel_bases(lmem, what)?;
        Ok(Walk {
            loc: Loc::Lmem,
            base: 0,
            outer: strided(t.n, t.n_str as usize),
            mid: bases,
            inner: t.h as usize,
            inner_str: t.h_str as usize,
            row: t.w as usize,
            esz: t.esz as usize,
        }
        .merged())
    }

    /// A global tensor in (n, c, h, w) order.
    pub fn global(g: &GTensor) -> Walk {
        Walk {
            loc: Loc::Gmem(g.region),
            base: g.start,
            outer: strided(g.n, g.n_str as usize),
            mid: strided(g.c, g.c_str as usize),
            inner: g.h as usize,
            inner_str: g.h_str as usize,
            row: g.w as usize,
            esz: g.esz as usize,
        }
        .merged()
    }

    /// `len` contiguous elements starting at `base`.
    pub fn flat(loc: Loc, base: usize, len: usize, esz: usize) -> Walk {
        Walk { loc, base, outer: vec![0], mid: vec![0], inner: 1, inner_str: 0, row: len, esz }
    }

    /// Visit the two outer levels in the other order: (n, c) becomes (c, n).
    pub fn swapped(mut self) -> Walk {
        std::mem::swap(&mut self.outer, &mut self.mid);
        self
    }

    /// Rows that follow each other without a gap become one row (fewer, longer copies).
    fn merged(mut self) -> Walk {
        if self.inner > 1 && self.inner_str == self.row * self.esz {
            self.row *= self.inner;
            self.inner = 1;
        }
        self
    }

    pub fn elems(&self) -> usize {
        self.outer.len() * self.mid.len() * self.inner * self.row
    }

    /// Every row as (start byte, elements), in order.
    pub fn rows(&self) -> Rows<'_> {
        let empty = self.outer.is_empty() || self.mid.is_empty() || self.inner == 0 || self.row == 0;
        Rows { w: self, o: if empty { self.outer.len() } else { 0 }, m: 0, i: 0 }
    }
}

/// The rows of a `Walk` (a plain cursor: cheaper per row than nested iterator adapters, which
/// matters when rows are a single element).
pub(crate) struct Rows<'w> {
    w: &'w Walk,
    o: usize,
    m: usize,
    i: usize,
}

impl Iterator for Rows<'_> {
    type Item = (usize, usize);

    #[inline]
    fn next(&mut self) -> Option<(usize, usize)> {
        let w = self.w;
        if self.o >= w.outer.len() {
            return None;
        }
        let pos = w.base + w.outer[self.o] + w.mid[self.m] + self.i * w.inner_str;
        self.i += 1;
        if self.i == w.inner {
            self.i = 0;
            self.m += 1;
            if self.m == w.mid.len() {
                self.m = 0;
                self.o += 1;
            }
        }
        Some((pos, w.row))
    }
}

fn strided(n: u32, stride: usize) -> Vec<usize> {
    (0..n as usize).map(|i| i * stride).collect()
}

/// The pair of buffers a transfer reads and writes.
pub(crate) trait Mem {
    /// Convert `n` elements from source byte `s` to destination byte `d`.
    fn chunk<C: Conv>(&mut self, s: usize, d: usize, n: usize, conv: &C);
}

/// Source and destination in different buffers.
pub(crate) struct Split<'a> {
    pub src: &'a [u8],
    pub dst: &'a mut [u8],
}

impl Mem for Split<'_> {
    #[inline]
    fn chunk<C: Conv>(&mut self, s: usize, d: usize, n: usize, conv: &C) {
        conv.run(&self.src[s..s + n * conv.src_esz()], &mut self.dst[d..d + n * conv.dst_esz()]);
    }
}

/// Source and destination in one buffer (L2L, G2G within one region).
pub(crate) struct Same<'a>(pub &'a mut [u8]);

impl Mem for Same<'_> {
    #[inline]
    fn chunk<C: Conv>(&mut self, s: usize, d: usize, n: usize, conv: &C) {
        let (sl, dl) = (n * conv.src_esz(), n * conv.dst_esz());
        if s + sl <= d {
            let (a, b) = self.0.split_at_mut(d);
            conv.run(&a[s..s + sl], &mut b[..dl])
        } else if d + dl <= s {
            let (a, b) = self.0.split_at_mut(s);
            conv.run(&b[..sl], &mut a[d..d + dl])
        } else if C::IS_COPY {
            self.0.copy_within(s..s + sl, d);
        } else {
            // Overlapping conversion: read a few elements ahead of each write.
            let mut tmp = [0u8; 64];
            let per = tmp.len() / conv.src_esz().max(conv.dst_esz());
            let mut done = 0;
            while done < n {
                let k = per.min(n - done);
                let (so, doff) = (s + done * conv.src_esz(), d + done * conv.dst_esz());
                let kl = k * conv.src_esz();
                tmp[..kl].copy_from_slice(&self.0[so..so + kl]);
                conv.run(&tmp[..kl], &mut self.0[doff..doff + k * conv.dst_esz()]);
                done += k;
            }
        }
    }
}

/// Move every element of `src` to the same logical position of `dst`. The element counts must be
/// equal (checked by the callers, which know which field to blame).
pub(crate) fn pair<M: Mem, C: Conv>(m: &mut M, src: &Walk, dst: &Walk, conv: &C) {
    debug_assert_eq!(src.elems(), dst.elems());
    let mut s = src.rows();
    let mut d = dst.rows();
    let (mut sp, mut sl) = s.next().unwrap_or((0, 0));
    let (mut dp, mut dl) = d.next().unwrap_or((0, 0));
    let (se, de) = (conv.src_esz(), conv.dst_esz());
    while sl > 0 && dl > 0 {
        let n = sl.min(dl);
        m.chunk(sp, dp, n, conv);
        sp += n * se;
        dp += n * de;
        sl -= n;
        dl -= n;
        if sl == 0 {
            (sp, sl) = s.next().unwrap_or((0, 0));
        }
        if dl == 0 {
            (dp, dl) = d.next().unwrap_or((0, 0));
        }
    }
}

/// Run `pair` between two sides that live in local or global memory, picking the buffers.
pub(crate) fn transfer<C: Conv>(lmem: &mut Lmem, gmem: &mut Gmem, src: &Walk, dst: &Walk, conv: &C) -> ExecResult {
    match (src.loc, dst.loc) {
        (Loc::Lmem, Loc::Lmem) => pair(&mut Same(&mut lmem.data), src, dst, conv),
        (Loc::Gmem(r), Loc::Lmem) => {
            pair(&mut Split { src: &gmem.regions[r].data, dst: &mut lmem.data }, src, dst, conv)
        }
        (Loc::Lmem, Loc::Gmem(r)) => {
            pair(&mut Split { src: &lmem.data, dst: &mut gmem.regions[r].data }, src, dst, conv)
        }
        (Loc::Gmem(a), Loc::Gmem(b)) if a == b => pair(&mut Same(&mut gmem.regions[a].data), src, dst, conv),
        (Loc::Gmem(a), Loc::Gmem(b)) => {
            let (s, d) = two_regions(gmem, a, b);
            pair(&mut Split { src: s, dst: d }, src, dst, conv)
        }
        // Scratch buffers are paired by their owners with `pair` directly.
        _ => return Err(ExecErrorKind::Unsupported { what: "TDMA transfer through a scratch buffer".into() }),
    }
    Ok(())
}

/// Region `a` for reading and a different region `b` for writing.
pub(crate) fn two_regions(gmem: &mut Gmem, a: usize, b: usize) -> (&[u8], &mut [u8]) {
    debug_assert_ne!(a, b);
    if a < b {
        let (x, y) = gmem.regions.split_at_mut(b);
        (&x[a].data, &mut y[0].data)
    } else {
        let (x, y) = gmem.regions.split_at_mut(a);
        (&y[0].data, &mut x[b].data)
    }
}

/// The buffer a destination side lives in.
pub(crate) fn buf_mut<'a>(lmem: &'a mut Lmem, gmem: &'a mut Gmem, loc: Loc) -> &'a mut [u8] {
    match loc {
        Loc::Lmem => &mut lmem.data,
        Loc::Gmem(r) => &mut gmem.regions[r].data,
        Loc::Temp => &mut [],
    }
}

/// The buffer a source side lives in.
pub(crate) fn buf<'a>(lmem: &'a Lmem, gmem: &'a Gmem, loc: Loc) -> &'a [u8] {
    match loc {
        Loc::Lmem => &lmem.data,
        Loc::Gmem(r) => &gmem.regions[r].data,
        Loc::Temp => &[],
    }
}
