/// \file
/// Initializers: gains and fans as PyTorch, empirical mean and standard
/// deviation of large tensors against the formulas, bounds, and seeding
/// (same seed and name -> same values; another name or seed -> others).
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include "frontend/Init.h"

#include <cmath>

using namespace kiln;
using namespace kiln::test;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

namespace {

struct Stats {
  double mean = 0, std = 0, max_abs = 0;
  /// Fraction of elements within one std of the mean.
  double within_1std = 0;
};

Stats stats(const HostTensor &t) {
  Stats s;
  double n = double(t.numel()), sum = 0, sq = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    sum += t.get(i);
    s.max_abs = std::max(s.max_abs, std::abs(t.get(i)));
  }
  s.mean = sum / n;
  for (int64_t i = 0; i < t.numel(); ++i)
    sq += (t.get(i) - s.mean) * (t.get(i) - s.mean);
  s.std = std::sqrt(sq / n);
  for (int64_t i = 0; i < t.numel(); ++i)
    s.within_1std += std::abs(t.get(i) - s.mean) <= s.std ? 1.0 / n : 0.0;
  return s;
}

/// The initial value of a [256, 1024] parameter drawn by \p init.
HostTensor draw(const Initializer &init, Shape shape = {256, 1024},
                uint64_t seed = 7) {
  Graph g("init", seed);
  g.param("w", f32(shape), init);
  return g.initial_value("w");
}

/// Checks mean and std within 2% of \p std (and bounds when \p bound > 0).
void check_dist(const HostTensor &t, double mean, double std, double bound,
                bool normal) {
  Stats s = stats(t);
  INFO("mean " << s.mean << " std " << s.std << " max |x| " << s.max_abs);
  CHECK_THAT(s.mean, WithinAbs(mean, 0.02 * std));
  CHECK_THAT(s.std, WithinRel(std, 0.02));
  if (bound > 0) {
    CHECK(s.max_abs <= bound);
    CHECK(s.max_abs > 0.999 * bound);
  }
  // A normal puts 68.27% within one sigma, a uniform 1/sqrt(3) = 57.74%.
  CHECK_THAT(s.within_1std, WithinAbs(normal ? 0.6827 : 0.5774, 0.005));
}

} // namespace

TEST_CASE("init: gains as torch.nn.init.calculate_gain", "[frontend][init]") {
  CHECK(init::gain(init::Nonlinearity::Linear) == 1.0);
  CHECK(init::gain(init::Nonlinearity::Sigmoid) == 1.0);
  CHECK_THAT(init::gain(init::Nonlinearity::Tanh), WithinRel(5.0 / 3.0, 1e-15));
  CHECK_THAT(init::gain(init::Nonlinearity::Relu),
             WithinRel(std::sqrt(2.0), 1e-15));
  CHECK_THAT(init::gain(init::Nonlinearity::LeakyRelu),
             WithinRel(std::sqrt(2.0 / 1.0001), 1e-15));
  CHECK_THAT(init::gain(init::Nonlinearity::LeakyRelu, std::sqrt(5.0)),
             WithinRel(std::sqrt(1.0 / 3.0), 1e-15));
}

TEST_CASE("init: fans of linear and conv weights", "[frontend][init]") {
  CHECK(init::fans({10, 784}) == std::pair<int64_t, int64_t>{784, 10});
  // OIHW conv weight: fan_in = I*kh*kw, fan_out = O*kh*kw.
  CHECK(init::fans({64, 16, 3, 3}) == std::pair<int64_t, int64_t>{144, 576});
  CHECK(init::fans({8, 4, 5}) == std::pair<int64_t, int64_t>{20, 40});
  CHECK_THROWS_AS(init::fans({10}), Error);
  CHECK_THROWS_WITH(draw(init::xavier_uniform(), {10}),
                    Catch::Contains("xavier_uniform: fans need a tensor of "
                                    "rank >= 2"));
}

TEST_CASE("init: constant initializers", "[frontend][init]") {
  check_values(draw(init::zeros(), {2, 3}), {0, 0, 0, 0, 0, 0});
  check_values(draw(init::ones(), {3}), {1, 1, 1});
  check_values(draw(init::constant(-2.5), {2}), {-2.5, -2.5});
  CHECK(init::ones().name == "ones");
  CHECK(init::constant(0.5).name == "constant(0.5)");
}

TEST_CASE("init: uniform and normal match their moments", "[frontend][init]") {
  check_dist(draw(init::uniform(-1, 3)), 1.0, 4.0 / std::sqrt(12.0), 0,
             /*normal=*/false);
  Stats u = stats(draw(init::uniform(-1, 3)));
  CHECK(u.mean - std::sqrt(3.0) * u.std >= -1.0 - 1e-3);
  check_dist(draw(init::normal(2.0, 1.0)), 1.0, 2.0, 0, /*normal=*/true);
  check_dist(draw(init::normal(0.02)), 0.0, 0.02, 0, /*normal=*/true);
}

TEST_CASE("init: xavier follows fan_in + fan_out", "[frontend][init]") {
  // [256, 1024]: fan_in 1024, fan_out 256.
  double a = std::sqrt(6.0 / 1280.0);
  check_dist(draw(init::xavier_uniform()), 0, a / std::sqrt(3.0), a, false);
  double a2 = 2.0 * a;
  check_dist(draw(init::xavier_uniform(2.0)), 0, a2 / std::sqrt(3.0), a2,
             false);
  check_dist(draw(init::xavier_normal()), 0, std::sqrt(2.0 / 1280.0), 0, true);
}

TEST_CASE("init: kaiming follows the chosen fan and gain", "[frontend][init]") {
  double b = std::sqrt(2.0) * std::sqrt(3.0 / 1024.0);
  check_dist(draw(init::kaiming_uniform()), 0, b / std::sqrt(3.0), b, false);
  // PyTorch's nn.Linear default: a = sqrt(5) gives bound 1 / sqrt(fan_in).
  double lin = 1.0 / std::sqrt(1024.0);
  check_dist(draw(init::kaiming_uniform(std::sqrt(5.0))), 0,
             lin / std::sqrt(3.0), lin, false);
  double fo = std::sqrt(2.0) / std::sqrt(256.0);
  check_dist(draw(init::kaiming_normal(0, init::FanMode::FanOut,
                                       init::Nonlinearity::Relu)),
             0, fo, 0, true);
  // A conv weight: fan_in = 16 * 3 * 3.
  double cb = std::sqrt(2.0) * std::sqrt(3.0 / 144.0);
  check_dist(draw(init::kaiming_uniform(), {256, 16, 3, 3}), 0,
             cb / std::sqrt(3.0), cb, false);
  CHECK(init::kaiming_uniform().name ==
        "kaiming_uniform(fan_in, gain=1.41421)");
}

TEST_CASE("init: values depend only on the seed and the full name",
          "[frontend][init]") {
  Graph g1("a", /*seed=*/3), g2("b", /*seed=*/3), g3("c", /*seed=*/4);
  for (Graph *g : {&g1, &g2, &g3}) {
    g->param("w", f32({64, 32}), init::normal(1.0));
    g->param("v", f32({64, 32}), init::normal(1.0));
  }
  const HostTensor &w1 = g1.initial_value("w");
  CHECK(w1.bit_equal(g2.initial_value("w")));
  CHECK_FALSE(w1.bit_equal(g1.initial_value("v")));
  CHECK_FALSE(w1.bit_equal(g3.initial_value("w")));
  // Declaration order does not matter: only the name does.
  Graph g4("d", /*seed=*/3);
  g4.param("v", f32({64, 32}), init::normal(1.0));
  g4.param("w", f32({64, 32}), init::normal(1.0));
  CHECK(w1.bit_equal(g4.initial_value("w")));
  // No two neighbouring elements repeat (each element has its own bits).
  int64_t repeats = 0;
  for (int64_t i = 1; i < w1.numel(); ++i)
    repeats += w1.get(i) == w1.get(i - 1);
  CHECK(repeats == 0);
}

TEST_CASE("init: f64 parameters get 53-bit uniforms", "[frontend][init]") {
  Graph g("u", 1);
  g.param("w", f64({1024}), init::uniform(0, 1));
  const HostTensor &w = g.initial_value("w");
  // A 24-bit uniform is a multiple of 2^-24; 53-bit ones almost never are.
  int64_t coarse = 0;
  for (int64_t i = 0; i < w.numel(); ++i)
    coarse += std::ldexp(w.get(i), 24) == std::floor(std::ldexp(w.get(i), 24));
  CHECK(coarse < 3);
}
