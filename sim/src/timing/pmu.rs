//! The board PMU's view of a schedule: its 16-byte records, the summary the vendor runtime prints
//! after each TPU routine, and the per-descriptor and per-layer CSV files (`runtime.md` §3.2).
//!
//! Records are produced in completion order (the hardware writes one when a descriptor completes),
//! with times in TPU cycles truncated to 32 bits as the hardware's counters are. The summary and the
//! CSV files are then computed from the records exactly as the vendor parser computes them,
//! including its quirks (a G2G copy's duplicate record skipped in the TDMA sum but not in the layer
//! sums, layer id 0 folded into the next layer, store time classified by the *source* base register).
//!
//! Deliberate differences from the vendor parser, which cannot matter for a single-segment routine:
//! records are paired with their own descriptors (the vendor searches segment 0's descriptors only),
//! and `eventCnt0`, whose meaning under the driver's event type is undocumented, is 0.

use super::schedule::Schedule;
use super::tdma_cost::TdmaClass;
use cvsim_isa::{Chip, Command, Desc, Engine, TdmaDesc, TiuDesc};
use serde::Serialize;
use std::fmt::Write;

/// PMU record types.
pub const PMU_LOAD: u8 = 1;
pub const PMU_STORE: u8 = 2;
pub const PMU_MOVE: u8 = 3;
pub const PMU_TIU: u8 = 4;

/// One PMU record, plus the schedule entry it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct PmuRecord {
    /// 1 TDMA load, 2 TDMA store, 3 TDMA move, 4 TIU.
    pub kind: u8,
    pub des_id: u16,
    /// 22-bit event counters; `event1` counts 16-byte beats on the DRAM side.
    pub event0: u32,
    pub event1: u32,
    pub start: u32,
    pub end: u32,
    /// Index into [`Schedule::entries`] (not part of the hardware record).
    pub entry: u32,
}

const EVENT_MASK: u32 = (1 << 22) - 1;

impl PmuRecord {
    /// The record as the hardware writes it: {type:4, desID:16, eventCnt0:22, eventCnt1:22} as one
    /// little-endian u64, then endTime, then startTime.
    pub fn to_bytes(&self) -> [u8; 16] {
        let bits = (self.kind as u64 & 0xF)
            | (self.des_id as u64) << 4
            | ((self.event0 & EVENT_MASK) as u64) << 20
            | ((self.event1 & EVENT_MASK) as u64) << 42;
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&bits.to_le_bytes());
        out[8..12].copy_from_slice(&self.end.to_le_bytes());
        out[12..].copy_from_slice(&self.start.to_le_bytes());
        out
    }

    /// Duration as the CSV computes it: a 32-bit difference.
    pub fn csv_duration(&self) -> u32 {
        self.end.wrapping_sub(self.start)
    }
}

/// The PMU records of a schedule, in the order the hardware would write them (by completion time;
/// a G2G copy gives a load record then a store record with the same times).
pub fn records(s: &Schedule) -> Vec<PmuRecord> {
    let mut out = Vec::with_capacity(s.entries.len() + 8);
    for (k, e) in s.entries.iter().enumerate() {
        let beats = |bytes: u64| ((bytes / 16) as u32) & EVENT_MASK;
        let rec = |kind: u8, event1: u32| PmuRecord {
            kind,
            des_id: e.id,
            event0: 0,
            event1,
            start: e.start as u32,
            end: e.end as u32,
            entry: k as u32,
        };
        match (e.engine, e.class) {
            (Engine::Tiu, _) => out.push(rec(PMU_TIU, 0)),
            (_, Some(TdmaClass::Load)) => out.push(rec(PMU_LOAD, beats(e.read_bytes))),
            (_, Some(TdmaClass::Store)) => out.push(rec(PMU_STORE, beats(e.write_bytes))),
            (_, Some(TdmaClass::Move)) => out.push(rec(PMU_MOVE, 0)),
            (_, Some(TdmaClass::Copy)) => {
                out.push(rec(PMU_LOAD, beats(e.read_bytes)));
                out.push(rec(PMU_STORE, beats(e.write_bytes)));
            }
            _ => {}
        }
    }
    // Stable: equal completion times keep command order, and a copy's load stays before its store.
    out.sort_by_key(|r| s.entries[r.entry as usize].end);
    out
}

/// The figures of the vendor's "inference total info" summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct PmuSummary {
    /// The dmabuf header's clock; 0 makes the parser assume 750 MHz.
    pub clock_hz: u64,
    pub tdma_exe_tick: u64,
    pub tiu_exe_tick: u64,
    pub inference_tick: u64,
    pub load_bytes: u64,
    pub store_bytes: u64,
}

/// The parser's record duration: end − start, or 0xFFFFFFFF − start + end (a wrap) when end ≤ start.
fn summary_duration(r: &PmuRecord, wraps: &mut u64) -> u64 {
    if r.end > r.start {
        (r.end - r.start) as u64
    } else {
        *wraps += 1;
        0xFFFF_FFFF - r.start as u64 + r.end as u64
    }
}

impl PmuSummary {
    pub fn from_records(records: &[PmuRecord], clock_hz: u64) -> PmuSummary {
        let mut s = PmuSummary { clock_hz, ..Default::default() };
        let mut wraps = 0u64;
        let mut prev_tdma: Option<(u16, u32, u32)> = None;
        for r in records {
            let dur = summary_duration(r, &mut wraps);
            match r.kind {
                PMU_TIU => s.tiu_exe_tick += dur,
                PMU_LOAD | PMU_STORE | PMU_MOVE => {
                    let key = (r.des_id, r.start, r.end);
                    if prev_tdma != Some(key) {
                        s.tdma_exe_tick += dur;
                    }
                    prev_tdma = Some(key);
                }
                _ => {}
            }
            match r.kind {
                PMU_LOAD => s.load_bytes += 16 * r.event1 as u64,
                PMU_STORE => s.store_bytes += 16 * r.event1 as u64,
                _ => {}
            }
        }
        if let (Some(first), Some(last)) = (records.first(), records.last()) {
            s.inference_tick = if wraps > 0 {
                0xFFFF_FFFF * (wraps - 1) + 0xFFFF_FFFF - first.start as u64 + last.end as u64
            } else {
                last.end.wrapping_sub(first.start) as u64
            };
        }
        s
    }

    pub fn from_schedule(s: &Schedule) -> PmuSummary {
        PmuSummary::from_records(&records(s), s.clock_hz)
    }

    /// The clock the parser divides by: the header's, or 750 MHz when it is 0.
    pub fn effective_clock_hz(&self) -> u64 {
        if self.clock_hz == 0 {
            750_000_000
        } else {
            self.clock_hz
        }
    }
    fn ms(&self, ticks: u64) -> f64 {
        ticks as f64 / self.effective_clock_hz() as f64 * 1000.0
    }
    pub fn tdma_exe_ms(&self) -> f64 {
        self.ms(self.tdma_exe_tick)
    }
    pub fn tiu_exe_ms(&self) -> f64 {
        self.ms(self.tiu_exe_tick)
    }
    pub fn inference_ms(&self) -> f64 {
        self.ms(self.inference_tick)
    }
    /// `inferece_data`: (load + store bytes) / 2²⁰.
    pub fn inference_data_mb(&self) -> f64 {
        (self.load_bytes + self.store_bytes) as f64 / (1u64 << 20) as f64
    }
    /// `inference_bw` in MB/s (MB = 2²⁰ bytes).
    pub fn inference_bw(&self) -> f64 {
        self.inference_data_mb() / self.inference_ms() * 1000.0
    }
    fn percent(&self, ticks: u64) -> f64 {
        ticks as f64 / self.inference_tick as f64 * 100.0
    }
    pub fn tdma_exe_percent(&self) -> f64 {
        self.percent(self.tdma_exe_tick)
    }
    pub fn tiu_exe_percent(&self) -> f64 {
        self.percent(self.tiu_exe_tick)
    }
    /// (TDMA + TIU ticks) / inference ticks × 100, at least 100.
    pub fn parallelism_percent(&self) -> f64 {
        let p = self.percent(self.tdma_exe_tick + self.tiu_exe_tick);
        if p < 100.0 {
            100.0
        } else {
            p
        }
    }

    /// The summary exactly as the vendor runtime prints it, with a newline after each line.
    pub fn render(&self, chip: Chip) -> String {
        let mut s = String::new();
        if self.clock_hz == 0 {
            s.push_str("can't get tpu clock, assume to 750Mhz\n");
        }
        s.push_str(&"=".repeat(23));
        s.push_str("inference total info ");
        s.push_str(&"=".repeat(26));
        s.push('\n');
        let _ = writeln!(
            s,
            "{:<20} {:8}Mhz, {:<20} {:9.2}MB, {:<20} {:7.2}MB/s",
            format!("{chip}_tpu_clock:"),
            self.effective_clock_hz() / 1_000_000,
            "inferece_data:",
            self.inference_data_mb(),
            "inference_bw:",
            self.inference_bw()
        );
        let _ = writeln!(
            s,
            "{:<20} {:10}t, {:<20} {:10}t, {:<20} {:10}t",
            "tdma_exe_tick:",
            self.tdma_exe_tick,
            "tiu_exe_tick",
            self.tiu_exe_tick,
            "inference_tick",
            self.inference_tick
        );
        let _ = writeln!(
            s,
            "{:<20} {:10.2}%, {:<20} {:10.2}%, {:<20} {:10.2}%",
            "tdma_exe_percent:",
            self.tdma_exe_percent(),
            "tiu_exe_percent:",
            self.tiu_exe_percent(),
            "paralellism_percent",
            self.parallelism_percent()
        );
        let _ = writeln!(
            s,
            "{:<20} {:9.2}ms, {:<20} {:9.2}ms, {:<20} {:9.2}ms",
            "tdma_exe_ms:",
            self.tdma_exe_ms(),
            "tiu_exe_ms:",
            self.tiu_exe_ms(),
            "inference_ms:",
            self.inference_ms()
        );
        s
    }
}

/// The vendor summary text of one TPU routine's schedule.
pub fn summary_text(s: &Schedule) -> String {
    PmuSummary::from_schedule(s).render(s.chip)
}

/// First line of `<prefix>_des.csv` (the five-space runs come from the vendor's source string).
pub const DES_CSV_HEADER: &str = "pmutype, desID, event0, event1, , start, duration, end, layerID, desType,     srcAddr, dstAddr, trans_fmt, transpose_md, cmd_id, wait_id_tpu, dst_h_stride, dst_c_stride_low,     dst_n_stride, src_h_stride, src_c_stride_low, src_n_stride, dst_c, src_c, dst_w, dst_h, src_w, src_h, src_n";

/// First line of `<prefix>_layer.csv`.
pub const LAYER_CSV_HEADER: &str = "layerID, start, duration, end, duration(%), parallelism(%), TIU(%),     loadNeuron(%), loadWeight(%), storeNeuron(%), throughput(MB/s), last_tdmaID, dumpStart, dumpLen, TIU, loadNeuron,     loadWeight, storeNeuron, byteCnt";

/// The vendor's `desType` label of a TIU descriptor, from its raw task fields; empty where the
/// vendor leaves it unset.
pub fn tiu_des_type(d: &TiuDesc) -> &'static str {
    let pc = d.opt_chl_quan != 0;
    let bf = d.opd_typ != 0;
    let pick = |plain: &'static str, bf16: &'static str| if bf { bf16 } else { plain };
    match (d.tsk_typ, d.tsk_eu_typ) {
        (0, _) if pc => "TIU PerChannel Convolution",
        (0, _) => pick("TIU Convolution", "TIU BF16 Convolution"),
        (1, 0) => pick("TIU Max Pooling", "TIU BF16 Max Pooling"),
        (1, 1) => pick("TIU Average Pooling", "TIU BF16 Average Pooling"),
        (1, 2) if pc => "TIU Depthwise PerChannel Convolution",
        (1, 2) => pick("TIU Depthwise Convolution", "TIU BF16 Depthwise Convolution"),
        (1, 3) => pick("TIU Min Pooling", "TIU BF16 Min Pooling"),
        (2, _) if pc => "TIU PerChannel Matrix Multiplication",
        (2, _) => pick("TIU Matrix Multiplication", "TIU BF16 Matrix Multiplication"),
        (3, 0) if pc => "TIU Element-wise Mul(QDM)",
        (3, 0) => pick("TIU Element-wise Mul", "TIU BF16 Element-wise Mul"),
        (3, 1) => pick("TIU Element-wise Mac", "TIU BF16 Element-wise Mac"),
        (3, 2) => pick("TIU Element-wise Add", "TIU BF16 Element-wise Add"),
        (3, 3) => pick("TIU Element-wise Sub", "TIU BF16 Element-wise Sub"),
        (3, 4) => pick("TIU Element-wise Max", "TIU BF16 Element-wise Max"),
        (3, 5) => pick("TIU Element-wise Min", "TIU BF16 Element-wise Min"),
        (3, 6) => "TIU Element-wise Shift",
        (3, 7) => "TIU Element-wise AND",
        (3, 8) => "TIU Element-wise OR",
        (3, 9) => "TIU Element-wise XOR",
        (3, 10) => pick("TIU Element-wise Copy", "TIU BF16 Element-wise Copy"),
        (3, 11) => pick("TIU Element-wise Ge", "TIU BF16 Element-wise Ge"),
        (3, 12) => "TIU Lookup Table",
        _ => "",
    }
}

/// The vendor's `desType` label of a TDMA record.
pub fn tdma_des_type(d: &TdmaDesc, kind: u8) -> String {
    let mut s = String::from(if d.sys_dtype != 0 { "TDMA Matrix" } else { "TDMA Tensor" });
    s.push_str(match kind {
        PMU_LOAD => " Load",
        PMU_STORE => " Store",
        _ => " Move",
    });
    if d.compress_en != 0 {
        s.push_str(" Compression");
    }
    s
}

/// The vendor's unnamed class column: 1 TDMA load, 2 TDMA store or move, 3 TIU.
fn class_code(kind: u8) -> u8 {
    match kind {
        PMU_LOAD => 1,
        PMU_TIU => 3,
        _ => 2,
    }
}

/// The layer id the vendor reads from a descriptor.
fn layer_of(desc: &Desc) -> u32 {
    match desc {
        Desc::Tiu(d) => d.layer_info,
        Desc::Tdma(d) => d.layer_id,
        Desc::Cpu(_) => 0,
    }
}

/// `<prefix>_des.csv`: one row per PMU record, in buffer order. `cmds` must be the command list
/// the schedule was made from.
pub fn des_csv(s: &Schedule, cmds: &[Command]) -> String {
    let recs = records(s);
    let mut out = String::with_capacity(64 + recs.len() * 160);
    out.push_str(DES_CSV_HEADER);
    out.push('\n');
    for r in &recs {
        let desc = &cmds[s.entries[r.entry as usize].index as usize].desc;
        let _ = write!(
            out,
            "{}, {}, {}, {}, {}, {}, {}, {}, {}, ",
            r.kind,
            r.des_id,
            r.event0,
            r.event1,
            class_code(r.kind),
            r.start,
            r.csv_duration(),
            r.end,
            layer_of(desc)
        );
        match desc {
            Desc::Tiu(d) => out.push_str(tiu_des_type(d)),
            Desc::Tdma(d) => {
                let _ = write!(
                    out,
                    "{}, 0x{}, 0x{},         {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}",
                    tdma_des_type(d, r.kind),
                    d.src_addr(),
                    d.dst_addr(),
                    d.trans_fmt,
                    d.transpose_md,
                    d.cmd_id,
                    d.wait_id_tpu,
                    d.dst_h_stride,
                    d.dst_c_stride_low,
                    d.dst_n_stride,
                    d.src_h_stride,
                    d.src_c_stride_low,
                    d.src_n_stride,
                    d.dst_c,
                    d.src_c,
                    d.dst_w,
                    d.dst_h,
                    d.src_w,
                    d.src_h,
                    d.src_n
                );
            }
            Desc::Cpu(_) => {}
        }
        out.push('\n');
    }
    out
}

/// One row of `<prefix>_layer.csv` before formatting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LayerSlot {
    pub layer: u32,
    pub start: u32,
    pub end: u32,
    pub last_des_id: u16,
    pub tiu: u32,
    pub tdma: u32,
    pub load_neuron: u32,
    pub load_weight: u32,
    pub store_neuron: u32,
    pub bytes: u32,
}

impl LayerSlot {
    pub fn duration(&self) -> u32 {
        self.end.wrapping_sub(self.start)
    }
}

/// The vendor's layer slots: a new slot whenever the layer id changes, except that while the current
/// id is 0 the next record re-initialises the same slot (keeping its sums). Listing stops at the
/// first slot whose id is 0.
pub fn layer_slots(s: &Schedule, cmds: &[Command]) -> Vec<LayerSlot> {
    let recs = records(s);
    let mut slots: Vec<LayerSlot> = vec![LayerSlot::default()];
    let mut cur = 0u32;
    for r in &recs {
        let desc = &cmds[s.entries[r.entry as usize].index as usize].desc;
        let id = layer_of(desc);
        if id != cur {
            if cur != 0 {
                slots.push(LayerSlot::default());
            }
            let slot = slots.last_mut().expect("one slot");
            slot.layer = id;
            slot.start = r.start;
            slot.end = r.end;
            slot.last_des_id = r.des_id;
            cur = id;
        } else {
            let slot = slots.last_mut().expect("one slot");
            slot.end = slot.end.max(r.end);
            slot.last_des_id = r.des_id;
        }
        let slot = slots.last_mut().expect("one slot");
        let dur = r.csv_duration();
        let sel = match desc {
            Desc::Tdma(d) => Some(d.src_base_reg_sel),
            _ => None,
        };
        match r.kind {
            PMU_TIU => slot.tiu = slot.tiu.wrapping_add(dur),
            PMU_LOAD => {
                slot.tdma = slot.tdma.wrapping_add(dur);
                match sel {
                    Some(0) => slot.load_neuron = slot.load_neuron.wrapping_add(dur),
                    Some(1) => slot.load_weight = slot.load_weight.wrapping_add(dur),
                    _ => {}
                }
            }
            PMU_STORE => {
                slot.tdma = slot.tdma.wrapping_add(dur);
                if sel == Some(0) {
                    slot.store_neuron = slot.store_neuron.wrapping_add(dur);
                }
            }
            _ => {}
        }
        slot.bytes = slot.bytes.wrapping_add(16 * r.event1);
    }
    let listed = slots.iter().position(|l| l.layer == 0).unwrap_or(slots.len());
    slots.truncate(listed);
    slots
}

/// `<prefix>_layer.csv`.
pub fn layer_csv(s: &Schedule, cmds: &[Command]) -> String {
    let slots = layer_slots(s, cmds);
    let clock = if s.clock_hz == 0 { 750_000_000 } else { s.clock_hz } as f64;
    let total: f64 = slots.iter().map(|l| l.duration() as i32 as f64).sum();
    let mut out = String::with_capacity(256 + slots.len() * 200);
    out.push_str(LAYER_CSV_HEADER);
    out.push('\n');
    for l in &slots {
        let dur = l.duration() as i32 as f64;
        let pct = |v: u32| c_float(v as i32 as f64 / dur * 100.0, 6);
        let par = ((l.tdma as i32 as f64 + l.tiu as i32 as f64) / dur * 100.0).max(100.0);
        let _ = writeln!(
            out,
            "{}, {}, {}, {}, {}%, {}%, {}%, {}%, {}%, {}%, {}MB/s, {}, 0x0, 0x0, {}, {}, {}, {}, {}",
            l.layer as i32,
            l.start as i32,
            l.duration() as i32,
            l.end as i32,
            c_float(dur / total * 100.0, 6),
            c_float(par, 6),
            pct(l.tiu),
            pct(l.load_neuron),
            pct(l.load_weight),
            pct(l.store_neuron),
            c_float(l.bytes as i32 as f64 * clock / dur / (1u64 << 20) as f64, 2),
            l.last_des_id as i32,
            l.tiu as i32,
            l.load_neuron as i32,
            l.load_weight as i32,
            l.store_neuron as i32,
            l.bytes as i32
        );
    }
    out
}

/// `printf("%.Nf")` of a double, including C's spelling of infinities and NaN.
fn c_float(v: f64, prec: usize) -> String {
    if v.is_nan() {
        // x86 0.0/0.0 yields a NaN with the sign bit set, which glibc prints as "-nan".
        if v.is_sign_negative() {
            "-nan".into()
        } else {
            "nan".into()
        }
    } else if v.is_infinite() {
        if v > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        }
    } else {
        format!("{v:.prec$}")
    }
}
