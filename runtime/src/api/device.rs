//! The emulated device's memory as the vendor runtime sees it: an address space, one ledger entry
//! per allocation (with the `CVI_ALLOC_*` type and the name the runtime gives it), the
//! process-wide reference-counted shared-gmem list, and buffers a user allocates to bind tensors
//! to (zero copy).

use super::ApiError;
use crate::memory::PAGE;
use serde::Serialize;
use std::collections::BTreeMap;

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

#[derive(Debug, Default)]
pub(crate) struct Device {
    allocs: BTreeMap<u64, Allocation>,
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

    pub(crate) fn retain(&mut self, paddr: u64) {
        if let Some(a) = self.allocs.get_mut(&paddr) {
            a.refs += 1;
        }
    }

    /// Drop one reference; the allocation goes when the last one does.
    pub(crate) fn release(&mut self, paddr: u64) {
        let Some(a) = self.allocs.get_mut(&paddr) else { return };
        a.refs -= 1;
        if a.refs == 0 {
            self.allocs.remove(&paddr);
            self.user.remove(&paddr);
            self.shared.retain(|&p| p != paddr);
        }
    }

    /// The shared-gmem request of one instance (already rounded): the first buffer in the list at
    /// least as large is reused, else a new one of exactly the request goes to the front
    /// (spec runtime.md §2.5; the same rule as [`crate::memory::SharedPool`], which plans it).
    pub(crate) fn acquire_shared(&mut self, request: u64) -> Result<u64, ApiError> {
        if let Some(&p) = self.shared.iter().find(|&&p| self.allocs[&p].size >= request) {
            self.retain(p);
            return Ok(p);
        }
        let p = self.alloc(request, AllocKind::Shared, "SharedMemory".into())?;
        self.shared.insert(0, p);
        Ok(p)
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
        self.allocs.values().cloned().collect()
    }

    pub(crate) fn live_bytes(&self) -> u64 {
        self.allocs.values().map(|a| a.size).sum()
    }
}
