/// \file
/// Composite layers against hand-worked values and independent plain-C++
/// computations: softmax family, normalization, activations, dropout,
/// embedding, conv1d, attention and the LSTM.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include "frontend/Init.h"
#include "frontend/Layers.h"
#include "frontend/Losses.h"
#include "ir/Diagnostics.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "passes/Autodiff.h"

#include <cmath>
#include <functional>

using namespace kiln;
using namespace kiln::test;
using Catch::Matchers::WithinAbs;
using Catch::Matchers::WithinRel;

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

/// \p n deterministic values in [-1, 1) (a fixed linear congruence).
std::vector<double> pseudo(size_t n, uint32_t salt) {
  std::vector<double> v;
  uint32_t s = 12345u + salt * 7919u;
  for (size_t i = 0; i < n; ++i) {
    s = s * 1664525u + 1013904223u;
    v.push_back(double(s >> 8) / 8388608.0 - 1.0);
  }
  return v;
}

/// An f64 input of \p shape fed with pseudo values.
Tensor fed(Graph &g, Feeds &feeds, const std::string &name, Shape shape,
           uint32_t salt) {
  Tensor t = g.input(name, f64(shape));
  feeds.emplace_back(
      t, HostTensor::from(f64(shape), pseudo(size_t(t.numel()), salt)));
  return t;
}

} // namespace

// ---- softmax family ------------------------------------------------------

TEST_CASE("softmax: rows sum to one and match a hand case",
          "[frontend][layers]") {
  Graph g("f");
  Tensor x = g.input("x", f64({2, 3}));
  g.output(softmax(x));
  g.output(softmax(x, 0));
  auto out = run(g, {{x, HostTensor::from(f64({2, 3}), {1, 2, 3, 0, 0, 0})}});
  // e^k / (e + e^2 + e^3), and a uniform row.
  check_values(out[0],
               {0.09003057317038046, 0.24472847105479764, 0.6652409557748219,
                1.0 / 3, 1.0 / 3, 1.0 / 3},
               1e-12);
  // Along axis 0: columns (1, 0), (2, 0), (3, 0).
  auto sm2 = [](double a) { return std::exp(a) / (std::exp(a) + 1.0); };
  check_values(out[1],
               {sm2(1), sm2(2), sm2(3), 1 - sm2(1), 1 - sm2(2), 1 - sm2(3)},
               1e-12);
}

TEST_CASE("softmax: stable for large logits", "[frontend][layers]") {
  Graph g("f");
  Tensor x = g.input("x", f32({1, 2}));
  g.output(softmax(x));
  g.output(log_softmax(x));
  g.output(log(softmax(x)));
  auto out = run(g, {{x, HostTensor::from(f32({1, 2}), {1000, 1001})}});
  double l = std::log1p(std::exp(-1.0)); // log(1 + e^-1)
  check_values(out[0], {std::exp(-1 - l), std::exp(-l)}, 1e-6);
  check_values(out[1], {-1 - l, -l}, 1e-6);
  // log_softmax = log(softmax) where softmax does not underflow.
  check_values(out[1], values(out[2]), 1e-6);
}

TEST_CASE("logsumexp: reduces, keeps dims, survives -inf rows",
          "[frontend][layers]") {
  Graph g("f");
  Tensor x = g.input("x", f64({3, 3}));
  Tensor r = logsumexp(x, {1});
  Tensor k = logsumexp(x, {1}, /*keepdims=*/true);
  CHECK(r.shape() == Shape{3});
  CHECK(k.shape() == Shape{3, 1});
  g.output(r);
  double inf = std::numeric_limits<double>::infinity();
  auto out =
      run(g, {{x, HostTensor::from(f64({3, 3}), {1, 2, 3, 1000, 1000, 1000,
                                                 -inf, -inf, -inf})}});
  check_values(out[0], {3.40760596444438, 1000 + std::log(3.0), -inf}, 1e-12);
}

// ---- normalization -------------------------------------------------------

TEST_CASE("layer_norm: zero mean, unit variance, gamma and beta",
          "[frontend][layers]") {
  Graph g("f");
  Feeds feeds;
  Tensor x = fed(g, feeds, "x", {4, 16}, 1);
  g.output(layer_norm(x * 3.0 + 1.0, Tensor(), Tensor()));
  Tensor h = g.input("h", f64({1, 4}));
  Tensor gamma = g.input("gamma", f64({4}));
  Tensor beta = g.input("beta", f64({4}));
  g.output(layer_norm(h, gamma, beta, 1, /*eps=*/0.0));
  feeds.emplace_back(h, HostTensor::from(f64({1, 4}), {1, 2, 3, 4}));
  feeds.emplace_back(gamma, HostTensor::from(f64({4}), {1, 2, 0.5, -1}));
  feeds.emplace_back(beta, HostTensor::from(f64({4}), {0, 1, 0, 2}));
  auto out = run(g, feeds);
  for (int64_t r = 0; r < 4; ++r) {
    double mean = 0, var = 0;
    for (int64_t c = 0; c < 16; ++c)
      mean += out[0].get(r * 16 + c) / 16;
    for (int64_t c = 0; c < 16; ++c)
      var += std::pow(out[0].get(r * 16 + c) - mean, 2) / 16;
    CHECK_THAT(mean, WithinAbs(0, 1e-12));
    CHECK_THAT(var, WithinRel(1.0, 1e-4));
  }
  // mean 2.5, biased variance 1.25: (x - 2.5) / sqrt(1.25) * gamma + beta.
  double s = 1 / std::sqrt(1.25);
  check_values(
      out[1], {-1.5 * s, -0.5 * s * 2 + 1, 0.5 * s * 0.5, -1.5 * s + 2}, 1e-12);
}

TEST_CASE("layer_norm: over two axes; wrong gamma shape names the line",
          "[frontend][layers]") {
  Graph g("f");
  Tensor x = g.input("x", f64({2, 2, 2}));
  g.output(layer_norm(x, Tensor(), Tensor(), 2, 0.0));
  auto out =
      run(g, {{x, HostTensor::from(f64({2, 2, 2}), {1, 2, 3, 4, 0, 0, 0, 8})}});
  double s = 1 / std::sqrt(1.25), t = 1 / std::sqrt(12.0);
  check_values(
      out[0],
      {-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s, -2 * t, -2 * t, -2 * t, 6 * t},
      1e-12);
  int line = __LINE__ + 1;
  CHECK_THROWS_WITH(
      layer_norm(x, g.input("gm", f64({4})), Tensor()),
      Catch::Contains("FrontendLayersTest.cpp:" + std::to_string(line) +
                      ": layer_norm: "
                      "gamma and beta"));
}

TEST_CASE("batch_norm_train: batch statistics and PyTorch running stats",
          "[frontend][layers]") {
  Graph g("f");
  Tensor x = g.input("x", f64({4, 2}));
  Tensor rm = g.state("rm", f64({2}), init::zeros());
  Tensor rv = g.state("rv", f64({2}), init::ones());
  Tensor gamma = g.input("gamma", f64({2}));
  Tensor beta = g.input("beta", f64({2}));
  BatchNormOut bn = batch_norm_train(x, gamma, beta, rm, rv, 0.1, 0.0);
  g.output(bn.y);
  g.update(rm, bn.running_mean);
  g.update(rv, bn.running_var);
  // Channel 0: 1, 2, 3, 4 (mean 2.5, var 1.25, unbiased 5/3);
  // channel 1: 2, 4, 6, 8 (mean 5, var 5, unbiased 20/3).
  auto out =
      run(g, {{x, HostTensor::from(f64({4, 2}), {1, 2, 2, 4, 3, 6, 4, 8})},
              {gamma, HostTensor::from(f64({2}), {2, 1})},
              {beta, HostTensor::from(f64({2}), {0, -1})}});
  double s = 1 / std::sqrt(1.25);
  check_values(out[0],
               {-3 * s, -1.5 * s - 1, -s, -0.5 * s - 1, s, 0.5 * s - 1, 3 * s,
                1.5 * s - 1},
               1e-12);
  check_values(out[1], {0.25, 0.5}, 1e-12);
  check_values(out[2], {0.9 + 0.1 * 5 / 3, 0.9 + 0.1 * 20 / 3}, 1e-12);
}

TEST_CASE("batch_norm_train: NCHW reduces over N, H and W",
          "[frontend][layers]") {
  Graph g("f");
  Tensor x = g.input("x", f64({2, 2, 1, 2}));
  Tensor rm = g.state("rm", f64({2}), init::zeros());
  Tensor rv = g.state("rv", f64({2}), init::ones());
  BatchNormOut bn = batch_norm_train(x, Tensor(), Tensor(), rm, rv, 0.1, 0.0);
  CHECK(bn.y.shape() == Shape{2, 2, 1, 2});
  g.output(bn.y);
  g.output(bn.running_mean);
  g.output(bn.running_var);
  // Channel 0 holds 1..4, channel 1 holds 10..40.
  auto out = run(g, {{x, HostTensor::from(f64({2, 2, 1, 2}),
                                          {1, 2, 10, 20, 3, 4, 30, 40})}});
  double a = 1.5 / std::sqrt(1.25), b = 0.5 / std::sqrt(1.25);
  check_values(out[0], {-a, -b, -a, -b, b, a, b, a}, 1e-12);
  check_values(out[1], {0.25, 2.5}, 1e-12);
  check_values(out[2], {0.9 + 0.1 * 5 / 3, 0.9 + 0.1 * 500 / 3}, 1e-12);
}

TEST_CASE("batch_norm_infer: normalizes with the running statistics",
          "[frontend][layers]") {
  Graph g("f");
  Tensor x = g.input("x", f64({2, 2}));
  Tensor rm = g.input("rm", f64({2}));
  Tensor rv = g.input("rv", f64({2}));
  Tensor gamma = g.input("gamma", f64({2}));
  Tensor beta = g.input("beta", f64({2}));
  g.output(batch_norm_infer(x, gamma, beta, rm, rv, 0.0));
  g.output(batch_norm_infer(x, Tensor(), Tensor(), rm, rv, 0.0));
  auto out = run(g, {{x, HostTensor::from(f64({2, 2}), {1, 2, 3, 4})},
                     {rm, HostTensor::from(f64({2}), {1, 2})},
                     {rv, HostTensor::from(f64({2}), {4, 0.25})},
                     {gamma, HostTensor::from(f64({2}), {2, 1})},
                     {beta, HostTensor::from(f64({2}), {1, 0})}});
  check_values(out[0], {1, 0, 3, 4}, 1e-12);
  check_values(out[1], {0, 0, 1, 4}, 1e-12);
}

// ---- activations, dropout, embedding --------------------------------------

TEST_CASE("gelu: erf and tanh forms; leaky_relu", "[frontend][layers]") {
  Graph g("f");
  Tensor x = g.input("x", f64({4}));
  g.output(gelu(x));
  g.output(gelu(x, GeluForm::Tanh));
  g.output(leaky_relu(x * 2.0 - 1.0, 0.1));
  auto out = run(g, {{x, HostTensor::from(f64({4}), {1, -1, 0, 2})}});
  check_values(
      out[0], {0.8413447460685429, -0.15865525393145707, 0, 1.9544997361036416},
      1e-12);
  check_values(out[1],
               {0.8411919906082768, -0.15880800939172324, 0, 1.954597694087775},
               1e-12);
  // 2x - 1 = 1, -3, -1, 3.
  check_values(out[2], {1, -0.3, -0.1, 3}, 1e-12);
}

TEST_CASE("dropout: inverted scaling, keep fraction, seeded masks",
          "[frontend][layers]") {
  Graph g("f");
  Tensor x = g.input("x", f32({256, 1024}));
  Tensor seed = g.input("seed", i64({}));
  Tensor step = g.input("step", i64({}));
  CHECK(dropout(x, 0.0, seed, step).same(x));
  g.output(dropout(x, 0.25, seed, step));
  g.output(dropout(x, 0.25, seed, step));
  HostTensor ones = HostTensor::splat(f32({256, 1024}), 1.0);
  auto at = [&](int64_t s, int64_t t) {
    return run(g, {{x, ones},
                   {seed, HostTensor::from_ints(i64({}), {s})},
                   {step, HostTensor::from_ints(i64({}), {t})}});
  };
  auto a = at(42, 0), b = at(42, 1);
  int64_t kept = 0, other = 0, differ = 0;
  for (int64_t i = 0; i < ones.numel(); ++i) {
    double v = a[0].get(i);
    kept += v != 0;
    other += v != 0 && v != double(1.0f / 0.75f);
    differ += (v != 0) != (b[0].get(i) != 0);
  }
  CHECK_THAT(double(kept) / double(ones.numel()), WithinAbs(0.75, 0.005));
  CHECK(other == 0);
  CHECK(a[0].bit_equal(a[1]));         // same seed and step: same mask
  CHECK(a[0].bit_equal(at(42, 0)[0])); // and again in a new run
  // Independent masks at p = 0.25 differ on 2 * 0.25 * 0.75 of the elements.
  CHECK_THAT(double(differ) / double(ones.numel()), WithinAbs(0.375, 0.01));
  CHECK_FALSE(a[0].bit_equal(at(43, 0)[0]));
}

TEST_CASE("dropout: p = 1 gives zeros; p outside [0, 1] throws",
          "[frontend][layers]") {
  Graph g("f");
  Tensor x = g.input("x", f32({3}));
  Tensor seed = g.input("seed", i64({}));
  Tensor step = g.input("step", i64({}));
  g.output(dropout(x, 1.0, seed, step));
  auto out = run(g, {{x, HostTensor::from(f32({3}), {1, 2, 3})}});
  check_values(out[0], {0, 0, 0});
  CHECK_THROWS_WITH(dropout(x, 1.5, seed, step),
                    Catch::Contains("dropout: p must be in [0, 1]"));
}

TEST_CASE("embedding: picks rows of the table", "[frontend][layers]") {
  Graph g("f");
  Tensor table = g.input("table", f32({4, 3}));
  Tensor ids = g.input("ids", i64({2, 2}));
  Tensor e = embedding(table, ids);
  CHECK(e.shape() == Shape{2, 2, 3});
  g.output(e);
  std::vector<double> t;
  for (int i = 0; i < 12; ++i)
    t.push_back(i);
  auto out = run(g, {{table, HostTensor::from(f32({4, 3}), t)},
                     {ids, HostTensor::from_ints(i64({2, 2}), {3, 0, 1, 1})}});
  check_values(out[0], {9, 10, 11, 0, 1, 2, 3, 4, 5, 3, 4, 5});
  CHECK_THROWS_WITH(embedding(table, g.input("f", f32({2}))),
                    Catch::Contains("embedding: ids must be integers"));
}

// ---- conv1d --------------------------------------------------------------

TEST_CASE("conv1d: hand values with dilation, stride and causal padding",
          "[frontend][layers]") {
  Graph g("f");
  Tensor x = g.input("x", f32({1, 1, 5}));
  Tensor w = g.input("w", f32({1, 1, 2}));
  g.output(conv1d(x, w));
  g.output(conv1d(x, w, 1, 0, 0, /*dilation=*/2));
  Tensor causal = conv1d(x, w, 1, /*padding_left=*/2, 0, /*dilation=*/2);
  CHECK(causal.shape() == Shape{1, 1, 5});
  g.output(causal);
  g.output(conv1d(x, w, /*stride=*/2, 1, 1));
  auto out = run(g, {{x, HostTensor::from(f32({1, 1, 5}), {1, 2, 3, 4, 5})},
                     {w, HostTensor::from(f32({1, 1, 2}), {1, 10})}});
  check_values(out[0], {21, 32, 43, 54});
  check_values(out[1], {31, 42, 53});
  check_values(out[2], {10, 20, 31, 42, 53}); // y[t] = x[t-2] + 10 x[t]
  check_values(out[3], {10, 32, 54});         // on 0 1 2 3 4 5 0
}

TEST_CASE("conv1d: channels and groups", "[frontend][layers]") {
  Graph g("f");
  Tensor x = g.input("x", f32({1, 2, 3}));
  Tensor wg = g.input("wg", f32({2, 1, 1}));
  Tensor ws = g.input("ws", f32({1, 2, 1}));
  g.output(conv1d(x, wg, 1, 0, 0, 1, /*groups=*/2));
  g.output(conv1d(x, ws));
  auto out = run(g, {{x, HostTensor::from(f32({1, 2, 3}), {1, 2, 3, 4, 5, 6})},
                     {wg, HostTensor::from(f32({2, 1, 1}), {2, 3})},
                     {ws, HostTensor::from(f32({1, 2, 1}), {1, 1})}});
  check_values(out[0], {2, 4, 6, 12, 15, 18});
  check_values(out[1], {5, 7, 9});
}

// ---- attention -----------------------------------------------------------

namespace {

using Vec = std::vector<double>;

/// x [rows, in] @ w^T + b for w [out, in]: a plain nn.Linear.
Vec linear_ref(const Vec &x, size_t rows, size_t in, const Vec &w, const Vec &b,
               size_t out) {
  Vec y(rows * out);
  for (size_t r = 0; r < rows; ++r)
    for (size_t o = 0; o < out; ++o) {
      double acc = b[o];
      for (size_t i = 0; i < in; ++i)
        acc += x[r * in + i] * w[o * in + i];
      y[r * out + o] = acc;
    }
  return y;
}

/// Multi-head attention on projected q [B, Lq, E], k and v [B, Lk, E],
/// one head at a time with explicit loops; causal as the Layers.h contract.
Vec attention_ref(const Vec &q, const Vec &k, const Vec &v, size_t batch,
                  size_t lq, size_t lk, size_t e, size_t heads, bool causal) {
  size_t dh = e / heads;
  Vec o(batch * lq * e, 0.0);
  for (size_t b = 0; b < batch; ++b)
    for (size_t h = 0; h < heads; ++h)
      for (size_t i = 0; i < lq; ++i) {
        Vec s(lk);
        double m = -1e300, z = 0;
        size_t visible = causal ? i + lk - lq + 1 : lk;
        for (size_t j = 0; j < visible; ++j) {
          s[j] = 0;
          for (size_t d = 0; d < dh; ++d)
            s[j] += q[(b * lq + i) * e + h * dh + d] *
                    k[(b * lk + j) * e + h * dh + d];
          s[j] /= std::sqrt(double(dh));
          m = std::max(m, s[j]);
        }
        for (size_t j = 0; j < visible; ++j)
          z += std::exp(s[j] - m);
        for (size_t j = 0; j < visible; ++j)
          for (size_t d = 0; d < dh; ++d)
            o[(b * lq + i) * e + h * dh + d] +=
                std::exp(s[j] - m) / z * v[(b * lk + j) * e + h * dh + d];
      }
  return o;
}

} // namespace

TEST_CASE("sdpa: hand-computed scores, scale and mask", "[frontend][layers]") {
  Graph g("f");
  Tensor q = g.input("q", f64({2, 1}));
  Tensor k = g.input("k", f64({3, 1}));
  Tensor v = g.input("v", f64({3, 2}));
  Tensor mask = g.input("mask", boolean({1, 3}));
  g.output(scaled_dot_product_attention(q, k, v));
  g.output(scaled_dot_product_attention(q, k, v, false, mask));
  Tensor q4 = g.input("q4", f64({1, 4}));
  Tensor k4 = g.input("k4", f64({2, 4}));
  Tensor v4 = g.input("v4", f64({2, 1}));
  g.output(scaled_dot_product_attention(q4, k4, v4));
  auto out =
      run(g, {{q, HostTensor::from(f64({2, 1}), {1, 0})},
              {k, HostTensor::from(f64({3, 1}), {1, 0, -1})},
              {v, HostTensor::from(f64({3, 2}), {1, 0, 0, 1, 1, 1})},
              {mask, HostTensor::from(boolean({1, 3}), {1, 0, 1})},
              {q4, HostTensor::splat(f64({1, 4}), 1.0)},
              {k4, HostTensor::from(f64({2, 4}), {1, 1, 1, 1, 0, 0, 0, 0})},
              {v4, HostTensor::from(f64({2, 1}), {10, 20})}});
  // Row 0 scores (1, 0, -1): weights softmax = (0.665, 0.245, 0.090);
  // row 1 scores (0, 0, 0): a third each.
  double w0 = 0.6652409557748219, w1 = 0.24472847105479764,
         w2 = 0.09003057317038046;
  check_values(out[0], {w0 + w2, w1 + w2, 2.0 / 3, 2.0 / 3}, 1e-12);
  // The mask drops key 1 for every query: scores (1, -1) and (0, 0).
  double m0 = 1 / (1 + std::exp(-2.0));
  check_values(out[1], {1, 1 - m0, 1, 0.5}, 1e-12);
  // D = 4: scores (4 / sqrt(4), 0) = (2, 0).
  double p = 1 / (1 + std::exp(-2.0));
  check_values(out[2], {10 * p + 20 * (1 - p)}, 1e-12);
}

TEST_CASE("sdpa: causal attention ignores future tokens",
          "[frontend][layers]") {
  Graph g("f");
  Tensor q = g.input("q", f64({1, 4, 3}));
  Tensor k = g.input("k", f64({1, 4, 3}));
  Tensor v = g.input("v", f64({1, 4, 3}));
  g.output(scaled_dot_product_attention(q, k, v, /*causal=*/true));
  Vec qv = pseudo(12, 1), kv = pseudo(12, 2), vv = pseudo(12, 3);
  auto at = [&](const Vec &kk, const Vec &vk) {
    return run(g, {{q, HostTensor::from(f64({1, 4, 3}), qv)},
                   {k, HostTensor::from(f64({1, 4, 3}), kk)},
                   {v, HostTensor::from(f64({1, 4, 3}), vk)}})[0];
  };
  HostTensor base = at(kv, vv);
  // Query 0 sees key 0 only.
  for (int64_t i = 0; i < 3; ++i)
    CHECK_THAT(base.get(i), WithinRel(vv[size_t(i)], 1e-12));
  check_values(base, attention_ref(qv, kv, vv, 1, 4, 4, 3, 1, true), 1e-12);
  Vec k2 = kv, v2 = vv;
  for (size_t d = 0; d < 3; ++d) {
    k2[9 + d] += 5.0; // position 3
    v2[9 + d] -= 7.0;
  }
  HostTensor changed = at(k2, v2);
  for (int64_t i = 0; i < 9; ++i)
    CHECK(changed.get(i) == base.get(i));
  for (int64_t i = 9; i < 12; ++i)
    CHECK(changed.get(i) != base.get(i));
}

TEST_CASE("sdpa: causal with fewer queries than keys aligns to the end",
          "[frontend][layers]") {
  Graph g("f");
  Feeds feeds;
  Tensor q = fed(g, feeds, "q", {2, 3}, 4);
  Tensor k = fed(g, feeds, "k", {4, 3}, 5);
  Tensor v = fed(g, feeds, "v", {4, 3}, 6);
  g.output(scaled_dot_product_attention(q, k, v, /*causal=*/true));
  auto out = run(g, feeds);
  // Query 0 sees keys 0..2, query 1 all four.
  check_values(out[0],
               attention_ref(values(feeds[0].second), values(feeds[1].second),
                             values(feeds[2].second), 1, 2, 4, 3, 1, true),
               1e-12);
}

namespace {

/// Attention weights as f64 inputs [E, E] and [E], fed pseudo values.
AttentionWeights mha_weights(Graph &g, Feeds &feeds, int64_t e) {
  AttentionWeights w;
  Tensor *ws[] = {&w.wq, &w.wk, &w.wv, &w.wo};
  Tensor *bs[] = {&w.bq, &w.bk, &w.bv, &w.bo};
  for (uint32_t i = 0; i < 4; ++i) {
    *ws[i] = fed(g, feeds, "w" + std::to_string(i), {e, e}, 10 + i);
    *bs[i] = fed(g, feeds, "b" + std::to_string(i), {e}, 20 + i);
  }
  return w;
}

} // namespace

TEST_CASE("multi_head_attention: one head is sdpa of the projections",
          "[frontend][layers]") {
  Graph g("f");
  Feeds feeds;
  Tensor query = fed(g, feeds, "query", {2, 3, 4}, 1);
  Tensor key = fed(g, feeds, "key", {2, 5, 4}, 2);
  Tensor value = fed(g, feeds, "value", {2, 5, 4}, 3);
  AttentionWeights w = mha_weights(g, feeds, 4);
  Tensor y = multi_head_attention(query, key, value, w, 1);
  CHECK(y.shape() == Shape{2, 3, 4});
  g.output(y);
  auto proj = [](Tensor x, Tensor wt, Tensor b) {
    return matmul(x, transpose_last2(wt)) + b;
  };
  Tensor o = scaled_dot_product_attention(
      proj(query, w.wq, w.bq), proj(key, w.wk, w.bk), proj(value, w.wv, w.bv));
  g.output(proj(o, w.wo, w.bo));
  auto out = run(g, feeds);
  check_values(out[0], values(out[1]), 1e-12);
}

TEST_CASE("multi_head_attention: two heads against plain C++",
          "[frontend][layers]") {
  bool causal = GENERATE(false, true);
  Graph g("f");
  Feeds feeds;
  Tensor query = fed(g, feeds, "query", {2, 3, 4}, 1);
  Tensor key = fed(g, feeds, "key", {2, 4, 4}, 2);
  Tensor value = fed(g, feeds, "value", {2, 4, 4}, 3);
  AttentionWeights w = mha_weights(g, feeds, 4);
  g.output(multi_head_attention(query, key, value, w, 2, causal));
  auto out = run(g, feeds);
  auto in = [&](size_t i) { return values(feeds[i].second); };
  // feeds: query, key, value, then (w, b) for q, k, v, o.
  Vec q = linear_ref(in(0), 6, 4, in(3), in(4), 4);
  Vec k = linear_ref(in(1), 8, 4, in(5), in(6), 4);
  Vec v = linear_ref(in(2), 8, 4, in(7), in(8), 4);
  Vec o = attention_ref(q, k, v, 2, 3, 4, 4, 2, causal);
  check_values(out[0], linear_ref(o, 6, 4, in(9), in(10), 4), 1e-12);
  CHECK_THROWS_WITH(multi_head_attention(query, key, value, w, 3),
                    Catch::Contains("not divisible by heads = 3"));
}

// ---- LSTM ----------------------------------------------------------------

namespace {

double sigmoid_ref(double x) { return 1 / (1 + std::exp(-x)); }

/// One LSTM step in plain doubles: x [B, I], h and c [B, H] updated.
void lstm_ref(const Vec &x, Vec &h, Vec &c, const Vec &w_ih, const Vec &w_hh,
              const Vec &b_ih, const Vec &b_hh, size_t batch, size_t in,
              size_t hid) {
  Vec h2(h.size()), c2(c.size());
  for (size_t b = 0; b < batch; ++b)
    for (size_t u = 0; u < hid; ++u) {
      double gate[4];
      for (size_t k = 0; k < 4; ++k) {
        size_t r = k * hid + u;
        double acc = b_ih[r] + b_hh[r];
        for (size_t i = 0; i < in; ++i)
          acc += x[b * in + i] * w_ih[r * in + i];
        for (size_t j = 0; j < hid; ++j)
          acc += h[b * hid + j] * w_hh[r * hid + j];
        gate[k] = acc;
      }
      double cn = sigmoid_ref(gate[1]) * c[b * hid + u] +
                  sigmoid_ref(gate[0]) * std::tanh(gate[2]);
      c2[b * hid + u] = cn;
      h2[b * hid + u] = sigmoid_ref(gate[3]) * std::tanh(cn);
    }
  h = h2;
  c = c2;
}

} // namespace

TEST_CASE("lstm: cell and layer match a hand-unrolled two-step LSTM",
          "[frontend][layers]") {
  const int64_t T = 2, B = 2, I = 3, H = 2;
  Graph g("f");
  Feeds feeds;
  Tensor x = fed(g, feeds, "x", {T, B, I}, 1);
  Tensor h0 = fed(g, feeds, "h0", {B, H}, 2);
  Tensor c0 = fed(g, feeds, "c0", {B, H}, 3);
  Tensor w_ih = fed(g, feeds, "w_ih", {4 * H, I}, 4);
  Tensor w_hh = fed(g, feeds, "w_hh", {4 * H, H}, 5);
  Tensor b_ih = fed(g, feeds, "b_ih", {4 * H}, 6);
  Tensor b_hh = fed(g, feeds, "b_hh", {4 * H}, 7);
  LstmState fin;
  std::vector<Tensor> ys =
      lstm_layer(x, {h0, c0}, w_ih, w_hh, b_ih, b_hh, &fin);
  REQUIRE(ys.size() == 2);
  g.output(ys[0]);
  g.output(ys[1]);
  g.output(fin.c);
  Tensor x0 = reshape(slice_axis(x, 0, 0, 1), {B, I});
  LstmState one = lstm_cell(x0, {h0, c0}, w_ih, w_hh, b_ih, b_hh);
  g.output(one.h);
  g.output(one.c);
  auto out = run(g, feeds);
  auto in = [&](size_t i) { return values(feeds[i].second); };
  Vec xs = in(0), h = in(1), c = in(2);
  Vec x_t0(xs.begin(), xs.begin() + B * I), x_t1(xs.begin() + B * I, xs.end());
  lstm_ref(x_t0, h, c, in(3), in(4), in(5), in(6), B, I, H);
  check_values(out[0], h, 1e-12);
  check_values(out[3], h, 1e-12);
  check_values(out[4], c, 1e-12);
  lstm_ref(x_t1, h, c, in(3), in(4), in(5), in(6), B, I, H);
  check_values(out[1], h, 1e-12);
  CHECK(fin.h.same(ys[1]));
  check_values(out[2], c, 1e-12);
}

TEST_CASE("lstm: null biases and shape errors", "[frontend][layers]") {
  Graph g("f");
  Feeds feeds;
  Tensor x = fed(g, feeds, "x", {1, 3}, 1);
  Tensor h0 = fed(g, feeds, "h0", {1, 2}, 2);
  Tensor c0 = fed(g, feeds, "c0", {1, 2}, 3);
  Tensor w_ih = fed(g, feeds, "w_ih", {8, 3}, 4);
  Tensor w_hh = fed(g, feeds, "w_hh", {8, 2}, 5);
  LstmState s = lstm_cell(x, {h0, c0}, w_ih, w_hh, Tensor(), Tensor());
  g.output(s.h);
  auto out = run(g, feeds);
  auto in = [&](size_t i) { return values(feeds[i].second); };
  Vec h = in(1), c = in(2), zeros(8, 0.0);
  lstm_ref(in(0), h, c, in(3), in(4), zeros, zeros, 1, 3, 2);
  check_values(out[0], h, 1e-12);
  CHECK_THROWS_WITH(
      lstm_cell(x, {h0, c0}, w_hh, w_hh, Tensor(), Tensor()),
      Catch::Contains("lstm: for input size 3 and hidden size 2"));
}

// ---- text round trip -----------------------------------------------------

TEST_CASE("layers: a graph of composites prints as .kir that parses back",
          "[frontend][layers]") {
  Graph g("block", /*seed=*/1);
  Tensor x = g.input("x", f32({2, 4, 8}));
  Tensor seed = g.input("seed", i64({}));
  Tensor step = g.input("step", i64({}));
  AttentionWeights w;
  w.wq = g.param("wq", f32({8, 8}), init::xavier_uniform());
  w.wk = g.param("wk", f32({8, 8}), init::xavier_uniform());
  w.wv = g.param("wv", f32({8, 8}), init::xavier_uniform());
  w.wo = g.param("wo", f32({8, 8}), init::xavier_uniform());
  Tensor gamma = g.param("gamma", f32({8}), init::ones());
  Tensor h = layer_norm(x, gamma, Tensor());
  h = x + dropout(multi_head_attention(h, h, h, w, 2, /*causal=*/true), 0.1,
                  seed, step);
  g.output(gelu(h, GeluForm::Tanh), "y");
  std::string text = g.to_kir();
  CHECK_THAT(text, Catch::Contains("-inf"));
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(text, "block.kir", diags);
  REQUIRE(m);
  CHECK(to_string(*m) == text);
}

// ---- gradients -----------------------------------------------------------

namespace {

/// Checks autodiff's gradient of the scalar \p build(g, x) with respect to
/// an f64 input x of \p shape against central differences.
void check_grad(Shape shape,
                const std::function<Tensor(Graph &, Tensor)> &build) {
  Graph g("grad", /*seed=*/3);
  Tensor x = g.input("x", f64(shape));
  Tensor loss = build(g, x);
  g.output(loss);
  Value *dx = build_gradients(g.function(), loss.value(), {x.value()})[0];
  std::vector<Value *> res = g.function().results();
  res.push_back(dx);
  g.function().set_results(res);
  std::vector<HostTensor> args = g.initial_values();
  args[0] = HostTensor::from(f64(shape), pseudo(size_t(x.numel()), 9));
  HostTensor grad = interpret(g.function(), args).back();
  std::vector<double> fd;
  for (int64_t i = 0; i < x.numel(); ++i) {
    std::vector<HostTensor> a = args;
    const double h = 1e-6, x0 = args[0].get(i);
    a[0].set(i, x0 + h);
    double up = interpret(g.function(), a)[0].get(0);
    a[0].set(i, x0 - h);
    fd.push_back((up - interpret(g.function(), a)[0].get(0)) / (2 * h));
  }
  check_values(grad, fd, 1e-5, 1e-7);
}

} // namespace

TEST_CASE("layers: composites differentiate (autodiff vs central differences)",
          "[frontend][layers]") {
  auto sum = [](Tensor t) {
    std::vector<int64_t> axes;
    for (int64_t a = 0; a < t.rank(); ++a)
      axes.push_back(a);
    return reduce_sum(t, axes);
  };
  check_grad({2, 3}, [&](Graph &, Tensor x) {
    return sum(softmax(x) * softmax(x * 2.0) + log_softmax(x) * x);
  });
  check_grad({4, 2}, [&](Graph &g, Tensor x) {
    Tensor rm = g.state("rm", f64({2}), init::zeros());
    Tensor rv = g.state("rv", f64({2}), init::ones());
    Tensor bn = batch_norm_train(x, Tensor(), Tensor(), rm, rv).y;
    return sum((bn + layer_norm(x, Tensor(), Tensor())) * x);
  });
  check_grad({5}, [&](Graph &, Tensor x) {
    return sum(gelu(x) + gelu(x, GeluForm::Tanh) + leaky_relu(x));
  });
  check_grad({1, 3, 4}, [&](Graph &g, Tensor x) {
    AttentionWeights w;
    Tensor *ws[] = {&w.wq, &w.wk, &w.wv, &w.wo};
    for (int i = 0; i < 4; ++i)
      *ws[i] =
          g.param("w" + std::to_string(i), f64({4, 4}), init::xavier_uniform());
    return sum(multi_head_attention(x, x, x, w, 2, /*causal=*/true) * x);
  });
  check_grad({2, 1, 3}, [&](Graph &g, Tensor x) {
    Tensor h = g.constant(0.1, f64({1, 2})), c = g.constant(-0.2, f64({1, 2}));
    std::vector<Tensor> ys = lstm_layer(
        x, {h, c}, g.param("wi", f64({8, 3}), init::normal(0.5)),
        g.param("wh", f64({8, 2}), init::normal(0.5)), Tensor(), Tensor());
    return sum(ys[1] * ys[1]);
  });
  check_grad({1, 2, 5}, [&](Graph &g, Tensor x) {
    Tensor w = g.param("w", f64({3, 2, 2}), init::normal(1.0));
    return sum(conv1d(x, w, 1, 2, 0, 2) * 1.5);
  });
  check_grad({3, 4}, [&](Graph &g, Tensor x) {
    Tensor labels = g.constant(HostTensor::from_ints(i64({3}), {1, 3, 0}));
    Tensor t = g.constant(0.3, f64({3, 4}));
    return cross_entropy(x, labels) + mse(x, t) + bce_with_logits(x * 3.0, t) +
           l2_penalty({x}, 0.1);
  });
}
