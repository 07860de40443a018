/// \file
/// Losses against hand-worked values, their reductions, and stability at
/// large logits (cross-entropy at 1e4, binary cross-entropy at |x| = 100).
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include "frontend/Losses.h"

#include <cmath>

using namespace kiln;
using namespace kiln::test;

namespace {

using Feeds = std::vector<std::pair<Tensor, HostTensor>>;

/// Runs \p g's function with the inputs in \p feeds replacing their zeros.
std::vector<HostTensor> run(Graph &g, const Feeds &feeds) {
  std::vector<HostTensor> args = g.initial_values();
  for (const auto &[t, v] : feeds)
    for (size_t i = 0; i < g.function().params().size(); ++i)
      if (g.function().param(i) == t.value())
        args[i] = v;
  return interpret(g.function(), args);
}

/// -(t log s + (1 - t) log(1 - s)), s = sigmoid(x): the textbook form.
double bce_ref(double x, double t) {
  double s = 1 / (1 + std::exp(-x));
  return -(t * std::log(s) + (1 - t) * std::log(1 - s));
}

} // namespace

TEST_CASE("cross_entropy: hand case and reductions", "[frontend][losses]") {
  Graph g("f");
  Tensor logits = g.input("logits", f64({2, 3}));
  Tensor labels = g.input("labels", i64({2}));
  Tensor mean = cross_entropy(logits, labels);
  CHECK(mean.shape() == Shape{});
  g.output(mean);
  g.output(cross_entropy(logits, labels, Reduction::Sum));
  g.output(cross_entropy(logits, labels, Reduction::None));
  Tensor labels32 = g.input("labels32", i32({2}));
  g.output(cross_entropy(logits, labels32));
  auto out =
      run(g, {{logits, HostTensor::from(f64({2, 3}), {1, 2, 3, 1, 1, 1})},
              {labels, HostTensor::from_ints(i64({2}), {2, 0})},
              {labels32, HostTensor::from_ints(i32({2}), {2, 0})}});
  // Row 0: log(e + e^2 + e^3) - 3; row 1: log 3.
  double r0 = 3.40760596444438 - 3, r1 = std::log(3.0);
  check_values(out[0], {(r0 + r1) / 2}, 1e-12);
  check_values(out[1], {r0 + r1}, 1e-12);
  check_values(out[2], {r0, r1}, 1e-12);
  check_values(out[3], {(r0 + r1) / 2}, 1e-12);
}

TEST_CASE("cross_entropy: finite for logits near 1e4", "[frontend][losses]") {
  Graph g("f");
  Tensor logits = g.input("logits", f32({2, 3}));
  Tensor labels = g.input("labels", i64({2}));
  g.output(cross_entropy(logits, labels, Reduction::None));
  auto out = run(g, {{logits, HostTensor::from(f32({2, 3}), {1e4, 0, -1e4, 1e4,
                                                             1e4 + 1, 1e4})},
                     {labels, HostTensor::from_ints(i64({2}), {0, 0})}});
  // Row 0: the label holds all the mass; row 1: 1 + log(1 + 2/e).
  CHECK(std::isfinite(out[0].get(0)));
  CHECK(std::isfinite(out[0].get(1)));
  check_values(out[0], {0, 1 + std::log1p(2 * std::exp(-1.0))}, 1e-6, 1e-6);
}

TEST_CASE("cross_entropy: shape errors name the line", "[frontend][losses]") {
  Graph g("f");
  Tensor logits = g.input("logits", f32({2, 3}));
  int line = __LINE__ + 1;
  CHECK_THROWS_WITH(
      cross_entropy(logits, g.input("l", f32({2}))),
      Catch::Contains("FrontendLossesTest.cpp:" + std::to_string(line) +
                      ": cross_entropy: needs float logits"));
  CHECK_THROWS_WITH(cross_entropy(logits, g.input("l3", i64({3}))),
                    Catch::Contains("integer labels [N]"));
}

TEST_CASE("mse: squared error, mean, sum and none", "[frontend][losses]") {
  Graph g("f");
  Tensor p = g.input("p", f32({3}));
  Tensor t = g.input("t", f32({3}));
  g.output(mse(p, t));
  g.output(mse(p, t, Reduction::Sum));
  g.output(mse(p, t, Reduction::None));
  auto out = run(g, {{p, HostTensor::from(f32({3}), {1, 2, 3})},
                     {t, HostTensor::from(f32({3}), {1, 0, 0})}});
  check_values(out[0], {13.0 / 3}, 1e-6);
  check_values(out[1], {13}, 1e-6);
  check_values(out[2], {0, 4, 9}, 1e-6);
  CHECK_THROWS_WITH(mse(p, g.input("t2", f32({2}))),
                    Catch::Contains("mse: the operands must have the same"));
}

TEST_CASE("bce_with_logits: matches the formula, stable at |x| = 100",
          "[frontend][losses]") {
  Graph g("f");
  Tensor x = g.input("x", f64({4}));
  Tensor t = g.input("t", f64({4}));
  g.output(bce_with_logits(x, t, Reduction::None));
  g.output(bce_with_logits(x, t));
  Tensor big = g.input("big", f32({4}));
  Tensor bt = g.input("bt", f32({4}));
  g.output(bce_with_logits(big, bt, Reduction::None));
  auto out = run(g, {{x, HostTensor::from(f64({4}), {0, 2, -3, 0.5})},
                     {t, HostTensor::from(f64({4}), {1, 0, 0.5, 0.25})},
                     {big, HostTensor::from(f32({4}), {100, -100, 100, -100})},
                     {bt, HostTensor::from(f32({4}), {0, 1, 1, 0})}});
  std::vector<double> want = {bce_ref(0, 1), bce_ref(2, 0), bce_ref(-3, 0.5),
                              bce_ref(0.5, 0.25)};
  check_values(out[0], want, 1e-12);
  check_values(out[1], {(want[0] + want[1] + want[2] + want[3]) / 4}, 1e-12);
  // Confidently wrong costs |x|; confidently right costs log(1 + e^-100).
  check_values(out[2], {100, 100, 0, 0}, 1e-6, 1e-6);
}

TEST_CASE("l2_penalty: half the decay times the sum of squares",
          "[frontend][losses]") {
  Graph g("f");
  Tensor a = g.input("a", f32({2}));
  Tensor b = g.input("b", f32({1, 1}));
  Tensor pen = l2_penalty({a, b}, 0.1);
  CHECK(pen.shape() == Shape{});
  g.output(pen);
  auto out = run(g, {{a, HostTensor::from(f32({2}), {1, 2})},
                     {b, HostTensor::from(f32({1, 1}), {3})}});
  check_values(out[0], {0.05 * 14}, 1e-6);
  CHECK_THROWS_WITH(l2_penalty({}, 0.1),
                    Catch::Contains("l2_penalty: needs at least one tensor"));
}
