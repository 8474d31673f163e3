//! TDMA time of one descriptor: a fixed latency plus the slower of its DRAM side and its
//! local-memory side.
//!
//! - DRAM side: the access pattern of the global tensor ([`super::ddr`]), charged by the beats
//!   it touches at the effective DDR bandwidth (peak × efficiency × (1 − `ddr_load`), at most the
//!   TDMA engine's own streaming rate), plus a page
//!   switch penalty per discontiguous row that opens a new DRAM page. A G2G copy reads and writes
//!   over the same bus, so both sides add up.
//! - Local side: 16-byte local-memory rows through the TDMA's local port (16 bytes per TPU cycle).
//!   An L2L move has only this side (unlike the estimator, which prices it at DRAM bandwidth).
//! - Compressed transfers move the VLC stream (header, kmap and coded blocks) over DRAM, not the
//!   raw tensor; its size comes from the caller when known, else from an assumed ratio.

use super::config::{TdmaConfig, TimingConfig};
use super::ddr::{traffic, Pattern, Traffic};
use cvsim_isa::op::{Direction, TdmaKind};
use cvsim_isa::{Chip, TdmaDesc};

/// What a TDMA descriptor does on the bus, as the PMU classifies it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum TdmaClass {
    /// DRAM → local (PMU type 1).
    Load,
    /// Local → DRAM (PMU type 2).
    Store,
    /// Local → local (PMU type 3).
    Move,
    /// DRAM → DRAM: the PMU writes a load and a store record with the same times.
    Copy,
}

impl TdmaClass {
    pub fn of(dir: Direction) -> TdmaClass {
        match dir {
            Direction::G2L => TdmaClass::Load,
            Direction::L2G => TdmaClass::Store,
            Direction::L2L => TdmaClass::Move,
            Direction::G2G => TdmaClass::Copy,
        }
    }
}

/// The cost of one TDMA descriptor.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TdmaCost {
    /// TPU cycles from start to completion (≥ 1).
    pub cycles: u64,
    /// DRAM reads.
    pub read: Traffic,
    /// DRAM writes.
    pub write: Traffic,
    /// 16-byte local-memory rows moved through the local port (the larger side for L2L).
    pub lmem_rows: u64,
    /// DRAM busy time in ns (after `ddr_load`), for the bandwidth trace.
    pub dram_ns: f64,
}

/// Everything about the machine a TDMA cost depends on.
#[derive(Clone, Copy, Debug)]
pub struct TdmaContext<'a> {
    pub cfg: &'a TdmaConfig,
    pub clock_hz: u64,
    /// Effective DRAM bandwidth for TDMA in bytes per ns: peak × efficiency × (1 − ddr_load),
    /// capped by the TDMA engine's own streaming limit ([`TdmaConfig::stream_bytes_per_ns`]).
    pub dram_bytes_per_ns: f64,
    /// DRAM time stretch from other bus masters: 1 / (1 − ddr_load).
    pub load_stretch: f64,
}

impl<'a> TdmaContext<'a> {
    /// The context of `chip` under `cfg`.
    pub fn new(cfg: &'a TimingConfig, chip: Chip) -> TdmaContext<'a> {
        let ddr = cfg.ddr.get(chip);
        let load_stretch = 1.0 / (1.0 - cfg.ddr_load);
        TdmaContext {
            cfg: &cfg.tdma,
            clock_hz: cfg.clock_hz(chip),
            dram_bytes_per_ns: (ddr.peak_bytes_per_s() * ddr.efficiency / load_stretch / 1e9)
                .min(cfg.tdma.stream_bytes_per_ns),
            load_stretch,
        }
    }
}

fn esz(fmt: u32) -> u64 {
    if fmt == 2 {
        2
    } else {
        1
    }
}

/// Bytes of the VLC stream for `raw` bytes of data: 16-byte header, one kmap byte per block padded
/// to 16, coded data padded to 16 (`isa.md` §4.4).
pub fn vlc_stream_bytes(raw: u64, bf16: bool, ratio: f64) -> u64 {
    let block = if bf16 { 32 } else { 16 };
    let blocks = raw.div_ceil(block);
    let coded = ((raw as f64 * ratio).ceil() as u64).div_ceil(16) * 16;
    16 + blocks.div_ceil(16) * 16 + coded
}

/// The destination tensor's byte count (what a decompressing load produces, or what a
/// compressing store consumes).
fn dst_raw_bytes(d: &TdmaDesc) -> u64 {
    d.src_n.max(1) as u64 * d.dst_c.max(1) as u64 * d.dst_h.max(1) as u64 * d.dst_w as u64 * esz(d.dst_fmt)
}

/// The DRAM side a load reads.
fn load_pattern(d: &TdmaDesc, kind: TdmaKind, compressed_bytes: Option<u64>, cfg: &TdmaConfig) -> Option<Pattern> {
    let e = esz(d.src_fmt);
    let a = d.src_addr();
    if d.compress_en != 0 {
        let bytes = compressed_bytes
            .unwrap_or_else(|| vlc_stream_bytes(dst_raw_bytes(d), d.src_fmt == 2, cfg.compression_ratio));
        return Some(Pattern::contiguous(a, bytes));
    }
    let (n, c, h, w) = (d.src_n as u64, d.src_c as u64, d.src_h as u64, d.src_w as u64);
    let (ns, cs, hs) = (d.src_n_stride as u64, d.src_c_stride() as u64, d.src_h_stride as u64);
    Some(match kind {
        TdmaKind::General => Pattern::contiguous(a, d.src_n_stride as u64),
        TdmaKind::Fill => return None,
        // Rows × cols with the C stride as row stride (N and C both hold the row count).
        TdmaKind::Matrix => Pattern { addr: a, row_bytes: w * e, counts: [1, 1, c], strides: [0, 0, cs] },
        // Read in tiles of 128 columns (estimator: 8 × 128 tiles, one transfer per tile row).
        TdmaKind::RowColTranspose => {
            let piece = w.min(128);
            Pattern { addr: a, row_bytes: piece * e, counts: [1, c, w.div_ceil(128)], strides: [0, cs, 128 * e] }
        }
        // Pixel-interleaved rows of W × C elements.
        TdmaKind::HwcToChw(ch) => {
            Pattern { addr: a, row_bytes: w * ch as u64 * e, counts: [n, 1, h], strides: [ns, 0, hs] }
        }
        _ => Pattern { addr: a, row_bytes: w * e, counts: [n, c, h], strides: [ns, cs, hs] },
    })
}

/// The DRAM side a store writes.
fn store_pattern(d: &TdmaDesc, kind: TdmaKind, compressed_bytes: Option<u64>, cfg: &TdmaConfig) -> Pattern {
    let e = esz(d.dst_fmt);
    let a = d.dst_addr();
    if d.compress_en != 0 {
        let bytes = compressed_bytes
            .unwrap_or_else(|| vlc_stream_bytes(dst_raw_bytes(d), d.dst_fmt == 2, cfg.compression_ratio));
        return Pattern::contiguous(a, bytes);
    }
    let (c, h, w) = (d.dst_c as u64, d.dst_h as u64, d.dst_w as u64);
    let (ns, cs, hs) = (d.dst_n_stride as u64, d.dst_c_stride() as u64, d.dst_h_stride as u64);
    match kind {
        TdmaKind::General => Pattern::contiguous(a, d.src_n_stride as u64),
        TdmaKind::Matrix | TdmaKind::RowColTranspose => {
            Pattern { addr: a, row_bytes: w * e, counts: [1, 1, c], strides: [0, 0, cs] }
        }
        // Destination (C, N, H·W): its N count is the source C.
        TdmaKind::NcTranspose => {
            Pattern { addr: a, row_bytes: w * e, counts: [d.src_c as u64, c, h], strides: [ns, cs, hs] }
        }
        _ => Pattern { addr: a, row_bytes: w * e, counts: [d.src_n as u64, c, h], strides: [ns, cs, hs] },
    }
}

/// 16-byte local-memory rows of a local tensor side: rows of `row` bytes at per-lane offsets.
fn lmem_rows(off: u64, row: u64, counts: [u64; 3], strides: [u64; 3]) -> u64 {
    let p = Pattern { addr: off, row_bytes: row, counts, strides }.normalized();
    if p.row_bytes == 0 {
        return 0;
    }
    let per_row = |a: u64| (a % 16 + p.row_bytes).div_ceil(16);
    if p.strides.iter().zip(p.counts).all(|(&s, c)| c == 1 || s % 16 == 0) {
        // Every row starts at the same offset within a 16-byte row.
        return p.rows() * per_row(p.addr);
    }
    let mut total = 0;
    for i in 0..p.counts[0] {
        for j in 0..p.counts[1] {
            for k in 0..p.counts[2] {
                total += per_row(p.addr + i * p.strides[0] + j * p.strides[1] + k * p.strides[2]);
            }
        }
    }
    total
}

const LANE_OFFSET_MASK: u64 = (1 << cvsim_isa::chip::LMEM_SHIFT) - 1;

/// Local rows of the destination side of a load or move.
fn lmem_dst_rows(d: &TdmaDesc, kind: TdmaKind) -> u64 {
    let e = esz(d.dst_fmt);
    let off = d.dst_addr() & LANE_OFFSET_MASK;
    let (c, h, w) = (d.dst_c as u64, d.dst_h as u64, d.dst_w as u64);
    let strides = [d.dst_n_stride as u64, d.dst_c_stride() as u64, d.dst_h_stride as u64];
    match kind {
        TdmaKind::General => (off % 16 + d.src_n_stride as u64).div_ceil(16),
        TdmaKind::NcTranspose => lmem_rows(off, w * e, [d.src_c as u64, c, h], strides),
        _ => lmem_rows(off, w * e, [d.src_n as u64, c, h], strides),
    }
}

/// Local rows of the source side of a store or move.
fn lmem_src_rows(d: &TdmaDesc, kind: TdmaKind) -> u64 {
    let e = esz(d.src_fmt);
    let off = d.src_addr() & LANE_OFFSET_MASK;
    let (n, c, h, w) = (d.src_n as u64, d.src_c as u64, d.src_h as u64, d.src_w as u64);
    let strides = [d.src_n_stride as u64, d.src_c_stride() as u64, d.src_h_stride as u64];
    match kind {
        TdmaKind::General => (off % 16 + d.src_n_stride as u64).div_ceil(16),
        _ => lmem_rows(off, w * e, [n, c, h], strides),
    }
}

/// DRAM time of some traffic in ns, before the `ddr_load` stretch is applied by the caller's
/// bandwidth figure.
fn dram_ns(t: &Traffic, ctx: &TdmaContext) -> f64 {
    let bytes = (t.beats * ctx.cfg.beat_bytes as u64) as f64;
    bytes / ctx.dram_bytes_per_ns + t.page_switches as f64 * ctx.cfg.row_switch_ns * ctx.load_stretch
}

/// Cost of one TDMA descriptor. `compressed_bytes` is the real VLC stream size of a compressed
/// transfer when the caller knows it.
pub fn tdma_cost(d: &TdmaDesc, ctx: &TdmaContext, compressed_bytes: Option<u64>) -> TdmaCost {
    let op = d.op();
    let cfg = ctx.cfg;
    let mut cost = TdmaCost::default();
    let burst = if op.kind == TdmaKind::CwTranspose { cfg.cw_transpose_burst_beats } else { cfg.max_burst_beats };
    match op.dir {
        Direction::G2L => {
            if let Some(p) = load_pattern(d, op.kind, compressed_bytes, cfg) {
                cost.read = traffic(&p, cfg, burst);
            }
            cost.lmem_rows = lmem_dst_rows(d, op.kind);
        }
        Direction::L2G => {
            cost.write = traffic(&store_pattern(d, op.kind, compressed_bytes, cfg), cfg, burst);
            cost.lmem_rows = if op.kind == TdmaKind::Fill { 0 } else { lmem_src_rows(d, op.kind) };
        }
        Direction::G2G => {
            if let Some(p) = load_pattern(d, op.kind, compressed_bytes, cfg) {
                cost.read = traffic(&p, cfg, burst);
            }
            cost.write = traffic(&store_pattern(d, op.kind, None, cfg), cfg, burst);
        }
        Direction::L2L => {
            let src = if op.kind == TdmaKind::Fill { 0 } else { lmem_src_rows(d, op.kind) };
            cost.lmem_rows = src.max(lmem_dst_rows(d, op.kind));
        }
    }
    cost.dram_ns = dram_ns(&cost.read, ctx) + dram_ns(&cost.write, ctx);
    let ns_per_cycle = 1e9 / ctx.clock_hz as f64;
    let lmem_ns = cost.lmem_rows as f64 * 16.0 / cfg.lmem_bytes_per_cycle as f64 * ns_per_cycle;
    let vlc = if d.compress_en != 0 && op.dir == Direction::G2L { cfg.vlc_start_ns } else { 0.0 };
    let total_ns = cfg.descriptor_ns + vlc + cfg.descriptor_cycles * ns_per_cycle + cost.dram_ns.max(lmem_ns);
    cost.cycles = ((total_ns / ns_per_cycle).ceil() as u64).max(1);
    cost
}
