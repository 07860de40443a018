/* mlp_infer_cuda.c: runs the example MLP (examples/models/mlp.kir) compiled
   ahead of time for a GPU by kilnc --target cuda. The object embeds the
   kernels (a CUBIN for --arch) and loads the CUDA driver at run time, so
   the program links with libc only, and on a machine without a GPU or
   driver it starts and says why it cannot run:

     kilnc examples/models/mlp.kir --weights mlp.safetensors --target cuda \
           --arch sm_90 -o mlp.o
     cc -O2 examples/aot/mlp_infer_cuda.c mlp.o -I. -o mlp_infer_cuda

   The input is mlp_infer.c's, x[i] = ((i % 13) - 6) / 4, and so is the
   output: every probability with 9 digits. Exits 1 with mlp_error()'s
   message when the model cannot be loaded or run.
   SPDX-License-Identifier: Apache-2.0 */
#include "mlp.h"

#include <stdio.h>
#include <stdlib.h>

int main(void) {
  mlp_model *model = NULL;
  int rc = mlp_init(&model, 0);
  if (rc != 0) {
    fprintf(stderr, "mlp_infer_cuda: mlp_init failed (%d): %s\n", rc,
            mlp_error());
    return 1;
  }
  float *x = malloc(mlp_INPUT_0_BYTES);
  float *probs = malloc(mlp_OUTPUT_0_BYTES);
  if (!x || !probs) {
    fprintf(stderr, "mlp_infer_cuda: out of memory\n");
    return 1;
  }
  for (long long i = 0; i < mlp_INPUT_0_NUMEL; ++i)
    x[i] = (float)((i % 13) - 6) / 4.0f;

  const void *inputs[mlp_NUM_INPUTS] = {x};
  void *outputs[mlp_NUM_OUTPUTS] = {probs};
  rc = mlp_run(model, inputs, outputs, NULL); /* the default stream */
  if (rc != 0) {
    fprintf(stderr, "mlp_infer_cuda: mlp_run failed (%d): %s\n", rc,
            mlp_error());
    mlp_free(model);
    return 1;
  }
  long long rows = mlp_OUTPUT_0_SHAPE[0], cols = mlp_OUTPUT_0_SHAPE[1];
  printf("%s: %lld x %lld on %s, device arena %lld bytes\n", mlp_OUTPUT_0_NAME,
         rows, cols, mlp_CUDA_ARCH, mlp_arena_bytes);
  for (long long r = 0; r < rows; ++r) {
    for (long long c = 0; c < cols; ++c)
      printf("%s%.9g", c ? " " : "", probs[r * cols + c]);
    printf("\n");
  }
  mlp_free(model);
  free(x);
  free(probs);
  return 0;
}
