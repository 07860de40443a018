/// \file
/// libFuzzer entry for the .kir text path: any byte string must parse into a
/// verified module or into located diagnostics, without a crash, a hang or an
/// exception; a module that parses must print, parse again and print to the
/// same text. Anything else is a bug and stops the fuzzer (__builtin_trap).
// SPDX-License-Identifier: Apache-2.0
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"

#include <cstdint>
#include <string>
#include <string_view>

using namespace kiln;

namespace {
/// Every diagnostic is located, and none reports an internal error (a
/// KILN_CHECK that fired while parsing).
bool well_formed(const Diagnostics &d) {
  for (const Diagnostic &e : d.all())
    if (!e.loc.known() || e.message.find("internal error") != std::string::npos)
      return false;
  return true;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_module(text, "fuzz.kir", diags);
  if (!m) {
    if (!diags.has_errors() || !well_formed(diags))
      __builtin_trap();
    return 0;
  }
  if (!verify(*m, diags))
    __builtin_trap(); // the parser built IR that the verifier rejects
  std::string printed = to_string(*m);
  Diagnostics again_diags;
  std::unique_ptr<Module> again =
      parse_module(printed, "printed.kir", again_diags);
  if (!again || to_string(*again) != printed)
    __builtin_trap(); // the round trip is not exact
  return 0;
}
