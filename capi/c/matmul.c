/*
 * matmul: the runtime's matrix-multiply kernel function on device buffers, checked against a
 * plain C product, as a board application would use it:
 *
 *   matmul M K N int8|uint8
 *
 * Prints "matmul MxKxN FMT: ok" and exits 0 when every element agrees.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cviruntime.h"
#include "cviruntime_context.h"

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s M K N int8|uint8\n", argv[0]);
    return 2;
  }
  uint32_t m = (uint32_t)atoi(argv[1]), k = (uint32_t)atoi(argv[2]), n = (uint32_t)atoi(argv[3]);
  int is_signed = strcmp(argv[4], "int8") == 0;
  CVI_RT_HANDLE ctx;
  if (CVI_RT_Init(&ctx) != CVI_RC_SUCCESS) return 1;
  CVI_KFUNC_HANDLE kfn = CVI_NN_PrepareMatrixMulKernelFunc(ctx, is_signed ? CVI_FMT_INT8 : CVI_FMT_UINT8, m, k, n);
  CVI_RT_MEM l = CVI_RT_MemAlloc(ctx, (uint64_t)m * k);
  CVI_RT_MEM r = CVI_RT_MemAlloc(ctx, (uint64_t)k * n);
  CVI_RT_MEM y = CVI_RT_MemAlloc(ctx, (uint64_t)m * n * 4);
  if (!kfn || !l || !r || !y) {
    fprintf(stderr, "kernel function or buffers not made\n");
    return 1;
  }
  uint8_t *lp = CVI_RT_MemGetVAddr(l), *rp = CVI_RT_MemGetVAddr(r);
  unsigned seed = 12345;
  for (uint32_t i = 0; i < m * k; i++) lp[i] = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 16);
  for (uint32_t i = 0; i < k * n; i++) rp[i] = (uint8_t)((seed = seed * 1103515245u + 12345u) >> 16);
  CVI_RT_MemFlush(ctx, l);
  CVI_RT_MemFlush(ctx, r);
  CVI_RC rc = CVI_NN_RunKernelFunc(kfn, 3, CVI_RT_MemGetPAddr(l), CVI_RT_MemGetPAddr(r), CVI_RT_MemGetPAddr(y));
  if (rc != CVI_RC_SUCCESS) {
    fprintf(stderr, "CVI_NN_RunKernelFunc: %#x\n", (unsigned)rc);
    return 1;
  }
  CVI_RT_MemInvld(ctx, y);
  const int32_t *yp = (const int32_t *)CVI_RT_MemGetVAddr(y);
  for (uint32_t i = 0; i < m; i++) {
    for (uint32_t j = 0; j < n; j++) {
      int32_t want = 0;
      for (uint32_t t = 0; t < k; t++) {
        int32_t a = is_signed ? (int8_t)lp[i * k + t] : lp[i * k + t];
        int32_t b = is_signed ? (int8_t)rp[t * n + j] : rp[t * n + j];
        want += a * b;
      }
      if (yp[i * n + j] != want) {
        fprintf(stderr, "Y[%u][%u] = %d, want %d\n", i, j, yp[i * n + j], want);
        return 1;
      }
    }
  }
  printf("matmul %ux%ux%u %s: ok\n", m, k, n, argv[4]);
  CVI_NN_DestroyKernelFunc(kfn);
  CVI_RT_MemFree(ctx, l);
  CVI_RT_MemFree(ctx, r);
  CVI_RT_MemFree(ctx, y);
  CVI_RT_DeInit(ctx);
  return 0;
}
