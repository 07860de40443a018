#!/usr/bin/env bash
# Builds a fuzzer with clang-14 (in build-fuzz/), seeds its corpus, runs
# libFuzzer for SECONDS (default 60) and reports executions and crashes.
#   usage: tests/fuzz/run.sh [SECONDS] [parser|safetensors]
# parser (the default) fuzzes the .kir parser and verifier, seeded from every
# .kir file under tests/lit and examples; safetensors fuzzes the safetensors
# reader, seeded with small valid files. Crashing inputs land in
# build-fuzz/fuzz-artifacts[-safetensors]/; reproduce one with
#   build-fuzz/tests/fuzz/kiln_parser_fuzz build-fuzz/fuzz-artifacts/crash-...
set -euo pipefail

secs=${1:-60}
target=${2:-parser}
case $target in
parser) suffix= ;;
safetensors) suffix=-safetensors ;;
*) echo "usage: $0 [SECONDS] [parser|safetensors]" >&2; exit 2 ;;
esac
fuzzer=kiln_${target}_fuzz
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$root/build-fuzz
jobs=${KILN_FUZZ_BUILD_JOBS:-2}

cmake -S "$root" -B "$build" -G Ninja -DKILN_FUZZ=ON \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo >"$build.configure.log" 2>&1 ||
  { cat "$build.configure.log"; exit 1; }
ninja -C "$build" -j"$jobs" "$fuzzer"

corpus=$build/fuzz-corpus$suffix
artifacts=$build/fuzz-artifacts$suffix
mkdir -p "$corpus" "$artifacts"

# Safetensors seeds: small valid files in the reference layout, and a
# dictionary of header tokens.
seed_safetensors() {
  python3 - "$corpus" <<'PY'
import json, struct, sys
def write(name, tensors, meta=None):
    header, data = {}, b""
    if meta is not None:
        header["__metadata__"] = meta
    for key, dtype, shape, raw in tensors:
        header[key] = {"dtype": dtype, "shape": shape,
                       "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(f"{sys.argv[1]}/seed-{name}.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + data)
write("empty", [])
write("meta", [], {"format": "pt", "k": "v"})
write("all", [("l", "I64", [2], struct.pack("<2q", -1, 7)),
              ("d", "F64", [], struct.pack("<d", 2.5)),
              ("f", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4)),
              ("i", "I32", [1], struct.pack("<i", -3)),
              ("bf", "BF16", [2], struct.pack("<2H", 0x3f80, 0x7fc1)),
              ("h", "F16", [3], struct.pack("<3H", 0x3c00, 0x8000, 0x7c00)),
              ("b", "BOOL", [2], b"\x01\x00")], {"format": "pt"})
write("zero", [("z", "F32", [0, 3], b""), ("s", "F32", [], b"\0\0\x80?")])
PY
}
dict_safetensors() {
  for t in __metadata__ dtype shape data_offsets F32 F64 F16 BF16 I32 I64 \
    BOOL U8 '{"' '":' '"' '{' '}' '[' ']' ',' '[0,' '0]' '-1' '1e30' \
    18446744073709551615 281474976710656 '\u0000' ' '; do
    printf '"%s"\n' "$(printf '%s' "$t" | sed 's/\\/\\\\/g; s/"/\\"/g')"
  done
}

seed_parser() {
  find "$root/tests/lit" "$root/examples" -name '*.kir' -print0 2>/dev/null |
    while IFS= read -r -d '' f; do
      cp "$f" "$corpus/seed-$(sha1sum <"$f" | cut -c1-16).kir"
    done
}

# A dictionary of .kir tokens: keywords, punctuation, dtypes and op names.
dict_parser() {
  for t in func return param state updates true false inf -inf nan \
    '->' '%x' '@f' '{param}' '{state}' '{updates = %w}' ' = ' ': ' ', ' \
    '[' ']' '{' '}' '(' ')' '"\\n"' '// ' '1e-05' '-1' \
    f32 f64 f16 bf16 i32 i64 bool 'f32[]' 'f32[2,3]' \
    axes keepdims axis perm value start stop step low high depth stride \
    padding dilation groups kernel output_padding count_include_pad; do
    printf '"%s"\n' "$(printf '%s' "$t" | sed 's/\\/\\\\/g; s/"/\\"/g')"
  done
  sed -n 's/^KILN_OP([A-Za-z0-9]*, \([a-z0-9_]*\))$/"\1("/p' "$root/ir/Ops.def"
}

"seed_$target"
dict=$build/$target.dict
"dict_$target" >"$dict"

log=$build/fuzz$suffix.log
set +e
"$build/tests/fuzz/$fuzzer" "$corpus" -dict="$dict" \
  -max_len=4096 -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1
status=$?
set -e

execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
crashes=$(find "$artifacts" -type f | wc -l)
echo "$fuzzer: ${execs:-?} executions in ${secs}s, corpus $(ls "$corpus" | wc -l) files, $crashes crashing inputs (exit $status)"
if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
  grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -20
  ls "$artifacts"
  exit 1
fi
