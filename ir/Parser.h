/// \file
/// The .kir parser (DESIGN.md "Graph IR text"). It never throws and never
/// crashes on any byte string: every problem becomes a located diagnostic.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Diagnostics.h"
#include "ir/Graph.h"

#include <memory>
#include <string_view>

namespace kiln {

/// Parses \p text (named \p filename in diagnostics; its first line is
/// \p first_line, for split input files). Returns the module, or nullptr when
/// any error was reported to \p diags. Every node is built with
/// Function::add, so shape rules and attribute schemas are checked and a
/// result annotation that differs from the rule is an error.
std::unique_ptr<Module> parse_module(std::string_view text,
                                     const std::string &filename,
                                     Diagnostics &diags, int first_line = 1);

/// Parses \p text and then runs the verifier; nullptr on any error.
std::unique_ptr<Module> parse_and_verify(std::string_view text,
                                         const std::string &filename,
                                         Diagnostics &diags,
                                         int first_line = 1);

} // namespace kiln
