/// \file
/// Ahead-of-time compilation (docs/aot.md): a Graph IR function becomes an
/// ELF object and a C header that run it with no kiln library, no LLVM and
/// no Python: link the object with libc, libm and libomp. The object
/// defines, for a symbol prefix NAME (the function's name by default):
///
///   int NAME_run(const void *const *inputs, void *const *outputs,
///                void *arena, void *const *state);
///   const long long NAME_arena_bytes;
///   int NAME_init_state(void *const *state);
///
/// NAME_init_state copies the initial parameters and state into the
/// caller's buffers: embedded in the object (default), or read from a side
/// file (safetensors) named when the object is built or set at run time.
/// A training step ({updates} results) runs the same way: its parameters
/// and optimizer state are updated in place in the caller's buffers.
///
/// For AotTarget::Cuda the object embeds the CUDA backend's kernels as a
/// CUBIN (or PTX) and host code that runs them through the CUDA driver,
/// which it loads with dlopen: NAME_init / NAME_run / NAME_free, device
/// memory owned by the model (docs/aot.md "CUDA").
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "codegen/CudaPrinter.h"
#include "ir/Graph.h"
#include "ir/HostTensor.h"
#include "passes/Lower.h"

#include <string>
#include <vector>

namespace kiln::aot {

enum class AotTarget { Cpu, Cuda };

struct AotOptions {
  AotTarget target = AotTarget::Cpu;
  /// Cuda: "sm_XX" (a CUBIN for that architecture; default sm_90) or
  /// "compute_XX" (PTX, compiled by the driver on load), or a
  /// comma-separated list of them: NAME_init loads the one that fits the
  /// device (the CUBIN of its major arch with the highest minor not above
  /// its own, else the newest PTX not above it).
  std::string arch;
  /// Cuda: f32 matmuls and convolutions on tensor cores with TF32 operands
  /// (CompileOptions::allow_tf32; kilnc --tf32).
  bool allow_tf32 = false;
  /// The symbol prefix and header guard; "" means the function's name. It
  /// must be a C identifier.
  std::string name;
  /// The host code's CPU: an LLVM CPU name ("x86-64-v3", "skylake-avx512") or
  /// "native" (host only); "": "x86-64-v3" for the host, "generic" for another
  /// triple.
  std::string cpu;
  /// "": the host's target triple; else an LLVM triple to cross-compile
  /// for, e.g. "aarch64-linux-gnu" (ELF targets).
  std::string triple;
  /// Run canonicalize before lowering.
  bool canonicalize = true;
  LowerOptions lower;
  /// One tensor per {param}/{state} parameter, in order, of the parameter's
  /// type; empty means zeros.
  std::vector<HostTensor> initial_state;
  /// "" embeds initial_state in the object. Otherwise the path (as the
  /// program will open it) of the safetensors side file that holds it:
  /// NAME_init_state reads it, and AotResult::weights_file holds its bytes.
  std::string weights_file;
  /// Use the on-disk object cache.
  bool use_cache = true;
  /// The CPU target compiles the program as this many C units (at most one
  /// per kernel) on as many threads, merged into one object by the system
  /// linker (`ld -r`; one unit when there is none). 0: one unit per 24
  /// kernels, at most one per hardware thread.
  int threads = 0;
};

/// What compile() produced; nothing is written to disk.
struct AotResult {
  std::string object;       ///< the relocatable ELF object
  std::string header;       ///< NAME.h
  std::string weights_file; ///< the side file's bytes (weights_file only)
  std::string c_source;     ///< the C that made the object
  long long arena_bytes = 0;
  size_t num_kernels = 0;
  size_t num_units = 1; ///< C translation units compiled (CPU target)
  /// Cuda: the launches, the embedded images (CUBIN or PTX) and their
  /// archs, in the order of AotOptions::arch, and the CUDA C they were
  /// compiled from (with its launch list).
  size_t num_launches = 0;
  std::vector<std::string> device_archs, device_images;
  codegen::CudaProgram device_program;
};

/// Compiles \p f ahead of time. Throws kiln::Error on a bad name, CPU,
/// initial_state that does not match the parameters, or a failed compile.
AotResult compile(const Function &f, const AotOptions &options = {});

/// The C header of \p f for the prefix \p name (compile() calls it); a
/// non-empty \p cuda_arch gives the CUDA target's entry points.
std::string header(const Function &f, const std::string &name,
                   long long arena_bytes, const std::string &weights_file,
                   const std::string &cuda_arch = "");

} // namespace kiln::aot
