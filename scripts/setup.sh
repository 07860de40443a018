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
  # kilnc merges the C units of a large program into one object with ld -r.
  lld-14
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

# AotTest runs an AArch64 object with OpenMP loops under qemu: it needs
# LLVM's arm64 libomp (the generated code calls __kmpc_*), unpacked into
# /opt/kiln-cross/aarch64/lib rather than installed (the arm64 package
# would take the host's /usr/lib/llvm-14/lib/libomp.so.5). About 2.5-7 s
# once: the arm64 package lists, one 0.3 MB package. Optional: without it
# that test is skipped with a warning.
a64omp=/opt/kiln-cross/aarch64/lib
unpack_arm64_libomp() {
  local sudo="" tmp get
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    $sudo dpkg --add-architecture arm64 && $sudo apt-get update -qq || return 1
  fi
  tmp=$(mktemp -d)
  get="apt-get download -qq -o APT::Sandbox::User=root libomp5-14:arm64"
  if (cd "$tmp" && { $get >/dev/null 2>&1 || { $sudo apt-get update -qq && $get >/dev/null; }; } &&
    dpkg -x libomp5-14_*_arm64.deb root) &&
    $sudo mkdir -p "$a64omp" &&
    $sudo cp "$tmp/root/usr/lib/llvm-14/lib/libomp.so.5" "$a64omp/"; then
    rm -rf "$tmp"
    return 0
  fi
  rm -rf "$tmp"
  return 1
}
if [ ! -e "$a64omp/libomp.so.5" ]; then
  echo "setup: unpacking libomp5-14:arm64 into $a64omp"
  unpack_arm64_libomp ||
    echo "setup: warning: could not unpack libomp5-14:arm64: AotTest skips the AArch64 OpenMP case"
fi

if [ -x /usr/local/cuda/bin/nvcc ]; then
  echo "setup: CUDA toolkit found in /usr/local/cuda"
else
  echo "setup: no CUDA toolkit in /usr/local/cuda (optional: the CUDA backend is skipped)"
fi
