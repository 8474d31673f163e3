/*
 * run_model: run a .cvimodel once through the CVI_NN_* API, as a board application would.
 *
 *   run_model MODEL PROGRAM OUTDIR MODE INPUT0.bin [INPUT1.bin ...]
 *
 * Each INPUTk.bin holds the raw bytes of input k (exactly CVI_NN_TensorSize bytes). Output k is
 * written to OUTDIR/output<k>.bin. MODE says how the inputs reach the model:
 *   host    the tensors' own host memory (CVI_NN_TensorPtr), copied in by CVI_NN_Forward;
 *   device  a device buffer each (CVI_RT_MemAlloc), bound with CVI_NN_SetTensorPhysicalAddr;
 *   frame   input 0 as a VPSS frame in device memory (rows padded to the chip's alignment unless
 *           the model takes aligned frames already), given with CVI_NN_SetTensorWithVideoFrame;
 *   pool    host memory, but every runtime buffer comes from the application's own pool through
 *           CVI_RT_Global_SetMemAllocCallback (carved with CVI_RT_MemPreAlloc); each must be
 *           given back by the time the models are cleaned up.
 * Build against cvsim:
 *
 *   cc run_model.c -I runtime/include -L target/release -lcviruntime -o run_model
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cviruntime.h"
#include "cviruntime_context.h"

_Static_assert(sizeof(CVI_SHAPE) == 32, "CVI_SHAPE layout");
_Static_assert(sizeof(CVI_TENSOR) == 168, "CVI_TENSOR layout");
_Static_assert(sizeof(CVI_VIDEO_FRAME_INFO) == 80, "CVI_VIDEO_FRAME_INFO layout");

static int read_file(const char *path, void *dst, size_t size) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return -1;
  }
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  if (len != (long)size) {
    fprintf(stderr, "%s: %ld bytes, the tensor holds %zu\n", path, len, size);
    fclose(f);
    return -1;
  }
  size_t got = fread(dst, 1, size, f);
  fclose(f);
  return got == size ? 0 : -1;
}

static void describe(const char *what, CVI_TENSOR *t) {
  CVI_SHAPE s = CVI_NN_TensorShape(t);
  printf("%s %s [%d,%d,%d,%d] fmt %d size %zu qscale %g zero_point %d pixel_format %d\n", what,
         CVI_NN_TensorName(t), s.dim[0], s.dim[1], s.dim[2], s.dim[3], (int)t->fmt, CVI_NN_TensorSize(t),
         CVI_NN_TensorQuantScale(t), CVI_NN_TensorQuantZeroPoint(t), (int)t->pixel_format);
}

/* The application's allocator for "pool" mode: one big buffer, carved front to back. */
static CVI_RT_MEM pool;
static uint64_t pool_used;
static int pool_allocs, pool_frees;

static CVI_RT_MEM pool_alloc(CVI_RT_HANDLE ctx, uint64_t size, CVI_ALLOC_TYPE type, const char *name) {
  (void)ctx;
  if (pool_used + size > CVI_RT_MemGetSize(pool)) return NULL;
  CVI_RT_MEM mem = CVI_RT_MemPreAlloc(pool, pool_used, size);
  pool_used = (pool_used + size + 4095) / 4096 * 4096;
  pool_allocs++;
  printf("pool: %llu bytes for %s (type %d) at %#llx\n", (unsigned long long)size, name, (int)type,
         (unsigned long long)CVI_RT_MemGetPAddr(mem));
  return mem;
}

static void pool_free(CVI_RT_HANDLE ctx, CVI_RT_MEM mem) {
  pool_frees++;
  CVI_RT_MemFree(ctx, mem);
}

/* Put `data` (the compact tensor bytes, or a whole aligned frame) into device memory as VPSS
 * would leave a frame and hand it to the tensor. The frame buffer is returned for freeing. */
static CVI_RT_MEM feed_frame(CVI_RT_HANDLE ctx, CVI_TENSOR *t, const uint8_t *data, const char *target) {
  size_t align = strcmp(target, "cv183x") == 0 ? 32 : 64;
  int packed = t->pixel_format == CVI_NN_PIXEL_RGB_PACKED || t->pixel_format == CVI_NN_PIXEL_BGR_PACKED;
  size_t planes = t->aligned || packed ? 1 : (size_t)t->shape.dim[1];
  size_t rows = t->aligned ? 1 : (size_t)(packed ? t->shape.dim[1] : t->shape.dim[2]);
  size_t row = t->aligned ? CVI_NN_TensorSize(t)
                          : (size_t)(packed ? t->shape.dim[2] * t->shape.dim[3] : t->shape.dim[3]);
  size_t stride = t->aligned ? row : (row + align - 1) / align * align;
  CVI_RT_MEM mem = CVI_RT_MemAlloc(ctx, planes * rows * stride);
  if (!mem) return NULL;
  uint8_t *frame = CVI_RT_MemGetVAddr(mem);
  memset(frame, 0xA5, planes * rows * stride); /* padding a model must not read */
  for (size_t r = 0; r < planes * rows; r++) memcpy(frame + r * stride, data + r * row, row);
  CVI_VIDEO_FRAME_INFO info;
  memset(&info, 0, sizeof info);
  info.type = t->pixel_format;
  info.shape = t->shape;
  info.fmt = CVI_FMT_UINT8;
  for (size_t p = 0; p < 3; p++) {
    info.stride[p] = (uint32_t)stride;
    info.pyaddr[p] = CVI_RT_MemGetPAddr(mem) + (p < planes ? p : 0) * rows * stride;
  }
  CVI_RC rc = CVI_NN_SetTensorWithVideoFrame(NULL, t, &info);
  if (rc != CVI_RC_SUCCESS) {
    fprintf(stderr, "CVI_NN_SetTensorWithVideoFrame: %#x\n", (unsigned)rc);
    CVI_RT_MemFree(ctx, mem);
    return NULL;
  }
  return mem;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s MODEL PROGRAM OUTDIR host|device|frame INPUT0.bin [INPUT1.bin ...]\n", argv[0]);
    return 2;
  }
  const char *mode = argv[4];
  if (strcmp(mode, "host") && strcmp(mode, "device") && strcmp(mode, "frame") && strcmp(mode, "pool")) {
    fprintf(stderr, "unknown mode %s\n", mode);
    return 2;
  }
  CVI_RT_HANDLE ctx = NULL;
  if (CVI_RT_Init(&ctx) != CVI_RC_SUCCESS) return 1;
  CVI_RT_MEM mems[16] = {0};
  if (!strcmp(mode, "pool")) {
    pool = CVI_RT_MemAlloc(ctx, 64 << 20);
    if (!pool || CVI_RT_Global_SetMemAllocCallback(pool_alloc, pool_free) != CVI_RC_SUCCESS) return 1;
  }
  CVI_MODEL_HANDLE model = NULL;
  CVI_RC rc = CVI_NN_RegisterModel(argv[1], &model);
  if (rc != CVI_RC_SUCCESS) {
    fprintf(stderr, "CVI_NN_RegisterModel: %#x\n", (unsigned)rc);
    return 1;
  }
  int32_t major = 0, minor = 0;
  CVI_NN_GetModelVersion(model, &major, &minor);
  printf("model %s version %d.%d target %s\n", argv[1], major, minor, CVI_NN_GetModelTarget(model));

  /* Run on a clone: it shares the weights of the registered model. */
  CVI_MODEL_HANDLE clone = NULL;
  if (CVI_NN_CloneModel(model, &clone) != CVI_RC_SUCCESS) return 1;
  rc = CVI_NN_SetConfig(clone, OPTION_PROGRAM_INDEX, atoi(argv[2]));
  if (rc != CVI_RC_SUCCESS) {
    fprintf(stderr, "CVI_NN_SetConfig(OPTION_PROGRAM_INDEX, %s): %#x\n", argv[2], (unsigned)rc);
    return 1;
  }
  CVI_TENSOR *inputs, *outputs;
  int32_t input_num, output_num;
  rc = CVI_NN_GetInputOutputTensors(clone, &inputs, &input_num, &outputs, &output_num);
  if (rc != CVI_RC_SUCCESS) {
    fprintf(stderr, "CVI_NN_GetInputOutputTensors: %#x\n", (unsigned)rc);
    return 1;
  }
  if (argc - 5 != input_num || input_num > 16) {
    fprintf(stderr, "the model has %d inputs, %d files given\n", input_num, argc - 5);
    return 2;
  }
  for (int i = 0; i < input_num; i++) {
    describe("input", &inputs[i]);
    size_t size = CVI_NN_TensorSize(&inputs[i]);
    if (read_file(argv[5 + i], CVI_NN_TensorPtr(&inputs[i]), size)) return 1;
    if (!strcmp(mode, "device")) {
      mems[i] = CVI_RT_MemAlloc(ctx, size);
      if (!mems[i]) return 1;
      memcpy(CVI_RT_MemGetVAddr(mems[i]), CVI_NN_TensorPtr(&inputs[i]), size);
      CVI_RT_MemFlush(ctx, mems[i]);
      rc = CVI_NN_SetTensorPhysicalAddr(&inputs[i], CVI_RT_MemGetPAddr(mems[i]));
      if (rc != CVI_RC_SUCCESS || CVI_NN_TensorPtr(&inputs[i]) != NULL) {
        fprintf(stderr, "CVI_NN_SetTensorPhysicalAddr: %#x\n", (unsigned)rc);
        return 1;
      }
    } else if (!strcmp(mode, "frame") && i == 0) {
      mems[i] = feed_frame(ctx, &inputs[i], CVI_NN_TensorPtr(&inputs[i]), CVI_NN_GetModelTarget(model));
      if (!mems[i]) return 1;
    }
  }
  rc = CVI_NN_Forward(clone, inputs, input_num, outputs, output_num);
  if (rc != CVI_RC_SUCCESS) {
    fprintf(stderr, "CVI_NN_Forward: %#x\n", (unsigned)rc);
    return 1;
  }
  for (int i = 0; i < output_num; i++) {
    describe("output", &outputs[i]);
    char path[4096];
    snprintf(path, sizeof path, "%s/output%d.bin", argv[3], i);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(CVI_NN_TensorPtr(&outputs[i]), 1, CVI_NN_TensorSize(&outputs[i]), f) != CVI_NN_TensorSize(&outputs[i])) {
      perror(path);
      return 1;
    }
    fclose(f);
  }
  CVI_NN_CleanupModel(clone);
  CVI_NN_CleanupModel(model);
  for (int i = 0; i < 16; i++)
    if (mems[i]) CVI_RT_MemFree(ctx, mems[i]);
  if (pool) {
    printf("pool: %d buffers given, %d given back\n", pool_allocs, pool_frees);
    CVI_RT_Global_ResetMemAllocCallback();
    CVI_RT_MemFree(ctx, pool);
    if (pool_allocs == 0 || pool_allocs != pool_frees) return 1;
  }
  CVI_RT_DeInit(ctx);
  return 0;
}
