//! Where a routine's time goes: busy time by descriptor kind and by layer, how much of the span
//! each engine runs alone or beside the other, and how well each TDMA class uses the DRAM bus.
//!
//! Everything is computed from a [`Schedule`] and the command list it was made from; the DRAM
//! detail of each TDMA descriptor (useful bytes, rows, page switches) is its cost recomputed with
//! the same context the schedule used.

use super::config::TimingConfig;
use super::pmu::tiu_des_type;
use super::schedule::Schedule;
use super::tdma_cost::{tdma_cost, TdmaClass, TdmaContext};
use cvsim_isa::op::TdmaKind;
use cvsim_isa::{Command, Desc, Engine};
use serde::Serialize;
use std::collections::BTreeMap;

/// Busy time of one kind of descriptor.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KindRow {
    pub engine: Engine,
    /// The vendor's `desType` label for TIU work; for TDMA the class and the transfer kind.
    pub kind: String,
    pub count: u64,
    /// Σ descriptor durations in TPU cycles.
    pub cycles: u64,
    pub ms: f64,
    /// Busy time over the routine's span, in percent (the engines overlap, so shares may add up
    /// to more than 100).
    pub percent: f64,
}

/// One layer's share.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LayerRow {
    pub layer: u32,
    /// The tensor the layer stores, where known.
    pub name: Option<String>,
    /// First start and last end of the layer's descriptors, in TPU cycles.
    pub start: u64,
    pub end: u64,
    pub tiu_cycles: u64,
    pub tdma_cycles: u64,
    /// DRAM bytes read and written (whole beats).
    pub bytes: u64,
    pub tiu_count: u64,
    pub tdma_count: u64,
}

impl LayerRow {
    /// The larger of the two engines' busy cycles: a lower bound of the layer's time.
    pub fn busy_cycles(&self) -> u64 {
        self.tiu_cycles.max(self.tdma_cycles)
    }
}

/// What one TDMA class does on the bus.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassRow {
    pub class: TdmaClass,
    pub count: u64,
    /// Σ durations in TPU cycles.
    pub cycles: u64,
    pub ms: f64,
    /// Bytes the transfers ask for (DRAM side; the local side for moves).
    pub useful_bytes: u64,
    /// Contiguous DRAM rows after folding dense dimensions, and the rows that open another page.
    pub rows: u64,
    pub page_switches: u64,
    /// Useful bytes per second of busy time, MB = 10⁶ bytes.
    pub achieved_mb_s: f64,
    /// The bus peak (transfer rate × width) for DRAM classes; the local port for moves.
    pub peak_mb_s: f64,
    /// `achieved / peak` in percent.
    pub efficiency_percent: f64,
}

impl ClassRow {
    /// Mean bytes per contiguous row: short rows are what wastes the bus.
    pub fn mean_row_bytes(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.useful_bytes as f64 / self.rows as f64
        }
    }
}

/// How the span divides between the engines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Overlap {
    pub tiu_only: u64,
    pub tdma_only: u64,
    pub both: u64,
    /// Neither engine busy (sync latencies, segment gaps).
    pub idle: u64,
}

/// The whole breakdown of one routine.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Breakdown {
    pub clock_hz: u64,
    pub span_cycles: u64,
    pub inference_ms: f64,
    pub overlap: Overlap,
    /// Sorted by busy time, longest first.
    pub kinds: Vec<KindRow>,
    /// In order of first start.
    pub layers: Vec<LayerRow>,
    pub tdma: Vec<ClassRow>,
}

fn tdma_kind_label(class: TdmaClass, kind: TdmaKind, compressed: bool) -> String {
    let class = match class {
        TdmaClass::Load => "Load",
        TdmaClass::Store => "Store",
        TdmaClass::Move => "Move",
        TdmaClass::Copy => "Copy",
    };
    let kind = match kind {
        TdmaKind::Tensor => "tensor",
        TdmaKind::Matrix => "matrix",
        TdmaKind::General => "general",
        TdmaKind::Fill => "fill",
        TdmaKind::NcTranspose => "N-C transpose",
        TdmaKind::CwTranspose => "C-W transpose",
        TdmaKind::HwcToChw(_) => "HWC to CHW",
        TdmaKind::RowColTranspose => "row-col transpose",
        TdmaKind::Unknown { .. } => "unknown",
    };
    let vlc = if compressed { ", compressed" } else { "" };
    format!("TDMA {class} {kind}{vlc}")
}

/// Busy cycles of two in-order engines' intervals (each list sorted and non-overlapping) split
/// into alone, together and idle over `[0, span)`.
fn overlap(tiu: &[(u64, u64)], tdma: &[(u64, u64)], span: u64) -> Overlap {
    // Sweep over the change points of both lists.
    let mut points: Vec<(u64, i8, bool)> = Vec::with_capacity(2 * (tiu.len() + tdma.len()));
    for &(s, e) in tiu {
        points.push((s, 1, true));
        points.push((e, -1, true));
    }
    for &(s, e) in tdma {
        points.push((s, 1, false));
        points.push((e, -1, false));
    }
    points.sort_by_key(|p| (p.0, p.1));
    let mut o = Overlap::default();
    let (mut a, mut b, mut t) = (0i32, 0i32, 0u64);
    for (x, d, is_tiu) in points {
        let dt = x - t;
        match (a > 0, b > 0) {
            (true, true) => o.both += dt,
            (true, false) => o.tiu_only += dt,
            (false, true) => o.tdma_only += dt,
            (false, false) => o.idle += dt,
        }
        t = x;
        if is_tiu {
            a += d as i32
        } else {
            b += d as i32
        }
    }
    o.idle += span.saturating_sub(t);
    o
}

/// The breakdown of `schedule`, made by [`super::schedule()`] from `cmds` with `cfg`; `layer_names`
/// names layer ids where the caller knows the tensor they store.
pub fn breakdown(
    schedule: &Schedule,
    cmds: &[Command],
    cfg: &TimingConfig,
    layer_names: &dyn Fn(u32) -> Option<String>,
) -> Breakdown {
    let chip = schedule.chip;
    let clock_hz = schedule.clock_hz;
    let span = schedule.totals.cycles;
    let ms = |c: u64| c as f64 / clock_hz as f64 * 1e3;
    let pct = |c: u64| if span == 0 { 0.0 } else { c as f64 / span as f64 * 100.0 };
    let ctx = TdmaContext::new(cfg, chip);
    let peak = cfg.ddr.get(chip).peak_bytes_per_s() / 1e6;
    let lmem_peak = cfg.tdma.lmem_bytes_per_cycle as f64 * clock_hz as f64 / 1e6;

    // Keyed by (TIU first, label).
    let mut kinds: BTreeMap<(bool, String), (Engine, u64, u64)> = BTreeMap::new();
    let mut layers: BTreeMap<u32, LayerRow> = BTreeMap::new();
    let mut classes: BTreeMap<u8, ClassRow> = BTreeMap::new();
    let (mut tiu_iv, mut tdma_iv) = (Vec::new(), Vec::new());
    for e in &schedule.entries {
        let cycles = e.cycles();
        let label = match &cmds[e.index as usize].desc {
            Desc::Tiu(d) => {
                let l = tiu_des_type(d);
                if l.is_empty() {
                    "TIU other".to_string()
                } else {
                    l.to_string()
                }
            }
            Desc::Tdma(d) => {
                let class = e.class.unwrap_or(TdmaClass::Load);
                let cost = tdma_cost(d, &ctx, None);
                let useful = match class {
                    TdmaClass::Move => cost.lmem_rows * 16,
                    _ => cost.read.bytes + cost.write.bytes,
                };
                let key = class as u8;
                let row = classes.entry(key).or_insert_with(|| ClassRow {
                    class,
                    count: 0,
                    cycles: 0,
                    ms: 0.0,
                    useful_bytes: 0,
                    rows: 0,
                    page_switches: 0,
                    achieved_mb_s: 0.0,
                    peak_mb_s: if class == TdmaClass::Move { lmem_peak } else { peak },
                    efficiency_percent: 0.0,
                });
                row.count += 1;
                row.cycles += cycles;
                row.useful_bytes += useful;
                row.rows += cost.read.rows + cost.write.rows;
                row.page_switches += cost.read.page_switches + cost.write.page_switches;
                tdma_kind_label(class, d.op().kind, d.compress_en != 0)
            }
            Desc::Cpu(_) => continue,
        };
        let k = kinds.entry((e.engine != Engine::Tiu, label)).or_insert((e.engine, 0, 0));
        k.1 += 1;
        k.2 += cycles;
        let l = layers.entry(e.layer).or_insert_with(|| LayerRow {
            layer: e.layer,
            name: None,
            start: e.start,
            end: e.end,
            tiu_cycles: 0,
            tdma_cycles: 0,
            bytes: 0,
            tiu_count: 0,
            tdma_count: 0,
        });
        l.start = l.start.min(e.start);
        l.end = l.end.max(e.end);
        l.bytes += e.bytes();
        if e.engine == Engine::Tiu {
            l.tiu_cycles += cycles;
            l.tiu_count += 1;
            tiu_iv.push((e.start, e.end));
        } else {
            l.tdma_cycles += cycles;
            l.tdma_count += 1;
            tdma_iv.push((e.start, e.end));
        }
    }
    let mut kinds: Vec<KindRow> = kinds
        .into_iter()
        .map(|((_, kind), (engine, count, cycles))| KindRow {
            engine,
            kind,
            count,
            cycles,
            ms: ms(cycles),
            percent: pct(cycles),
        })
        .collect();
    kinds.sort_by(|a, b| b.cycles.cmp(&a.cycles).then_with(|| a.kind.cmp(&b.kind)));
    let mut layers: Vec<LayerRow> = layers.into_values().collect();
    for l in &mut layers {
        l.name = layer_names(l.layer);
    }
    layers.sort_by_key(|l| (l.start, l.layer));
    let tdma = classes
        .into_values()
        .map(|mut r| {
            r.ms = ms(r.cycles);
            r.achieved_mb_s = if r.cycles == 0 { 0.0 } else { r.useful_bytes as f64 / (r.ms * 1e3) };
            r.efficiency_percent = r.achieved_mb_s / r.peak_mb_s * 100.0;
            r
        })
        .collect();
    Breakdown {
        clock_hz,
        span_cycles: span,
        inference_ms: ms(span),
        overlap: overlap(&tiu_iv, &tdma_iv, span),
        kinds,
        layers,
        tdma,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_splits_the_span() {
        // TIU 0..10 and 20..30, TDMA 5..25, span 40.
        let o = overlap(&[(0, 10), (20, 30)], &[(5, 25)], 40);
        assert_eq!(o, Overlap { tiu_only: 5 + 5, tdma_only: 10, both: 5 + 5, idle: 10 });
    }
}
