//! Tensors in local memory: start address, shape and per-lane byte strides (isa.md §1.2, §1.3),
//! and the per-layer bump allocator that places them.

use cvsim_isa::chip::LMEM_SHIFT;

/// A tensor in local memory: start address (`lane << 15 | offset`), shape and per-lane byte
/// strides. Channel c lives in lane `(lane0 + c) % lanes` at `off0 + (lane0 + c) / lanes · c_str`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Local {
    pub addr: u32,
    pub n: u32,
    pub c: u32,
    pub h: u32,
    pub w: u32,
    pub n_str: u32,
    pub c_str: u32,
    pub h_str: u32,
    pub w_str: u32,
}

impl Local {
    /// The EU-aligned layout the TIU derives for stride code 0 (isa.md §1.3).
    pub const fn eu_aligned(addr: u32, lanes: u32, n: u32, c: u32, h: u32, w: u32) -> Local {
        let c_str = (h * w).div_ceil(16) * 16;
        Local { addr, n, c, h, w, n_str: c_str * c.div_ceil(lanes), c_str, h_str: w, w_str: 1 }
    }

    /// The EU-aligned layout of a bf16 tensor (2-byte elements).
    pub const fn eu_aligned_bf16(addr: u32, lanes: u32, n: u32, c: u32, h: u32, w: u32) -> Local {
        let c_str = (2 * h * w).div_ceil(16) * 16;
        Local { addr, n, c, h, w, n_str: c_str * c.div_ceil(lanes), c_str, h_str: 2 * w, w_str: 2 }
    }

    /// The compact layout (no alignment of the channel stride).
    pub const fn compact(addr: u32, lanes: u32, n: u32, c: u32, h: u32, w: u32) -> Local {
        let c_str = h * w;
        Local { addr, n, c, h, w, n_str: c_str * c.div_ceil(lanes), c_str, h_str: w, w_str: 1 }
    }

    /// The default EU-aligned matrix layout of a `rows × cols` int8 matrix (isa.md §1.3): each row
    /// is cut into `c` chunks of `w` elements, chunk i being channel i.
    pub const fn matrix(addr: u32, lanes: u32, rows: u32, cols: u32) -> Local {
        let eu = 16;
        let (c, w) = if cols >= eu {
            let w = eu * cols.div_ceil(eu * lanes);
            (cols.div_ceil(w), w)
        } else {
            (1, cols)
        };
        let c_str = w.div_ceil(16) * 16;
        Local { addr, n: rows, c, h: 1, w, n_str: c_str * c.div_ceil(lanes), c_str, h_str: w, w_str: 1 }
    }

    /// The same tensor viewed with another shape and the same strides.
    pub const fn with_shape(self, n: u32, c: u32, h: u32, w: u32) -> Local {
        Local { n, c, h, w, ..self }
    }

    /// The per-lane offsets this tensor occupies.
    pub const fn span(&self) -> (u32, u32) {
        let at = self.addr & ((1 << LMEM_SHIFT) - 1);
        (at, at + self.n_str * self.n)
    }

    /// Bytes used in each lane (the last lane-row of every batch plane counted whole).
    pub const fn bytes_per_lane(&self) -> u32 {
        self.n_str * self.n
    }

    /// (lane, per-lane offset) of element (n, c, h, w).
    pub fn locate(&self, lanes: u32, n: u32, c: u32, h: u32, w: u32) -> (u32, u32) {
        let (lane0, off0) = (self.addr >> LMEM_SHIFT, self.addr & ((1 << LMEM_SHIFT) - 1));
        let l = lane0 + c;
        (l % lanes, off0 + l / lanes * self.c_str + n * self.n_str + h * self.h_str + w * self.w_str)
    }
}

/// Per-lane bytes of an EU-aligned (n, c, h, w) int8 tensor.
pub const fn eu_bytes(lanes: u32, n: u32, c: u32, h: u32, w: u32) -> u32 {
    (h * w).div_ceil(16) * 16 * c.div_ceil(lanes) * n
}

/// Places tensors of one layer in lane 0 onwards, each 16-byte aligned (the TIU's opd1/opd2
/// address fields are 16 bits wide, so everything starts in lane 0, isa.md §1.2).
#[derive(Clone, Debug)]
pub struct Arena {
    next: u32,
    size: u32,
}

impl Arena {
    pub fn new(size: u32) -> Arena {
        Arena { next: 0, size }
    }

    /// The per-lane offset of `bytes` more, or None when the lane is full.
    pub fn alloc(&mut self, bytes: u32) -> Option<u32> {
        let at = self.next;
        let end = at.checked_add(bytes.div_ceil(16) * 16)?;
        if end > self.size {
            return None;
        }
        self.next = end;
        Some(at)
    }

    pub fn used(&self) -> u32 {
        self.next
    }
}
