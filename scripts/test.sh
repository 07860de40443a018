#!/usr/bin/env bash
# Sets up, builds and runs every test: the Catch2 unit tests and the lit
# suite (each prints its own summary), then ctest's closing summary.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/build.sh"
cd "$root/build"
ctest --output-on-failure -V -j 2 2>&1 | grep -vE '^(UpdateCTestConfiguration|Parse Config|Add coverage|Test project|Constructing|Checking test dependency|Updating test list)'
exit "${PIPESTATUS[0]}"
