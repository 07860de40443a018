/// \file
/// Private to codegen/CPrinter.cpp: the debugging instrumentation of the
/// generated entry point (EmitOptions, docs/debugging.md). With every
/// option off none of these functions emits anything.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "codegen/CPrinter.h"

#include <string>

namespace kiln::codegen {

/// File-scope C emitted before the entry: the non-finite scanners and the
/// `<entry>_profile` timestamp array, as \p opts asks.
std::string instrument_globals(const loop::Program &p, const std::string &entry,
                               const EmitOptions &opts);
/// Statements emitted around the call of kernel \p k in the entry.
std::string instrument_before(const loop::Program &p, size_t k,
                              const std::string &entry,
                              const EmitOptions &opts);
std::string instrument_after(const loop::Program &p, size_t k,
                             const std::string &entry, const EmitOptions &opts);

/// A one-comment-per-kernel header: the IR ops it fuses and their .kir
/// locations (`/* k3: matmul+add\n *   matmul %h  m.kir:5:8 ... */`);
/// \p what, when given, follows the ops on the first line (CUDA: which
/// launch of the kernel this is).
std::string kernel_comment(const loop::Kernel &k, const std::string &what = "");

} // namespace kiln::codegen
