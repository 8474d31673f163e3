//! Local memory (per lane) and global memory (regions reached through eight base registers).

use crate::error::{ExecErrorKind, ExecResult};
pub use crate::par::Workers;
pub use crate::region_bytes::RegionBytes;
use cvsim_isa::chip::LMEM_SHIFT;
use cvsim_isa::{ChipParams, Operand};
use std::cell::RefCell;

/// How an executor names an operand it resolves: which descriptor operand it is (the op list
/// says whether the operation reads or writes it) and the words an error message uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Label {
    pub opd: Operand,
    pub text: &'static str,
}

impl Label {
    pub const fn new(opd: Operand, text: &'static str) -> Label {
        Label { opd, text }
    }
}

/// One bounds-checked local tensor an executor used, with the executor's label for it;
/// recorded only when tracing is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LTouch {
    pub tensor: LTensor,
    pub what: Label,
}

/// A flat local-memory range (`Lmem::data` indices) an executor used without a tensor view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LFlat {
    pub start: usize,
    pub len: usize,
    pub what: Label,
}

/// What one descriptor's bounds checks saw: the operands the executors resolved, in order.
/// Only the checker and debugger switch this on; the executors pay one branch per operand.
#[derive(Clone, Debug, Default)]
pub struct Touches {
    pub local: Vec<LTouch>,
    pub flat: Vec<LFlat>,
}

/// Local memory: `lanes` × `per_lane` bytes, stored lane after lane.
#[derive(Clone)]
pub struct Lmem {
    pub lanes: u32,
    pub per_lane: u32,
    pub data: Vec<u8>,
    /// When set, every bounds-checked operand is recorded here (see [`Touches`]).
    pub trace: Option<RefCell<Touches>>,
    /// Host threads a TIU executor may split one descriptor across (one unless asked).
    pub workers: Workers,
}

impl Lmem {
    pub fn new(p: &ChipParams) -> Lmem {
        Lmem {
            lanes: p.lanes,
            per_lane: p.lmem_per_lane,
            data: vec![0; (p.lanes * p.lmem_per_lane) as usize],
            trace: None,
            workers: Workers::default(),
        }
    }

    /// Split an LMEM address (`lane << 15 | offset`) into (lane, offset).
    #[inline]
    pub fn split(addr: u32) -> (u32, u32) {
        (addr >> LMEM_SHIFT, addr & ((1 << LMEM_SHIFT) - 1))
    }

    /// Index into `data` of byte `offset` in `lane`.
    #[inline]
    pub fn index(&self, lane: u32, offset: u32) -> usize {
        (lane * self.per_lane + offset) as usize
    }

    pub fn fill(&mut self, v: u8) {
        self.data.fill(v);
    }

    /// Replace the last `recorded` operand records with `planes` copies of `t`, `b_str` bytes
    /// apart: an executor that bounds-checks a multi-plane operand (16-bit or 32-bit integers as
    /// byte planes) in one widened check touches only the planes, not the bytes between them.
    pub fn retrace_planes(&self, recorded: usize, t: &LTensor, planes: u32, b_str: u32, what: Label) {
        if let Some(tr) = &self.trace {
            let mut tr = tr.borrow_mut();
            let keep = tr.local.len().saturating_sub(recorded);
            tr.local.truncate(keep);
            for p in 0..planes {
                tr.local.push(LTouch { tensor: LTensor { addr: t.addr + p * b_str, ..*t }, what });
            }
        }
    }

    /// Record a flat range an executor addresses without a tensor view.
    #[inline]
    pub fn note_flat(&self, start: usize, len: usize, what: Label) {
        if let Some(t) = &self.trace {
            t.borrow_mut().flat.push(LFlat { start, len, what });
        }
    }
}

/// A tensor in local memory: start address, shape and byte strides. Channel `c` lives in lane
/// `(lane0 + c) % lanes` at per-lane offset `off0 + (lane0 + c) / lanes * c_str` (spec `isa.md` §1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LTensor {
    pub addr: u32,
    pub n: u32,
    pub c: u32,
    pub h: u32,
    pub w: u32,
    pub n_str: u32,
    pub c_str: u32,
    pub h_str: u32,
    pub w_str: u32,
    /// Element size in bytes (1 or 2; 4 for 32-bit views).
    pub esz: u32,
}

impl LTensor {
    /// Check every byte the tensor covers lies inside its lane, and return, per channel, the
    /// `Lmem::data` index of element (0, c, 0, 0).
    pub fn channel_bases(&self, lmem: &Lmem, what: Label) -> ExecResult<Vec<usize>> {
        let (lane0, off0) = Lmem::split(self.addr);
        if lane0 >= lmem.lanes {
            return Err(ExecErrorKind::LmemOutOfRange {
                what: what.text,
                lane: lane0,
                start: off0 as u64,
                end: off0 as u64 + 1,
                limit: lmem.per_lane,
            });
        }
        if self.n == 0 || self.c == 0 || self.h == 0 || self.w == 0 {
            return Ok(Vec::new());
        }
        let span = (self.n as u64 - 1) * self.n_str as u64
            + (self.h as u64 - 1) * self.h_str as u64
            + (self.w as u64 - 1) * self.w_str as u64
            + self.esz as u64;
        let mut bases = Vec::with_capacity(self.c as usize);
        for c in 0..self.c {
            let l = lane0 + c;
            let lane = l % lmem.lanes;
            let off = off0 as u64 + (l / lmem.lanes) as u64 * self.c_str as u64;
            if off + span > lmem.per_lane as u64 {
                return Err(ExecErrorKind::LmemOutOfRange {
                    what: what.text,
                    lane,
                    start: off,
                    end: off + span,
                    limit: lmem.per_lane,
                });
            }
            bases.push(lmem.index(lane, off as u32));
        }
        if let Some(t) = &lmem.trace {
            t.borrow_mut().local.push(LTouch { tensor: *self, what });
        }
        Ok(bases)
    }

    /// Whether the two tensors may share a byte: their [`LTensor::lane_offsets`] meet. An executor
    /// that writes `self` while still reading `other` must read all of `other` first then.
    pub fn may_overlap(&self, other: &LTensor, lanes: u32) -> bool {
        let (a, b) = (self.lane_offsets(lanes), other.lane_offsets(lanes));
        a.start < b.end && b.start < a.end
    }

    /// The offsets within a lane the tensor can touch, in any lane: a superset of its bytes, so
    /// that two tensors whose ranges are disjoint share no byte.
    pub fn lane_offsets(&self, lanes: u32) -> std::ops::Range<u64> {
        let (lane0, off0) = Lmem::split(self.addr);
        if self.n == 0 || self.c == 0 || self.h == 0 || self.w == 0 || lanes == 0 {
            return off0 as u64..off0 as u64;
        }
        let span = (self.n as u64 - 1) * self.n_str as u64
            + (self.h as u64 - 1) * self.h_str as u64
            + (self.w as u64 - 1) * self.w_str as u64
            + self.esz as u64;
        let wraps = (lane0 as u64 + self.c as u64 - 1) / lanes as u64;
        off0 as u64..off0 as u64 + wraps * self.c_str as u64 + span
    }

    /// Byte offset of (n, h, w) from the channel base.
    #[inline]
    pub fn inner(&self, n: u32, h: u32, w: u32) -> usize {
        (n * self.n_str + h * self.h_str + w * self.w_str) as usize
    }
}

/// One allocation of global memory.
#[derive(Clone, Debug)]
pub struct Region {
    pub name: String,
    /// Device address of the first byte (what base register + descriptor offset gives).
    pub base: u64,
    pub data: RegionBytes,
}

/// Global memory: the allocated regions and the eight TDMA base registers.
#[derive(Clone, Debug, Default)]
pub struct Gmem {
    pub regions: Vec<Region>,
    pub base_regs: [u64; 8],
    /// When set, every resolved access is recorded as (device address, byte span), in the order
    /// the executor resolved them (a TDMA resolves its source before its destination).
    pub trace: Option<RefCell<Vec<(u64, u64)>>>,
}

/// Device addresses are 32-bit: CV183x emitters add 4 GiB to every global address and the
/// simulator maps it back modulo 4 GiB (conformance `vectors/README.md`, "Address mapping").
pub const DDR_MASK: u64 = 0xFFFF_FFFF;

impl Gmem {
    pub fn new() -> Gmem {
        Gmem::default()
    }

    /// Add a zeroed region; returns its index. Regions must not overlap.
    pub fn add_region(&mut self, name: impl Into<String>, base: u64, len: usize) -> usize {
        self.add_region_with(name, base, RegionBytes::zeroed(len))
    }

    /// Add a region holding `data` (e.g. weights shared with the model file); returns its index.
    pub fn add_region_with(&mut self, name: impl Into<String>, base: u64, data: RegionBytes) -> usize {
        self.regions.push(Region { name: name.into(), base: base & DDR_MASK, data });
        self.regions.len() - 1
    }

    /// The device address of a descriptor's (base register, 40-bit offset) pair.
    #[inline]
    pub fn device_addr(&self, sel: u32, offset: u64) -> u64 {
        (self.base_regs[(sel & 7) as usize].wrapping_add(offset)) & DDR_MASK
    }

    /// Find the region holding `[addr, addr + len)`: (region index, byte index of addr in it).
    pub fn locate(&self, addr: u64, len: u64) -> Option<(usize, usize)> {
        self.regions.iter().enumerate().find_map(|(i, r)| {
            (addr >= r.base && addr + len <= r.base + r.data.len() as u64).then(|| (i, (addr - r.base) as usize))
        })
    }

    /// Resolve an access of `len` bytes starting at (sel, offset), with a clear error if it is not
    /// inside one region.
    pub fn resolve(&self, sel: u32, offset: u64, len: u64) -> ExecResult<(usize, usize)> {
        let start = self.device_addr(sel, offset);
        if let Some(t) = &self.trace {
            t.borrow_mut().push((start, len));
        }
        self.locate(start, len.max(1)).ok_or_else(|| {
            let end = start + len;
            let span = |r: &Region| format!("`{}` ({:#x}..{:#x})", r.name, r.base, r.base + r.data.len() as u64);
            let region = match self.regions.iter().find(|r| start >= r.base && start < r.base + r.data.len() as u64) {
                Some(r) => format!(
                    "runs past the end of region {} by {:#x} bytes",
                    span(r),
                    end - (r.base + r.data.len() as u64)
                ),
                None => match self.regions.iter().min_by_key(|r| {
                    let last = r.base + r.data.len() as u64;
                    if start < r.base {
                        r.base - start
                    } else {
                        start - last
                    }
                }) {
                    Some(r) => format!("is outside every allocated region (nearest: {})", span(r)),
                    None => "is outside global memory (no region is allocated)".to_string(),
                },
            };
            ExecErrorKind::GmemOutOfRange { sel, offset, start, end, region }
        })
    }

    pub fn read(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let (r, o) = self.locate(addr & DDR_MASK, len as u64)?;
        Some(&self.regions[r].data[o..o + len])
    }

    pub fn write(&mut self, addr: u64, bytes: &[u8]) -> Option<()> {
        let (r, o) = self.locate(addr & DDR_MASK, bytes.len() as u64)?;
        self.regions[r].data[o..o + bytes.len()].copy_from_slice(bytes);
        Some(())
    }
}

/// A tensor in global memory, resolved to one region: byte index of element (0,0,0,0) and strides.
#[derive(Clone, Copy, Debug)]
pub struct GTensor {
    pub region: usize,
    pub start: usize,
    pub n: u32,
    pub c: u32,
    pub h: u32,
    pub w: u32,
    pub n_str: u64,
    pub c_str: u64,
    pub h_str: u64,
    pub esz: u32,
}

impl GTensor {
    /// Resolve and bounds-check a global tensor; W is dense (no W stride field in TDMA).
    #[allow(clippy::too_many_arguments)]
    pub fn resolve(
        gmem: &Gmem,
        sel: u32,
        offset: u64,
        n: u32,
        c: u32,
        h: u32,
        w: u32,
        n_str: u64,
        c_str: u64,
        h_str: u64,
        esz: u32,
    ) -> ExecResult<GTensor> {
        let span = if n == 0 || c == 0 || h == 0 || w == 0 {
            0
        } else {
            (n as u64 - 1) * n_str + (c as u64 - 1) * c_str + (h as u64 - 1) * h_str + w as u64 * esz as u64
        };
        let (region, start) = gmem.resolve(sel, offset, span)?;
        Ok(GTensor { region, start, n, c, h, w, n_str, c_str, h_str, esz })
    }

    #[inline]
    pub fn index(&self, n: u32, c: u32, h: u32) -> usize {
        self.start + (n as u64 * self.n_str + c as u64 * self.c_str + h as u64 * self.h_str) as usize
    }
}
