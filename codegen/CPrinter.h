/// \file
/// The C printer: Loop IR program -> one self-contained C file with OpenMP
/// pragmas, no #includes, and the entry point of DESIGN.md's C ABI:
///
///   int NAME_run(const void *const *inputs, void *const *outputs,
///                void *arena, void *const *state);
///   const long long NAME_arena_bytes;
///
/// inputs: the function's plain inputs in order; state: its {param} and
/// {state} buffers in order (updated in place by `{updates}` results);
/// outputs: its other results in return order; arena: NAME_arena_bytes
/// bytes, 64-byte aligned. Buffers must not overlap. Returns 0.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/LoopIR.h"

#include <string>
#include <vector>

namespace kiln::codegen {

/// The C source of \p p with entry `<entry>_run` and `<entry>_arena_bytes`.
std::string emit_c(const loop::Program &p, const std::string &entry);

/// The same program as \p parts C translation units that compile
/// independently (in parallel) and link together: the first holds the
/// constants and the entry point, kernels (external functions named
/// `<entry>_kN`) are spread over all parts by size. One part is emit_c.
std::vector<std::string> emit_c_parts(const loop::Program &p,
                                      const std::string &entry, int parts);

/// A C identifier made from \p name (letters, digits and '_').
std::string c_identifier(const std::string &name);

} // namespace kiln::codegen
