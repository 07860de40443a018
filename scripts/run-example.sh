#!/usr/bin/env bash
# kiln's main job, end to end: set up, build, then parse, verify,
# canonicalize, compile and run the shipped MLP example, check it against
# the reference interpreter, and print its output.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
model=${1:-$root/examples/models/mlp.kir}
echo "== kiln-run $model"
"$root/build/tools/kiln-run" "$model" --seed 1 --check
