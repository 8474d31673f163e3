//! The event-driven schedule: per segment, the TIU and the TDMA each run their descriptors in order,
//! concurrently, a descriptor starting when its engine is free and its wait id is satisfied
//! (`isa.md` §2.2, §2.5); segments run one after another.
//!
//! A wait for id k of the other engine is satisfied once that engine's "last completed id" counter
//! reaches k, i.e. at the end of the first descriptor of the other queue whose id is ≥ k. Since
//! each descriptor's start depends only on its own engine's previous end and one completion of the
//! other engine, the two queues are walked greedily (each as far as its waits allow) and every time
//! is final when computed. Nothing is allocated per descriptor.

use super::config::TimingConfig;
use super::tdma_cost::{tdma_cost, TdmaClass, TdmaContext};
use super::tiu_cost::tiu_cycles;
use super::TimingError;
use cvsim_isa::dmabuf::segments;
use cvsim_isa::{Chip, Command, Desc, Engine};
use serde::Serialize;

/// One scheduled TIU or TDMA descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Index of the descriptor in the command list given to [`schedule`].
    pub index: u32,
    /// Segment number (0-based).
    pub segment: u32,
    pub engine: Engine,
    /// For TDMA: load, store, move or copy.
    pub class: Option<TdmaClass>,
    /// The descriptor's own sync id (TIU `cmd_id_tpu`, TDMA `cmd_id`).
    pub id: u16,
    /// Start and end in TPU cycles from the start of the routine.
    pub start: u64,
    pub end: u64,
    /// DRAM bytes read and written, as 16-byte beats (what the PMU's byte counter sees).
    pub read_bytes: u64,
    pub write_bytes: u64,
    /// Layer id carried by the descriptor (TIU `layer_info`, TDMA `layer_ID`).
    pub layer: u32,
}

impl Entry {
    pub fn cycles(&self) -> u64 {
        self.end - self.start
    }
    pub fn bytes(&self) -> u64 {
        self.read_bytes + self.write_bytes
    }
}

/// Where one segment ran.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SegmentSpan {
    /// Range of [`Schedule::entries`].
    pub entries: std::ops::Range<usize>,
    pub start: u64,
    pub end: u64,
}

/// Totals of a schedule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    /// End of the last descriptor (the routine starts at cycle 0).
    pub cycles: u64,
    /// Σ TIU busy cycles.
    pub tiu_cycles: u64,
    /// Σ TDMA busy cycles.
    pub tdma_cycles: u64,
    pub tiu_count: u64,
    pub tdma_count: u64,
    /// DRAM bytes read / written (16-byte beats).
    pub read_bytes: u64,
    pub write_bytes: u64,
}

/// The timed run of one command list (one TPU routine).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Schedule {
    pub chip: Chip,
    pub clock_hz: u64,
    /// TIU and TDMA descriptors in command order (CPU records have no entry).
    pub entries: Vec<Entry>,
    pub segments: Vec<SegmentSpan>,
    pub totals: Totals,
}

impl Schedule {
    pub fn cycles_to_ms(&self, cycles: u64) -> f64 {
        cycles as f64 / self.clock_hz as f64 * 1e3
    }
    /// Makespan in milliseconds.
    pub fn ms(&self) -> f64 {
        self.cycles_to_ms(self.totals.cycles)
    }
}

/// Schedule a command list. CPU records only delimit segments.
pub fn schedule(chip: Chip, cmds: &[Command], cfg: &TimingConfig) -> Result<Schedule, TimingError> {
    schedule_with(chip, cmds, cfg, &|_| None)
}

/// Like [`schedule`], with the real VLC stream size of compressed transfers where the caller knows
/// it (`compressed_bytes(command index)`); timing itself never reads data.
pub fn schedule_with(
    chip: Chip,
    cmds: &[Command],
    cfg: &TimingConfig,
    compressed_bytes: &dyn Fn(usize) -> Option<u64>,
) -> Result<Schedule, TimingError> {
    cfg.validate()?;
    let clock_hz = cfg.clock_hz(chip);
    let ctx = TdmaContext::new(cfg, chip);
    let gap = (cfg.segment_gap_ns * clock_hz as f64 / 1e9).round() as u64;
    let sync = (cfg.sync_ns * clock_hz as f64 / 1e9).round() as u64;

    let n = cmds.iter().filter(|c| c.desc.engine() != Engine::Cpu).count();
    let mut entries: Vec<Entry> = Vec::with_capacity(n);
    let mut spans = Vec::new();
    // Per-engine scratch, reused by every segment: queue of entry positions, and for the
    // descriptors done so far the running maximum of their ids and their end times.
    let mut tiu_q: Vec<u32> = Vec::with_capacity(n);
    let mut tdma_q: Vec<u32> = Vec::with_capacity(n);
    let (mut tiu_max, mut tiu_end): (Vec<u16>, Vec<u64>) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let (mut tdma_max, mut tdma_end): (Vec<u16>, Vec<u64>) = (Vec::with_capacity(n), Vec::with_capacity(n));
    let mut totals = Totals::default();
    let mut t = 0u64;

    for (si, seg) in segments(cmds).into_iter().enumerate() {
        let first = entries.len();
        tiu_q.clear();
        tdma_q.clear();
        for ci in seg.range.clone() {
            let (engine, class, id, layer) = match &cmds[ci].desc {
                Desc::Tiu(d) => (Engine::Tiu, None, d.cmd_id_tpu as u16, d.layer_info),
                Desc::Tdma(d) => (Engine::Tdma, Some(TdmaClass::of(d.op().dir)), d.cmd_id as u16, d.layer_id),
                Desc::Cpu(_) => continue,
            };
            let pos = entries.len() as u32;
            if engine == Engine::Tiu {
                tiu_q.push(pos)
            } else {
                tdma_q.push(pos)
            }
            entries.push(Entry {
                index: ci as u32,
                segment: si as u32,
                engine,
                class,
                id,
                start: 0,
                end: 0,
                read_bytes: 0,
                write_bytes: 0,
                layer,
            });
        }
        if entries.len() == first {
            continue;
        }
        let seg_start = if first == 0 { t } else { t + gap };
        tiu_max.clear();
        tiu_end.clear();
        tdma_max.clear();
        tdma_end.clear();
        let (mut i, mut j) = (0usize, 0usize);
        let (mut tiu_free, mut tdma_free) = (seg_start, seg_start);
        loop {
            let mut progressed = false;
            while i < tiu_q.len() {
                let e = &mut entries[tiu_q[i] as usize];
                let desc = &cmds[e.index as usize].desc;
                let Desc::Tiu(d) = desc else { unreachable!("TIU queue holds TIU descriptors") };
                let Some(ready) = satisfied(desc.wait_id().unwrap_or(0), seg_start, sync, &tdma_max, &tdma_end) else {
                    break;
                };
                e.start = tiu_free.max(ready);
                e.end = e.start + tiu_cycles(chip, d, &cfg.tiu, clock_hz);
                tiu_free = e.end;
                tiu_max.push(tiu_max.last().copied().unwrap_or(0).max(e.id));
                tiu_end.push(e.end);
                totals.tiu_cycles += e.end - e.start;
                totals.tiu_count += 1;
                i += 1;
                progressed = true;
            }
            while j < tdma_q.len() {
                let e = &mut entries[tdma_q[j] as usize];
                let desc = &cmds[e.index as usize].desc;
                let Desc::Tdma(d) = desc else { unreachable!("TDMA queue holds TDMA descriptors") };
                let Some(ready) = satisfied(desc.wait_id().unwrap_or(0), seg_start, sync, &tiu_max, &tiu_end) else {
                    break;
                };
                let compressed = if d.compress_en != 0 { compressed_bytes(e.index as usize) } else { None };
                let cost = tdma_cost(d, &ctx, compressed);
                e.start = tdma_free.max(ready);
                e.end = e.start + cost.cycles;
                e.read_bytes = cost.read.beats * cfg.tdma.beat_bytes as u64;
                e.write_bytes = cost.write.beats * cfg.tdma.beat_bytes as u64;
                tdma_free = e.end;
                tdma_max.push(tdma_max.last().copied().unwrap_or(0).max(e.id));
                tdma_end.push(e.end);
                totals.tdma_cycles += e.end - e.start;
                totals.tdma_count += 1;
                totals.read_bytes += e.read_bytes;
                totals.write_bytes += e.write_bytes;
                j += 1;
                progressed = true;
            }
            if i == tiu_q.len() && j == tdma_q.len() {
                break;
            }
            if !progressed {
                return Err(deadlock(cmds, &entries, si, tiu_q.get(i), tdma_q.get(j)));
            }
        }
        let end = tiu_free.max(tdma_free);
        spans.push(SegmentSpan { entries: first..entries.len(), start: seg_start, end });
        t = end;
    }
    totals.cycles = t;
    Ok(Schedule { chip, clock_hz, entries, segments: spans, totals })
}

/// When a wait for id `wait` of the other engine is satisfied, given the other engine's completed
/// descriptors so far (running id maxima and end times); `None` if not yet.
#[inline]
fn satisfied(wait: u16, seg_start: u64, sync: u64, max_ids: &[u16], ends: &[u64]) -> Option<u64> {
    if wait == 0 {
        return Some(seg_start);
    }
    let p = max_ids.partition_point(|&m| m < wait);
    ends.get(p).map(|&e| e + sync)
}

fn deadlock(cmds: &[Command], entries: &[Entry], segment: usize, tiu: Option<&u32>, tdma: Option<&u32>) -> TimingError {
    let blocked = |pos: Option<&u32>| {
        pos.map(|&p| {
            let e = &entries[p as usize];
            let wait = cmds[e.index as usize].desc.wait_id().unwrap_or(0);
            super::Blocked { index: e.index as usize, id: e.id, waits_for: wait }
        })
    };
    TimingError::Deadlock { segment, tiu: blocked(tiu), tdma: blocked(tdma) }
}
