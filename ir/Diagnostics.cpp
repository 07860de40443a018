/// \file
/// Formatting of diagnostics.
// SPDX-License-Identifier: Apache-2.0
#include "ir/Diagnostics.h"

namespace kiln {

std::string Diagnostic::str() const {
  if (!loc.known())
    return (loc.file.empty() ? "" : loc.file + ": ") + "error: " + message;
  return loc.file + ":" + std::to_string(loc.line) + ":" +
         std::to_string(loc.col) + ": error: " + message;
}

void Diagnostics::print(std::ostream &os) const {
  for (const Diagnostic &d : diags_)
    os << d.str() << "\n";
}

} // namespace kiln
