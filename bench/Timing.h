/// \file
/// Timing helpers of the contraction benchmarks (bench/gemm.cpp,
/// bench/conv.cpp): runs timed by BENCHMARKS.md's rules, aligned random
/// buffers and the JSON file.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <string>
#include <time.h>
#include <vector>

namespace kiln::bench {

struct Timing {
  double median_s = 0, min_s = 0, max_s = 0;
  double cpu_s = 0;   ///< process CPU time of all timed runs (every thread)
  double total_s = 0; ///< wall time of all timed runs
  int runs = 0;
};

inline double process_cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/// Times \p fn after one warm-up run: 20 runs, or 5 when a run takes > 1 s.
inline Timing time_runs(const std::function<void()> &fn) {
  using clock = std::chrono::steady_clock;
  auto once = [&] {
    auto t0 = clock::now();
    fn();
    return std::chrono::duration<double>(clock::now() - t0).count();
  };
  const double first = once();
  Timing t;
  t.runs = first > 1.0 ? 5 : 20;
  std::vector<double> ts;
  const double cpu0 = process_cpu_seconds();
  for (int r = 0; r < t.runs; ++r)
    ts.push_back(once());
  t.cpu_s = process_cpu_seconds() - cpu0;
  std::sort(ts.begin(), ts.end());
  t.median_s = ts[t.runs / 2];
  t.min_s = ts.front();
  t.max_s = ts.back();
  for (double x : ts)
    t.total_s += x;
  return t;
}

/// A 64-byte aligned, randomly filled f32 buffer.
struct Buffer {
  float *data;
  explicit Buffer(size_t n, unsigned seed) {
    data = static_cast<float *>(std::aligned_alloc(64, (n * 4 + 63) / 64 * 64));
    std::mt19937 gen(seed);
    std::normal_distribution<float> dist;
    for (size_t i = 0; i < n; ++i)
      data[i] = dist(gen);
  }
  ~Buffer() { std::free(data); }
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;
};

/// Writes \p doc to \p path (creating its folder) and says so.
inline void write_json(const std::string &path, const nlohmann::json &doc) {
  std::filesystem::path p(path);
  if (p.has_parent_path())
    std::filesystem::create_directories(p.parent_path());
  std::ofstream(p) << doc.dump(2) << "\n";
  std::printf("wrote %s\n", path.c_str());
}

} // namespace kiln::bench
