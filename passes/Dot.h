/// \file
/// Graphviz pictures of a function and its fused kernels (kiln-opt --dot,
/// docs/debugging.md).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"
#include "ir/LoopIR.h"

#include <string>

namespace kiln {

/// \p f as a Graphviz digraph: one box per node ("%h = matmul", its type
/// and .kir location), one ellipse per parameter, the return as a
/// double octagon. Each kernel of \p p (lowered from \p f) is a cluster
/// holding the nodes it fuses; a node inlined into several kernels sits in
/// the first and names the others. Edges carry the value's shape and
/// bytes: solid and bold where the value crosses a kernel boundary (it is
/// materialized in memory), dashed inside a kernel (it never leaves
/// registers).
std::string to_dot(const Function &f, const loop::Program &p);

} // namespace kiln
