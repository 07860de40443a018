/// \file
/// Profiles of a compiled function (docs/debugging.md): the work of each
/// kernel (FLOPs, bytes), a Chrome trace of the compile and of the latest
/// run of a profiled Executable (CompileOptions::profile), and the compile
/// phase table of `kiln-run --time-passes`.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "runtime/Executable.h"

#include <cstdint>
#include <string>

namespace kiln {

/// The work of one kernel, from its Loop IR.
struct KernelCost {
  /// Floating-point operations: 2 per multiply-add of a contraction, one
  /// per float arithmetic or math op of every stored expression, times
  /// the iterations of the loops around it (index arithmetic excluded).
  int64_t flops = 0;
  /// Compulsory bytes: every buffer the kernel reads or writes, once.
  int64_t bytes = 0;
};

KernelCost kernel_cost(const loop::Program &p, const loop::Kernel &k);

/// The Chrome trace (chrome://tracing, ui.perfetto.dev) of \p exe: its
/// compile phases on one track, then on another the kernels of its latest
/// run, each with its fused ops, bytes, FLOPs, GFLOP/s and GB/s. Without
/// profile timestamps (not a profiled build, or not run yet) it holds the
/// compile phases only.
std::string chrome_trace(const Executable &exe);

/// The compile phases of \p exe as a table: milliseconds, share of the
/// total, name (parts indented under their phase).
std::string compile_phase_table(const Executable &exe);

/// The kernels of the latest profiled run as a table, slowest first:
/// milliseconds, GFLOP/s, GB/s, name and ops. Empty for an unprofiled
/// Executable.
std::string kernel_time_table(const Executable &exe);

} // namespace kiln
