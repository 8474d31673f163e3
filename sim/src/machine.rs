//! The functional machine: local and global memory, and descriptor execution in command order.

use crate::error::{ExecError, ExecErrorKind, ExecResult};
use crate::memory::{Gmem, Lmem};
use crate::{tdma, tiu};
use cvsim_isa::disasm::tiu_op_name;
use cvsim_isa::{Chip, ChipParams, CommandStream, Desc, Engine};

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

    /// Run a command stream in order, decoding each descriptor as it is reached. Sync ids do not
    /// change results, but a descriptor that waits for one the stream has not run yet is an error
    /// naming both descriptors.
    pub fn run(&mut self, cmds: &CommandStream) -> Result<(), ExecError> {
        self.run_observed(cmds, &mut NoObserver)
    }

    /// [`Machine::run`] with an observer called around every descriptor (debugging and checking).
    /// The one run loop: `run` is this with an observer whose calls compile away.
    pub fn run_observed<O: Observer + ?Sized>(&mut self, cmds: &CommandStream, obs: &mut O) -> Result<(), ExecError> {
        let ids = |j: usize| (cmds.engine(j).expect("index in range"), cmds.own_id(j), cmds.wait_id(j));
        let mut slot = None;
        for seg in cmds.segments() {
            let (mut done_tiu, mut done_tdma) = (0u32, 0u32);
            for i in seg.range.clone() {
                check_wait(ids, seg.range.end, i, done_tiu, done_tdma)?;
                let desc = cmds.decode_into(i, &mut slot).expect("index in range");
                if obs.before(self, cmds, i, desc)? == Step::Run {
                    let r = self.exec(desc);
                    obs.after(self, cmds, i, desc, r)?;
                }
                note_done(desc, &mut done_tiu, &mut done_tdma);
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

/// Watches a run descriptor by descriptor ([`Machine::run_observed`]). `desc` is descriptor `i`
/// of `cmds`; [`CommandStream::commands`] gives any other.
pub trait Observer {
    /// Before descriptor `i` executes: run it, skip it, or stop the run with an error.
    #[inline]
    fn before(&mut self, m: &mut Machine, cmds: &CommandStream, i: usize, desc: &Desc) -> Result<Step, ExecError> {
        let _ = (m, cmds, i, desc);
        Ok(Step::Run)
    }
    /// After descriptor `i` executed with result `r`; the default stops on an error, as `run` does.
    #[inline]
    fn after(
        &mut self,
        m: &mut Machine,
        cmds: &CommandStream,
        i: usize,
        desc: &Desc,
        r: ExecResult,
    ) -> Result<(), ExecError> {
        let _ = cmds;
        r.map_err(|kind| ExecError::new(i, desc.engine(), op_name(m.chip, desc), kind))
    }
}

/// The observer of a plain [`Machine::run`].
struct NoObserver;

impl Observer for NoObserver {}

/// The error for a descriptor whose wait id file order has not reached yet. `ids(j)` gives
/// descriptor `j`'s engine, own id and wait id.
fn check_wait(
    ids: impl Fn(usize) -> (Engine, Option<u16>, Option<u16>),
    seg_end: usize,
    i: usize,
    done_tiu: u32,
    done_tdma: u32,
) -> Result<(), ExecError> {
    let (engine, _, wait) = ids(i);
    let wait = wait.unwrap_or(0) as u32;
    let (done, other, other_engine) = match engine {
        Engine::Tiu => (done_tdma, "TDMA", Engine::Tdma),
        _ => (done_tiu, "TIU", Engine::Tiu),
    };
    if engine != Engine::Cpu && wait > done {
        let later = (i..seg_end)
            .find(|&j| {
                let (e, own, _) = ids(j);
                e == other_engine && own == Some(wait as u16)
            })
            .map(|j| format!("descriptor {j}"))
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
