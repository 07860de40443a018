/// \file
/// The reference interpreter: the meaning of every op, the oracle of every
/// test, and what constant folding evaluates with. Plain loops, computed in
/// double for floats (rounded once to the result dtype) and int64 for
/// integers; clarity over speed.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"
#include "ir/HostTensor.h"

#include <vector>

namespace kiln {

/// Evaluates \p f on \p args (one per parameter, in order, inputs, params
/// and state alike) and returns one tensor per result. Throws kiln::Error
/// when an argument's type differs from its parameter's.
std::vector<HostTensor> interpret(const Function &f,
                                  const std::vector<HostTensor> &args);

/// Applies the `{updates = %p}` results of one run of \p f: each such
/// result in \p results replaces the argument of its parameter in \p args,
/// as the runtime overwrites the parameter's buffer. Running a training step
/// repeatedly is then `args = ...; loop { r = interpret(f, args);
/// apply_updates(f, r, args); }`.
void apply_updates(const Function &f, const std::vector<HostTensor> &results,
                   std::vector<HostTensor> &args);

/// Evaluates one node on its operand values.
std::vector<HostTensor>
evaluate_node(const Node &n, const std::vector<const HostTensor *> &in);

} // namespace kiln
