#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kilnc --target cuda on a GPU machine (docs/aot.md "CUDA"): for the
# full-size mlp_infer and resnet18_infer, the kilnc time, object and CUBIN
# sizes, and run_model_cuda.c's NAME_init, first-run and median run times
# (host copies included). Run by bench/gpu.sh after its build.
#   usage: bench/aot-cuda.sh BUILD_DIR [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:?usage: bench/aot-cuda.sh BUILD_DIR [RUNS]}
RUNS=${2:-20}
d=$BUILD_DIR/aot-cuda
mkdir -p "$d"
for m in mlp_infer resnet18_infer; do
  echo "-- $m"
  "$BUILD_DIR"/examples/export_model "$m" "$d/$m.kir" "$d/$m.safetensors"
  t0=$(date +%s%N)
  "$BUILD_DIR"/tools/kilnc "$d/$m.kir" --weights "$d/$m.safetensors" \
    --target cuda --no-cache -o "$d/$m.o"
  echo "kilnc $((($(date +%s%N) - t0) / 1000000)) ms, object $(stat -c %s "$d/$m.o") bytes"
  cc -O2 -std=c11 -DMODEL="$m" "-DMODEL_H=\"$m.h\"" -I"$d" \
    examples/aot/run_model_cuda.c "$d/$m.o" -o "$d/run_$m"
  t0=$(date +%s%N)
  "$d/run_$m" "$RUNS"
  echo "process start to exit: $((($(date +%s%N) - t0) / 1000000)) ms ($RUNS runs)"
done
