//! The C entry points called from Rust: bad arguments give status codes, the example model runs.

use super::*;
use std::ptr::null_mut;

#[test]
fn bad_arguments_give_status_codes() {
    let mut h: CVI_MODEL_HANDLE = null_mut();
    assert_eq!(CVI_NN_RegisterModel(std::ptr::null(), &mut h), rc::INVALID_ARG);
    let path = CString::new("/nonexistent.cvimodel").unwrap();
    assert_eq!(CVI_NN_RegisterModel(path.as_ptr(), null_mut()), rc::INVALID_ARG);
    assert_eq!(CVI_NN_RegisterModel(path.as_ptr(), &mut h), rc::FAILURE);
    assert!(h.is_null());
    let junk = [1i8; 64];
    assert_eq!(CVI_NN_RegisterModelFromBuffer(junk.as_ptr(), 64, &mut h), rc::FAILURE);
    assert_eq!(CVI_NN_RegisterModelFromFd(-1, 0, &mut h), rc::INVALID_ARG);
    assert_eq!(CVI_NN_RegisterModelFromFd(987_654, 0, &mut h), rc::FAILURE);
    // Unknown and null handles.
    let bogus = 0x1234usize as CVI_MODEL_HANDLE;
    let (mut ti, mut ni, mut to, mut no) = (null_mut(), 0, null_mut(), 0);
    assert_eq!(CVI_NN_GetInputOutputTensors(bogus, &mut ti, &mut ni, &mut to, &mut no), rc::INVALID_ARG);
    assert_eq!(CVI_NN_Forward(null_mut(), null_mut(), 0, null_mut(), 0), rc::INVALID_ARG);
    assert_eq!(CVI_NN_CleanupModel(bogus), rc::INVALID_ARG);
    assert_eq!(CVI_NN_SetConfig(bogus, OPTION_PROGRAM_INDEX, 0), rc::INVALID_ARG);
    assert!(CVI_NN_GetModelTarget(bogus).is_null());
    assert!(CVI_NN_TensorPtr(null_mut()).is_null());
    assert_eq!(CVI_NN_TensorSize(null_mut()), 0);
    assert_eq!(CVI_NN_SetTensorPtr(null_mut(), null_mut()), rc::INVALID_ARG);
    assert_eq!(CVI_NN_SetTensorPhysicalAddr(null_mut(), 0), rc::INVALID_ARG);
    assert!(CVI_NN_GetTensorByName(std::ptr::null(), null_mut(), 0).is_null());
}

#[test]
fn example_model_through_the_c_entry_points() {
    let ex = cvsim_compiler::example::build(11);
    let mut h: CVI_MODEL_HANDLE = null_mut();
    let bytes = &ex.model_bytes;
    assert_eq!(CVI_NN_RegisterModelFromBuffer(bytes.as_ptr() as *const i8, bytes.len() as u32, &mut h), 0);
    let (mut major, mut minor) = (0, 0);
    assert_eq!(CVI_NN_GetModelVersion(h, &mut major, &mut minor), 0);
    assert_eq!((major, minor), (1, 4));
    assert_eq!(CVI_NN_SetConfig(h, OPTION_PROGRAM_INDEX, 3), rc::INVALID_ARG, "the model has one program");
    let mut clone: CVI_MODEL_HANDLE = null_mut();
    assert_eq!(CVI_NN_CloneModel(h, &mut clone), 0);
    let (mut ti, mut ni, mut to, mut no) = (null_mut(), 0, null_mut(), 0);
    assert_eq!(CVI_NN_GetInputOutputTensors(clone, &mut ti, &mut ni, &mut to, &mut no), 0);
    assert_eq!((ni, no), (1, 1));
    assert_eq!(CVI_NN_SetConfig(clone, OPTION_OUTPUT_ALL_TENSORS, 1), rc::UNINIT, "after the tensors were taken");
    let input = unsafe { &mut *ti };
    let name = CString::new(ex.input_name.clone()).unwrap();
    assert_eq!(CVI_NN_GetTensorByName(name.as_ptr(), ti, ni), ti);
    assert_eq!(CVI_NN_GetTensorByName(c"in*".as_ptr(), ti, ni), ti);
    assert_eq!(CVI_NN_GetTensorByName(std::ptr::null(), ti, ni), ti, "the only tensor");
    assert_eq!(CVI_NN_TensorSize(input), ex.input.len());
    assert_eq!(CVI_NN_TensorShape(input).dim[..4], [1, 8, 12, 12]);
    let p = CVI_NN_TensorPtr(input) as *mut i8;
    unsafe { std::ptr::copy_nonoverlapping(ex.input.as_ptr(), p, ex.input.len()) };
    let mut task: *mut c_void = null_mut();
    assert_eq!(CVI_NN_ForwardAsync(clone, ti, ni, to, no, &mut task), 0);
    assert_eq!(CVI_NN_ForwardWait(clone, task), 0);
    let out = unsafe { std::slice::from_raw_parts(CVI_NN_TensorPtr(to) as *const i8, ex.expected.len()) };
    assert_eq!(out, ex.expected.as_slice());
    // A host buffer of the caller's own.
    let mut mine = ex.input.clone();
    assert_eq!(CVI_NN_SetTensorPtr(input, mine.as_mut_ptr() as *mut c_void), 0);
    assert_eq!(CVI_NN_Forward(clone, ti, ni, to, no), 0);
    // An address that is not device memory cannot be bound.
    assert_eq!(CVI_NN_SetTensorPhysicalAddr(input, 0x40), rc::INVALID_ARG);
    assert_eq!(CVI_NN_CleanupModel(clone), 0);
    assert_eq!(CVI_NN_CleanupModel(clone), rc::INVALID_ARG, "a second cleanup is refused");
    assert_eq!(CVI_NN_CleanupModel(h), 0);
}

#[test]
fn device_memory_calls_check_their_arguments() {
    let mut ctx: CVI_RT_HANDLE = null_mut();
    assert_eq!(CVI_RT_Init(null_mut()), rc::INVALID_ARG);
    assert!(CVI_RT_MemAlloc(null_mut(), 16).is_null());
    assert!(CVI_RT_MemAlloc(0x99 as CVI_RT_HANDLE, 16).is_null());
    assert_eq!(CVI_RT_Init(&mut ctx), rc::SUCCESS);
    let m = CVI_RT_MemAlloc(ctx, 100);
    assert!(!m.is_null());
    let (pa, va) = (CVI_RT_MemGetPAddr(m), CVI_RT_MemGetVAddr(m));
    assert!(pa != 0 && !va.is_null());
    assert_eq!(CVI_RT_MemGetSize(m), 100);
    // The CPU's writes through the virtual address are what the device holds.
    unsafe { *va.add(7) = 0x42 };
    assert_eq!(Runtime::global().read(pa + 7, 1).unwrap(), [0x42]);
    let mut host = [9u8; 100];
    assert_eq!(CVI_RT_MemCopyS2D(ctx, m, host.as_mut_ptr()), rc::SUCCESS);
    assert_eq!(unsafe { *va.add(7) }, 9);
    assert_eq!(CVI_RT_MemCopyS2DEx(ctx, m, 90, 20, host.as_mut_ptr()), rc::INVALID_ARG, "past the end");
    let view = CVI_RT_MemPreAlloc(m, 40, 60);
    assert_eq!((CVI_RT_MemGetPAddr(view), CVI_RT_MemGetVAddr(view)), (pa + 40, unsafe { va.add(40) }));
    assert!(CVI_RT_MemPreAlloc(m, 41, 60).is_null(), "a view past the end");
    assert!(CVI_RT_MemPreAlloc(m, u64::MAX, 2).is_null(), "an overflowing view");
    CVI_RT_MemFree(ctx, view);
    assert_eq!(CVI_RT_MemGetSize(view), 0, "a freed view is no longer a buffer");
    assert_eq!(CVI_RT_MemCopyD2S(ctx, host.as_mut_ptr(), m), rc::SUCCESS);
    assert_eq!(CVI_RT_MemFlush(ctx, m), rc::SUCCESS);
    assert_eq!(CVI_RT_MemInvld(ctx, 0x77 as CVI_RT_MEM), rc::INVALID_ARG);
    CVI_RT_MemFreeEx(pa);
    assert!(CVI_RT_MemGetVAddr(m).is_null(), "freed by its address");
    assert!(Runtime::global().read(pa, 1).is_err());
    CVI_RT_MemFree(ctx, m); // a second free is refused, not a crash
    assert_eq!(CVI_RT_DeInit(ctx), rc::SUCCESS);
    assert_eq!(CVI_RT_DeInit(ctx), rc::INVALID_ARG);
}

// `CVI_NN_RunKernelFunc` takes its addresses as fixed parameters only on these targets.
#[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
#[test]
fn kernel_functions_refuse_what_the_vendor_does_not_take() {
    const CVI_FMT_BF16: c_int = 3;
    const CVI_FMT_INT8: c_int = 6;
    assert!(CVI_NN_PrepareMatrixMulKernelFunc(null_mut(), CVI_FMT_BF16, 2, 2, 2).is_null(), "bf16");
    assert!(CVI_NN_PrepareMatrixMulKernelFunc(null_mut(), 99, 2, 2, 2).is_null(), "not a CVI_FMT");
    assert!(CVI_NN_PrepareMatrixMulKernelFunc(null_mut(), CVI_FMT_INT8, 0, 2, 2).is_null(), "m = 0");
    assert!(CVI_NN_PrepareGrayImageLightKernelFunc(null_mut(), 8, 8, 3).is_null(), "not provided");
    let kf = CVI_NN_PrepareMatrixMulKernelFunc(null_mut(), CVI_FMT_INT8, 2, 3, 4);
    assert!(!kf.is_null());
    assert_eq!(CVI_NN_RunKernelFunc(kf, 2, 0, 0, 0, 0, 0, 0), rc::INVALID_ARG, "three addresses, not two");
    assert_eq!(CVI_NN_RunKernelFunc(kf, 3, 0x10, 0x20, 0x30, 0, 0, 0), rc::INVALID_ARG, "not device buffers");
    assert_eq!(CVI_NN_RunKernelFunc(0x44 as *mut c_void, 3, 0, 0, 0, 0, 0, 0), rc::INVALID_ARG);
    assert_eq!(CVI_NN_DestroyKernelFunc(kf), rc::SUCCESS);
    assert_eq!(CVI_NN_DestroyKernelFunc(kf), rc::INVALID_ARG, "destroyed twice");
}
