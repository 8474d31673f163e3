//! The local-memory bytes one descriptor reads and writes, from the operands its executor
//! bounds-checked ([`crate::memory::Touches`]), as sorted, merged ranges of `Lmem::data` indices.

use crate::memory::{LTensor, Lmem, Touches};
use cvsim_isa::Operands;

/// Half-open ranges of `Lmem::data` indices, sorted and disjoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ranges(pub Vec<(usize, usize)>);

/// Past this many rows an operand is taken as its per-channel bounding range: exactness only
/// matters for ordinary tensors, and the row list must stay small.
const MAX_ROWS: usize = 1 << 16;

impl Ranges {
    pub fn from_unsorted(mut v: Vec<(usize, usize)>) -> Ranges {
        v.retain(|r| r.0 < r.1);
        v.sort_unstable();
        let mut out: Vec<(usize, usize)> = Vec::with_capacity(v.len());
        for (s, e) in v {
            match out.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        Ranges(out)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.0.iter().map(|r| r.1 - r.0).sum()
    }

    /// The common bytes of two range sets.
    pub fn intersect(&self, o: &Ranges) -> Ranges {
        let (mut i, mut j) = (0, 0);
        let mut out = Vec::new();
        while i < self.0.len() && j < o.0.len() {
            let (a, b) = (self.0[i], o.0[j]);
            let (s, e) = (a.0.max(b.0), a.1.min(b.1));
            if s < e {
                out.push((s, e));
            }
            if a.1 < b.1 {
                i += 1;
            } else {
                j += 1;
            }
        }
        Ranges(out)
    }
}

/// Every byte an operand covers: per channel (those `keep` accepts), per (n, h) row, the W
/// elements.
fn tensor_rows(lmem: &Lmem, t: &LTensor, keep: &dyn Fn(u32) -> bool, out: &mut Vec<(usize, usize)>) {
    if t.n == 0 || t.c == 0 || t.h == 0 || t.w == 0 {
        return;
    }
    let (lane0, off0) = Lmem::split(t.addr);
    let dense_w = t.w_str == t.esz;
    let rows = t.c as usize * t.n as usize * t.h as usize * if dense_w { 1 } else { t.w as usize };
    for c in (0..t.c).filter(|&c| keep(c)) {
        let l = lane0 + c;
        let base = lmem.index(l % lmem.lanes, off0 + (l / lmem.lanes) * t.c_str);
        if rows > MAX_ROWS {
            let span = (t.n - 1) as usize * t.n_str as usize
                + (t.h - 1) as usize * t.h_str as usize
                + (t.w - 1) as usize * t.w_str as usize
                + t.esz as usize;
            out.push((base, base + span));
            continue;
        }
        for n in 0..t.n {
            for h in 0..t.h {
                let row = base + t.inner(n, h, 0);
                if dense_w {
                    out.push((row, row + (t.w * t.esz) as usize));
                } else {
                    for w in 0..t.w {
                        let at = row + (w * t.w_str) as usize;
                        out.push((at, at + t.esz as usize));
                    }
                }
            }
        }
    }
}

/// What one descriptor read and wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    pub reads: Ranges,
    pub writes: Ranges,
}

impl Footprint {
    /// `writes`: the operands the descriptor writes, from the op list (`Desc::writes`); every
    /// other recorded operand is a read.
    pub fn of(lmem: &Lmem, t: &Touches, writes: Operands) -> Footprint {
        Footprint::filtered(lmem, t, writes, &|_, _| true)
    }

    /// Like [`Footprint::of`], counting channel `c` of the operand at `t.local[k]` only where
    /// `keep(k, c)`.
    pub fn filtered(lmem: &Lmem, t: &Touches, writes: Operands, keep: &dyn Fn(usize, u32) -> bool) -> Footprint {
        let (mut r, mut w) = (Vec::new(), Vec::new());
        for (k, touch) in t.local.iter().enumerate() {
            tensor_rows(
                lmem,
                &touch.tensor,
                &|c| keep(k, c),
                if writes.contains(touch.what.opd) { &mut w } else { &mut r },
            );
        }
        for f in &t.flat {
            (if writes.contains(f.what.opd) { &mut w } else { &mut r }).push((f.start, f.start + f.len));
        }
        Footprint { reads: Ranges::from_unsorted(r), writes: Ranges::from_unsorted(w) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_intersect() {
        let a = Ranges::from_unsorted(vec![(10, 20), (0, 5), (18, 30), (40, 40)]);
        assert_eq!(a.0, [(0, 5), (10, 30)]);
        let b = Ranges::from_unsorted(vec![(4, 12), (29, 50)]);
        assert_eq!(a.intersect(&b).0, [(4, 5), (10, 12), (29, 30)]);
        assert_eq!(a.intersect(&b).bytes(), 4);
    }

    #[test]
    fn channels_wrap_lanes() {
        let lmem = Lmem::new(cvsim_isa::Chip::Cv181x.params());
        // 10 channels from lane 7 over 8 lanes: channels 1..=8 wrap to lanes 0..=7 at + c_str.
        let t = LTensor {
            addr: (7 << 15) | 0x40,
            n: 1,
            c: 10,
            h: 2,
            w: 4,
            n_str: 0,
            c_str: 0x100,
            h_str: 8,
            w_str: 1,
            esz: 1,
        };
        let mut v = Vec::new();
        tensor_rows(&lmem, &t, &|_| true, &mut v);
        let r = Ranges::from_unsorted(v);
        assert_eq!(r.bytes(), 10 * 2 * 4);
        assert!(r.0.contains(&(lmem.index(7, 0x40), lmem.index(7, 0x44))));
        assert!(r.0.contains(&(lmem.index(0, 0x140), lmem.index(0, 0x144))));
        assert!(r.0.contains(&(lmem.index(1, 0x148), lmem.index(1, 0x14c))));
    }
}
