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

/// Serial-mode sync ids: each engine numbers its descriptors from 1; a descriptor waits for the
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
}

impl Emitter {
    pub fn new(chip: Chip) -> Emitter {
        Emitter { chip, steps: Vec::new(), tiu_id: 0, tdma_id: 0, last: None, tdma_wait: 0 }
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

    /// Descriptors emitted so far.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}
