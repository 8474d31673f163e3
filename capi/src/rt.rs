//! The device-memory calls of `cviruntime_context.h` (`CVI_RT_*`): what a board application uses
//! to get a buffer of device (ION) memory, fill it from the CPU and hand its physical address to
//! `CVI_NN_SetTensorPhysicalAddr` or the frame calls.
//!
//! A `CVI_RT_MEM` is a boxed [`RtMem`]: a whole buffer from `CVI_RT_MemAlloc`, or a view into one
//! from `CVI_RT_MemPreAlloc`. Like the model handles, every pointer is checked against the set of
//! live ones, so a stale or foreign pointer gives an error, not a crash. The emulated device is
//! coherent: flush and invalidate only check their argument. `CVI_RT_Global_SetMemAllocCallback`
//! hands the runtime's own allocations to the user's callbacks.

use super::{guard, guard_value, Live, CVI_RC};
use cvsim_runtime::api::{rc, AllocKind, DeviceAllocator, Runtime};
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::{Arc, Mutex, OnceLock};

pub type CVI_RT_HANDLE = *mut c_void;
pub type CVI_RT_MEM = *mut c_void;

/// One `CVI_RT_MEM`.
struct RtMem {
    paddr: u64,
    size: u64,
    vaddr: *mut u8,
    /// A whole buffer (freed with the handle), not a view into another.
    owns: bool,
}

/// Live contexts. What one holds does not matter (all share the one device), but it must not be
/// zero-sized: each needs an address of its own.
static CONTEXTS: Live<u8> = Live::new();
/// Live buffers and views.
static MEMS: Live<RtMem> = Live::new();

fn ctx_ok(h: CVI_RT_HANDLE) -> bool {
    CONTEXTS.get(h).is_some()
}

fn mem<'a>(m: CVI_RT_MEM) -> Option<&'a RtMem> {
    MEMS.get(m).map(|r| &*r)
}

fn publish(m: RtMem) -> CVI_RT_MEM {
    MEMS.publish(m)
}

/// `CVI_RT_Init`: a context for the memory calls. All contexts share the one emulated device the
/// models run on.
#[no_mangle]
pub extern "C" fn CVI_RT_Init(rt_handle: *mut CVI_RT_HANDLE) -> CVI_RC {
    guard("CVI_RT_Init", || {
        if rt_handle.is_null() {
            return Err(rc::INVALID_ARG);
        }
        // SAFETY: checked non-null; the caller's handle slot.
        unsafe { *rt_handle = CONTEXTS.publish(0) };
        Ok(())
    })
}

/// `CVI_RT_DeInit`.
#[no_mangle]
pub extern "C" fn CVI_RT_DeInit(rt_handle: CVI_RT_HANDLE) -> CVI_RC {
    guard("CVI_RT_DeInit", || {
        drop(CONTEXTS.take(rt_handle).ok_or(rc::INVALID_ARG)?);
        Ok(())
    })
}

/// `CVI_RT_MemAlloc`: `size` bytes of device memory (zeroed); NULL when the device is full or
/// the context is not one from `CVI_RT_Init`.
#[no_mangle]
pub extern "C" fn CVI_RT_MemAlloc(rt_handle: CVI_RT_HANDLE, size: u64) -> CVI_RT_MEM {
    guard_value(std::ptr::null_mut(), || {
        if !ctx_ok(rt_handle) {
            eprintln!("cvsim: CVI_RT_MemAlloc: not a context from CVI_RT_Init");
            return std::ptr::null_mut();
        }
        let rt = Runtime::global();
        match rt.alloc(size) {
            Ok(paddr) => {
                let vaddr = rt.host_ptr(paddr).unwrap_or(std::ptr::null_mut());
                publish(RtMem { paddr, size, vaddr, owns: true })
            }
            Err(e) => {
                eprintln!("cvsim: CVI_RT_MemAlloc({size}): {e}");
                std::ptr::null_mut()
            }
        }
    })
}

/// `CVI_RT_MemPreAlloc`: a view of `size` bytes at `offset` into `mem` (NULL if it does not fit).
#[no_mangle]
pub extern "C" fn CVI_RT_MemPreAlloc(mem_: CVI_RT_MEM, offset: u64, size: u64) -> CVI_RT_MEM {
    guard_value(std::ptr::null_mut(), || {
        let Some(m) = mem(mem_) else { return std::ptr::null_mut() };
        match offset.checked_add(size) {
            Some(end) if end <= m.size => publish(RtMem {
                paddr: m.paddr + offset,
                size,
                // SAFETY: inside the parent's buffer.
                vaddr: if m.vaddr.is_null() { m.vaddr } else { unsafe { m.vaddr.add(offset as usize) } },
                owns: false,
            }),
            _ => {
                eprintln!("cvsim: CVI_RT_MemPreAlloc: {size} bytes at {offset} do not fit a {}-byte buffer", m.size);
                std::ptr::null_mut()
            }
        }
    })
}

fn free_mem(m: CVI_RT_MEM) -> Result<(), CVI_RC> {
    let m = MEMS.take(m).ok_or(rc::INVALID_ARG)?;
    if m.owns {
        Runtime::global().free(m.paddr).map_err(|e| {
            eprintln!("cvsim: CVI_RT_MemFree: {e}");
            rc::INVALID_ARG
        })?;
    }
    Ok(())
}

/// `CVI_RT_MemFree`: a whole buffer goes back to the device; a view only goes.
#[no_mangle]
pub extern "C" fn CVI_RT_MemFree(_rt_handle: CVI_RT_HANDLE, mem_: CVI_RT_MEM) {
    guard("CVI_RT_MemFree", || free_mem(mem_));
}

/// `CVI_RT_MemFreeEx`: free the buffer that starts at `p_addr`.
#[no_mangle]
pub extern "C" fn CVI_RT_MemFreeEx(p_addr: u64) {
    guard("CVI_RT_MemFreeEx", || free_mem(MEMS.find(|m| m.owns && m.paddr == p_addr).ok_or(rc::INVALID_ARG)?));
}

/// `CVI_RT_MemGetSize` (0 for a bad handle).
#[no_mangle]
pub extern "C" fn CVI_RT_MemGetSize(mem_: CVI_RT_MEM) -> u64 {
    guard_value(0, || mem(mem_).map_or(0, |m| m.size))
}

/// `CVI_RT_MemGetPAddr`: the device address, for `CVI_NN_SetTensorPhysicalAddr` (0 for a bad
/// handle).
#[no_mangle]
pub extern "C" fn CVI_RT_MemGetPAddr(mem_: CVI_RT_MEM) -> u64 {
    guard_value(0, || mem(mem_).map_or(0, |m| m.paddr))
}

/// `CVI_RT_MemGetVAddr`: where the CPU reads and writes the buffer (NULL for a bad handle).
#[no_mangle]
pub extern "C" fn CVI_RT_MemGetVAddr(mem_: CVI_RT_MEM) -> *mut u8 {
    guard_value(std::ptr::null_mut(), || mem(mem_).map_or(std::ptr::null_mut(), |m| m.vaddr))
}

/// `CVI_RT_MemCopyS2D`: the buffer's whole size from host memory.
#[no_mangle]
pub extern "C" fn CVI_RT_MemCopyS2D(rt_handle: CVI_RT_HANDLE, dst: CVI_RT_MEM, src: *mut u8) -> CVI_RC {
    let size = CVI_RT_MemGetSize(dst);
    CVI_RT_MemCopyS2DEx(rt_handle, dst, 0, size, src)
}

/// `CVI_RT_MemCopyS2DEx`: `len` bytes from host memory to `offset` in the buffer.
#[no_mangle]
pub extern "C" fn CVI_RT_MemCopyS2DEx(
    _rt_handle: CVI_RT_HANDLE,
    dst: CVI_RT_MEM,
    offset: u64,
    len: u64,
    src: *mut u8,
) -> CVI_RC {
    guard("CVI_RT_MemCopyS2DEx", || {
        let m = mem(dst).ok_or(rc::INVALID_ARG)?;
        if src.is_null() || offset.checked_add(len).is_none_or(|e| e > m.size) {
            return Err(rc::INVALID_ARG);
        }
        // SAFETY: the caller's `len` bytes at `src`.
        let data = unsafe { std::slice::from_raw_parts(src, len as usize) };
        Runtime::global().write(m.paddr + offset, data).map_err(|_| rc::INVALID_ARG)
    })
}

/// `CVI_RT_MemCopyD2S`: the buffer's whole size to host memory.
#[no_mangle]
pub extern "C" fn CVI_RT_MemCopyD2S(_rt_handle: CVI_RT_HANDLE, dst: *mut u8, src: CVI_RT_MEM) -> CVI_RC {
    guard("CVI_RT_MemCopyD2S", || {
        let m = mem(src).ok_or(rc::INVALID_ARG)?;
        if dst.is_null() {
            return Err(rc::INVALID_ARG);
        }
        let data = Runtime::global().read(m.paddr, m.size as usize).map_err(|_| rc::INVALID_ARG)?;
        // SAFETY: the caller's buffer of the device buffer's size.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
        Ok(())
    })
}

fn coherent(call: &str, m: CVI_RT_MEM) -> CVI_RC {
    guard(call, || mem(m).map(|_| ()).ok_or(rc::INVALID_ARG))
}

/// `CVI_RT_MemFlush`: the emulated device sees CPU writes at once.
#[no_mangle]
pub extern "C" fn CVI_RT_MemFlush(_rt_handle: CVI_RT_HANDLE, mem_: CVI_RT_MEM) -> CVI_RC {
    coherent("CVI_RT_MemFlush", mem_)
}

/// `CVI_RT_MemInvld`.
#[no_mangle]
pub extern "C" fn CVI_RT_MemInvld(_rt_handle: CVI_RT_HANDLE, mem_: CVI_RT_MEM) -> CVI_RC {
    coherent("CVI_RT_MemInvld", mem_)
}

/// `CVI_RT_MemFlushEx`.
#[no_mangle]
pub extern "C" fn CVI_RT_MemFlushEx(_rt_handle: CVI_RT_HANDLE, mem_: CVI_RT_MEM, _len: u64) -> CVI_RC {
    coherent("CVI_RT_MemFlushEx", mem_)
}

/// `CVI_RT_MemInvldEx`.
#[no_mangle]
pub extern "C" fn CVI_RT_MemInvldEx(_rt_handle: CVI_RT_HANDLE, mem_: CVI_RT_MEM, _len: u64) -> CVI_RC {
    coherent("CVI_RT_MemInvldEx", mem_)
}

/// `CVI_MEM_ALLOC_CB`: (context, size, `CVI_ALLOC_TYPE`, name) → buffer.
pub type CVI_MEM_ALLOC_CB = Option<unsafe extern "C" fn(CVI_RT_HANDLE, u64, c_int, *const c_char) -> CVI_RT_MEM>;
/// `CVI_MEM_FREE_CB`: (context, buffer).
pub type CVI_MEM_FREE_CB = Option<unsafe extern "C" fn(CVI_RT_HANDLE, CVI_RT_MEM)>;

/// The context the runtime passes to the callbacks: a live one, so that they may allocate from it.
fn runtime_ctx() -> CVI_RT_HANDLE {
    static CTX: OnceLock<usize> = OnceLock::new();
    *CTX.get_or_init(|| CONTEXTS.publish(0) as usize) as CVI_RT_HANDLE
}

/// The user's callbacks as the runtime's allocator. The runtime knows buffers by address; the
/// callbacks by their `CVI_RT_MEM`, kept here per address.
struct Callbacks {
    alloc: unsafe extern "C" fn(CVI_RT_HANDLE, u64, c_int, *const c_char) -> CVI_RT_MEM,
    free: unsafe extern "C" fn(CVI_RT_HANDLE, CVI_RT_MEM),
    given: Mutex<HashMap<u64, Vec<usize>>>,
}

impl DeviceAllocator for Callbacks {
    fn alloc(&self, size: u64, kind: AllocKind, name: &str) -> Option<u64> {
        let name = CString::new(name).unwrap_or_default();
        let kind_value = kind.cvi_value().unwrap_or(CVI_ALLOC_UNKNOWN);
        // SAFETY: the user's allocation callback, called as its type says.
        let m = unsafe { (self.alloc)(runtime_ctx(), size, kind_value, name.as_ptr()) };
        if m.is_null() {
            return None;
        }
        let Some(r) = mem(m) else {
            eprintln!("cvsim: the allocation callback returned {m:p}, not a buffer from CVI_RT_MemAlloc/MemPreAlloc");
            return None;
        };
        if r.size < size {
            eprintln!("cvsim: the allocation callback gave {} bytes for a request of {size}", r.size);
            // SAFETY: the user's free callback, on the buffer its allocation callback gave.
            unsafe { (self.free)(runtime_ctx(), m) };
            return None;
        }
        self.given.lock().unwrap_or_else(|e| e.into_inner()).entry(r.paddr).or_default().push(m as usize);
        Some(r.paddr)
    }

    fn free(&self, paddr: u64) {
        let m = self.given.lock().unwrap_or_else(|e| e.into_inner()).get_mut(&paddr).and_then(Vec::pop);
        if let Some(m) = m {
            // SAFETY: as in `alloc`.
            unsafe { (self.free)(runtime_ctx(), m as CVI_RT_MEM) };
        }
    }
}

const CVI_ALLOC_UNKNOWN: c_int = 5;

/// `CVI_RT_Global_SetMemAllocCallback`: later runtime buffers (weights, program, IO and shared
/// memory, DMABUF sections) come from `alloc_cb` and go back through `free_cb`. The buffers must
/// be ones from `CVI_RT_MemAlloc`/`CVI_RT_MemPreAlloc`: the runtime asks them for their address.
#[no_mangle]
pub extern "C" fn CVI_RT_Global_SetMemAllocCallback(alloc_cb: CVI_MEM_ALLOC_CB, free_cb: CVI_MEM_FREE_CB) -> CVI_RC {
    guard("CVI_RT_Global_SetMemAllocCallback", || {
        let (Some(alloc), Some(free)) = (alloc_cb, free_cb) else { return Err(rc::INVALID_ARG) };
        Runtime::global().set_allocator(Some(Arc::new(Callbacks { alloc, free, given: Mutex::default() })));
        Ok(())
    })
}

/// `CVI_RT_Global_ResetMemAllocCallback`: the device's own allocator again (buffers already
/// given still go back to the callbacks that gave them).
#[no_mangle]
pub extern "C" fn CVI_RT_Global_ResetMemAllocCallback() {
    guard_value((), || Runtime::global().set_allocator(None))
}
