//! Running a program: its routines in order, TPU routines on the emulated machine (or a caller's
//! stepper), CPU routines on the host.

use super::{Instance, RuntimeError};
use crate::cvimodel::RoutineKind;
use cvsim_isa::CommandStream;
use cvsim_sim::{ExecError, Machine};

impl Instance {
    /// Run every routine of the program in order.
    pub fn forward(&mut self) -> Result<(), RuntimeError> {
        self.forward_with(&mut |_, m, cmds| m.run(cmds))
    }

    /// [`Instance::forward`], with each TPU routine run by `tpu(routine index, machine, commands)`
    /// (a debugger or checker stepping the machine itself).
    pub fn forward_with(
        &mut self,
        tpu: &mut dyn FnMut(usize, &mut Machine, &CommandStream) -> Result<(), ExecError>,
    ) -> Result<(), RuntimeError> {
        for i in 0..self.routine_count() {
            self.run_routine_with(i, tpu)?;
        }
        Ok(())
    }

    pub fn routine_count(&self) -> usize {
        self.program().routines.len()
    }

    /// Whether routine `i` runs on the TPU (else on the host CPU).
    pub fn routine_is_tpu(&self, i: usize) -> bool {
        self.program().routines.get(i).is_some_and(|r| matches!(r.kind, RoutineKind::Tpu { .. }))
    }

    /// Run routine `i` of the program.
    pub fn run_routine(&mut self, i: usize) -> Result<(), RuntimeError> {
        self.run_routine_with(i, &mut |_, m, cmds| m.run(cmds))
    }

    /// [`Instance::run_routine`], with a TPU routine run by `tpu` (see [`Instance::forward_with`]).
    pub fn run_routine_with(
        &mut self,
        i: usize,
        tpu: &mut dyn FnMut(usize, &mut Machine, &CommandStream) -> Result<(), ExecError>,
    ) -> Result<(), RuntimeError> {
        let r = self
            .program()
            .routines
            .get(i)
            .cloned()
            .ok_or_else(|| RuntimeError::Device(format!("routine {i} does not exist ({} routines)", self.routine_count())))?;
        {
            let r = &r;
            match &r.kind {
                RoutineKind::Tpu { .. } => {
                    let section = r.tpu_section().unwrap_or_default().to_string();
                    let cmds = self
                        .loaded
                        .cmdbufs
                        .get(&section)
                        .cloned()
                        .ok_or_else(|| RuntimeError::Device(format!("section `{section}` not loaded")))?;
                    tpu(i, &mut self.machine, &cmds).map_err(|source| RuntimeError::Tpu { routine: i, section, source })?;
                }
                RoutineKind::Cpu { function, .. } => self.run_cpu(i, r, function)?,
            }
        }
        Ok(())
    }
}
