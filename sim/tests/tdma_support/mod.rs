//! Shared helpers of the TDMA tests: a machine with random memory contents, descriptor builders,
//! and the reference addressing of spec `isa.md` §1.2 and §4.1 written out element by element.
#![allow(dead_code)]

use cvsim_isa::{Chip, TdmaDesc};
use cvsim_sim::memory::{Gmem, Lmem};
use cvsim_sim::{tdma, ExecErrorKind};
use proptest::prelude::*;

/// Device address of the one global region every test uses (through base register 0).
pub const GBASE: u64 = 0x0100_0000;
pub const GLEN: usize = 1 << 18;

pub struct Env {
    pub chip: Chip,
    pub lmem: Lmem,
    pub gmem: Gmem,
}

fn xorshift(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

impl Env {
    /// Local and global memory filled with seeded noise, so stray or missing writes show.
    pub fn new(chip: Chip, seed: u64) -> Env {
        let mut lmem = Lmem::new(chip.params());
        let mut gmem = Gmem::new();
        gmem.add_region("test", GBASE, GLEN);
        let mut s = seed | 1;
        for b in lmem.data.iter_mut().chain(gmem.regions[0].data.iter_mut()) {
            *b = xorshift(&mut s) as u8;
        }
        Env { chip, lmem, gmem }
    }

    pub fn run(&mut self, d: &TdmaDesc) -> Result<(), ExecErrorKind> {
        tdma::exec(self.chip, &mut self.lmem, &mut self.gmem, d)
    }

    pub fn lanes(&self) -> u32 {
        self.lmem.lanes
    }

    /// Global bytes, indexed from `GBASE`.
    pub fn g(&self) -> &[u8] {
        &self.gmem.regions[0].data
    }

    pub fn g_mut(&mut self) -> &mut [u8] {
        &mut self.gmem.regions[0].data
    }
}

/// A descriptor as the emitters start one: valid, barrier, int8 on both sides.
pub fn desc(trans_dir: u32) -> TdmaDesc {
    TdmaDesc { vld: 1, bar_en: 1, trans_dir, src_fmt: 1, dst_fmt: 1, ..Default::default() }
}

/// Source address, (n, c, h, w) and (n, c, h) strides.
pub fn set_src(d: &mut TdmaDesc, addr: u64, [n, c, h, w]: [u32; 4], [ns, cs, hs]: [u32; 3]) {
    d.src_base_addr_low = addr as u32;
    d.src_base_addr_high = (addr >> 32) as u32;
    (d.src_n, d.src_c, d.src_h, d.src_w) = (n, c, h, w);
    d.src_n_stride = ns;
    d.src_c_stride_low = cs & 0xFFFF;
    d.src_c_stride_high = cs >> 16;
    d.src_h_stride = hs;
}

/// Destination address, (c, h, w) and (n, c, h) strides (N comes from `src_n`).
pub fn set_dst(d: &mut TdmaDesc, addr: u64, [c, h, w]: [u32; 3], [ns, cs, hs]: [u32; 3]) {
    d.dst_base_addr_low = addr as u32;
    d.dst_base_addr_high = (addr >> 32) as u32;
    (d.dst_c, d.dst_h, d.dst_w) = (c, h, w);
    d.dst_n_stride = ns;
    d.dst_c_stride_low = cs & 0xFFFF;
    d.dst_c_stride_high = cs >> 16;
    d.dst_h_stride = hs;
}

/// A tensor in local memory: address `lane << 15 | offset`, shape and byte strides (W dense).
#[derive(Clone, Copy, Debug)]
pub struct Local {
    pub addr: u32,
    pub shape: [u32; 4],
    pub str: [u32; 3],
    pub esz: u32,
}

impl Local {
    /// Spec §1.2: channel c lives in lane (L0 + c) % lanes at offset
    /// off0 + (L0 + c) / lanes · c_str; then n·n_str + h·h_str + w·esz.
    pub fn idx(&self, lmem: &Lmem, n: u32, c: u32, h: u32, w: u32) -> usize {
        let (lane0, off0) = (self.addr >> 15, self.addr & 0x7FFF);
        let l = lane0 + c;
        let lane = l % lmem.lanes;
        let off = off0 + l / lmem.lanes * self.str[1] + n * self.str[0] + h * self.str[2] + w * self.esz;
        (lane * lmem.per_lane + off) as usize
    }
}

/// A tensor in global memory at `GBASE + off`, W dense.
#[derive(Clone, Copy, Debug)]
pub struct Global {
    pub off: u64,
    pub shape: [u32; 4],
    pub str: [u32; 3],
    pub esz: u32,
}

impl Global {
    pub fn addr(&self) -> u64 {
        GBASE + self.off
    }
    /// Spec §4.1: n·n_str + c·c_str + h·h_str + w·esz from the start.
    pub fn idx(&self, n: u32, c: u32, h: u32, w: u32) -> usize {
        (self.off
            + n as u64 * self.str[0] as u64
            + c as u64 * self.str[1] as u64
            + h as u64 * self.str[2] as u64
            + (w * self.esz) as u64) as usize
    }
}

pub fn chips() -> impl Strategy<Value = Chip> {
    prop::sample::select(Chip::ALL.to_vec())
}

/// A small (n, c, h, w); c reaches past the lane count of every chip.
pub fn shapes(max_c: u32) -> impl Strategy<Value = [u32; 4]> {
    (1u32..=3, 1u32..=max_c, 1u32..=5, 1u32..=12).prop_map(|(n, c, h, w)| [n, c, h, w])
}

/// Independent small choices drawn from one proptest value.
pub struct Picks(u64);

impl Picks {
    pub fn new(seed: u64) -> Picks {
        Picks(seed | 1)
    }
    /// A value in `0..n`.
    pub fn below(&mut self, n: u32) -> u32 {
        (xorshift(&mut self.0) % n as u64) as u32
    }
}

/// A non-overlapping local layout of `shape` chosen by `sel`: start lane, offset (16-byte steps
/// after `base`), EU-aligned or compact channel stride, H and N padding.
pub fn pick_local(lanes: u32, shape: [u32; 4], esz: u32, base: u32, sel: u64) -> Local {
    let mut p = Picks::new(sel);
    let [n, c, h, w] = shape;
    let lane0 = p.below(lanes);
    let h_str = (w + p.below(3)) * esz;
    let plane = (h - 1) * h_str + w * esz;
    let c_str = if p.below(2) == 1 { plane.div_ceil(16) * 16 } else { plane };
    let n_str = c_str * (lane0 + c).div_ceil(lanes) + p.below(3) * esz;
    let off = base + 16 * p.below(8);
    assert!(off + n * n_str <= 32 * 1024, "layout too large for a lane");
    Local { addr: lane0 << 15 | off, shape, str: [n_str, c_str, h_str], esz }
}

/// A non-overlapping global layout of `shape` at `off`, with stride padding chosen by `sel`.
pub fn pick_global(shape: [u32; 4], esz: u32, off: u64, sel: u64) -> Global {
    let mut p = Picks::new(sel);
    let [_, c, h, w] = shape;
    let h_str = (w + p.below(3)) * esz;
    let c_str = (h - 1) * h_str + w * esz + p.below(5);
    let n_str = (c - 1) * c_str + (h - 1) * h_str + w * esz + p.below(7);
    Global { off, shape, str: [n_str, c_str, h_str], esz }
}

/// Dense global strides of `shape`.
pub fn dense(shape: [u32; 4], esz: u32) -> [u32; 3] {
    let [_, c, h, w] = shape;
    [c * h * w * esz, h * w * esz, w * esz]
}

/// Every (n, c, h, w) of `shape` in row-major order.
pub fn each([n, c, h, w]: [u32; 4]) -> impl Iterator<Item = (u32, u32, u32, u32)> {
    (0..n).flat_map(move |a| (0..c).flat_map(move |b| (0..h).flat_map(move |e| (0..w).map(move |f| (a, b, e, f)))))
}
