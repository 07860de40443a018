#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The CUDA backend on a GPU machine, in one shot (issue #7): builds kiln
# (Release) with the CUDA toolkit, runs the [cuda] tests (every primitive
# and every reduced workload, forward and training step, on the GPU against
# the interpreter), runs kiln_bench_gpu (gemm 4096^3 vs cuBLAS, also on
# each SIMT tile; split-K weight-gradient products vs unsplit and cuBLAS; a
# fused elementwise chain vs the copy bandwidth, one-pass softmax and layer
# norm and a column sum over [16384, 1024] f32 vs the copy bandwidth,
# mlp/resnet18/gpt training step
# times, gemm 4096^3 on tensor cores: f16, bf16 and TF32 vs cuBLAS), kilnc --target cuda objects (bench/aot-cuda.sh), then NVRTC at
# production flags for every workload, and prints a
# summary. Every step runs even when an earlier one fails; the exit status
# is the number of failed steps. Budget: about 10 minutes on an H100 node
# (16 cores). Output also goes to $RESULTS/gpu-<time>.log.
#   usage: bench/gpu.sh [--runs N]
# Environment: BUILD_DIR (default build-gpu), RESULTS (bench/results).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-gpu}
RESULTS=${RESULTS:-bench/results}
RUNS=20
if [ "${1:-}" = "--runs" ] && [ -n "${2:-}" ]; then RUNS=$2; fi
mkdir -p "$RESULTS"
LOG="$RESULTS/gpu-$(date -u +%Y%m%dT%H%M%SZ).log"
exec > >(tee "$LOG") 2>&1

failed=0
summary=()
step() { # step NAME TIMEOUT_S COMMAND...
  local name=$1 limit=$2
  shift 2
  echo
  echo "== $name"
  local t0=$SECONDS
  timeout "$limit" "$@"
  local rc=$?
  summary+=("$(printf '%-34s %-6s %4ss' "$name" "$([ $rc -eq 0 ] && echo ok || echo "rc=$rc")" $((SECONDS - t0)))")
  [ $rc -eq 0 ] || failed=$((failed + 1))
  return 0
}

echo "== machine: $(nproc) cores; $(date -u)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2> /dev/null ||
  echo "nvidia-smi not available"
step "configure" 120 cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
step "build" 420 cmake --build "$BUILD_DIR" -j"$(nproc)" --target kiln_unit_tests kiln_bench_gpu kiln-run kilnc export_model
step "tests [cuda]" 300 "$BUILD_DIR"/tests/kiln_unit_tests "[cuda],[cuda-runtime],[cuda-codegen]"
step "kiln_bench_gpu" 300 "$BUILD_DIR"/bench/kiln_bench_gpu --runs "$RUNS"
step "aot --target cuda (kilnc, init, runs)" 180 bench/aot-cuda.sh "$BUILD_DIR" "$RUNS"
step "nvrtc -O3 sm_80+sm_90, all models" 240 "$BUILD_DIR"/tests/kiln_unit_tests "[.cuda-codegen-full]"

echo
echo "== summary (log: $LOG)"
printf '%s\n' "${summary[@]}"
exit $failed
