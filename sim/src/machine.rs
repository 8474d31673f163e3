//! The functional machine: local and global memory, and descriptor execution in command order.

use crate::error::{ExecError, ExecErrorKind, ExecResult};
use crate::memory::{Gmem, Lmem};
use crate::{tdma, tiu};
use cvsim_isa::disasm::tiu_op_name;
use cvsim_isa::dmabuf::segments;
use cvsim_isa::{Chip, ChipParams, Command, Desc, Engine};

/// The emulated TPU: its chip, local memory and global memory.
#[derive(Clone)]
pub struct Machine {
    pub chip: Chip,
    pub params: &'static ChipParams,
    pub lmem: Lmem,
    pub gmem: Gmem,
}

impl Machine {
    pub fn new(chip: Chip) -> Machine {
        let params = chip.params();
        Machine { chip, params, lmem: Lmem::new(params), gmem: Gmem::new() }
    }

    /// Execute one descriptor.
    pub fn exec(&mut self, desc: &Desc) -> ExecResult {
        match desc {
            Desc::Tiu(d) => tiu::exec(self.chip, &mut self.lmem, d),
            Desc::Tdma(d) => tdma::exec(self.chip, &mut self.lmem, &mut self.gmem, d),
            // CPU records only delimit segments in a cmdbuf; the runtime runs CPU routines itself.
            Desc::Cpu(_) => Ok(()),
        }
    }

    /// Run a command stream in order. Sync ids do not change results, but a descriptor that waits
    /// for one the stream has not run yet is an error naming both descriptors.
    pub fn run(&mut self, cmds: &[Command]) -> Result<(), ExecError> {
        for seg in segments(cmds) {
            let (mut done_tiu, mut done_tdma) = (0u32, 0u32);
            for i in seg.range.clone() {
                let cmd = &cmds[i];
                check_wait(cmds, seg.range.end, i, done_tiu, done_tdma)?;
                self.exec(&cmd.desc)
                    .map_err(|kind| ExecError::new(i, cmd.desc.engine(), op_name(self.chip, &cmd.desc), kind))?;
                note_done(&cmd.desc, &mut done_tiu, &mut done_tdma);
            }
        }
        Ok(())
    }

    /// [`Machine::run`] with an observer called around every descriptor (debugging and checking;
    /// `run` itself stays free of the calls).
    pub fn run_observed(&mut self, cmds: &[Command], obs: &mut dyn Observer) -> Result<(), ExecError> {
        for seg in segments(cmds) {
            let (mut done_tiu, mut done_tdma) = (0u32, 0u32);
            for i in seg.range.clone() {
                let cmd = &cmds[i];
                check_wait(cmds, seg.range.end, i, done_tiu, done_tdma)?;
                if obs.before(self, cmds, i)? == Step::Run {
                    let r = self.exec(&cmd.desc);
                    obs.after(self, cmds, i, r)?;
                }
                note_done(&cmd.desc, &mut done_tiu, &mut done_tdma);
            }
        }
        Ok(())
    }
}

/// Whether to execute a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Run,
    Skip,
}

/// Watches a run descriptor by descriptor ([`Machine::run_observed`]).
pub trait Observer {
    /// Before descriptor `i` of `cmds` executes: run it, skip it, or stop the run with an error.
    fn before(&mut self, m: &mut Machine, cmds: &[Command], i: usize) -> Result<Step, ExecError> {
        let _ = (m, cmds, i);
        Ok(Step::Run)
    }
    /// After descriptor `i` executed with result `r`; the default stops on an error, as `run` does.
    fn after(&mut self, m: &mut Machine, cmds: &[Command], i: usize, r: ExecResult) -> Result<(), ExecError> {
        r.map_err(|kind| ExecError::new(i, cmds[i].desc.engine(), op_name(m.chip, &cmds[i].desc), kind))
    }
}

/// The error for a descriptor whose wait id file order has not reached yet.
fn check_wait(cmds: &[Command], seg_end: usize, i: usize, done_tiu: u32, done_tdma: u32) -> Result<(), ExecError> {
    let cmd = &cmds[i];
    let engine = cmd.desc.engine();
    let wait = cmd.desc.wait_id().unwrap_or(0) as u32;
    let (done, other, other_engine) = match engine {
        Engine::Tiu => (done_tdma, "TDMA", Engine::Tdma),
        _ => (done_tiu, "TIU", Engine::Tiu),
    };
    if engine != Engine::Cpu && wait > done {
        let later = cmds[i..seg_end]
            .iter()
            .position(|c| c.desc.engine() == other_engine && c.desc.own_id() == Some(wait as u16))
            .map(|p| format!("descriptor {}", i + p))
            .unwrap_or_else(|| "no descriptor of this segment".to_string());
        return Err(ExecError::new(
            i,
            engine,
            format!("waiting on {later}"),
            ExecErrorKind::WaitNotSatisfied { engine: engine.name(), other, wait, done },
        ));
    }
    Ok(())
}

#[inline]
fn note_done(desc: &Desc, done_tiu: &mut u32, done_tdma: &mut u32) {
    match desc {
        Desc::Tiu(d) => *done_tiu = d.cmd_id_tpu,
        Desc::Tdma(d) => *done_tdma = d.cmd_id,
        Desc::Cpu(_) => {}
    }
}

/// The disassembler's operation name of a descriptor.
pub fn op_name(chip: Chip, desc: &Desc) -> String {
    match desc {
        Desc::Tiu(d) => tiu_op_name(chip, d),
        Desc::Tdma(d) => d.op().name(),
        Desc::Cpu(_) => "cpu".to_string(),
    }
}
