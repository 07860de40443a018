#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Packs the binaries bench/gpu.sh runs, for a GPU machine that has the CUDA
# toolkit but none of kiln's other build dependencies (the `device` tool's
# machine: nvcc, CMake and ninja, no LLVM/clang 14, libomp, Open MPI or
# Catch2, and no package registry). Builds the targets in BUILD_DIR, copies
# them without debug info, with every shared library they load from outside
# glibc, libstdc++ and the CUDA toolkit (libLLVM-14, libclang-cpp, libomp,
# Open MPI and what those need), records the commit and the source
# directory, and writes OUT/kiln-gpu.tar.xz: about 55 MB, under the 64 MiB
# that the device tool carries with the working tree. Run it there with
# `bench/gpu.sh --bundle OUT/kiln-gpu.tar.xz` (docs/cuda.md).
#   usage: scripts/gpu-bundle.sh [BUILD_DIR] [OUT]   (build, .gpu-bundle)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}
OUT=${2:-.gpu-bundle}
targets=(tests/kiln_unit_tests bench/kiln_bench_gpu tools/kiln-run tools/kilnc examples/export_model)
cmake --build "$BUILD_DIR" -j2 --target kiln_unit_tests kiln_bench_gpu kiln-run kilnc export_model
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib"
for t in "${targets[@]}"; do
  mkdir -p "$stage/build/$(dirname "$t")"
  objcopy --strip-debug "$BUILD_DIR/$t" "$stage/build/$t"
done
# Libraries by the name the loader asks for (ldd's left column).
ldd "${targets[@]/#/$BUILD_DIR/}" | awk '$2 == "=>" && $3 ~ /^\// {print $1, $3}' | sort -u |
  while read -r name path; do
    case $name in
      libc.so* | libm.so* | libpthread.so* | libdl.so* | librt.so* | ld-linux* | \
        libstdc++.so* | libgcc_s.so* | libcuda.so* | libcudart.so* | libnvrtc* | libcublas*)
        continue ;;
    esac
    case $path in /usr/local/cuda*) continue ;; esac
    cp -L "$path" "$stage/lib/$name"
  done
git rev-parse HEAD > "$stage/COMMIT"
if ! git diff --quiet HEAD; then echo "(with uncommitted changes)" >> "$stage/COMMIT"; fi
# The tests read source files through the absolute path compiled in.
sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BUILD_DIR/CMakeCache.txt" > "$stage/SOURCE_DIR"
mkdir -p "$OUT"
tar -C "$stage" -cf - . | xz -T2 -6 > "$OUT/kiln-gpu.tar.xz.tmp"
mv "$OUT/kiln-gpu.tar.xz.tmp" "$OUT/kiln-gpu.tar.xz"
ls -l "$OUT/kiln-gpu.tar.xz"
echo "libraries: $(ls "$stage/lib" | tr '\n' ' ')"
