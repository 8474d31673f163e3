//! A CPU routine: its function looked up by name and run over the instance's tensors.

use super::instance::Place;
use super::{Instance, RuntimeError};
use crate::cpu;
use crate::cvimodel::{Routine, Tensor};

impl Instance {
    pub(super) fn run_cpu(&mut self, i: usize, r: &Routine, function: &str) -> Result<(), RuntimeError> {
        let f = cpu::lookup(function)
            .ok_or_else(|| RuntimeError::UnknownCpuFunction { routine: i, function: function.to_string() })?;
        let mut cx = cpu::CpuContext { routine: r, tensors: self };
        f.run(&mut cx).map_err(|why| RuntimeError::Cpu { routine: i, function: function.to_string(), why })
    }
}

/// The instance's tensors as CPU functions see them.
impl cpu::TensorStore for Instance {
    fn desc(&self, name: &str) -> cpu::CpuResult<Tensor> {
        self.tensor(name).cloned().map_err(|e| e.to_string())
    }

    fn mem_size(&self, t: &Tensor) -> cpu::CpuResult<usize> {
        Instance::mem_size(self, t).map_err(|e| e.to_string())
    }

    fn bytes(&self, name: &str) -> cpu::CpuResult<std::borrow::Cow<'_, [u8]>> {
        self.tensor_view(name).map_err(|e| e.to_string())
    }

    fn bytes_mut(&mut self, name: &str) -> cpu::CpuResult<&mut [u8]> {
        self.tensor_slice_mut(name).map_err(|e| e.to_string())
    }

    fn materialise(&mut self, name: &str) -> cpu::CpuResult {
        let t = self.tensor(name).map_err(|e| e.to_string())?;
        if self.place(t).map_err(|e| e.to_string())? == Place::Host {
            let size = self.mem_size(t).map_err(|e| e.to_string())?;
            self.host.entry(name.to_string()).or_insert_with(|| vec![0; size]);
        }
        Ok(())
    }
}
