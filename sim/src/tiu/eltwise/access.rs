//! Operand access shared by the element-wise, lookup-table and mdsum executors: each operand is
//! bounds-checked once per descriptor, then read and written a row chunk at a time with plain
//! strided loops (no per-element dispatch).

use crate::error::{ExecErrorKind, ExecResult};
use crate::memory::Label;
use crate::memory::{LTensor, Lmem};

/// Elements processed per gather → compute → scatter step. A row (fixed n, c, h) is cut into chunks
/// of at most this many elements; the buffers live on the stack.
pub(crate) const CHUNK: usize = 64;

/// An operand in local memory after its bounds check: the data index of element (0, c, 0, 0) per
/// channel, and its strides in bytes.
#[derive(Clone, Debug)]
pub(crate) struct Mem {
    bases: Vec<usize>,
    n_str: usize,
    h_str: usize,
    w_str: usize,
    /// Distance between byte planes (high byte of a 16-bit integer, planes of a partial sum).
    b_str: usize,
}

impl Mem {
    /// Check that every plane of the tensor lies inside its lanes. `planes` byte planes (1 for
    /// 8-bit or bf16 data, 2 for 16-bit integers, 4 for 32-bit partial sums) sit `b_str` apart.
    pub fn new(t: &LTensor, planes: u32, b_str: u32, lmem: &Lmem, what: Label) -> ExecResult<Mem> {
        // The planes extend the footprint of every element by (planes - 1) * b_str bytes; checking
        // the widened last element covers all of them.
        let foot = (planes as u64 - 1) * b_str as u64 + t.esz as u64;
        if foot > lmem.per_lane as u64 {
            let (lane, start) = Lmem::split(t.addr);
            let start = start as u64;
            return Err(ExecErrorKind::LmemOutOfRange {
                what: what.text,
                lane,
                start,
                end: start + foot,
                limit: lmem.per_lane,
            });
        }
        let widened = LTensor { esz: foot as u32, ..*t };
        let bases = widened.channel_bases(lmem, what)?;
        if planes > 1 {
            lmem.retrace_planes(1, t, planes, b_str, what);
        }
        Ok(Mem {
            bases,
            n_str: t.n_str as usize,
            h_str: t.h_str as usize,
            w_str: t.w_str as usize,
            b_str: b_str as usize,
        })
    }

    /// Data index of element (n, c, h, w).
    #[inline]
    pub fn at(&self, n: usize, c: usize, h: usize, w: usize) -> usize {
        self.bases[c] + n * self.n_str + h * self.h_str + w * self.w_str
    }

    /// Data index of the first element of a row chunk.
    #[inline]
    pub fn start(&self, p: Pos) -> usize {
        self.at(p.n, p.c, p.h, p.w)
    }

    #[inline]
    pub fn w_str(&self) -> usize {
        self.w_str
    }

    #[inline]
    pub fn b_str(&self) -> usize {
        self.b_str
    }
}

/// The first element of a row chunk: its (n, c, h) and starting w.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pos {
    pub n: usize,
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

/// Calls `f(pos, len)` for every row chunk of an (n, c, h, w) iteration space, in n, c, h, w
/// order.
#[inline]
pub(crate) fn for_chunks(shape: [u32; 4], mut f: impl FnMut(Pos, usize)) {
    let [n, c, h, w] = shape.map(|v| v as usize);
    for n in 0..n {
        for c in 0..c {
            for h in 0..h {
                let mut w0 = 0;
                while w0 < w {
                    let len = CHUNK.min(w - w0);
                    f(Pos { n, c, h, w: w0 }, len);
                    w0 += len;
                }
            }
        }
    }
}

/// An integer operand of an element-wise op: a constant, or 8-bit or 16-bit (two byte planes)
/// data, signed or unsigned.
#[derive(Clone, Debug)]
pub(crate) enum IntOpd {
    Const(i32),
    Mem { m: Mem, wide: bool, signed: bool },
}

impl IntOpd {
    /// Read `out.len()` elements of a row from `p` on, widened to i32.
    #[inline]
    pub fn gather(&self, data: &[u8], p: Pos, out: &mut [i32]) {
        let (m, wide, signed) = match self {
            IntOpd::Const(v) => {
                out.fill(*v);
                return;
            }
            IntOpd::Mem { m, wide, signed } => (m, *wide, *signed),
        };
        let (i, ws, bs) = (m.start(p), m.w_str, m.b_str);
        match (wide, signed) {
            (false, true) => load8(data, i, ws, out, |b| b as i8 as i32),
            (false, false) => load8(data, i, ws, out, |b| b as i32),
            // A signed 16-bit value's high plane carries the sign: (int8)high * 256 + (uint8)low.
            (true, true) => load16(data, i, ws, bs, out, |lo, hi| i16::from_le_bytes([lo, hi]) as i32),
            (true, false) => load16(data, i, ws, bs, out, |lo, hi| u16::from_le_bytes([lo, hi]) as i32),
        }
    }
}

// The row loops below have a contiguous fast path (w stride = element size) that the compiler
// vectorises, a broadcast path (w stride 0) and a general strided one.

#[inline(always)]
fn load8(data: &[u8], i: usize, ws: usize, out: &mut [i32], f: impl Fn(u8) -> i32) {
    match ws {
        1 => {
            let n = out.len();
            out.iter_mut().zip(&data[i..i + n]).for_each(|(o, &b)| *o = f(b))
        }
        0 => out.fill(f(data[i])),
        _ => {
            let mut i = i;
            for o in out {
                *o = f(data[i]);
                i += ws;
            }
        }
    }
}

#[inline(always)]
fn load16(data: &[u8], i: usize, ws: usize, bs: usize, out: &mut [i32], f: impl Fn(u8, u8) -> i32) {
    let n = out.len();
    match ws {
        1 => {
            let (lo, hi) = (&data[i..i + n], &data[i + bs..i + bs + n]);
            for k in 0..n {
                out[k] = f(lo[k], hi[k]);
            }
        }
        0 => out.fill(f(data[i], data[i + bs])),
        _ => {
            let mut i = i;
            for o in out {
                *o = f(data[i], data[i + bs]);
                i += ws;
            }
        }
    }
}

/// Write the low 8 (or, with `wide`, 16 as two planes) bits of each value to a row from `p` on.
#[inline]
pub(crate) fn scatter_int(m: &Mem, wide: bool, data: &mut [u8], p: Pos, vals: &[i32]) {
    let (i, ws, bs, n) = (m.start(p), m.w_str, m.b_str, vals.len());
    if ws == 1 {
        data[i..i + n].iter_mut().zip(vals).for_each(|(d, &v)| *d = v as u8);
        if wide {
            data[i + bs..i + bs + n].iter_mut().zip(vals).for_each(|(d, &v)| *d = (v >> 8) as u8);
        }
    } else {
        // A zero stride writes every value to the same place; the last one stays.
        let mut i = i;
        for &v in vals {
            data[i] = v as u8;
            if wide {
                data[i + bs] = (v >> 8) as u8;
            }
            i += ws;
        }
    }
}

/// A 16-bit (bf16) operand: a constant bit pattern or 2-byte little-endian elements.
#[derive(Clone, Debug)]
pub(crate) enum HalfOpd {
    Const(u16),
    Mem(Mem),
}

impl HalfOpd {
    #[inline]
    pub fn gather(&self, data: &[u8], p: Pos, out: &mut [u16]) {
        match self {
            HalfOpd::Const(v) => out.fill(*v),
            HalfOpd::Mem(m) => gather_u16(m, data, p, out),
        }
    }
}

#[inline]
pub(crate) fn gather_u16(m: &Mem, data: &[u8], p: Pos, out: &mut [u16]) {
    let (i, ws) = (m.start(p), m.w_str);
    match ws {
        2 => {
            let n = out.len();
            out.iter_mut()
                .zip(data[i..i + 2 * n].chunks_exact(2))
                .for_each(|(o, b)| *o = u16::from_le_bytes([b[0], b[1]]))
        }
        0 => out.fill(u16::from_le_bytes([data[i], data[i + 1]])),
        _ => {
            let mut i = i;
            for o in out {
                *o = u16::from_le_bytes([data[i], data[i + 1]]);
                i += ws;
            }
        }
    }
}

#[inline]
pub(crate) fn scatter_u16(m: &Mem, data: &mut [u8], p: Pos, vals: &[u16]) {
    let (i, ws) = (m.start(p), m.w_str);
    if ws == 2 {
        data[i..i + 2 * vals.len()]
            .chunks_exact_mut(2)
            .zip(vals)
            .for_each(|(d, v)| d.copy_from_slice(&v.to_le_bytes()));
    } else {
        let mut i = i;
        for &v in vals {
            data[i..i + 2].copy_from_slice(&v.to_le_bytes());
            i += ws;
        }
    }
}

/// The operand width a seg / int8 field selects: 1 = 8-bit, 0 = 16-bit byte planes.
pub(crate) fn is_wide(field: &'static str, seg: u32) -> ExecResult<bool> {
    match seg {
        1 => Ok(false),
        0 => Ok(true),
        v => Err(ExecErrorKind::Unsupported {
            what: format!("`{field}` = {v} (only 0 = 16-bit and 1 = 8-bit are documented)"),
        }),
    }
}
