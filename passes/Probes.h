/// \file
/// Probes: named values of a function returned as extra results, so any
/// intermediate can be looked at without editing the model
/// (CompileOptions::probes, kiln-run --probe; docs/debugging.md).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"

#include <string>
#include <vector>

namespace kiln {

/// The value of \p f that \p name denotes: "%h" or "h" (a written name,
/// e.g. "blocks.0.attn.scores" from the C++ API), or "%3", the number the
/// printer gives an unnamed value. Throws kiln::Error when none matches,
/// listing the closest names.
Value *find_probe(const Function &f, const std::string &name);

/// Appends the values named \p names to \p f's results (without updates),
/// in order. Lower them with LowerOptions::probe_results = names.size() so
/// that they change nothing else. Throws as find_probe; \p f is unchanged
/// then.
void add_probes(Function &f, const std::vector<std::string> &names);

} // namespace kiln
