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
/// bytes, 64-byte aligned. Buffers must not overlap. Returns 0 (with
/// EmitOptions::check_numerics: kNonFiniteStatus + k when kernel k wrote a
/// NaN or Inf).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/LoopIR.h"

#include <string>
#include <vector>

namespace kiln::codegen {

/// Debugging instrumentation of the entry point (docs/debugging.md). Off
/// (the default), not one instruction of it is emitted.
struct EmitOptions {
  /// After each kernel, scan the floating-point buffers it wrote: on a NaN
  /// or Inf the entry returns kNonFiniteStatus + the kernel's index.
  bool check_numerics = false;
  /// Store omp_get_wtime() before and after kernel k in the global
  /// `double <entry>_profile[2 * kernels + 1]` (at 2k and 2k+1).
  bool profile = false;
  /// f32 lanes of the target's vectors for the matmul and convolution
  /// kernels (target_vector_width); 0: the host's (host_vector_width).
  int vector_width = 0;
};

/// The entry's return code when check_numerics found a non-finite value:
/// this plus the index of the kernel that produced it.
constexpr int kNonFiniteStatus = 1 << 16;

/// The C source of \p p with entry `<entry>_run` and `<entry>_arena_bytes`.
std::string emit_c(const loop::Program &p, const std::string &entry,
                   const EmitOptions &opts = {});

/// The same program as \p parts C translation units that compile
/// independently (in parallel) and link together: the first holds the
/// constants and the entry point, kernels (external functions named
/// `<entry>_kN`) are spread over all parts by size. One part is emit_c.
std::vector<std::string> emit_c_parts(const loop::Program &p,
                                      const std::string &entry, int parts,
                                      const EmitOptions &opts = {});

/// A C identifier made from \p name (letters, digits and '_').
std::string c_identifier(const std::string &name);

} // namespace kiln::codegen
