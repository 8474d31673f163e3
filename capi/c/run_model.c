/*
 * run_model: run a .cvimodel once through the CVI_NN_* API, as a board application would.
 *
 *   run_model MODEL PROGRAM OUTDIR INPUT0.bin [INPUT1.bin ...]
 *
 * Each INPUTk.bin holds the raw bytes of input k (exactly CVI_NN_TensorSize bytes). Output k is
 * written to OUTDIR/output<k>.bin. Build against cvsim:
 *
 *   cc run_model.c -I runtime/include -L target/release -lcviruntime -o run_model
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cviruntime.h"

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

int main(int argc, char **argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s MODEL PROGRAM OUTDIR INPUT0.bin [INPUT1.bin ...]\n", argv[0]);
    return 2;
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
  if (argc - 4 != input_num) {
    fprintf(stderr, "the model has %d inputs, %d files given\n", input_num, argc - 4);
    return 2;
  }
  for (int i = 0; i < input_num; i++) {
    describe("input", &inputs[i]);
    if (read_file(argv[4 + i], CVI_NN_TensorPtr(&inputs[i]), CVI_NN_TensorSize(&inputs[i]))) return 1;
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
  return 0;
}
