#!/usr/bin/env bash
# Builds the .kir parser fuzzer with clang-14 (in build-fuzz/), seeds a corpus
# from every .kir file under tests/lit and examples, runs libFuzzer for
# SECONDS (default 60) and reports executions and crashes.
#   usage: tests/fuzz/run.sh [SECONDS]
# Crashing inputs land in build-fuzz/fuzz-artifacts/; reproduce one with
#   build-fuzz/tests/fuzz/kiln_parser_fuzz build-fuzz/fuzz-artifacts/crash-...
set -euo pipefail

secs=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build-fuzz
jobs=${KILN_FUZZ_BUILD_JOBS:-2}

cmake -S "$root" -B "$build" -G Ninja -DKILN_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log"; exit 1; }
ninja -C "$build" -j"$jobs" kiln_parser_fuzz

corpus=$build/fuzz-corpus
artifacts=$build/fuzz-artifacts
mkdir -p "$corpus" "$artifacts"
find "$root/tests/lit" "$root/examples" -name '*.kir' -print0 2>/dev/null |
  while IFS= read -r -d '' f; do
    cp "$f" "$corpus/seed-$(sha1sum <"$f" | cut -c1-16).kir"
  done

# A dictionary of .kir tokens: keywords, punctuation, dtypes and op names.
dict=$build/kir.dict
{
  for t in func return param state updates true false inf -inf nan \
    '->' '%x' '@f' '{param}' '{state}' '{updates = %w}' ' = ' ': ' ', ' \
    '[' ']' '{' '}' '(' ')' '"\\n"' '// ' '1e-05' '-1' \
    f32 f64 f16 bf16 i32 i64 bool 'f32[]' 'f32[2,3]' \
    axes keepdims axis perm value start stop step low high depth stride \
    padding dilation groups kernel output_padding count_include_pad; do
    printf '"%s"\n' "$(printf '%s' "$t" | sed 's/\\/\\\\/g; s/"/\\"/g')"
  done
  sed -n 's/^KILN_OP([A-Za-z0-9]*, \([a-z0-9_]*\))$/"\1("/p' "$root/ir/Ops.def"
} >"$dict"

log=$build/fuzz.log
set +e
"$build/tests/fuzz/kiln_parser_fuzz" "$corpus" -dict="$dict" \
  -max_len=4096 -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1
status=$?
set -e

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
crashes=$(find "$artifacts" -type f | wc -l)
echo "kiln_parser_fuzz: ${execs:-?} executions in ${secs}s, corpus $(ls "$corpus" | wc -l) files, $crashes crashing inputs (exit $status)"
if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
  grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -20
  ls "$artifacts"
  exit 1
fi
