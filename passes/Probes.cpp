/// \file
/// Probe names -> values, with near-match suggestions.
// SPDX-License-Identifier: Apache-2.0
#include "passes/Probes.h"

#include "ir/Error.h"
#include "ir/Printer.h"

#include <algorithm>

namespace kiln {

namespace {

size_t edit_distance(const std::string &a, const std::string &b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min(
          {row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

/// Up to five printed names close to \p want: a small edit distance, or
/// containing it (the last component of a scoped name).
std::vector<std::string> near_matches(const std::vector<std::string> &names,
                                      const std::string &want) {
  std::vector<std::pair<size_t, std::string>> scored;
  size_t limit = std::max<size_t>(2, want.size() / 3);
  for (const std::string &n : names) {
    size_t d = edit_distance(n, want);
    if (n.find(want.substr(1)) != std::string::npos && want.size() > 2)
      d = std::min(d, limit);
    if (d <= limit)
      scored.emplace_back(d, n);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> r;
  for (size_t i = 0; i < scored.size() && i < 5; ++i)
    r.push_back(scored[i].second);
  return r;
}

} // namespace

Value *find_probe(const Function &f, const std::string &name) {
  std::string want = name.empty() || name[0] != '%' ? "%" + name : name;
  auto printed = printed_names(f);
  // Written names first (the printer keeps them), then the numbering.
  if (want.size() > 1)
    if (Value *v = f.find_value(want.substr(1)))
      return v;
  std::vector<std::string> all;
  for (const auto &[v, n] : printed) {
    if (n == want)
      return const_cast<Value *>(v);
    all.push_back(n);
  }
  std::sort(all.begin(), all.end());
  std::vector<std::string> near = near_matches(all, want);
  std::string msg =
      "probe '" + name + "': @" + f.name() + " has no value of that name";
  if (!near.empty()) {
    msg += "; did you mean";
    for (size_t i = 0; i < near.size(); ++i)
      msg += (i ? ", " : " ") + near[i];
    msg += "?";
  } else {
    msg += " (kiln-run --print-ir shows every name)";
  }
  throw Error(msg);
}

void add_probes(Function &f, const std::vector<std::string> &names) {
  std::vector<Value *> results = f.results();
  std::vector<Value *> updates = f.result_updates();
  for (const std::string &n : names) {
    results.push_back(find_probe(f, n));
    updates.push_back(nullptr);
  }
  f.set_results(results, updates);
}

} // namespace kiln
