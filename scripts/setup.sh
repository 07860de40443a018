#!/usr/bin/env bash
# Installs every Debian 12 package kiln needs to build and test; does nothing
# when they are all present. The CUDA toolkit (/usr/local/cuda) is optional
# and only detected: CMake builds the CUDA parts when it finds it.
set -euo pipefail

packages=(
  cmake ninja-build g++ python3
  clang-14 llvm-14-dev llvm-14-tools libclang-14-dev libclang-cpp14-dev
  libomp-14-dev libclang-rt-14-dev
  catch2 nlohmann-json3-dev clang-format-14
  # kiln-opt --dot output is rendered with dot -Tsvg in a lit test.
  graphviz
  # Distributed training over MPI (optional in CMake; tests/mpi/).
  libopenmpi-dev openmpi-bin
  # AotTest runs a cross-compiled AArch64 object under qemu (docs/aot.md).
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "setup: CUDA toolkit found in /usr/local/cuda"
else
  echo "setup: no CUDA toolkit in /usr/local/cuda (optional: the CUDA backend is skipped)"
fi
