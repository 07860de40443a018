/// \file
/// The Graph IR verifier: checks what Function::add cannot see alone.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Diagnostics.h"
#include "ir/Graph.h"

namespace kiln {

/// Checks \p m and reports each problem to \p diags at the node's location:
///  - SSA order: every operand is a parameter or defined earlier in the body,
///    of the same function; results are values of the function;
///  - every node's result types equal the op's rule, and its attributes the
///    op's schema (normalized);
///  - value and function names are unique;
///  - `{updates = %p}` names a {param} or {state} parameter whose type equals
///    the result's, at most once per parameter.
/// Returns true when \p m is valid.
bool verify(const Module &m, Diagnostics &diags);
bool verify(const Function &f, Diagnostics &diags);

} // namespace kiln
