/* mlp_train.c: trains the small MLP of examples/aot/mlp_train.kir (one
   whole SGD step: forward, cross-entropy, backward, update) compiled ahead
   of time by kilnc, with nothing but libc, libm and libomp. The parameters
   and the optimizer's momentum live in buffers this program owns; each
   mlp_train_run updates them in place.

     make_mlp_train mlp_train.kir mlp_train.safetensors
     kilnc mlp_train.kir --weights mlp_train.safetensors -o mlp_train.o
     cc -O2 examples/aot/mlp_train.c mlp_train.o -I. -o mlp_train \
        -L/usr/lib/llvm-14/lib -lomp -lm -Wl,-rpath,/usr/lib/llvm-14/lib

   The batch is fixed: x[i] = ((7 i) % 11 - 5) / 4, labels[n] = n % 4.
   Prints the loss of each of 30 steps with 9 digits.
   SPDX-License-Identifier: Apache-2.0 */
#include "mlp_train.h"

#include <stdio.h>
#include <stdlib.h>

static void *alloc64(long long n) {
  size_t bytes = (size_t)((n + 63) / 64 * 64);
  void *p = aligned_alloc(64, bytes ? bytes : 64);
  if (!p) {
    fprintf(stderr, "mlp_train: out of memory\n");
    exit(1);
  }
  return p;
}

int main(void) {
  void *state[mlp_train_NUM_STATE];
  for (int i = 0; i < mlp_train_NUM_STATE; ++i)
    state[i] = alloc64(mlp_train_STATE_BYTES[i]);
  if (mlp_train_init_state(state) != 0) {
    fprintf(stderr, "mlp_train: cannot load the initial weights\n");
    return 1;
  }
  void *arena = alloc64(mlp_train_arena_bytes);
  float *x = alloc64(mlp_train_INPUT_0_BYTES);
  int *labels = alloc64(mlp_train_INPUT_1_BYTES);
  for (long long i = 0; i < mlp_train_INPUT_0_NUMEL; ++i)
    x[i] = (float)((7 * i) % 11 - 5) / 4.0f;
  for (long long n = 0; n < mlp_train_INPUT_1_NUMEL; ++n)
    labels[n] = (int)(n % 4);

  float loss = 0;
  const void *inputs[] = {x, labels};
  void *outputs[] = {&loss};
  for (int step = 0; step < 30; ++step) {
    if (mlp_train_run(inputs, outputs, arena, state) != 0)
      return 1;
    printf("step %d: %.9g\n", step, loss);
  }
  for (int i = 0; i < mlp_train_NUM_STATE; ++i)
    free(state[i]);
  free(arena);
  free(x);
  free(labels);
  return 0;
}
