/// \file
/// Helpers of the ahead-of-time compilation tests (AotTest, AotCudaTest): a
/// scratch directory, the example models and weights, the JIT's reference
/// results for the programs of examples/aot/, and parsing their output.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "frontend/Aot.h"
#include "frontend/Compile.h"
#include "ir/Parser.h"

#include "TempDir.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <unistd.h>

namespace kiln::test {

namespace fs = std::filesystem;

inline std::string slurp(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

inline bool have_program(const std::string &name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

inline std::unique_ptr<Module> load(const std::string &path) {
  std::string text = slurp(fs::path(KILN_SOURCE_DIR) / path);
  Diagnostics diags;
  auto m = parse_and_verify(text, path, diags);
  REQUIRE(m);
  return m;
}

inline std::unique_ptr<Module> load_mlp() {
  return load("examples/models/mlp.kir");
}

/// Seeded random values for the {param}s of \p f and zeros for its
/// {state}s, in order.
inline std::vector<HostTensor> random_state(const Function &f) {
  std::mt19937 rng(7);
  std::normal_distribution<double> normal(0.0, 0.5);
  std::vector<HostTensor> r;
  for (const auto &p : f.params())
    if (p->arg_kind() != ArgKind::Input) {
      HostTensor t(p->type());
      for (int64_t i = 0; p->arg_kind() == ArgKind::Param && i < t.numel(); ++i)
        t.set(i, normal(rng));
      r.push_back(std::move(t));
    }
  return r;
}

/// The JIT's probabilities for the examples' input x[i] = ((i%13)-6)/4.
inline std::vector<double> jit_probs(const Function &f,
                                     const std::vector<HostTensor> &state) {
  auto exe = compile(f);
  auto names = exe->state_names();
  for (size_t i = 0; i < names.size(); ++i)
    exe->set_state(names[i], state[i]);
  HostTensor x(f.param(0)->type());
  for (int64_t i = 0; i < x.numel(); ++i)
    x.set(i, double(float(int(i % 13) - 6) / 4.0f));
  HostTensor y = exe->run({x})[0];
  std::vector<double> r;
  for (int64_t i = 0; i < y.numel(); ++i)
    r.push_back(y.get(i));
  return r;
}

/// Every number of \p text after the first ':' of each line that has one,
/// or of every line (the C example prints a title line first).
inline std::vector<double> numbers(const std::string &text, bool skip_title) {
  std::istringstream in(text);
  std::string line;
  std::vector<double> r;
  if (skip_title)
    std::getline(in, line);
  while (std::getline(in, line)) {
    size_t colon = line.rfind(':');
    std::istringstream ls(colon == std::string::npos ? line
                                                     : line.substr(colon + 1));
    double v;
    while (ls >> v)
      r.push_back(v);
  }
  return r;
}

/// The JIT's losses of 30 steps of examples/aot/mlp_train.c's batch; the
/// sum of the first state tensor after them in \p state0_sum when given.
inline std::vector<double> jit_losses(const Function &f,
                                      const std::vector<HostTensor> &state,
                                      double *state0_sum = nullptr) {
  auto exe = compile(f);
  auto names = exe->state_names();
  for (size_t i = 0; i < names.size(); ++i)
    exe->set_state(names[i], state[i]);
  HostTensor x(f.param(0)->type()), labels(f.param(1)->type());
  for (int64_t i = 0; i < x.numel(); ++i)
    x.set(i, double(float((7 * i) % 11 - 5) / 4.0f));
  for (int64_t n = 0; n < labels.numel(); ++n)
    labels.set_int(n, n % 4);
  std::vector<double> r;
  for (int step = 0; step < 30; ++step)
    r.push_back(exe->run({x, labels})[0].get(0));
  if (state0_sum) {
    HostTensor w = exe->get_state(names[0]);
    *state0_sum = 0;
    for (int64_t i = 0; i < w.numel(); ++i)
      *state0_sum += w.get(i);
  }
  return r;
}

inline void check_close(const std::vector<double> &got,
                        const std::vector<double> &want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    INFO("element " << i);
    CHECK(std::fabs(got[i] - want[i]) <= 1e-6 + 1e-5 * std::fabs(want[i]));
  }
}

} // namespace kiln::test
