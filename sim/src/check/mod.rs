//! The command-buffer checker behind `cvsim run --check`: while a routine is emulated it records
//! which local-memory bytes each descriptor reads and writes (the operands its executor
//! bounds-checks), then finds
//!
//! - races: a TIU and a TDMA descriptor that touch the same bytes, at least one writing, while both
//!   are in flight in the timing schedule. The schedule starts a descriptor only once its wait id is
//!   satisfied, so two descriptors that overlap in it are ordered by no sync id, directly or
//!   through others: in-order emulation hides the race, the board may not;
//! - reads of local memory no descriptor has written since the checker started;
//! - accesses outside local memory or outside every global region, and global writes into the
//!   read-only weight region; the descriptor is skipped and the run goes on, so every one is found.
//!
//! Nothing here runs unless asked: the executors only record their operands when
//! `Lmem::trace` is set, which the checker does for its own runs.

pub mod footprint;

use crate::error::{ExecError, ExecErrorKind, ExecResult};
use crate::machine::{op_name, Machine, Observer, Step};
use crate::memory::Touches;
use crate::timing::{schedule, TimingConfig};
use cvsim_isa::{Command, CommandStream, Desc, Engine, Operand, Region, TiuOp};
use footprint::{Footprint, Ranges};
use std::cell::RefCell;
use std::fmt;

/// A descriptor as a report names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescRef {
    /// TPU routine (as the caller numbers them) and index in its command list.
    pub routine: usize,
    pub index: usize,
    pub engine: Engine,
    pub op: String,
    /// Layer id the descriptor carries (TIU `layer_info`, TDMA `layer_ID`).
    pub layer: u32,
    /// What the layer is called, where the caller knows it (the checker sees no tensor names).
    pub layer_name: Option<String>,
}

impl fmt::Display for DescRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} #{} {} (layer {}", self.engine.name(), self.index, self.op, self.layer)?;
        match &self.layer_name {
            Some(name) => write!(f, " `{name}`)"),
            None => write!(f, ")"),
        }
    }
}

impl Finding {
    /// The descriptor the finding is about (for a race, the TIU one).
    pub fn desc(&self) -> &DescRef {
        match self {
            Finding::Race { tiu, .. } => tiu,
            Finding::UninitRead { desc, .. } | Finding::OutOfRange { desc, .. } | Finding::WeightWrite { desc, .. } => {
                desc
            }
        }
    }

    /// The descriptors the finding names (a race names two).
    pub fn descs_mut(&mut self) -> Vec<&mut DescRef> {
        match self {
            Finding::Race { tiu, tdma, .. } => vec![tiu, tdma],
            Finding::UninitRead { desc, .. } | Finding::OutOfRange { desc, .. } | Finding::WeightWrite { desc, .. } => {
                vec![desc]
            }
        }
    }
}

/// Local-memory bytes, as a report shows them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bytes {
    /// The first range: lane, and per-lane offsets [start, end).
    pub lane: u32,
    pub start: u32,
    pub end: u32,
    /// All bytes concerned (the first range and any others).
    pub total: usize,
}

impl Bytes {
    fn of(r: &Ranges, per_lane: u32) -> Option<Bytes> {
        let &(s, e) = r.0.first()?;
        let lane = (s / per_lane as usize) as u32;
        let start = (s % per_lane as usize) as u32;
        // A range can run on into the next lane; show the part in the first.
        let end = start + (e - s).min((per_lane - start) as usize) as u32;
        Some(Bytes { lane, start, end, total: r.bytes() })
    }
}

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "L{}:{:#06x}..{:#06x}", self.lane, self.start, self.end)?;
        let first = (self.end - self.start) as usize;
        if self.total > first {
            write!(f, " and {} more bytes", self.total - first)?;
        }
        Ok(())
    }
}

/// What the checker found.
#[derive(Clone, Debug, PartialEq)]
pub enum Finding {
    Race {
        /// The TIU descriptor and the TDMA descriptor.
        tiu: DescRef,
        tdma: DescRef,
        /// Which of them writes (both, for a write/write race).
        tiu_writes: bool,
        tdma_writes: bool,
        bytes: Bytes,
        /// The cycles both are in flight (schedule times).
        overlap: (u64, u64),
    },
    UninitRead {
        desc: DescRef,
        bytes: Bytes,
    },
    OutOfRange {
        desc: DescRef,
        error: ExecErrorKind,
    },
    WeightWrite {
        desc: DescRef,
        /// Device addresses written.
        start: u64,
        end: u64,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rw = |w: bool| if w { "writes" } else { "reads" };
        match self {
            Finding::Race { tiu, tdma, tiu_writes, tdma_writes, bytes, overlap } => write!(
                f,
                "race: {tiu} {} and {tdma} {} {bytes}, both in flight at cycles {}..{} with no sync id ordering them",
                rw(*tiu_writes),
                rw(*tdma_writes),
                overlap.0,
                overlap.1
            ),
            Finding::UninitRead { desc, bytes } => {
                write!(f, "uninitialised read: {desc} reads {bytes}, which no descriptor has written")
            }
            Finding::OutOfRange { desc, error } => write!(f, "out of range: {desc}: {error}"),
            Finding::WeightWrite { desc, start, end } => {
                write!(f, "write to the read-only weight region: {desc} writes {start:#x}..{end:#x}")
            }
        }
    }
}

/// What the caller calls a layer id of the routine being checked (the checker sees no tensor
/// names); `None` where it knows no name.
pub type LayerNames<'a> = &'a dyn Fn(u32) -> Option<String>;

/// The checker's state across the routines of one run.
pub struct Checker {
    /// Per `Lmem::data` byte: written since the checker started.
    written: Vec<bool>,
    pub findings: Vec<Finding>,
    cfg: TimingConfig,
}

/// Observes one routine.
struct Pass<'a> {
    routine: usize,
    written: &'a mut Vec<bool>,
    findings: &'a mut Vec<Finding>,
    /// Footprint per command index.
    prints: Vec<Footprint>,
    weight_region: Option<usize>,
    layer_name: LayerNames<'a>,
}

fn desc_ref(m: &Machine, cmds: &[Command], routine: usize, i: usize, names: LayerNames) -> DescRef {
    let d = &cmds[i].desc;
    let layer = match d {
        Desc::Tiu(t) => t.layer_info,
        Desc::Tdma(t) => t.layer_id,
        Desc::Cpu(_) => 0,
    };
    DescRef { routine, index: i, engine: d.engine(), op: op_name(m.chip, d), layer, layer_name: names(layer) }
}

impl Observer for Pass<'_> {
    fn before(&mut self, m: &mut Machine, _: &CommandStream, _: usize, _: &Desc) -> Result<Step, ExecError> {
        if let Some(t) = &m.lmem.trace {
            *t.borrow_mut() = Touches::default();
        }
        if let Some(t) = &m.gmem.trace {
            t.borrow_mut().clear();
        }
        Ok(Step::Run)
    }

    fn after(
        &mut self,
        m: &mut Machine,
        stream: &CommandStream,
        i: usize,
        _: &Desc,
        r: ExecResult,
    ) -> Result<(), ExecError> {
        let cmds = stream.commands();
        let touches = m.lmem.trace.as_ref().map(|t| std::mem::take(&mut *t.borrow_mut())).unwrap_or_default();
        let keep = relevant_channels(m, &cmds[i].desc, &touches);
        let writes = cmds[i].desc.writes(m.chip);
        let mut fp = Footprint::filtered(&m.lmem, &touches, writes, &|k, c| keep(k, c));
        if zeroing_idiom(m.chip, &cmds[i].desc, &touches) {
            // x xor x (or x − x) is 0 whatever x holds: the compiler clears memory this way
            // (observed in tpu-mlir output), so those reads cannot see stale data.
            fp.reads = Ranges::default();
        }
        // Reads first: a descriptor's own writes do not initialise what it reads.
        let unwritten = Ranges::from_unsorted(
            fp.reads.0.iter().flat_map(|&(s, e)| unwritten_runs(&self.written[s..e], s)).collect(),
        );
        if let Some(bytes) = Bytes::of(&unwritten, m.lmem.per_lane) {
            self.findings
                .push(Finding::UninitRead { desc: desc_ref(m, cmds, self.routine, i, self.layer_name), bytes });
        }
        for &(s, e) in &fp.writes.0 {
            self.written[s..e].fill(true);
        }
        if let Desc::Tdma(d) = &cmds[i].desc {
            if d.op().dir.dst_is_global() {
                // The destination is resolved after the source: the last global access.
                let last = m.gmem.trace.as_ref().and_then(|t| t.borrow().last().copied());
                if let (Some((start, len)), Some(w)) = (last, self.weight_region) {
                    let reg = &m.gmem.regions[w];
                    if start < reg.base + reg.data.len() as u64 && reg.base < start + len.max(1) {
                        let desc = desc_ref(m, cmds, self.routine, i, self.layer_name);
                        self.findings.push(Finding::WeightWrite { desc, start, end: start + len });
                    }
                }
            }
        }
        self.prints[i] = fp;
        match r {
            Ok(()) => Ok(()),
            Err(error @ (ExecErrorKind::LmemOutOfRange { .. } | ExecErrorKind::GmemOutOfRange { .. })) => {
                self.findings
                    .push(Finding::OutOfRange { desc: desc_ref(m, cmds, self.routine, i, self.layer_name), error });
                Ok(())
            }
            Err(kind) => Err(ExecError::new(i, cmds[i].desc.engine(), op_name(m.chip, &cmds[i].desc), kind)),
        }
    }
}

/// Which operand channels can affect a descriptor's result (`(operand record, channel)`):
/// - an int8 convolution's input channel whose weights are all zero contributes nothing (the
///   compiler pads an odd input-channel count for double-channel convolution, observed in
///   tpu-mlir stem convolutions, and leaves the padding channel unloaded);
/// - a lookup reads only the tables of the lanes its input occupies.
fn relevant_channels<'a>(m: &'a Machine, desc: &Desc, t: &'a Touches) -> Box<dyn Fn(usize, u32) -> bool + 'a> {
    let Desc::Tiu(d) = desc else { return Box::new(|_, _| true) };
    let find = |opd: Operand| t.local.iter().position(|x| x.what.opd == opd);
    let lanes = m.lmem.lanes;
    match d.op(m.chip) {
        TiuOp::Conv if !d.is_bf16() => {
            let (Some(x), Some(wt)) = (find(Operand::Opd0), find(Operand::Opd1)) else {
                return Box::new(|_, _| true);
            };
            let w = t.local[wt].tensor;
            let (lane0, off0) = crate::memory::Lmem::split(w.addr);
            let zero_weights = move |ic: u32| {
                (0..w.c).all(|oc| {
                    let l = lane0 + oc;
                    let base = m.lmem.index(l % lanes, off0 + (l / lanes) * w.c_str);
                    (0..w.h).all(|kh| (0..w.w).all(|kw| m.lmem.data[base + w.inner(ic, kh, kw)] == 0))
                })
            };
            Box::new(move |k, c| k != x || !zero_weights(c))
        }
        TiuOp::Lut => {
            let (Some(x), Some(tab)) = (find(Operand::Opd0), find(Operand::Opd1)) else { return Box::new(|_, _| true) };
            let x_t = t.local[x].tensor;
            let x_lane0 = crate::memory::Lmem::split(x_t.addr).0;
            let used = move |lane: u32| (0..x_t.c.min(lanes)).any(|c| (x_lane0 + c) % lanes == lane);
            let tab_lane0 = crate::memory::Lmem::split(t.local[tab].tensor.addr).0;
            Box::new(move |k, c| k != tab || used((tab_lane0 + c) % lanes))
        }
        _ => Box::new(|_, _| true),
    }
}

/// An element-wise xor or subtract whose two inputs are the same tensor.
fn zeroing_idiom(chip: cvsim_isa::Chip, desc: &Desc, t: &Touches) -> bool {
    let Desc::Tiu(d) = desc else { return false };
    if !matches!(d.op(chip), TiuOp::Xor | TiuOp::Sub) || d.opt_opd1_const != 0 {
        return false;
    }
    let writes = d.op(chip).writes();
    let reads: Vec<_> = t.local.iter().filter(|x| !writes.contains(x.what.opd)).map(|x| x.tensor).collect();
    reads.len() == 2 && reads[0] == reads[1]
}

/// Runs of `false` in `flags` as data index ranges (`at` is the index of `flags[0]`).
fn unwritten_runs(flags: &[bool], at: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut k = 0;
    while k < flags.len() {
        if flags[k] {
            k += 1;
            continue;
        }
        let s = k;
        while k < flags.len() && !flags[k] {
            k += 1;
        }
        out.push((at + s, at + k));
    }
    out
}

impl Checker {
    pub fn new(m: &Machine) -> Checker {
        Checker { written: vec![false; m.lmem.data.len()], findings: Vec::new(), cfg: TimingConfig::default() }
    }

    /// Emulate one TPU routine under the checker, naming layers in findings by `layer_name`.
    /// Execution errors other than out-of-range accesses stop the run as they do without the
    /// checker.
    pub fn run(
        &mut self,
        m: &mut Machine,
        stream: &CommandStream,
        routine: usize,
        layer_name: LayerNames,
    ) -> Result<(), ExecError> {
        let cmds = stream.commands();
        let sched = schedule(m.chip, cmds, &self.cfg);
        m.lmem.trace = Some(RefCell::new(Touches::default()));
        m.gmem.trace = Some(RefCell::new(Vec::new()));
        let weight_region = m.gmem.regions.iter().position(|r| r.name == Region::WEIGHT.name());
        let mut pass = Pass {
            routine,
            written: &mut self.written,
            findings: &mut self.findings,
            prints: vec![Footprint::default(); cmds.len()],
            weight_region,
            layer_name,
        };
        let result = m.run_observed(stream, &mut pass);
        let prints = std::mem::take(&mut pass.prints);
        m.lmem.trace = None;
        m.gmem.trace = None;
        result?;
        // An unschedulable stream also fails to run in order, and that error was returned above.
        if let Ok(s) = sched {
            for seg in &s.segments {
                let entries = &s.entries[seg.entries.clone()];
                let tius: Vec<_> = entries.iter().filter(|e| e.engine == Engine::Tiu).collect();
                let tdmas: Vec<_> = entries.iter().filter(|e| e.engine == Engine::Tdma).collect();
                // Each engine runs in order, so starts and ends rise along each list: the TDMA
                // descriptors overlapping a TIU one form a window that only moves forward.
                let mut lo = 0;
                for a in &tius {
                    while lo < tdmas.len() && tdmas[lo].end <= a.start {
                        lo += 1;
                    }
                    for b in tdmas[lo..].iter().take_while(|b| b.start < a.end) {
                        if b.end <= a.start {
                            continue;
                        }
                        let (pa, pb) = (&prints[a.index as usize], &prints[b.index as usize]);
                        let pairs = [
                            (pa.writes.intersect(&pb.writes), true, true),
                            (pa.writes.intersect(&pb.reads), true, false),
                            (pa.reads.intersect(&pb.writes), false, true),
                        ];
                        if let Some((common, tw, dw)) = pairs.into_iter().find(|p| !p.0.is_empty()) {
                            self.findings.push(Finding::Race {
                                tiu: desc_ref(m, cmds, routine, a.index as usize, layer_name),
                                tdma: desc_ref(m, cmds, routine, b.index as usize, layer_name),
                                tiu_writes: tw,
                                tdma_writes: dw,
                                bytes: Bytes::of(&common, m.lmem.per_lane).expect("non-empty"),
                                overlap: (a.start.max(b.start), a.end.min(b.end)),
                            });
                        }
                    }
                }
            }
        }
        Ok(())
    }
}
