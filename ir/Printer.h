/// \file
/// The .kir printer: canonical text that parses back to an equal module.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"

#include <ostream>
#include <string>
#include <unordered_map>

namespace kiln {

/// Prints \p m: functions separated by a blank line. Unnamed values are
/// numbered %0, %1, ... in order, skipping numbers already used as names.
void print_module(const Module &m, std::ostream &os);
void print_function(const Function &f, std::ostream &os);
std::string to_string(const Module &m);
std::string to_string(const Function &f);
/// The name the printer gives each parameter and node result of \p f
/// ("%h", or "%3" for an unnamed value).
std::unordered_map<const Value *, std::string> printed_names(const Function &f);

} // namespace kiln
