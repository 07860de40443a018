#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Data-parallel mlp_train and gpt_train (bench/distributed.cpp) on this
# machine, one OpenMP thread per rank, one after the other in this script:
# one rank without data parallelism (the baseline), one rank with it (the
# cost of the collectives alone), and two ranks under mpirun.
#   usage: bench/run_distributed.sh [--runs N] [--reduced] [--bucket-bytes B]
# Environment: BUILD_DIR (default build), RESULTS (bench/results).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
RESULTS=${RESULTS:-bench/results}
mkdir -p "$RESULTS"
bin="$BUILD_DIR/bench/kiln_bench_distributed"
cmake --build "$BUILD_DIR" --target kiln_bench_distributed > /dev/null
mpirun=(mpirun --allow-run-as-root --oversubscribe --mca btl self,vader
        --mca btl_vader_single_copy_mechanism none)
echo "== machine: $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" --plain --json "$RESULTS/distributed_1rank_plain.json" "$@"
"$bin" --json "$RESULTS/distributed_1rank.json" "$@" | tail -n +2
"${mpirun[@]}" -np 2 "$bin" --json "$RESULTS/distributed_2rank.json" "$@" |
  tail -n +2
