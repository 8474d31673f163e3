//! An instance of one program: its device memory (regions placed as the vendor runtime places
//! them, the weights loaded), an emulated TPU, and access to its tensors by name.

use super::{LoadedModel, RuntimeError};
use crate::cvimodel::{Model, Program, SectionType, Tensor};
use crate::memory::{tensor_mem_size, MemoryOptions, MemoryPlan};
use cvsim_isa::Region;
use cvsim_sim::memory::RegionBytes;
use cvsim_sim::Machine;
use std::collections::HashMap;
use std::sync::Arc;

/// Where the emulated device places its first allocation; a gap below catches null addresses.
const DEVICE_BASE: u64 = 0x0100_0000;
const DEVICE_ALIGN: u64 = 0x10_0000;

/// Where a tensor's bytes live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Place {
    /// In a device region: (gmem region index, byte offset).
    Device(usize, usize),
    /// No device memory (offset −1): host memory the CPU routines use.
    Host,
}

/// One instance of one program: its own private and IO memory, the shared and weight memory, and
/// an emulated TPU.
pub struct Instance {
    pub loaded: Arc<LoadedModel>,
    pub program_index: usize,
    pub machine: Machine,
    /// gmem region index behind each base register, if allocated.
    pub(super) regions: [Option<usize>; Region::COUNT],
    /// Bytes of the tensors without device memory, made when first written.
    pub(super) host: HashMap<String, Vec<u8>>,
}

fn align(v: u64, a: u64) -> u64 {
    v.div_ceil(a) * a
}

impl Instance {
    /// Allocate the program's device memory the way the runtime does and load the weights.
    pub fn new(loaded: Arc<LoadedModel>, program_index: usize) -> Result<Instance, RuntimeError> {
        let mut next = DEVICE_BASE;
        Instance::new_placed(loaded, program_index, &mut |r, size| {
            if next + size > 0xFFFF_FFFF {
                return Err(RuntimeError::Device(format!("regions need more than 4 GiB (region {r} is {size} bytes)")));
            }
            let at = next;
            next = align(next + size, DEVICE_ALIGN);
            Ok(at)
        })
    }

    /// As [`Instance::new`], with the device address of each region (base register, byte size)
    /// chosen by `place`: a process-wide allocator gives clones the same weight address and
    /// models the same shared-gmem buffer. For a legacy `neuron_size` program region 0 is asked
    /// for and region 2 aliases it.
    pub fn new_placed(
        loaded: Arc<LoadedModel>,
        program_index: usize,
        place: &mut dyn FnMut(Region, u64) -> Result<u64, RuntimeError>,
    ) -> Result<Instance, RuntimeError> {
        let model = &loaded.model;
        let count = model.programs.len();
        let program = model.programs.get(program_index).ok_or(RuntimeError::NoProgram { program: program_index, count })?;
        let options = MemoryOptions { program: program_index, ..Default::default() };
        let plan = MemoryPlan::with_streams(model, options, &loaded.cmdbufs)?;
        let chip = model.chip();
        let mut sizes = [0u64; Region::COUNT];
        sizes[Region::SHARED.index()] = plan.shared_gmem;
        sizes[Region::PRIVATE.index()] = plan.private_gmem;
        // The file's own bytes when stored uncompressed, copied only if written: a second copy
        // of the weights would count against the peak memory a model may use.
        let mut weight = match model.sections.iter().find(|s| s.kind == SectionType::Weight) {
            Some(sec) => Some(model.section_region_bytes(sec)?),
            None => None,
        };
        sizes[Region::WEIGHT.index()] = weight.as_ref().map_or(0, |w| w.len() as u64);
        for io in &plan.io {
            sizes[io.region.index()] = io.size;
        }
        // Later tensors of a region are views into its buffer; never let a view reach past it.
        for t in &program.tensor_map {
            if let Some(r) = t.region {
                let end = t.region_offset + tensor_mem_size(chip, t).map(|s| s.0).unwrap_or(0);
                if r != Region::WEIGHT && end > sizes[r.index()] {
                    if r.is_io() {
                        return Err(RuntimeError::BadTensor {
                            name: t.name.clone(),
                            why: format!("ends at {end:#x}, past its IO region {r} buffer of {:#x} bytes", sizes[r.index()]),
                        });
                    }
                    return Err(RuntimeError::BadTensor {
                        name: t.name.clone(),
                        why: format!("ends at {end:#x}, past region {r} ({:#x} bytes)", sizes[r.index()]),
                    });
                }
            }
        }
        let mut machine = Machine::new(chip);
        let mut regions = [None; Region::COUNT];
        let legacy = program.neuron_size != 0;
        for r in Region::ALL {
            if legacy && r == Region::PRIVATE {
                continue;
            }
            let size = if legacy && r == Region::SHARED { program.neuron_size as u64 } else { sizes[r.index()] };
            if size == 0 {
                continue;
            }
            let at = place(r, size)?;
            let data = if r == Region::WEIGHT { weight.take() } else { None };
            let data = data.unwrap_or_else(|| RegionBytes::zeroed(size as usize));
            regions[r.index()] = Some(machine.gmem.add_region_with(r.name(), at, data));
            machine.gmem.base_regs[r.index()] = at;
        }
        if legacy {
            // Old mlir-tpu models: regions 0 and 2 are one buffer.
            let (shared, private) = (Region::SHARED.index(), Region::PRIVATE.index());
            regions[private] = regions[shared];
            machine.gmem.base_regs[private] = machine.gmem.base_regs[shared];
        }
        Ok(Instance { loaded, program_index, machine, regions, host: HashMap::new() })
    }

    pub fn model(&self) -> &Model {
        &self.loaded.model
    }

    pub fn program(&self) -> &Program {
        &self.loaded.model.programs[self.program_index]
    }

    pub(super) fn tensor(&self, name: &str) -> Result<&Tensor, RuntimeError> {
        self.program().tensor(name).ok_or_else(|| RuntimeError::NoTensor {
            name: name.to_string(),
            known: self.program().tensor_map.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "),
        })
    }

    /// The byte size the runtime gives a tensor (`CVI_TENSOR.mem_size`).
    pub fn mem_size(&self, t: &Tensor) -> Result<usize, RuntimeError> {
        tensor_mem_size(self.model().chip(), t)
            .map(|s| s.0 as usize)
            .ok_or_else(|| RuntimeError::BadTensor { name: t.name.clone(), why: "has a dynamic dim".into() })
    }

    pub(super) fn place(&self, t: &Tensor) -> Result<Place, RuntimeError> {
        match t.region {
            None => Ok(Place::Host),
            Some(r) => {
                let idx = self.regions[r.index()].ok_or_else(|| RuntimeError::BadTensor {
                    name: t.name.clone(),
                    why: format!("lives in region {r}, which this program does not allocate"),
                })?;
                Ok(Place::Device(idx, t.region_offset as usize))
            }
        }
    }

    /// A tensor's current bytes.
    pub fn tensor_bytes(&self, name: &str) -> Result<Vec<u8>, RuntimeError> {
        self.tensor_view(name).map(|b| b.into_owned())
    }

    /// A tensor's current bytes, borrowed where they are stored.
    pub(super) fn tensor_view(&self, name: &str) -> Result<std::borrow::Cow<'_, [u8]>, RuntimeError> {
        let t = self.tensor(name)?;
        let size = self.mem_size(t)?;
        match self.place(t)? {
            Place::Device(r, o) => Ok(std::borrow::Cow::Borrowed(&self.machine.gmem.regions[r].data[o..o + size])),
            Place::Host => Ok(self.host.get(name).map_or_else(|| vec![0; size].into(), |b| b.as_slice().into())),
        }
    }

    pub(super) fn tensor_slice_mut(&mut self, name: &str) -> Result<&mut [u8], RuntimeError> {
        let t = self.tensor(name)?.clone();
        let size = self.mem_size(&t)?;
        match self.place(&t)? {
            Place::Device(r, o) => Ok(&mut self.machine.gmem.regions[r].data[o..o + size]),
            Place::Host => Ok(self.host.entry(name.to_string()).or_insert_with(|| vec![0; size]).as_mut_slice()),
        }
    }

    /// Copy an input's bytes into the tensor (its exact `mem_size`).
    pub fn set_input(&mut self, name: &str, data: &[u8]) -> Result<(), RuntimeError> {
        self.input_mut(name, data.len())?.copy_from_slice(data);
        Ok(())
    }

    /// An input's bytes, to be filled in place with `len` bytes (checked as [`Instance::set_input`]
    /// checks its data): a reader can then decode straight into device memory, without a copy.
    pub fn input_mut(&mut self, name: &str, len: usize) -> Result<&mut [u8], RuntimeError> {
        if !self.program().input_tensors.iter().any(|n| n == name) {
            return Err(RuntimeError::NoTensor { name: name.to_string(), known: self.program().input_tensors.join(", ") });
        }
        let t = self.tensor(name)?.clone();
        let want = self.mem_size(&t)?;
        if len != want {
            return Err(RuntimeError::InputSize { name: name.into(), got: len, want, dtype: t.dtype.name(), shape: t.shape });
        }
        self.tensor_slice_mut(name)
    }

    /// The device address behind base register `r`, when the program uses that region.
    pub fn region_base(&self, r: Region) -> Option<u64> {
        self.regions[r.index()].map(|i| self.machine.gmem.regions[i].base)
    }

    /// The bytes of region `r` as the TPU sees them.
    pub fn region_data_mut(&mut self, r: Region) -> Option<&mut [u8]> {
        let i = self.regions[r.index()]?;
        Some(&mut self.machine.gmem.regions[i].data[..])
    }

    /// Point base register `r` (an IO region) at another device address, as
    /// `CVI_NN_SetTensorPhysicalAddr` does; the region keeps its size.
    pub fn rebind_region(&mut self, r: Region, paddr: u64) -> Result<(), RuntimeError> {
        if !r.is_io() {
            return Err(RuntimeError::Device(format!(
                "region {r} is not an IO region; only regions {}..{} can be rebound",
                Region::IO_FIRST,
                Region::IO_LAST
            )));
        }
        let i = self.regions[r.index()].ok_or_else(|| RuntimeError::Device(format!("region {r} is not allocated")))?;
        let len = self.machine.gmem.regions[i].data.len() as u64;
        let end = paddr.checked_add(len).filter(|&e| e <= cvsim_sim::memory::DDR_MASK + 1);
        let clash = self
            .machine
            .gmem
            .regions
            .iter()
            .enumerate()
            .any(|(j, g)| j != i && end.is_some_and(|e| paddr < g.base + g.data.len() as u64 && g.base < e));
        if end.is_none() || clash {
            return Err(RuntimeError::Device(format!(
                "address {paddr:#x} (+{len:#x}) overlaps another region of the program or leaves the 32-bit space"
            )));
        }
        self.machine.gmem.regions[i].base = paddr;
        self.machine.gmem.base_regs[r.index()] = paddr;
        Ok(())
    }

    /// The tensors `OPTION_OUTPUT_ALL_TENSORS` exports: every tensor-map entry not marked
    /// `overwrote`, in tensor-map order.
    pub fn all_tensors(&self) -> Result<Vec<(Tensor, Vec<u8>)>, RuntimeError> {
        self.program().tensor_map.iter().filter(|t| !t.overwrote).map(|t| Ok((t.clone(), self.tensor_bytes(&t.name)?))).collect()
    }
}
