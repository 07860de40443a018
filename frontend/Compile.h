/// \file
/// kiln::compile: the pipeline from a Graph IR function to an Executable —
/// canonicalize, remat, lower (fusion), and a device's compiler (DESIGN.md).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"
#include "passes/Lower.h"
#include "passes/Remat.h"
#include "runtime/Executable.h"

#include <memory>

namespace kiln {

struct CompileOptions {
  enum class Target { Cpu, Cuda };
  /// Cuda: NVRTC and the driver API (runtime/CudaDevice.h); without a
  /// driver or GPU, compile throws "no CUDA driver ..." / "no CUDA device".
  Target target = Target::Cpu;
  /// The CUDA device ordinal (Target::Cuda).
  int device = 0;
  /// OpenMP threads (0: all cores).
  int threads = 0;
  /// Run canonicalize before lowering.
  bool canonicalize = true;
  /// Rematerialization of a training step, after canonicalize and before
  /// lowering: RematPolicy::none() (the default), sqrt_n() or
  /// budget(bytes) (passes/Remat.h, docs/remat.md).
  RematPolicy remat;
  /// Fusion and contraction choices (LowerOptions::fuse = false compiles
  /// every node as its own kernel).
  LowerOptions lower;
  /// Use the on-disk compile cache.
  bool use_cache = true;
};

/// \p base adjusted for \p target: for Cuda every independent outer loop
/// is marked parallel (the grid needs no minimum amount of work) and every
/// matmul and f32 convolution becomes a micro-kernel node.
LowerOptions lower_options_for(CompileOptions::Target target,
                               LowerOptions base);

/// Compiles \p f. The Executable's params and state start as zeros; set
/// them with set_state (or run_all). Throws kiln::Error on failure.
std::unique_ptr<Executable> compile(const Function &f,
                                    const CompileOptions &options = {});

} // namespace kiln
