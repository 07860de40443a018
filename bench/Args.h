/// \file
/// Command-line helpers shared by the bench programs (kiln_bench,
/// kiln_bench_remat).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace kiln::bench {

/// "a,b,,c" -> {"a", "b", "c"}.
inline std::vector<std::string> split_list(const std::string &s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty())
      out.push_back(item);
  return out;
}

/// The value after flag argv[i] (advancing i), or throws
/// std::runtime_error("missing value after FLAG").
inline std::string next_arg(int argc, char **argv, int &i) {
  if (i + 1 >= argc)
    throw std::runtime_error(std::string("missing value after ") + argv[i]);
  return argv[++i];
}

} // namespace kiln::bench
