//! `libcviruntime.so`: the vendor runtime's `CVI_NN_*` C ABI (names, types, status codes and
//! struct layouts of spec runtime.md §2.4) over [`cvsim_runtime::api`], so that a program written
//! for a CV18xx board builds against `runtime/include/cviruntime.h` and runs on a PC unchanged.
//!
//! Every entry point catches panics (none may unwind into C) and checks its pointers: a null or
//! unknown handle or tensor gives an error code, never a crash. Handles are checked against the
//! set of live handles, so a handle used after `CVI_NN_CleanupModel` is refused too.

#![allow(non_snake_case, non_camel_case_types)]
// The entry points are C functions: they take raw pointers by contract and check them (null, the
// sets of live handles); marking them `unsafe fn` would change nothing for their C callers.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

use cvsim_runtime::api::{rc, ApiError, Config, MatMulKernel, ModelHandle, Runtime, TensorInfo, VideoFrame};

mod live;
mod rt;
pub use rt::*;

use live::Live;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

pub type CVI_RC = c_int;
pub type CVI_MODEL_HANDLE = *mut c_void;

pub const CVI_DIM_MAX: usize = 6;

/// `CVI_SHAPE`: 32 bytes, alignment 8.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CVI_SHAPE {
    pub dim: [i32; CVI_DIM_MAX],
    pub dim_size: usize,
}

/// `CVI_TENSOR`: 168 bytes, alignment 8.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CVI_TENSOR {
    pub name: *mut c_char,
    pub shape: CVI_SHAPE,
    pub fmt: c_int,
    pub count: usize,
    pub mem_size: usize,
    pub sys_mem: *mut u8,
    pub paddr: u64,
    pub mem_type: c_int,
    pub qscale: f32,
    pub zero_point: c_int,
    pub pixel_format: c_int,
    pub aligned: bool,
    pub mean: [f32; 3],
    pub scale: [f32; 3],
    pub owner: *mut c_void,
    pub reserved: [c_char; 32],
}

/// `CVI_VIDEO_FRAME_INFO`: 80 bytes, alignment 8.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct CVI_VIDEO_FRAME_INFO {
    pub type_: c_int,
    pub shape: CVI_SHAPE,
    pub fmt: c_int,
    pub stride: [u32; 3],
    pub pyaddr: [u64; 3],
}

const _: () = {
    assert!(std::mem::size_of::<CVI_SHAPE>() == 32 && std::mem::align_of::<CVI_SHAPE>() == 8);
    assert!(std::mem::size_of::<CVI_TENSOR>() == 168 && std::mem::align_of::<CVI_TENSOR>() == 8);
    assert!(std::mem::offset_of!(CVI_TENSOR, fmt) == 40);
    assert!(std::mem::offset_of!(CVI_TENSOR, count) == 48);
    assert!(std::mem::offset_of!(CVI_TENSOR, paddr) == 72);
    assert!(std::mem::offset_of!(CVI_TENSOR, qscale) == 84);
    assert!(std::mem::offset_of!(CVI_TENSOR, aligned) == 96);
    assert!(std::mem::offset_of!(CVI_TENSOR, mean) == 100);
    assert!(std::mem::offset_of!(CVI_TENSOR, scale) == 112);
    assert!(std::mem::offset_of!(CVI_TENSOR, owner) == 128);
    assert!(std::mem::size_of::<CVI_VIDEO_FRAME_INFO>() == 80);
    assert!(std::mem::offset_of!(CVI_VIDEO_FRAME_INFO, pyaddr) == 56);
};

/// `CVI_CONFIG_OPTION` values.
pub const OPTION_BATCH_SIZE: c_int = 1;
pub const OPTION_OUTPUT_ALL_TENSORS: c_int = 4;
pub const OPTION_PROGRAM_INDEX: c_int = 9;
const MEM_SYSTEM: c_int = 1;
const MEM_DEVICE: c_int = 2;

/// The tensors of one handle, as handed to C: stable arrays, names and host buffers.
struct Exported {
    inputs: Vec<CVI_TENSOR>,
    outputs: Vec<CVI_TENSOR>,
    /// Backing storage the arrays point into.
    _names: Vec<CString>,
    _buffers: Vec<Vec<u8>>,
    infos: Vec<TensorInfo>,
}

struct CHandle {
    h: ModelHandle,
    target: CString,
    exported: Option<Exported>,
}

/// Live model handles.
static HANDLES: Live<CHandle> = Live::new();

fn handle<'a>(model: CVI_MODEL_HANDLE) -> Result<&'a mut CHandle, CVI_RC> {
    HANDLES.get(model).ok_or(rc::INVALID_ARG)
}

fn publish(h: ModelHandle) -> CVI_MODEL_HANDLE {
    let target = h.model().target.clone().unwrap_or_else(|| h.model().chip().name().to_string());
    HANDLES.publish(CHandle { h, target: CString::new(target).unwrap_or_default(), exported: None })
}

fn report(call: &str, e: &ApiError) -> CVI_RC {
    eprintln!("cvsim: {call}: {e}");
    e.status()
}

/// Run `f`, turning a panic into CVI_RC_FAILURE.
fn guard(call: &str, f: impl FnOnce() -> Result<(), CVI_RC>) -> CVI_RC {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => rc::SUCCESS,
        Ok(Err(code)) => code,
        Err(e) => {
            let msg = e.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| e.downcast_ref::<String>().cloned());
            eprintln!("cvsim: {call}: internal error: {}", msg.unwrap_or_default());
            rc::FAILURE
        }
    }
}

/// Like [`guard`] for calls returning a value instead of a status.
fn guard_value<T>(fallback: T, f: impl FnOnce() -> T) -> T {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or(fallback)
}

fn register(call: &str, out: *mut CVI_MODEL_HANDLE, f: impl FnOnce() -> Result<ModelHandle, ApiError>) -> CVI_RC {
    guard(call, || {
        if out.is_null() {
            return Err(rc::INVALID_ARG);
        }
        // SAFETY: checked non-null; the caller passes a writable handle slot.
        unsafe { *out = std::ptr::null_mut() };
        let h = f().map_err(|e| report(call, &e))?;
        unsafe { *out = publish(h) };
        Ok(())
    })
}

/// `CVI_NN_RegisterModel`.
#[no_mangle]
pub extern "C" fn CVI_NN_RegisterModel(model_file: *const c_char, model: *mut CVI_MODEL_HANDLE) -> CVI_RC {
    if model_file.is_null() {
        return rc::INVALID_ARG;
    }
    // SAFETY: a non-null C string from the caller.
    let path = unsafe { CStr::from_ptr(model_file) }.to_string_lossy().into_owned();
    register("CVI_NN_RegisterModel", model, || Runtime::global().register_file(path))
}

/// `CVI_NN_RegisterModelFromBuffer`.
#[no_mangle]
pub extern "C" fn CVI_NN_RegisterModelFromBuffer(buf: *const i8, size: u32, model: *mut CVI_MODEL_HANDLE) -> CVI_RC {
    if buf.is_null() {
        return rc::INVALID_ARG;
    }
    // SAFETY: the caller's buffer of `size` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(buf as *const u8, size as usize) };
    register("CVI_NN_RegisterModelFromBuffer", model, || Runtime::global().register_bytes(bytes))
}

/// `CVI_NN_RegisterModelFromFd`.
#[no_mangle]
pub extern "C" fn CVI_NN_RegisterModelFromFd(fd: c_int, ud_offset: usize, model: *mut CVI_MODEL_HANDLE) -> CVI_RC {
    if fd < 0 {
        return rc::INVALID_ARG;
    }
    // SAFETY: only borrowed for the call; an fd that is not open makes the duplication fail.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    register("CVI_NN_RegisterModelFromFd", model, || Runtime::global().register_fd(fd, ud_offset as u64))
}

/// `CVI_NN_CloneModel`.
#[no_mangle]
pub extern "C" fn CVI_NN_CloneModel(model: CVI_MODEL_HANDLE, cloned: *mut CVI_MODEL_HANDLE) -> CVI_RC {
    guard("CVI_NN_CloneModel", || {
        let c = handle(model)?;
        if cloned.is_null() {
            return Err(rc::INVALID_ARG);
        }
        let h = c.h.clone_model();
        unsafe { *cloned = publish(h) };
        Ok(())
    })
}

/// `CVI_NN_GetModelVersion`: the flatbuffer `Version`.
#[no_mangle]
pub extern "C" fn CVI_NN_GetModelVersion(model: CVI_MODEL_HANDLE, major: *mut i32, minor: *mut i32) -> CVI_RC {
    guard("CVI_NN_GetModelVersion", || {
        let c = handle(model)?;
        if major.is_null() || minor.is_null() {
            return Err(rc::INVALID_ARG);
        }
        let v = c.h.model().version;
        unsafe {
            *major = v.major as i32;
            *minor = v.minor as i32;
        }
        Ok(())
    })
}

/// `CVI_NN_GetModelTarget`: the chip the model was built for (NULL for a bad handle).
#[no_mangle]
pub extern "C" fn CVI_NN_GetModelTarget(model: CVI_MODEL_HANDLE) -> *const c_char {
    guard_value(std::ptr::null(), || handle(model).map_or(std::ptr::null(), |c| c.target.as_ptr()))
}

/// `CVI_NN_SetConfig(model, option, ...)`. The two options that act take one `int`. Stable Rust
/// cannot define a C variadic function, so the vararg is declared as a third `int` parameter: on
/// the LP64 ABIs the runtime targets (x86-64 System V, Linux AArch64) an `int` vararg travels in
/// the same register as a named third argument.
#[no_mangle]
pub extern "C" fn CVI_NN_SetConfig(model: CVI_MODEL_HANDLE, option: c_int, value: c_int) -> CVI_RC {
    guard("CVI_NN_SetConfig", || {
        let c = handle(model)?;
        let config = match option {
            OPTION_OUTPUT_ALL_TENSORS => Config::OutputAllTensors(value != 0),
            OPTION_PROGRAM_INDEX if value < 0 => return Err(rc::INVALID_ARG),
            OPTION_PROGRAM_INDEX => Config::ProgramIndex(value as usize),
            OPTION_BATCH_SIZE => Config::BatchSize,
            2 | 3 | 5..=8 => {
                eprintln!("cvsim: CVI_NN_SetConfig: option {option} is deprecated and has no effect");
                return Ok(());
            }
            // The vendor aborts on an unknown option.
            _ => return Err(rc::INVALID_ARG),
        };
        c.h.set_config(config).map_err(|e| report("CVI_NN_SetConfig", &e))
    })
}

fn export(c: &mut CHandle, owner: *mut c_void) -> Result<(), CVI_RC> {
    if c.exported.is_some() {
        return Ok(());
    }
    let (ins, outs) = c.h.tensors().map_err(|e| report("CVI_NN_GetInputOutputTensors", &e))?;
    let mut names = Vec::new();
    let mut buffers = Vec::new();
    let mut make = |t: &TensorInfo| -> CVI_TENSOR {
        let name = CString::new(t.name.clone()).unwrap_or_default();
        let mut buf = vec![0u8; t.mem_size as usize];
        let mut shape = CVI_SHAPE { dim: [0; 6], dim_size: 4 };
        for (d, s) in shape.dim.iter_mut().zip(t.shape) {
            *d = s as i32;
        }
        let ct = CVI_TENSOR {
            name: name.as_ptr() as *mut c_char,
            shape,
            fmt: t.dtype.code() as c_int,
            count: t.count as usize,
            mem_size: t.mem_size as usize,
            sys_mem: buf.as_mut_ptr(),
            paddr: t.paddr.unwrap_or(0),
            mem_type: MEM_SYSTEM,
            qscale: t.qscale,
            zero_point: t.zero_point,
            pixel_format: t.pixel_format,
            aligned: t.aligned,
            mean: t.mean.unwrap_or_default(),
            scale: t.scale.unwrap_or_default(),
            owner,
            reserved: [0; 32],
        };
        names.push(name);
        buffers.push(buf);
        ct
    };
    let inputs: Vec<CVI_TENSOR> = ins.iter().map(&mut make).collect();
    let outputs: Vec<CVI_TENSOR> = outs.iter().map(&mut make).collect();
    let infos = ins.into_iter().chain(outs).collect();
    c.exported = Some(Exported { inputs, outputs, _names: names, _buffers: buffers, infos });
    Ok(())
}

unsafe fn put(list: &mut [CVI_TENSOR], tensors: *mut *mut CVI_TENSOR, num: *mut i32) {
    *tensors = list.as_mut_ptr();
    *num = list.len() as i32;
}

/// `CVI_NN_GetInputOutputTensors`: loads the program on the first call.
#[no_mangle]
pub extern "C" fn CVI_NN_GetInputOutputTensors(
    model: CVI_MODEL_HANDLE,
    inputs: *mut *mut CVI_TENSOR,
    input_num: *mut i32,
    outputs: *mut *mut CVI_TENSOR,
    output_num: *mut i32,
) -> CVI_RC {
    guard("CVI_NN_GetInputOutputTensors", || {
        let c = handle(model)?;
        if inputs.is_null() || input_num.is_null() || outputs.is_null() || output_num.is_null() {
            return Err(rc::INVALID_ARG);
        }
        export(c, model)?;
        let e = c.exported.as_mut().expect("exported above");
        unsafe {
            put(&mut e.inputs, inputs, input_num);
            put(&mut e.outputs, outputs, output_num);
        }
        Ok(())
    })
}

/// `CVI_NN_GetInputTensors`.
#[no_mangle]
pub extern "C" fn CVI_NN_GetInputTensors(
    model: CVI_MODEL_HANDLE,
    inputs: *mut *mut CVI_TENSOR,
    num: *mut i32,
) -> CVI_RC {
    guard("CVI_NN_GetInputTensors", || {
        let c = handle(model)?;
        if inputs.is_null() || num.is_null() {
            return Err(rc::INVALID_ARG);
        }
        export(c, model)?;
        unsafe { put(&mut c.exported.as_mut().expect("exported above").inputs, inputs, num) };
        Ok(())
    })
}

/// `CVI_NN_GetOutputTensors`.
#[no_mangle]
pub extern "C" fn CVI_NN_GetOutputTensors(
    model: CVI_MODEL_HANDLE,
    outputs: *mut *mut CVI_TENSOR,
    num: *mut i32,
) -> CVI_RC {
    guard("CVI_NN_GetOutputTensors", || {
        let c = handle(model)?;
        if outputs.is_null() || num.is_null() {
            return Err(rc::INVALID_ARG);
        }
        export(c, model)?;
        unsafe { put(&mut c.exported.as_mut().expect("exported above").outputs, outputs, num) };
        Ok(())
    })
}

/// The tensor's name and the handle's own record of it (sizes come from there, not from fields
/// the caller could have changed).
fn tensor_name(t: &CVI_TENSOR) -> Result<String, CVI_RC> {
    if t.name.is_null() {
        return Err(rc::INVALID_ARG);
    }
    Ok(unsafe { CStr::from_ptr(t.name) }.to_string_lossy().into_owned())
}

fn tensor_array<'a>(p: *mut CVI_TENSOR, n: i32) -> Result<&'a mut [CVI_TENSOR], CVI_RC> {
    if n < 0 || (n > 0 && p.is_null()) {
        return Err(rc::INVALID_ARG);
    }
    if n == 0 {
        return Ok(&mut []);
    }
    // SAFETY: the caller's array of n tensors.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, n as usize) })
}

/// Copy the inputs' host memory into the model (bound inputs are read from their address).
fn stage_inputs(c: &CHandle, inputs: &[CVI_TENSOR]) -> Result<(), CVI_RC> {
    let e = c.exported.as_ref().ok_or(rc::UNINIT)?;
    for t in inputs {
        let name = tensor_name(t)?;
        let info = e.infos.iter().find(|i| i.name == name).ok_or(rc::INVALID_ARG)?;
        if t.mem_type == MEM_DEVICE {
            continue;
        }
        if t.sys_mem.is_null() {
            return Err(rc::INVALID_ARG);
        }
        // SAFETY: the tensor's host buffer holds its mem_size bytes (ours, or the caller's
        // through CVI_NN_SetTensorPtr).
        let data = unsafe { std::slice::from_raw_parts(t.sys_mem, info.mem_size as usize) };
        c.h.set_input(&name, data).map_err(|e| report("CVI_NN_Forward", &e))?;
    }
    Ok(())
}

fn collect_outputs(c: &CHandle, outputs: &[CVI_TENSOR]) -> Result<(), CVI_RC> {
    for t in outputs {
        let name = tensor_name(t)?;
        if t.mem_type == MEM_DEVICE || t.sys_mem.is_null() {
            continue;
        }
        let data = c.h.tensor_bytes(&name).map_err(|e| report("CVI_NN_Forward", &e))?;
        let e = c.exported.as_ref().ok_or(rc::UNINIT)?;
        let size = e.infos.iter().find(|i| i.name == name).map_or(0, |i| i.mem_size as usize).min(data.len());
        // SAFETY: as in `stage_inputs`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), t.sys_mem, size) };
    }
    Ok(())
}

/// `CVI_NN_Forward`.
#[no_mangle]
pub extern "C" fn CVI_NN_Forward(
    model: CVI_MODEL_HANDLE,
    inputs: *mut CVI_TENSOR,
    input_num: i32,
    outputs: *mut CVI_TENSOR,
    output_num: i32,
) -> CVI_RC {
    guard("CVI_NN_Forward", || {
        let c = handle(model)?;
        let (ins, outs) = (tensor_array(inputs, input_num)?, tensor_array(outputs, output_num)?);
        stage_inputs(c, ins)?;
        c.h.forward().map_err(|e| {
            report("CVI_NN_Forward", &e);
            // The vendor returns FAILURE whenever the program's forward fails.
            if e.status() == rc::UNINIT {
                rc::UNINIT
            } else {
                rc::FAILURE
            }
        })?;
        collect_outputs(c, outs)
    })
}

struct AsyncTask {
    model: usize,
    task: Option<cvsim_runtime::api::ForwardTask>,
    outputs: *mut CVI_TENSOR,
    output_num: i32,
    failed: Option<CVI_RC>,
}

/// `CVI_NN_ForwardAsync`: starts the pass; `*task_no` is for `CVI_NN_ForwardWait`.
#[no_mangle]
pub extern "C" fn CVI_NN_ForwardAsync(
    model: CVI_MODEL_HANDLE,
    inputs: *mut CVI_TENSOR,
    input_num: i32,
    outputs: *mut CVI_TENSOR,
    output_num: i32,
    task_no: *mut *mut c_void,
) -> CVI_RC {
    guard("CVI_NN_ForwardAsync", || {
        let c = handle(model)?;
        if task_no.is_null() {
            return Err(rc::INVALID_ARG);
        }
        let ins = tensor_array(inputs, input_num)?;
        tensor_array(outputs, output_num)?;
        // Errors surface at the wait: the vendor's ForwardAsync always returns SUCCESS.
        let (task, failed) = match stage_inputs(c, ins) {
            Ok(()) => (Some(c.h.forward_async()), None),
            Err(code) => (None, Some(code)),
        };
        let t = Box::new(AsyncTask { model: model as usize, task, outputs, output_num, failed });
        unsafe { *task_no = Box::into_raw(t) as *mut c_void };
        Ok(())
    })
}

/// `CVI_NN_ForwardWait`.
#[no_mangle]
pub extern "C" fn CVI_NN_ForwardWait(model: CVI_MODEL_HANDLE, task_no: *mut c_void) -> CVI_RC {
    guard("CVI_NN_ForwardWait", || {
        let c = handle(model)?;
        if task_no.is_null() {
            return Err(rc::INVALID_ARG);
        }
        // SAFETY: a task made by CVI_NN_ForwardAsync, waited for once.
        let mut t = unsafe { Box::from_raw(task_no as *mut AsyncTask) };
        if t.model != model as usize {
            let _ = Box::into_raw(t); // not this model's: leave it for its own wait
            return Err(rc::INVALID_ARG);
        }
        if let Some(code) = t.failed {
            return Err(code);
        }
        let task = t.task.take().ok_or(rc::FAILURE)?;
        task.wait().map_err(|e| {
            report("CVI_NN_ForwardWait", &e);
            rc::FAILURE
        })?;
        collect_outputs(c, tensor_array(t.outputs, t.output_num)?)
    })
}

/// `CVI_NN_CleanupModel`: frees the handle; weights go with the last clone.
#[no_mangle]
pub extern "C" fn CVI_NN_CleanupModel(model: CVI_MODEL_HANDLE) -> CVI_RC {
    guard("CVI_NN_CleanupModel", || {
        drop(HANDLES.take(model).ok_or(rc::INVALID_ARG)?);
        Ok(())
    })
}

/// `CVI_NN_GetTensorByName`: a NULL name gives the only tensor (NULL if there are several); a
/// name ending in `*` matches by prefix.
#[no_mangle]
pub extern "C" fn CVI_NN_GetTensorByName(name: *const c_char, tensors: *mut CVI_TENSOR, num: i32) -> *mut CVI_TENSOR {
    guard_value(std::ptr::null_mut(), || {
        let Ok(list) = tensor_array(tensors, num) else { return std::ptr::null_mut() };
        if name.is_null() {
            return if list.len() == 1 { &mut list[0] as *mut _ } else { std::ptr::null_mut() };
        }
        let want = unsafe { CStr::from_ptr(name) }.to_bytes();
        let hit = |t: &CVI_TENSOR| {
            if t.name.is_null() {
                return false;
            }
            let have = unsafe { CStr::from_ptr(t.name) }.to_bytes();
            match want.strip_suffix(b"*") {
                Some(prefix) => have.starts_with(prefix),
                None => have == want,
            }
        };
        list.iter_mut().find(|t| hit(t)).map_or(std::ptr::null_mut(), |t| t as *mut _)
    })
}

fn tensor_ref<'a>(t: *mut CVI_TENSOR) -> Option<&'a mut CVI_TENSOR> {
    // SAFETY: a tensor from the caller; null is refused.
    unsafe { t.as_mut() }
}

#[no_mangle]
pub extern "C" fn CVI_NN_TensorName(tensor: *mut CVI_TENSOR) -> *mut c_char {
    tensor_ref(tensor).map_or(std::ptr::null_mut(), |t| t.name)
}

/// NULL for a tensor bound to a device address.
#[no_mangle]
pub extern "C" fn CVI_NN_TensorPtr(tensor: *mut CVI_TENSOR) -> *mut c_void {
    tensor_ref(tensor).filter(|t| t.mem_type != MEM_DEVICE).map_or(std::ptr::null_mut(), |t| t.sys_mem as *mut c_void)
}

#[no_mangle]
pub extern "C" fn CVI_NN_TensorSize(tensor: *mut CVI_TENSOR) -> usize {
    tensor_ref(tensor).map_or(0, |t| t.mem_size)
}

#[no_mangle]
pub extern "C" fn CVI_NN_TensorCount(tensor: *mut CVI_TENSOR) -> usize {
    tensor_ref(tensor).map_or(0, |t| t.count)
}

#[no_mangle]
pub extern "C" fn CVI_NN_TensorQuantScale(tensor: *mut CVI_TENSOR) -> f32 {
    tensor_ref(tensor).map_or(0.0, |t| t.qscale)
}

#[no_mangle]
pub extern "C" fn CVI_NN_TensorQuantZeroPoint(tensor: *mut CVI_TENSOR) -> c_int {
    tensor_ref(tensor).map_or(0, |t| t.zero_point)
}

#[no_mangle]
pub extern "C" fn CVI_NN_TensorShape(tensor: *mut CVI_TENSOR) -> CVI_SHAPE {
    tensor_ref(tensor).map_or(CVI_SHAPE::default(), |t| t.shape)
}

/// `CVI_NN_SetTensorPtr`: `mem` becomes the tensor's host memory, copied in at forward (the
/// vendor asserts a non-NULL pointer; cvsim returns INVALID_ARG).
#[no_mangle]
pub extern "C" fn CVI_NN_SetTensorPtr(tensor: *mut CVI_TENSOR, mem: *mut c_void) -> CVI_RC {
    guard("CVI_NN_SetTensorPtr", || {
        let t = tensor_ref(tensor).ok_or(rc::INVALID_ARG)?;
        if mem.is_null() {
            return Err(rc::INVALID_ARG);
        }
        t.sys_mem = mem as *mut u8;
        t.mem_type = MEM_SYSTEM;
        Ok(())
    })
}

/// `CVI_NN_SetTensorPhysicalAddr`: binds an IO tensor to a device buffer (zero copy). The
/// address must lie in a buffer allocated on cvsim's emulated device.
#[no_mangle]
pub extern "C" fn CVI_NN_SetTensorPhysicalAddr(tensor: *mut CVI_TENSOR, paddr: u64) -> CVI_RC {
    guard("CVI_NN_SetTensorPhysicalAddr", || {
        let t = tensor_ref(tensor).ok_or(rc::INVALID_ARG)?;
        let c = handle(t.owner)?;
        let name = tensor_name(t)?;
        c.h.bind(&name, paddr).map_err(|e| report("CVI_NN_SetTensorPhysicalAddr", &e))?;
        t.paddr = paddr;
        t.mem_type = MEM_DEVICE;
        Ok(())
    })
}

/// A frame call on one input: `fill` gets the tensor's model handle and name (`ok` says the
/// call's own pointer arguments were fine). It ends like the vendor's: the tensor is a DEVICE
/// tensor, at the frame's address when it was bound to it (an aligned input of one frame).
fn frame_call(
    call: &str,
    tensor: *mut CVI_TENSOR,
    ok: bool,
    fill: impl FnOnce(&ModelHandle, &str) -> Result<(), ApiError>,
) -> CVI_RC {
    guard(call, || {
        let t = tensor_ref(tensor).ok_or(rc::INVALID_ARG)?;
        if !ok {
            return Err(rc::INVALID_ARG);
        }
        let c = handle(t.owner)?;
        let name = tensor_name(t)?;
        fill(&c.h, &name).map_err(|e| report(call, &e))?;
        t.mem_type = MEM_DEVICE;
        let bound = c.h.tensors().ok().and_then(|(ins, _)| ins.into_iter().find(|i| i.name == name));
        if let Some(paddr) = bound.and_then(|i| i.paddr) {
            t.paddr = paddr;
        }
        Ok(())
    })
}

/// `CVI_NN_SetTensorWithAlignedFrames`: for an aligned input one frame is bound (zero copy) and
/// several are copied; for an unaligned input each frame's row padding is stripped at the call.
#[no_mangle]
pub extern "C" fn CVI_NN_SetTensorWithAlignedFrames(
    tensor: *mut CVI_TENSOR,
    frame_paddrs: *mut u64,
    frame_num: i32,
    pixel_format: c_int,
) -> CVI_RC {
    let ok = !frame_paddrs.is_null() && frame_num > 0;
    frame_call("CVI_NN_SetTensorWithAlignedFrames", tensor, ok, |h, name| {
        // SAFETY: checked non-null; the caller's array of frame_num addresses.
        let frames = unsafe { std::slice::from_raw_parts(frame_paddrs, frame_num as usize) };
        h.set_aligned_frames(name, frames, pixel_format)
    })
}

/// `CVI_NN_SetTensorWithVideoFrame`: a one-frame input from the planes at `pyaddr` (the frame's
/// `stride` is not read, as in the vendor runtime: rows are the chip's VPSS row alignment apart).
#[no_mangle]
pub extern "C" fn CVI_NN_SetTensorWithVideoFrame(
    _model: CVI_MODEL_HANDLE,
    tensor: *mut CVI_TENSOR,
    frame: *mut CVI_VIDEO_FRAME_INFO,
) -> CVI_RC {
    frame_call("CVI_NN_SetTensorWithVideoFrame", tensor, !frame.is_null(), |h, name| {
        // SAFETY: checked non-null; the caller's frame description.
        let f = unsafe { &*frame };
        let shape = f.shape.dim[..4].try_into().map(|d: [i32; 4]| d.map(i64::from)).expect("4 of 6 dims");
        h.set_video_frame(name, &VideoFrame { pixel_format: f.type_, shape, plane_addrs: f.pyaddr })
    })
}

/// `CVI_NN_FeedTensorWithFrames` (deprecated): one plane address per channel; `format` and
/// `height_stride` are not read, as in the vendor runtime.
#[no_mangle]
pub extern "C" fn CVI_NN_FeedTensorWithFrames(
    _model: CVI_MODEL_HANDLE,
    tensor: *mut CVI_TENSOR,
    type_: c_int,
    _format: c_int,
    channel_num: i32,
    channel_paddrs: *mut u64,
    height: i32,
    width: i32,
    _height_stride: u32,
) -> CVI_RC {
    let ok = !channel_paddrs.is_null() && channel_num > 0;
    frame_call("CVI_NN_FeedTensorWithFrames", tensor, ok, |h, name| {
        // SAFETY: checked non-null; the caller's array of channel_num addresses.
        let planes = unsafe { std::slice::from_raw_parts(channel_paddrs, channel_num as usize) };
        h.feed_frames(name, type_, planes, height as i64, width as i64)
    })
}

/// `CVI_NN_Global_SetSharedMemorySize`.
#[no_mangle]
pub extern "C" fn CVI_NN_Global_SetSharedMemorySize(size: usize) {
    guard_value((), || Runtime::global().set_shared_memory_size(size as u64))
}

/// Live kernel functions (`CVI_KFUNC_HANDLE`s).
static KFUNCS: Live<MatMulKernel> = Live::new();

/// `CVI_NN_PrepareMatrixMulKernelFunc`: Y (m×n int32) = L (m×k) · R (k×n) for `CVI_FMT_INT8` or
/// `CVI_FMT_UINT8` operands; NULL for another format or a zero dimension (the vendor asserts).
#[no_mangle]
pub extern "C" fn CVI_NN_PrepareMatrixMulKernelFunc(
    ctx: *mut c_void,
    fmt: c_int,
    m: u32,
    k: u32,
    n: u32,
) -> *mut c_void {
    guard_value(std::ptr::null_mut(), || {
        let _ = ctx;
        let dtype = u8::try_from(fmt).ok().and_then(cvsim_runtime::DType::from_code);
        let kernel = dtype
            .ok_or_else(|| ApiError::Kernel(format!("format {fmt} is not a CVI_FMT")))
            .and_then(|d| MatMulKernel::new(d, m, k, n));
        match kernel {
            Ok(kf) => KFUNCS.publish(kf),
            Err(e) => {
                report("CVI_NN_PrepareMatrixMulKernelFunc", &e);
                std::ptr::null_mut()
            }
        }
    })
}

/// `CVI_NN_PrepareGrayImageLightKernelFunc`: not provided (no facts about its arithmetic): NULL.
#[no_mangle]
pub extern "C" fn CVI_NN_PrepareGrayImageLightKernelFunc(
    _ctx: *mut c_void,
    _ih: u32,
    _iw: u32,
    _k: u32,
) -> *mut c_void {
    eprintln!("cvsim: CVI_NN_PrepareGrayImageLightKernelFunc is not provided");
    std::ptr::null_mut()
}

/// `CVI_NN_RunKernelFunc(kfun, mem_num, ...)`: the variadic arguments are the `mem_num` device
/// addresses (for the matrix multiply: L, R, Y). Rust cannot define a C-variadic function, so this
/// takes six fixed address parameters: on the x86-64 System V and Linux AArch64 calling
/// conventions a variadic call passes its integer arguments exactly where these are read, and only
/// the first `mem_num` of them are used.
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn CVI_NN_RunKernelFunc(
    kfun: *mut c_void,
    mem_num: i32,
    a0: u64,
    a1: u64,
    a2: u64,
    _a3: u64,
    _a4: u64,
    _a5: u64,
) -> CVI_RC {
    guard("CVI_NN_RunKernelFunc", || {
        let kf = KFUNCS.get(kfun).ok_or(rc::INVALID_ARG)?;
        if mem_num != 3 {
            eprintln!("cvsim: CVI_NN_RunKernelFunc: the matrix multiply takes 3 addresses (L, R, Y), {mem_num} given");
            return Err(rc::INVALID_ARG);
        }
        kf.run(Runtime::global(), a0, a1, a2).map_err(|e| report("CVI_NN_RunKernelFunc", &e))
    })
}

/// Elsewhere the variadic addresses cannot be read without C-variadic support.
#[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
#[no_mangle]
pub extern "C" fn CVI_NN_RunKernelFunc(kfun: *mut c_void, _mem_num: i32) -> CVI_RC {
    if kfun.is_null() {
        rc::INVALID_ARG
    } else {
        rc::UNSUPPORT
    }
}

/// `CVI_NN_DestroyKernelFunc`.
#[no_mangle]
pub extern "C" fn CVI_NN_DestroyKernelFunc(kfun: *mut c_void) -> CVI_RC {
    guard("CVI_NN_DestroyKernelFunc", || {
        drop(KFUNCS.take(kfun).ok_or(rc::INVALID_ARG)?);
        Ok(())
    })
}

#[cfg(test)]
mod tests;
