/* run_model.c: runs any kilnc object once and times it, from its header's
   tables alone: the start-up measurements of docs/aot.md.

     kilnc model.kir --weights model.safetensors -o model.o --name model
     cc -O2 -DMODEL=model -DMODEL_H='"model.h"' examples/aot/run_model.c \
        model.o -I. -o run_model -L/usr/lib/llvm-14/lib -lomp -lm \
        -Wl,-rpath,/usr/lib/llvm-14/lib
     ./run_model [RUNS]

   Inputs are x[i] = ((i % 13) - 6) / 4 for floats and i % 4 for integers.
   Prints the time of NAME_init_state, of the first run (cold: page faults,
   OpenMP thread start) and the median of RUNS more runs, then the first
   values of output 0.
   SPDX-License-Identifier: Apache-2.0 */
#include MODEL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define SYM(x) CAT(MODEL, x)

static void *alloc64(long long n) {
  size_t bytes = (size_t)((n + 63) / 64 * 64);
  void *p = aligned_alloc(64, bytes ? bytes : 64);
  if (!p) {
    fprintf(stderr, "run_model: out of memory\n");
    exit(1);
  }
  memset(p, 0, bytes ? bytes : 64);
  return p;
}

static double now_ms(void) {
  struct timespec t;
  timespec_get(&t, TIME_UTC);
  return (double)t.tv_sec * 1e3 + 1e-6 * (double)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Fills input i with the documented pattern for its dtype. */
static void fill(void *p, int dtype, long long n) {
  for (long long i = 0; i < n; ++i) {
    if (dtype == KILN_F32)
      ((float *)p)[i] = (float)((i % 13) - 6) / 4.0f;
    else if (dtype == KILN_I32)
      ((int *)p)[i] = (int)(i % 4);
    else if (dtype == KILN_I64)
      ((long long *)p)[i] = i % 4;
  }
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 10;
  static const int in_dtypes[] = {SYM(_INPUT_0_DTYPE)};
  double t0 = now_ms();
  void *state[SYM(_NUM_STATE) + 1], *inputs[SYM(_NUM_INPUTS) + 1];
  void *outputs[SYM(_NUM_OUTPUTS) + 1];
  for (int i = 0; i < SYM(_NUM_STATE); ++i)
    state[i] = alloc64(SYM(_STATE_BYTES)[i]);
  for (int i = 0; i < SYM(_NUM_INPUTS); ++i) {
    inputs[i] = alloc64(SYM(_INPUT_BYTES)[i]);
    fill(inputs[i], i == 0 ? in_dtypes[0] : KILN_F32,
         SYM(_INPUT_BYTES)[i] / 4);
  }
  for (int i = 0; i < SYM(_NUM_OUTPUTS); ++i)
    outputs[i] = alloc64(SYM(_OUTPUT_BYTES)[i]);
  void *arena = alloc64(SYM(_arena_bytes));
  double t1 = now_ms();
  if (SYM(_init_state)(state) != 0)
    return 1;
  double t2 = now_ms();
  SYM(_run)((const void *const *)inputs, outputs, arena, state);
  double t3 = now_ms();
  double *ms = malloc(sizeof(double) * (size_t)(runs > 0 ? runs : 1));
  for (int r = 0; r < runs; ++r) {
    double a = now_ms();
    SYM(_run)((const void *const *)inputs, outputs, arena, state);
    ms[r] = now_ms() - a;
  }
  qsort(ms, (size_t)runs, sizeof(double), cmp);
  printf("alloc %.3f ms, init_state %.3f ms, first run %.3f ms, median of "
         "%d runs %.3f ms\n",
         t1 - t0, t2 - t1, t3 - t2, runs, runs > 0 ? ms[runs / 2] : 0.0);
  const float *out = (const float *)outputs[0];
  printf("output 0 (%s):", SYM(_OUTPUT_0_NAME));
  for (int i = 0; i < 4 && i < SYM(_OUTPUT_BYTES)[0] / 4; ++i)
    printf(" %.6g", out[i]);
  printf("\n");
  free(ms);
  return 0;
}
