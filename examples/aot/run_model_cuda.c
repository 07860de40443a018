/* run_model_cuda.c: runs any kilnc --target cuda object and times it, from
   its header's tables alone (run_model.c for the GPU):

     kilnc model.kir --weights model.safetensors --target cuda -o model.o \
           --name model
     cc -O2 -DMODEL=model -DMODEL_H='"model.h"' \
        examples/aot/run_model_cuda.c model.o -I. -o run_model_cuda
     ./run_model_cuda [RUNS [VALUES]]

   Inputs are x[i] = ((i % 13) - 6) / 4 for floats and i % 4 for integers.
   Prints the time of NAME_init (driver, module, device memory, weights),
   of the first run and the median of RUNS more (each NAME_run copies the
   inputs in and the outputs out and synchronizes), then the first VALUES
   (default 4) values of output 0 if it is f32. Exits 1 with NAME_error()
   when the model cannot be loaded or run.
   SPDX-License-Identifier: Apache-2.0 */
#include MODEL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define SYM(x) CAT(MODEL, x)

static void *alloc_zeroed(long long n) {
  void *p = calloc(1, (size_t)(n > 0 ? n : 1));
  if (!p) {
    fprintf(stderr, "run_model_cuda: out of memory\n");
    exit(1);
  }
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

/* Fills a tensor of n elements with the documented pattern. */
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

static int fail(const char *what, int rc) {
  fprintf(stderr, "run_model_cuda: %s failed (%d): %s\n", what, rc,
          SYM(_error)());
  return 1;
}

/* The element size of a dtype code. */
static long long dtype_bytes(int dtype) {
  return dtype == KILN_F64 || dtype == KILN_I64    ? 8
         : dtype == KILN_F16 || dtype == KILN_BF16 ? 2
         : dtype == KILN_BOOL                      ? 1
                                                   : 4;
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 10;
  long long values = argc > 2 ? atoll(argv[2]) : 4;
  void *inputs[SYM(_NUM_INPUTS) + 1], *outputs[SYM(_NUM_OUTPUTS) + 1];
  for (int i = 0; i < SYM(_NUM_INPUTS); ++i)
    inputs[i] = alloc_zeroed(SYM(_INPUT_BYTES)[i]);
#if SYM(_NUM_INPUTS) > 0
  fill(inputs[0], SYM(_INPUT_0_DTYPE),
       SYM(_INPUT_0_BYTES) / dtype_bytes(SYM(_INPUT_0_DTYPE)));
#endif
#if SYM(_NUM_INPUTS) > 1
  fill(inputs[1], SYM(_INPUT_1_DTYPE),
       SYM(_INPUT_1_BYTES) / dtype_bytes(SYM(_INPUT_1_DTYPE)));
#endif
  for (int i = 0; i < SYM(_NUM_OUTPUTS); ++i)
    outputs[i] = alloc_zeroed(SYM(_OUTPUT_BYTES)[i]);
  SYM(_model) *model = NULL;
  double t0 = now_ms();
  int rc = SYM(_init)(&model, 0);
  if (rc != 0)
    return fail("init", rc);
  double t1 = now_ms();
  if ((rc = SYM(_run)(model, (const void *const *)inputs, outputs, NULL)))
    return fail("run", rc);
  double t2 = now_ms();
  double *ms = malloc(sizeof(double) * (size_t)(runs > 0 ? runs : 1));
  for (int r = 0; r < runs; ++r) {
    double a = now_ms();
    if ((rc = SYM(_run)(model, (const void *const *)inputs, outputs, NULL)))
      return fail("run", rc);
    ms[r] = now_ms() - a;
  }
  qsort(ms, (size_t)runs, sizeof(double), cmp);
  printf("init %.3f ms, first run %.3f ms, median of %d runs %.3f ms\n",
         t1 - t0, t2 - t1, runs, runs > 0 ? ms[runs / 2] : 0.0);
#if SYM(_NUM_OUTPUTS) > 0
  if (SYM(_OUTPUT_0_DTYPE) == KILN_F32) {
    const float *out = (const float *)outputs[0];
    printf("output 0 (%s):", SYM(_OUTPUT_0_NAME));
    for (long long i = 0; i < values && i < SYM(_OUTPUT_0_NUMEL); ++i)
      printf(" %.9g", out[i]);
    printf("\n");
  }
#endif
  SYM(_free)(model);
  free(ms);
  return 0;
}
