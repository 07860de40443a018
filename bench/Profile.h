/// \file
/// Per-kernel times of a compiled program (kiln_bench --profile): the
/// program's C is printed again with a clock read around each kernel call
/// of its entry, compiled in process and run on the same inputs and state.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Interpreter.h"
#include "runtime/Executable.h"

#include <vector>

namespace kiln::bench {

/// Runs \p exe's program \p runs times (after one warm-up) with a timer
/// around every kernel and prints each kernel's mean time per run, its
/// share and its ops, slowest first. \p state holds the values of the
/// function's non-input parameters in order.
void profile_kernels(const Executable &exe,
                     const std::vector<HostTensor> &inputs,
                     const std::vector<HostTensor> &state, int runs);

} // namespace kiln::bench
