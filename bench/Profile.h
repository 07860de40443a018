/// \file
/// Per-kernel times of a workload over several steps (kiln_bench
/// --profile), from a profiled build (CompileOptions::profile, whose
/// timestamps cover one run: runtime/Profile.h).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"
#include "ir/Interpreter.h"

#include <vector>

namespace kiln::bench {

/// Compiles \p f profiled with \p threads OpenMP threads (and prints the
/// compile's phases), runs it \p runs
/// times (after one warm-up) on \p args (one per parameter) and prints
/// each kernel's mean time per step, its share and its ops, slowest
/// first.
void profile_kernels(const Function &f, const std::vector<HostTensor> &args,
                     int threads, int runs);

} // namespace kiln::bench
