#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds kiln_bench (Release), runs it and the peers that are installed
# (JAX jit, PyTorch eager and torch.compile), one after the other on the
# same machine, and prints one side-by-side table (bench/peers/merge.py).
#   usage: bench/run.sh [--workloads a,b,...] [--threads T] [--runs N]
# Environment: BUILD_DIR (default build-bench), RESULTS (bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-bench}
RESULTS=${RESULTS:-bench/results}
mkdir -p "$RESULTS"

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release > /dev/null
ninja -C "$BUILD_DIR" kiln_bench kiln_bench_gemm

echo "== machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
"$BUILD_DIR"/bench/kiln_bench_gemm "$RESULTS/gemm.json"
"$BUILD_DIR"/bench/kiln_bench --json "$RESULTS/kiln.json" "$@"

files=("$RESULTS/kiln.json")
if python3 -c "import jax" 2> /dev/null; then
  python3 bench/peers/jax_peer.py --json "$RESULTS/jax.json" "$@"
  files+=("$RESULTS/jax.json")
else
  echo "== jax not installed: no JAX column (pip install jax jaxlib)"
fi
if python3 -c "import torch" 2> /dev/null; then
  python3 bench/peers/torch_peer.py --json "$RESULTS/torch_eager.json" "$@"
  python3 bench/peers/torch_peer.py --compile \
    --json "$RESULTS/torch_compile.json" "$@"
  files+=("$RESULTS/torch_eager.json" "$RESULTS/torch_compile.json")
else
  echo "== torch not installed: no PyTorch columns (pip install torch)"
fi
echo
python3 bench/peers/merge.py "${files[@]}"
