/* mlp_infer.c: runs the example MLP (examples/models/mlp.kir) compiled
   ahead of time by kilnc, with nothing but libc, libm and libomp:

     kilnc examples/models/mlp.kir --weights mlp.safetensors -o mlp.o
     cc -O2 examples/aot/mlp_infer.c mlp.o -I. -o mlp_infer \
        -L/usr/lib/llvm-14/lib -lomp -lm -Wl,-rpath,/usr/lib/llvm-14/lib

   The input is x[i] = ((i % 13) - 6) / 4, exact in float, so a test can
   feed the JIT the same values. Prints every probability with 9 digits.
   SPDX-License-Identifier: Apache-2.0 */
#include "mlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 64-byte aligned memory of at least n bytes (never a null for n = 0). */
static void *alloc64(long long n) {
  size_t bytes = (size_t)((n + 63) / 64 * 64);
  void *p = aligned_alloc(64, bytes ? bytes : 64);
  if (!p) {
    fprintf(stderr, "mlp_infer: out of memory\n");
    exit(1);
  }
  return p;
}

static double seconds(void) {
  struct timespec t;
  timespec_get(&t, TIME_UTC);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
  double t0 = seconds();
  float *x = alloc64(mlp_INPUT_0_BYTES);
  float *probs = alloc64(mlp_OUTPUT_0_BYTES);
  void *arena = alloc64(mlp_arena_bytes);
  void *state[mlp_NUM_STATE];
  for (int i = 0; i < mlp_NUM_STATE; ++i)
    state[i] = alloc64(mlp_STATE_BYTES[i]);
  if (mlp_init_state(state) != 0) {
    fprintf(stderr, "mlp_infer: cannot load the weights\n");
    return 1;
  }
  for (long long i = 0; i < mlp_INPUT_0_NUMEL; ++i)
    x[i] = (float)((i % 13) - 6) / 4.0f;

  const void *inputs[mlp_NUM_INPUTS] = {x};
  void *outputs[mlp_NUM_OUTPUTS] = {probs};
  int rc = mlp_run(inputs, outputs, arena, state);
  double t1 = seconds();

  long long rows = mlp_OUTPUT_0_SHAPE[0], cols = mlp_OUTPUT_0_SHAPE[1];
  printf("%s: %lld x %lld, arena %lld bytes\n", mlp_OUTPUT_0_NAME, rows, cols,
         mlp_arena_bytes);
  for (long long r = 0; r < rows; ++r) {
    for (long long c = 0; c < cols; ++c)
      printf("%s%.9g", c ? " " : "", probs[r * cols + c]);
    printf("\n");
  }
  fprintf(stderr, "mlp_infer: init + first run %.3f ms\n", (t1 - t0) * 1e3);
  for (int i = 0; i < mlp_NUM_STATE; ++i)
    free(state[i]);
  free(x);
  free(probs);
  free(arena);
  return rc;
}
