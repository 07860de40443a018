#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The CUDA backend on a GPU machine, in one shot (issue #7). Steps, in order
# of value: the [cuda] tests (every primitive and every reduced workload,
# forward and training step, on the GPU against the interpreter; the
# tensor-core and SIMT-tile programs), kiln_bench_gpu (gemm 4096^3 vs cuBLAS
# and on each SIMT tile; split-K weight-gradient products vs unsplit and
# cuBLAS; a fused elementwise chain, one-pass softmax and layer norm and a
# column sum vs the copy bandwidth; mlp/resnet18/gpt training step times;
# gemm 4096^3 on tensor cores, f16/bf16/TF32 vs cuBLAS), and kilnc --target
# cuda objects (bench/aot-cuda.sh); then a summary. Every step runs even
# when an earlier one fails; the exit status is the number of failed steps.
#
#   bench/gpu.sh [--runs N] [--bundle FILE.tar.xz] [--full]
#
# --bundle: run prebuilt binaries (scripts/gpu-bundle.sh) instead of
# building. The GPU machine the `device` tool lends has the CUDA toolkit,
# CMake and ninja but not LLVM/clang 14, libomp, Open MPI or Catch2, and
# nothing can be installed there, so kiln cannot be built on it: build the
# bundle here, carry it, and run this with --bundle (docs/cuda.md, "On a
# lent GPU machine"); about 8 minutes in all.
# --full: also compile every workload with NVRTC at production flags
# ([.cuda-codegen-full]; needs no GPU, so it is left out by default).
# Without --bundle it configures and builds BUILD_DIR (Release) first.
# Environment: BUILD_DIR (default build-gpu), RESULTS (bench/results; the
# log goes to $RESULTS/gpu-<time>.log).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-gpu}
RESULTS=${RESULTS:-bench/results}
RUNS=20
BUNDLE=
FULL=0
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --bundle) BUNDLE=$2; shift 2 ;;
    --full) FULL=1; shift ;;
    *) echo "usage: bench/gpu.sh [--runs N] [--bundle FILE.tar.xz] [--full]" >&2; exit 2 ;;
  esac
done
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

# Unpacks the bundle and makes its binaries find their libraries and the
# source tree they were built from (tests read examples/ and tests/ files
# by that absolute path).
unbundle() {
  local dir=${TMPDIR:-/tmp}/kiln-gpu-bundle
  rm -rf "$dir" && mkdir -p "$dir" && tar -xJf "$BUNDLE" -C "$dir" || return 1
  BUILD_DIR=$dir/build
  export LD_LIBRARY_PATH="$dir/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  local missing lib found
  missing=$(ldd "$BUILD_DIR"/tests/kiln_unit_tests "$BUILD_DIR"/bench/kiln_bench_gpu | awk '/not found/ {print $1}' | sort -u)
  for lib in $missing; do # CUDA libraries outside /usr/local/cuda (pip wheels)
    found=$(find /usr/local /opt /usr/lib -name "$lib" 2> /dev/null | head -1)
    if [ -n "$found" ]; then
      LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$(dirname "$found")"
    else
      echo "missing library: $lib"
    fi
  done
  local src
  src=$(cat "$dir/SOURCE_DIR")
  if [ "$src" != "$PWD" ] && [ ! -e "$src" ]; then
    mkdir -p "$(dirname "$src")" && ln -s "$PWD" "$src"
  fi
  echo "bundle: $(cat "$dir/COMMIT"), source dir $src"
  ldd "$BUILD_DIR"/tests/kiln_unit_tests | grep -E "not found|LLVM|nvrtc|omp" || true
}

echo "== machine: $(nproc) cores; $(date -u)"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2> /dev/null ||
  echo "nvidia-smi not available"
export KILN_CACHE_DIR=${KILN_CACHE_DIR:-${TMPDIR:-/tmp}/kiln-gpu-cache}
if [ -n "$BUNDLE" ]; then
  echo
  echo "== unpack $BUNDLE"
  t0=$SECONDS
  unbundle
  rc=$?
  summary+=("$(printf '%-34s %-6s %4ss' "unpack bundle" "$([ $rc -eq 0 ] && echo ok || echo "rc=$rc")" $((SECONDS - t0)))")
  [ $rc -eq 0 ] || failed=$((failed + 1))
else
  step "configure" 120 cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
  step "build" 420 cmake --build "$BUILD_DIR" -j"$(nproc)" --target kiln_unit_tests kiln_bench_gpu kiln-run kilnc export_model
fi
step "tests [cuda]" 240 "$BUILD_DIR"/tests/kiln_unit_tests "[cuda],[cuda-runtime]"
step "kiln_bench_gpu" 240 "$BUILD_DIR"/bench/kiln_bench_gpu --runs "$RUNS"
step "aot --target cuda (kilnc, init, runs)" 90 bench/aot-cuda.sh "$BUILD_DIR" "$RUNS"
if [ "$FULL" = 1 ]; then
  step "nvrtc -O3 sm_80+sm_90, all models" 240 "$BUILD_DIR"/tests/kiln_unit_tests "[.cuda-codegen-full]"
fi

echo
echo "== summary (log: $LOG)"
printf '%s\n' "${summary[@]}"
exit $failed
