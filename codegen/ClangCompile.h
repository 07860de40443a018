/// \file
/// The uncached compile behind ClangJit (private header): C source through
/// clang's frontend to LLVM IR, the LLVM pipeline on a TargetMachine for the
/// requested CPU, and machine code into an ELF object.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "codegen/ClangJit.h"

#include <string>
#include <vector>

namespace kiln::codegen::detail {

/// The target a module is compiled for: the process triple, an LLVM CPU
/// name and "+feat"/"-feat" entries (empty for a named, non-native CPU).
struct TargetSpec {
  std::string triple;
  std::string cpu;
  std::vector<std::string> features;
};

/// Initializes LLVM's native target, asm printer and parser once per process.
void init_llvm_once();

/// The target \p cpu names: "native" is the host CPU with every host feature.
/// \p triple: "" for the process triple, else an LLVM triple.
TargetSpec target_spec(const std::string &cpu, const std::string &triple = "");

/// The f32 lanes of \p target's widest vectors the contraction generators
/// should use (host_vector_width's rule for any target): 16 with AVX-512F, 8
/// with AVX2+FMA, else 4 (SSE, NEON and targets LLVM does not know).
int vector_width(const TargetSpec &target);

/// Compiles \p source (named \p file in diagnostics) with the cc1 \p flags,
/// then runs the opt_level pipeline and machine code generation for
/// \p target into \p object. On failure returns clang's diagnostics or
/// LLVM's error in the Status; nothing is printed. Adds the phase times to
/// \p stats.
Status compile_c_uncached(const std::string &source, const std::string &file,
                          const std::vector<std::string> &flags,
                          const TargetSpec &target, int opt_level,
                          std::string &object, CompileStats &stats);

} // namespace kiln::codegen::detail
