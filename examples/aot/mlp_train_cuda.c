/* mlp_train_cuda.c: mlp_train.c on a GPU. The small MLP training step of
   examples/aot/mlp_train.kir compiled by kilnc --target cuda; the
   parameters and the momentum live in device memory that the model owns,
   and each mlp_train_run updates them there. Links with libc only:

     kilnc mlp_train.kir --weights mlp_train.safetensors --target cuda \
           -o mlp_train.o
     cc -O2 examples/aot/mlp_train_cuda.c mlp_train.o -I. -o mlp_train_cuda

   The batch is mlp_train.c's. Prints the loss of each of 30 steps with 9
   digits, then the sum of the first state tensor (the first layer's
   weights) read back from the device.
   SPDX-License-Identifier: Apache-2.0 */
#include "mlp_train.h"

#include <stdio.h>
#include <stdlib.h>

static int fail(const char *what, int rc) {
  fprintf(stderr, "mlp_train_cuda: %s failed (%d): %s\n", what, rc,
          mlp_train_error());
  return 1;
}

int main(void) {
  mlp_train_model *model = NULL;
  int rc = mlp_train_init(&model, 0);
  if (rc != 0)
    return fail("mlp_train_init", rc);
  float *x = malloc(mlp_train_INPUT_0_BYTES);
  int *labels = malloc(mlp_train_INPUT_1_BYTES);
  float *w = malloc(mlp_train_STATE_0_BYTES);
  if (!x || !labels || !w) {
    fprintf(stderr, "mlp_train_cuda: out of memory\n");
    return 1;
  }
  for (long long i = 0; i < mlp_train_INPUT_0_NUMEL; ++i)
    x[i] = (float)((7 * i) % 11 - 5) / 4.0f;
  for (long long n = 0; n < mlp_train_INPUT_1_NUMEL; ++n)
    labels[n] = (int)(n % 4);

  float loss = 0;
  const void *inputs[] = {x, labels};
  void *outputs[] = {&loss};
  for (int step = 0; step < 30; ++step) {
    if ((rc = mlp_train_run(model, inputs, outputs, NULL)) != 0)
      return fail("mlp_train_run", rc);
    printf("step %d: %.9g\n", step, loss);
  }
  if ((rc = mlp_train_read_state(model, 0, w)) != 0)
    return fail("mlp_train_read_state", rc);
  double sum = 0;
  for (long long i = 0; i < mlp_train_STATE_0_NUMEL; ++i)
    sum += w[i];
  printf("sum of %s: %.9g\n", mlp_train_STATE_0_NAME, sum);
  mlp_train_free(model);
  free(x);
  free(labels);
  free(w);
  return 0;
}
