/// \file
/// libFuzzer entry for the safetensors reader: any byte string must either
/// decode or fail with a message naming the file and leave nothing behind,
/// without a crash, a hang, an exception or a sanitizer report; a file that
/// decodes must encode and decode again to the same tensors and metadata.
/// Anything else is a bug and stops the fuzzer (__builtin_trap).
// SPDX-License-Identifier: Apache-2.0
#include "runtime/Safetensors.h"

#include <cstdint>
#include <string>

using namespace kiln;

namespace {
bool same(const NamedTensors &a, const NamedTensors &b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first || !a[i].second.bit_equal(b[i].second))
      return false;
  return true;
}
} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const std::string source = "fuzz.safetensors";
  NamedTensors out;
  TensorMetadata md;
  Status s = parse_safetensors(data, size, source, out, &md);
  if (!s) {
    if (s.message().rfind(source + ": ", 0) != 0 || !out.empty() || !md.empty())
      __builtin_trap();
    return 0;
  }
  std::vector<std::pair<std::string, const HostTensor *>> refs;
  for (const auto &[name, t] : out) {
    if (name.empty()) // readable, but the writer refuses empty names
      return 0;
    refs.emplace_back(name, &t);
  }
  std::string bytes;
  if (!serialize_safetensors(refs, md, bytes))
    __builtin_trap(); // a decoded file must encode again
  NamedTensors again;
  TensorMetadata md_again;
  if (!parse_safetensors(bytes.data(), bytes.size(), source, again,
                         &md_again) ||
      !same(out, again) || md != md_again)
    __builtin_trap(); // the round trip is not exact
  return 0;
}
