/*
 * cviruntime_context.h -- the device-memory calls (CVI_RT_*) of cvsim's libcviruntime.so.
 *
 * Written for cvsim from the runtime's API facts (names, types, enum values); ABI-compatible with
 * the vendor runtime's header of the same name on LP64 targets. A board application uses these to
 * get device (ION) memory, fill it from the CPU and give its physical address to
 * CVI_NN_SetTensorPhysicalAddr or to the frame calls of cviruntime.h.
 *
 * cvsim provides the memory calls and the allocator callbacks; the command-buffer and kernel calls
 * of the vendor's header (CVI_RT_LoadCmdbuf, CVI_RT_RegisterKernel, ...) are not declared because
 * they are not provided. The emulated device is coherent: flush and invalidate succeed for any
 * live buffer and do nothing else.
 */
#ifndef CVSIM_CVIRUNTIME_CONTEXT_H
#define CVSIM_CVIRUNTIME_CONTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void *CVI_RT_HANDLE;
typedef void *CVI_RT_SHANDLE;
typedef void *CVI_RT_KHANDLE;
typedef void *CVI_RT_MEM;
typedef int CVI_RC;

/* The eight global-memory base registers of a command buffer. */
typedef struct __CVI_RT_ARRAYBASE {
  uint64_t gaddr_base0;
  uint64_t gaddr_base1;
  uint64_t gaddr_base2;
  uint64_t gaddr_base3;
  uint64_t gaddr_base4;
  uint64_t gaddr_base5;
  uint64_t gaddr_base6;
  uint64_t gaddr_base7;
} CVI_RT_ARRAYBASE;

/* What the runtime allocates a buffer for. */
typedef enum {
  CVI_ALLOC_WEIGHT = 0,
  CVI_ALLOC_PROGRAM = 1,
  CVI_ALLOC_NEURON = 2,
  CVI_ALLOC_SHARED = 3,
  CVI_ALLOC_DMABUF = 4,
  CVI_ALLOC_UNKNOWN = 5
} CVI_ALLOC_TYPE;

/* The runtime's allocator: (context, size, type, name) -> buffer, and its free. */
typedef CVI_RT_MEM (*CVI_MEM_ALLOC_CB)(CVI_RT_HANDLE, uint64_t, CVI_ALLOC_TYPE, const char *);
typedef void (*CVI_MEM_FREE_CB)(CVI_RT_HANDLE, CVI_RT_MEM);

/* A context for the calls below; every context shares the one emulated device. */
CVI_RC CVI_RT_Init(CVI_RT_HANDLE *rt_handle);
CVI_RC CVI_RT_DeInit(CVI_RT_HANDLE rt_handle);

/* size bytes of zeroed device memory; NULL when the device is full or rt_handle is not a context. */
CVI_RT_MEM CVI_RT_MemAlloc(CVI_RT_HANDLE rt_handle, uint64_t size);
/* A view of size bytes at offset into mem (NULL when it does not fit); freeing it frees nothing. */
CVI_RT_MEM CVI_RT_MemPreAlloc(CVI_RT_MEM mem, uint64_t offset, uint64_t size);
void CVI_RT_MemFree(CVI_RT_HANDLE rt_handle, CVI_RT_MEM mem);
/* Free the buffer that starts at p_addr. */
void CVI_RT_MemFreeEx(uint64_t p_addr);
uint64_t CVI_RT_MemGetSize(CVI_RT_MEM mem);
/* The device (physical) address, for CVI_NN_SetTensorPhysicalAddr and the frame calls. */
uint64_t CVI_RT_MemGetPAddr(CVI_RT_MEM mem);
/* Where the CPU reads and writes the buffer. */
uint8_t *CVI_RT_MemGetVAddr(CVI_RT_MEM mem);

/* Copies between host memory and a whole buffer (S2DEx: len bytes at offset). */
CVI_RC CVI_RT_MemCopyS2D(CVI_RT_HANDLE rt_handle, CVI_RT_MEM dst, uint8_t *src);
CVI_RC CVI_RT_MemCopyD2S(CVI_RT_HANDLE rt_handle, uint8_t *dst, CVI_RT_MEM src);
CVI_RC CVI_RT_MemCopyS2DEx(CVI_RT_HANDLE rt_handle, CVI_RT_MEM dst, uint64_t offset, uint64_t len, uint8_t *src);
CVI_RC CVI_RT_MemFlush(CVI_RT_HANDLE rt_handle, CVI_RT_MEM mem);
CVI_RC CVI_RT_MemInvld(CVI_RT_HANDLE rt_handle, CVI_RT_MEM mem);
CVI_RC CVI_RT_MemFlushEx(CVI_RT_HANDLE rt_handle, CVI_RT_MEM mem, uint64_t len);
CVI_RC CVI_RT_MemInvldEx(CVI_RT_HANDLE rt_handle, CVI_RT_MEM mem, uint64_t len);

/* Later runtime buffers (weights, program, IO and shared memory, DMABUF sections; not the dmabuf
 * built from a CMDBUF section) come from alloc_cb, named by model, "SharedMemory" or
 * "<model>:<tensor>", and go back through free_cb. The buffers must come from CVI_RT_MemAlloc or
 * CVI_RT_MemPreAlloc (the runtime asks them for their address); cvsim keeps their contents in its
 * own memory image. NULL callbacks give CVI_RC_INVALID_ARG. */
CVI_RC CVI_RT_Global_SetMemAllocCallback(CVI_MEM_ALLOC_CB alloc_cb, CVI_MEM_FREE_CB free_cb);
/* The device's own allocator again; buffers already given go back to the callbacks that gave them. */
void CVI_RT_Global_ResetMemAllocCallback(void);

#ifdef __cplusplus
}
#endif

#endif /* CVSIM_CVIRUNTIME_CONTEXT_H */
