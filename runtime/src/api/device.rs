//! The emulated device's memory as the vendor runtime sees it: an address space, one ledger entry
//! per allocation (with the `CVI_ALLOC_*` type and the name the runtime gives it), the
//! process-wide reference-counted shared-gmem list, and buffers a user allocates to bind tensors
//! to (zero copy).

use super::ApiError;
use crate::memory::PAGE;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A replacement for the device allocator (`CVI_RT_Global_SetMemAllocCallback`): the buffers the
/// runtime allocates through the user callback (weights, program, IO, shared memory and DMABUF
/// sections; not the dmabufs built from CMDBUF sections) come from it. Their contents still live
/// in the emulator's memory image of each program; the allocator chooses their addresses.
pub trait DeviceAllocator: Send + Sync {
    /// A buffer of `size` bytes for `kind`, named as the vendor runtime names it (the model name,
    /// `SharedMemory`, or `<model>:<tensor>`): its device address, or `None` when out of memory.
    fn alloc(&self, size: u64, kind: AllocKind, name: &str) -> Option<u64>;
    /// The buffer at `paddr` from [`DeviceAllocator::alloc`] is no longer used.
    fn free(&self, paddr: u64);
}

/// A buffer placed by a [`DeviceAllocator`], with the allocator to give it back to.
pub(crate) struct Hooked {
    alloc: Allocation,
    by: Arc<dyn DeviceAllocator>,
}

/// Lowest device address handed out; a gap below catches null addresses.
const BASE: u64 = 0x0100_0000;
/// Device addresses are 32-bit (the simulator maps global addresses modulo 4 GiB).
const LIMIT: u64 = 0x1_0000_0000;

/// `CVI_ALLOC_TYPE`, plus the cmdbuf-built dmabuf, which the board's device layer allocates
/// directly (not through the user callback), and user buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AllocKind {
    Weight,
    Program,
    Neuron,
    Shared,
    Dmabuf,
    /// A dmabuf the runtime built from a CMDBUF section.
    Cmdbuf,
    /// A buffer the user allocated (e.g. to bind an input to).
    User,
}

impl AllocKind {
    /// The `CVI_ALLOC_*` value, where the allocation goes through the callback.
    pub fn cvi_value(self) -> Option<i32> {
        match self {
            AllocKind::Weight => Some(0),
            AllocKind::Program => Some(1),
            AllocKind::Neuron => Some(2),
            AllocKind::Shared => Some(3),
            AllocKind::Dmabuf => Some(4),
            AllocKind::Cmdbuf | AllocKind::User => None,
        }
    }
}

/// One live device allocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Allocation {
    pub paddr: u64,
    pub size: u64,
    pub kind: AllocKind,
    pub name: String,
    /// Holders: clones of a model for its weight and cmdbufs, models for a shared buffer.
    pub refs: u32,
}

#[derive(Default)]
pub(crate) struct Device {
    /// Buffers placed in the device's own address space (runtime and user buffers).
    allocs: BTreeMap<u64, Allocation>,
    /// Runtime buffers placed by a user allocator (their addresses may lie inside user buffers).
    hooked: BTreeMap<u64, Hooked>,
    /// Shared-gmem buffers, front of the list first.
    shared: Vec<u64>,
    /// Contents of user buffers (runtime buffers live in each instance's emulated memory).
    user: BTreeMap<u64, Vec<u8>>,
    /// Largest size given to `CVI_NN_Global_SetSharedMemorySize`.
    pub(crate) shared_preset: u64,
}

impl Device {
    /// Allocate `size` bytes at the lowest free page-aligned address (a zero size still gets an
    /// address, as a pool allocation would).
    pub(crate) fn alloc(&mut self, size: u64, kind: AllocKind, name: String) -> Result<u64, ApiError> {
        if size > LIMIT - BASE {
            return Err(ApiError::NoMem { size, kind, live: self.live_bytes() });
        }
        let span = size.max(1).div_ceil(PAGE) * PAGE;
        let mut at = BASE;
        for a in self.allocs.values() {
            if a.paddr >= at + span {
                break;
            }
            at = at.max((a.paddr + a.size.max(1)).div_ceil(PAGE) * PAGE);
        }
        if at + span > LIMIT {
            return Err(ApiError::NoMem { size, kind, live: self.live_bytes() });
        }
        self.allocs.insert(at, Allocation { paddr: at, size, kind, name, refs: 1 });
        if kind == AllocKind::User {
            self.user.insert(at, vec![0; size as usize]);
        }
        Ok(at)
    }

    /// Record a runtime buffer that `by` placed at `paddr`.
    pub(crate) fn record_hooked(
        &mut self,
        paddr: u64,
        size: u64,
        kind: AllocKind,
        name: String,
        by: Arc<dyn DeviceAllocator>,
    ) -> Result<(), ApiError> {
        if self.hooked.contains_key(&paddr) {
            // Two live runtime buffers at one address would alias each other's data.
            return Err(ApiError::BadAddress { paddr, len: size });
        }
        self.hooked.insert(paddr, Hooked { alloc: Allocation { paddr, size, kind, name, refs: 1 }, by });
        Ok(())
    }

    fn runtime_alloc_mut(&mut self, paddr: u64) -> Option<&mut Allocation> {
        match self.hooked.get_mut(&paddr) {
            Some(h) => Some(&mut h.alloc),
            None => self.allocs.get_mut(&paddr),
        }
    }

    pub(crate) fn retain(&mut self, paddr: u64) {
        if let Some(a) = self.runtime_alloc_mut(paddr) {
            a.refs += 1;
        }
    }

    /// Drop one reference to a runtime buffer (or a user buffer); the allocation goes when the
    /// last one does. A buffer from a user allocator is returned with it, to be given back to it
    /// once the device lock is released (its `free` may call back into the runtime).
    pub(crate) fn release(&mut self, paddr: u64) -> Option<(u64, Arc<dyn DeviceAllocator>)> {
        if let Some(h) = self.hooked.get_mut(&paddr) {
            h.alloc.refs -= 1;
            if h.alloc.refs > 0 {
                return None;
            }
            self.shared.retain(|&p| p != paddr);
            return self.hooked.remove(&paddr).map(|h| (paddr, h.by));
        }
        let a = self.allocs.get_mut(&paddr)?;
        a.refs -= 1;
        if a.refs == 0 {
            self.allocs.remove(&paddr);
            self.user.remove(&paddr);
            self.shared.retain(|&p| p != paddr);
        }
        None
    }

    /// The first shared-gmem buffer in the list at least `request` bytes large, now with one
    /// more holder (spec runtime.md §2.5; the same rule as [`crate::memory::SharedPool`]).
    pub(crate) fn reuse_shared(&mut self, request: u64) -> Option<u64> {
        let size = |p: &u64| self.hooked.get(p).map(|h| h.alloc.size).or_else(|| self.allocs.get(p).map(|a| a.size));
        let p = *self.shared.iter().find(|p| size(p).is_some_and(|s| s >= request))?;
        self.retain(p);
        Some(p)
    }

    /// A new shared-gmem buffer goes to the front of the list.
    pub(crate) fn add_shared(&mut self, paddr: u64) {
        self.shared.insert(0, paddr);
    }

    pub(crate) fn get(&self, paddr: u64) -> Option<&Allocation> {
        self.allocs.get(&paddr)
    }

    /// The user buffer holding `[paddr, paddr + len)`: (buffer start, byte offset in it).
    pub(crate) fn user_span(&self, paddr: u64, len: u64) -> Option<(u64, usize)> {
        let (&start, buf) = self.user.range(..=paddr).next_back()?;
        (paddr + len <= start + buf.len() as u64).then_some((start, (paddr - start) as usize))
    }

    pub(crate) fn user_bytes(&self, start: u64) -> Option<&[u8]> {
        self.user.get(&start).map(Vec::as_slice)
    }

    pub(crate) fn user_bytes_mut(&mut self, start: u64) -> Option<&mut Vec<u8>> {
        self.user.get_mut(&start)
    }

    pub(crate) fn allocations(&self) -> Vec<Allocation> {
        let mut all: Vec<Allocation> = self.allocs.values().chain(self.hooked.values().map(|h| &h.alloc)).cloned().collect();
        all.sort_by_key(|a| a.paddr);
        all
    }

    /// Bytes of the device's own buffers. Buffers from a user allocator are not counted: they
    /// come out of memory the user allocated (and is counted) already.
    pub(crate) fn live_bytes(&self) -> u64 {
        self.allocs.values().map(|a| a.size).sum()
    }
}
