/// \file
/// The CUDA device: a Loop IR program -> CUDA C++ (codegen/CudaPrinter) ->
/// NVRTC (codegen/Nvrtc, cached on disk) -> a module loaded and launched
/// through the driver API, which is loaded with dlopen (never linked), so
/// kiln builds and runs without a GPU. The Executable's arena, params and
/// state, inputs and outputs live in device memory (one allocation each for
/// the arena, the params and state, and the inputs, outputs and constants);
/// run() copies inputs in and outputs out.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "runtime/Executable.h"

#include <string>

namespace kiln {

struct CudaCompileOptions {
  /// The device ordinal.
  int device = 0;
  /// "sm_XX" to compile for; "": the device's compute capability (which
  /// also decides whether contractions use tensor cores: sm_80 and newer).
  std::string arch;
  /// f32 contractions on tensor cores with TF32 operands
  /// (CompileOptions::allow_tf32).
  bool allow_tf32 = false;
  /// Use the on-disk NVRTC cache.
  bool use_cache = true;
};

/// True when a CUDA driver and at least one device are present (never
/// throws); otherwise false, with the reason in \p why.
bool cuda_device_available(std::string *why = nullptr);

/// Compiles \p program (lowered from \p f, for the Cuda target) for the
/// GPU. Throws kiln::Error: "no CUDA driver: libcuda.so.1 not found ..."
/// without a driver, "no CUDA device ..." without a GPU, the NVRTC log if
/// the generated CUDA does not compile (a kiln bug), or the failing driver
/// call.
std::unique_ptr<Executable>
compile_cuda(const Function &f, loop::Program program,
             const CudaCompileOptions &options = {});

/// The median time in milliseconds of \p runs runs of \p exe's kernels and
/// state updates alone (no host copies: the inputs of its last run stay on
/// the device), after one warm-up run. Throws kiln::Error when \p exe does
/// not run on a GPU.
double cuda_time_kernels(Executable &exe, int runs);

} // namespace kiln
