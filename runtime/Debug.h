/// \file
/// What an Executable carries for debugging (docs/debugging.md): the names
/// of its probes, whether it checks numerics, the per-kernel timestamps of
/// a profiled build, and where its compile time went; and the report of a
/// run stopped by check-numerics.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"
#include "ir/LoopIR.h"

#include <string>
#include <vector>

namespace kiln {

/// One timed phase of a compile ("canonicalize", "clang frontend", ...).
struct CompilePhase {
  std::string name;
  double start_ms = 0; ///< from the start of kiln::compile
  double ms = 0;
  int depth = 0; ///< 1: a part of the depth-0 phase before it
};

struct ExecutableDebug {
  /// The probed values' names (CompileOptions::probes): the last
  /// probes.size() results of run() and run_all() are their values.
  std::vector<std::string> probes;
  /// The entry scans every kernel's outputs for NaN and Inf.
  bool check_numerics = false;
  /// Profiled builds: omp_get_wtime() before and after kernel k of the
  /// latest run, at [2k] and [2k+1] (seconds); nullptr otherwise. Points
  /// into the compiled code, which the Executable owns.
  const double *kernel_times = nullptr;
  /// The phases of the compile, in order (kiln::compile fills them).
  std::vector<CompilePhase> compile_phases;
};

/// The addresses the entry gave each buffer of \p p in one run (the
/// generated `B[]` array), rebuilt from the run's arguments.
std::vector<const void *>
buffer_addresses(const loop::Program &p, const void *const *inputs,
                 void *const *outputs, const void *arena, void *const *state);

/// The message for an entry that returned \p rc. For check-numerics
/// codes: the kernel and the first bad element it wrote; which of its fused
/// ops first made a NaN or Inf (found by replaying \p f on \p args, one per
/// parameter, with the reference interpreter), with every op's .kir
/// location; and any argument that was already non-finite, e.g.
///   check-numerics: @f: kernel k1 (matmul+exp) produced inf in %e ...
///     first non-finite op: exp %e at model.kir:9:8 (inf)
///     fused ops of k1, in order: ...
std::string describe_run_failure(const Function &f, const loop::Program &p,
                                 int rc,
                                 const std::vector<const void *> &buffers,
                                 const std::vector<HostTensor> &args);

} // namespace kiln
