//! The command stream of one TPU routine: descriptors in order, each with the layer it belongs to,
//! numbered with serial-mode sync ids (isa.md §2.2).

use cvsim_isa::{Chip, Desc, Engine, TdmaDesc, TiuDesc};

/// One descriptor and the id of its layer (written into `layer_info` / `layer_ID`, which only the
/// profiler reads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub layer: u32,
    pub desc: Desc,
}

/// A half-open range of per-lane local-memory offsets a descriptor reads or writes (every
/// tensor the code generator places starts in lane 0, so one range covers every lane's bytes).
pub type Span = (u32, u32);

/// What one emitted descriptor touches, for the dependency-based waits.
#[derive(Clone, Debug)]
struct Access {
    tiu: bool,
    id: u32,
    reads: Vec<Span>,
    writes: Vec<Span>,
}

fn overlaps(a: &[Span], b: &[Span]) -> bool {
    a.iter().any(|x| b.iter().any(|y| x.0 < y.1 && y.0 < x.1))
}

/// Serial-mode sync ids ([`Emitter::tiu`], [`Emitter::tdma`]): each engine numbers its descriptors from 1; a descriptor waits for the
/// last descriptor of the other engine emitted before it, written only into the earliest
/// follower (so a TIU right after another TIU waits for nothing new); a TDMA descriptor with no
/// wait of its own repeats the previous TDMA wait (cvikernel's carry-forward). Both engines run
/// in order, so this orders every descriptor after everything emitted before it.
pub struct Emitter {
    pub chip: Chip,
    pub steps: Vec<Step>,
    tiu_id: u32,
    tdma_id: u32,
    last: Option<Engine>,
    tdma_wait: u32,
    tiu_wait: u32,
    history: Vec<Access>,
}

impl Emitter {
    pub fn new(chip: Chip) -> Emitter {
        Emitter {
            chip,
            steps: Vec::new(),
            tiu_id: 0,
            tdma_id: 0,
            last: None,
            tdma_wait: 0,
            tiu_wait: 0,
            history: Vec::new(),
        }
    }

    pub fn tiu(&mut self, layer: u32, mut d: TiuDesc) {
        self.tiu_id += 1;
        d.cmd_en = 1;
        d.cmd_id_en = 1;
        d.cmd_id_tpu = self.tiu_id;
        d.cmd_id_gdma = if self.last == Some(Engine::Tdma) { self.tdma_id } else { 0 };
        d.layer_info = layer;
        self.last = Some(Engine::Tiu);
        self.steps.push(Step { layer, desc: Desc::Tiu(Box::new(d)) });
    }

    pub fn tdma(&mut self, layer: u32, mut d: TdmaDesc) {
        self.tdma_id += 1;
        if self.last == Some(Engine::Tiu) {
            self.tdma_wait = self.tiu_id;
        }
        d.vld = 1;
        d.bar_en = 1;
        d.cmd_id = self.tdma_id;
        d.wait_id_tpu = self.tdma_wait;
        d.layer_id = layer;
        self.last = Some(Engine::Tdma);
        self.steps.push(Step { layer, desc: Desc::Tdma(Box::new(d)) });
    }

    /// The id of the latest descriptor of the other engine that touches the same local memory
    /// (a write of either against any access of the other), or 0.
    fn needed(&self, tiu: bool, reads: &[Span], writes: &[Span]) -> u32 {
        self.history
            .iter()
            .rev()
            .filter(|a| a.tiu != tiu)
            .find(|a| overlaps(&a.writes, reads) || overlaps(&a.writes, writes) || overlaps(&a.reads, writes))
            .map_or(0, |a| a.id)
    }

    /// A TIU descriptor that waits only for the TDMA descriptors whose local memory it shares
    /// (dependency-based sync; both engines run in order, so the latest conflicting one
    /// suffices, and a wait no later than this engine's previous one is already met).
    pub fn tiu_deps(&mut self, layer: u32, mut d: TiuDesc, reads: &[Span], writes: &[Span]) {
        let need = self.needed(true, reads, writes);
        self.tiu_id += 1;
        d.cmd_en = 1;
        d.cmd_id_en = 1;
        d.cmd_id_tpu = self.tiu_id;
        d.cmd_id_gdma = if need > self.tiu_wait { need } else { 0 };
        self.tiu_wait = self.tiu_wait.max(need);
        d.layer_info = layer;
        self.last = Some(Engine::Tiu);
        self.history.push(Access { tiu: true, id: self.tiu_id, reads: reads.to_vec(), writes: writes.to_vec() });
        self.steps.push(Step { layer, desc: Desc::Tiu(Box::new(d)) });
    }

    /// A TDMA descriptor that waits only for the TIU descriptors whose local memory it shares; a
    /// TDMA descriptor with no new wait repeats the previous one (cvikernel's carry-forward).
    pub fn tdma_deps(&mut self, layer: u32, mut d: TdmaDesc, reads: &[Span], writes: &[Span]) {
        let need = self.needed(false, reads, writes);
        self.tdma_id += 1;
        self.tdma_wait = self.tdma_wait.max(need);
        d.vld = 1;
        d.bar_en = 1;
        d.cmd_id = self.tdma_id;
        d.wait_id_tpu = self.tdma_wait;
        d.layer_id = layer;
        self.last = Some(Engine::Tdma);
        self.history.push(Access { tiu: false, id: self.tdma_id, reads: reads.to_vec(), writes: writes.to_vec() });
        self.steps.push(Step { layer, desc: Desc::Tdma(Box::new(d)) });
    }

    /// Descriptors emitted so far.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}
