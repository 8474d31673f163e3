/*
 * cviruntime.h -- the CVI_NN_* runtime API as implemented by cvsim's libcviruntime.so.
 *
 * Written for cvsim from the API facts gathered in the project's runtime specification
 * (names, types, enum values, struct layouts); ABI-compatible with the vendor runtime's header on
 * LP64 targets, so that a program written for a CV18xx board compiles and links unchanged:
 *
 *     cc app.c -I runtime/include -L target/release -lcviruntime
 *
 * Differences of the emulator are noted at each function. As on the board, TPU_ENABLE_PMU=1 in the
 * environment prints the PMU summary (tdma_exe_ms, tiu_exe_ms, inference_ms, ...) after each TPU
 * routine; the figures come from cvsim's timing model.
 */
#ifndef CVSIM_CVIRUNTIME_H
#define CVSIM_CVIRUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cviruntime_context.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes: 0xC0000000 | module 0x77 << 16 | level 4 << 13 | code ---- */
#define CVI_RC_SUCCESS     0
#define CVI_RC_FAILURE     (-1)
#define CVI_RC_INVALID_ARG ((CVI_RC)0xC0778003)
#define CVI_RC_UNINIT      ((CVI_RC)0xC0778007)
#define CVI_RC_UNSUPPORT   ((CVI_RC)0xC0778008)
#define CVI_RC_NOMEM       ((CVI_RC)0xC077800C)
#define CVI_RC_AGAIN       ((CVI_RC)0xC0778010)
#define CVI_RC_BUSY        ((CVI_RC)0xC0778012)
#define CVI_RC_TIMEOUT     ((CVI_RC)0xC0778015)
#define CVI_RC_DATA_ERR    ((CVI_RC)0xC0778016)
#ifndef CVI_SUCCESS
#define CVI_SUCCESS CVI_RC_SUCCESS
#endif
#ifndef CVI_FAILURE
#define CVI_FAILURE CVI_RC_FAILURE
#endif

#define CVI_DIM_MAX 6
#define CVI_NN_DEFAULT_TENSOR (NULL)

/* ---- enums (int-sized) ---- */
typedef enum {
  CVI_FMT_FP32 = 0,
  CVI_FMT_INT32 = 1,
  CVI_FMT_UINT32 = 2,
  CVI_FMT_BF16 = 3,
  CVI_FMT_INT16 = 4,
  CVI_FMT_UINT16 = 5,
  CVI_FMT_INT8 = 6,
  CVI_FMT_UINT8 = 7
} CVI_FMT;

typedef enum {
  CVI_MEM_SYSTEM = 1,
  CVI_MEM_DEVICE = 2
} CVI_MEM_TYPE_E;

typedef enum {
  CVI_NN_PIXEL_RGB_PACKED = 0,
  CVI_NN_PIXEL_BGR_PACKED = 1,
  CVI_NN_PIXEL_RGB_PLANAR = 2,
  CVI_NN_PIXEL_BGR_PLANAR = 3,
  CVI_NN_PIXEL_YUV_NV12 = 11,
  CVI_NN_PIXEL_YUV_NV21 = 12,
  CVI_NN_PIXEL_YUV_420_PLANAR = 13,
  CVI_NN_PIXEL_GRAYSCALE = 15,
  CVI_NN_PIXEL_TENSOR = 100,
  CVI_NN_PIXEL_PLANAR = 101, /* legacy */
  CVI_NN_PIXEL_PACKED = 102, /* legacy */
  CVI_NN_PIXEL_RGBA_PLANAR = 1000
} CVI_NN_PIXEL_FORMAT_E;

typedef CVI_NN_PIXEL_FORMAT_E CVI_FRAME_TYPE;
#define CVI_FRAME_PLANAR  CVI_NN_PIXEL_PLANAR
#define CVI_FRAME_PACKAGE CVI_NN_PIXEL_PACKED

typedef enum {
  OPTION_BATCH_SIZE = 1,              /* resets the program index to 0 */
  OPTION_PREPARE_BUF_FOR_INPUTS = 2,  /* deprecated, no effect */
  OPTION_PREPARE_BUF_FOR_OUTPUTS = 3, /* deprecated, no effect */
  OPTION_OUTPUT_ALL_TENSORS = 4,      /* int: export every tensor not marked overwrote */
  OPTION_SKIP_PREPROCESS = 5,         /* deprecated, no effect */
  OPTION_SKIP_POSTPROCESS = 6,        /* deprecated, no effect */
  OPTION_INPUT_MEM_TYPE = 7,          /* deprecated, no effect */
  OPTION_OUTPUT_MEM_TYPE = 8,         /* deprecated, no effect */
  OPTION_PROGRAM_INDEX = 9            /* int: program (batch/shape variant) to load */
} CVI_CONFIG_OPTION;

/* ---- structs (offsets for LP64) ---- */
typedef struct {
  int32_t dim[CVI_DIM_MAX]; /*  0: dim[0..3] are filled */
  size_t dim_size;          /* 24: always 4 */
} CVI_SHAPE;                /* 32 bytes */

typedef struct {
  char *name;                         /*   0 */
  CVI_SHAPE shape;                    /*   8 */
  CVI_FMT fmt;                        /*  40 */
  size_t count;                       /*  48: product of the 4 dims */
  size_t mem_size;                    /*  56: bytes (VPSS-aligned for an aligned frame) */
  uint8_t *sys_mem;                   /*  64: host memory */
  uint64_t paddr;                     /*  72: device address */
  CVI_MEM_TYPE_E mem_type;            /*  80 */
  float qscale;                       /*  84 */
  int zero_point;                     /*  88 */
  CVI_NN_PIXEL_FORMAT_E pixel_format; /*  92 */
  bool aligned;                       /*  96 */
  float mean[3];                      /* 100: only meaningful when the model has them */
  float scale[3];                     /* 112: likewise */
  void *owner;                        /* 128: the model handle that exported it */
  char reserved[32];                  /* 136 */
} CVI_TENSOR;                         /* 168 bytes */

typedef struct {
  CVI_FRAME_TYPE type; /*  0 */
  CVI_SHAPE shape;     /*  8 */
  CVI_FMT fmt;         /* 40 */
  uint32_t stride[3];  /* 44 */
  uint64_t pyaddr[3];  /* 56 */
} CVI_VIDEO_FRAME_INFO; /* 80 bytes */

typedef void *CVI_MODEL_HANDLE;
typedef void *CVI_KFUNC_HANDLE;

/* ---- models ---- */

/* Register a .cvimodel file; *model receives a handle (NULL on failure). */
CVI_RC CVI_NN_RegisterModel(const char *model_file, CVI_MODEL_HANDLE *model);
/* Register a model held in memory (size bytes at buf). */
CVI_RC CVI_NN_RegisterModelFromBuffer(const int8_t *buf, uint32_t size, CVI_MODEL_HANDLE *model);
/* Register the model starting ud_offset bytes into an open file; fd is left open. */
CVI_RC CVI_NN_RegisterModelFromFd(const int fd, const size_t ud_offset, CVI_MODEL_HANDLE *model);
/* A new handle sharing the model's weights and command buffers; its program, private memory and
 * tensors are its own (created by its first GetInputOutputTensors). */
CVI_RC CVI_NN_CloneModel(CVI_MODEL_HANDLE model, CVI_MODEL_HANDLE *cloned);
/* The model's flatbuffer version. */
CVI_RC CVI_NN_GetModelVersion(CVI_MODEL_HANDLE model, int32_t *major, int32_t *minor);
/* The chip the model was built for (NULL for a bad handle). */
const char *CVI_NN_GetModelTarget(CVI_MODEL_HANDLE model);
/* Before GetInputOutputTensors: OPTION_OUTPUT_ALL_TENSORS and OPTION_PROGRAM_INDEX take an int.
 * An unknown option or program index gives CVI_RC_INVALID_ARG (the vendor asserts). */
CVI_RC CVI_NN_SetConfig(CVI_MODEL_HANDLE model, CVI_CONFIG_OPTION option, ...);
/* Load the program (first call) and return its input and output tensor arrays, owned by the
 * handle until CVI_NN_CleanupModel. */
CVI_RC CVI_NN_GetInputOutputTensors(CVI_MODEL_HANDLE model, CVI_TENSOR **inputs, int32_t *input_num,
                                    CVI_TENSOR **outputs, int32_t *output_num);
/* Copy each input's host memory in, run every routine, copy each output to its host memory. */
CVI_RC CVI_NN_Forward(CVI_MODEL_HANDLE model, CVI_TENSOR inputs[], int32_t input_num,
                      CVI_TENSOR outputs[], int32_t output_num);
/* Start a forward pass on another thread; errors are reported by CVI_NN_ForwardWait. */
CVI_RC CVI_NN_ForwardAsync(CVI_MODEL_HANDLE model, CVI_TENSOR inputs[], int32_t input_num,
                           CVI_TENSOR outputs[], int32_t output_num, void **task_no);
CVI_RC CVI_NN_ForwardWait(CVI_MODEL_HANDLE model, void *task_no);
/* Release the handle; the weights go with the last clone. */
CVI_RC CVI_NN_CleanupModel(CVI_MODEL_HANDLE model);

/* ---- tensors ---- */
CVI_RC CVI_NN_GetInputTensors(CVI_MODEL_HANDLE model, CVI_TENSOR **inputs, int32_t *input_num);
CVI_RC CVI_NN_GetOutputTensors(CVI_MODEL_HANDLE model, CVI_TENSOR **outputs, int32_t *output_num);
/* A NULL name gives the tensor only if there is exactly one; a name ending in '*' matches by
 * prefix. NULL when nothing matches. */
CVI_TENSOR *CVI_NN_GetTensorByName(const char *name, CVI_TENSOR *tensors, int32_t num);
char *CVI_NN_TensorName(CVI_TENSOR *tensor);
/* Host memory of the tensor; NULL for a tensor bound to a device address. */
void *CVI_NN_TensorPtr(CVI_TENSOR *tensor);
size_t CVI_NN_TensorSize(CVI_TENSOR *tensor);
size_t CVI_NN_TensorCount(CVI_TENSOR *tensor);
float CVI_NN_TensorQuantScale(CVI_TENSOR *tensor);
int CVI_NN_TensorQuantZeroPoint(CVI_TENSOR *tensor);
CVI_SHAPE CVI_NN_TensorShape(CVI_TENSOR *tensor);
/* mem becomes the tensor's host memory (copied in at forward). */
CVI_RC CVI_NN_SetTensorPtr(CVI_TENSOR *tensor, void *mem);
/* Bind an IO tensor to device memory (zero copy), e.g. CVI_RT_MemGetPAddr of a CVI_RT_MemAlloc
 * buffer; the tensor's own buffer is freed. In cvsim the address must lie in a buffer from
 * CVI_RT_MemAlloc; otherwise CVI_RC_INVALID_ARG. */
CVI_RC CVI_NN_SetTensorPhysicalAddr(CVI_TENSOR *tensor, uint64_t paddr);
/* A one-frame input from VPSS planes at pyaddr[] (device memory). An unaligned input is copied at
 * the call, rows taken the chip's VPSS row alignment apart (stride[] is not read); an aligned one
 * is bound to pyaddr[0]. A frame of another size gives CVI_RC_DATA_ERR. */
CVI_RC CVI_NN_SetTensorWithVideoFrame(CVI_MODEL_HANDLE model, CVI_TENSOR *tensor,
                                      CVI_VIDEO_FRAME_INFO *video_frame_info);
/* Deprecated: one plane address per channel; format and height_stride are not read. */
CVI_RC CVI_NN_FeedTensorWithFrames(CVI_MODEL_HANDLE model, CVI_TENSOR *tensor, CVI_FRAME_TYPE type,
                                   CVI_FMT format, int32_t channel_num, uint64_t *channel_paddrs,
                                   int32_t height, int32_t width, uint32_t height_stride);
/* frame_num frames (at most the batch). Aligned input: one frame is bound as by
 * CVI_NN_SetTensorPhysicalAddr, several are copied; pixel_format must be the model's
 * (CVI_RC_INVALID_ARG otherwise; the vendor asserts). Unaligned input: each frame is copied at the
 * call with its row padding stripped. */
CVI_RC CVI_NN_SetTensorWithAlignedFrames(CVI_TENSOR *tensor, uint64_t frame_paddrs[], int32_t frame_num,
                                         CVI_NN_PIXEL_FORMAT_E pixel_format);
/* Later shared-memory requests are at least this large (rounded up to 4096). */
void CVI_NN_Global_SetSharedMemorySize(size_t size);

/* ---- TPU kernel functions (cviruntime_extra.h) ----
 * The matrix multiply: Y (m x n, int32) = L (m x k) . R (k x n), row-major, fmt CVI_FMT_INT8 or
 * CVI_FMT_UINT8 (NULL otherwise); run with CVI_NN_RunKernelFunc(kfun, 3, L, R, Y) on the device
 * addresses of three buffers. The gray-image light kernel is not provided by cvsim (NULL). */
CVI_KFUNC_HANDLE CVI_NN_PrepareMatrixMulKernelFunc(CVI_RT_HANDLE ctx, CVI_FMT fmt, uint32_t m, uint32_t k,
                                                   uint32_t n);
CVI_KFUNC_HANDLE CVI_NN_PrepareGrayImageLightKernelFunc(CVI_RT_HANDLE ctx, uint32_t ih, uint32_t iw,
                                                        uint32_t kernel_sz);
CVI_RC CVI_NN_RunKernelFunc(CVI_KFUNC_HANDLE kfun, int32_t mem_num, ...);
CVI_RC CVI_NN_DestroyKernelFunc(CVI_KFUNC_HANDLE kfun);

#ifdef __cplusplus
}
#endif

#endif /* CVSIM_CVIRUNTIME_H */
