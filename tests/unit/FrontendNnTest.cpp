/// \file
/// nn modules: parameter names, shapes and default initializations,
/// container naming, BatchNorm2d's running-statistics updates, and small
/// hand-computed cases of the layers through the interpreter.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include "frontend/nn/Layers.h"
#include "frontend/nn/Sequence.h"

#include <cmath>

using namespace kiln;
using namespace kiln::test;
using Catch::Contains;

namespace {

std::vector<std::string> names_of(const nn::NamedTensors &ts) {
  std::vector<std::string> out;
  for (const auto &p : ts)
    out.push_back(p.first);
  return out;
}

/// Index of \p t among the function's parameters.
size_t arg_index(Graph &g, const Tensor &t) {
  for (size_t i = 0; i < g.function().params().size(); ++i)
    if (g.function().param(i) == t.value())
      return i;
  FAIL("not a parameter of the graph");
  return 0;
}

/// Checks every element of \p t lies in [-bound, bound] and that the values
/// are spread (not all equal).
void check_uniform_bound(const HostTensor &t, double bound) {
  double lo = 1e30, hi = -1e30;
  for (int64_t i = 0; i < t.numel(); ++i) {
    lo = std::min(lo, t.get(i));
    hi = std::max(hi, t.get(i));
  }
  CHECK(lo >= -bound);
  CHECK(hi <= bound);
  CHECK(hi - lo > bound * 0.5);
}

/// Runs \p g with the given inputs replacing their initial values.
std::vector<HostTensor>
run(Graph &g, const std::vector<std::pair<Tensor, HostTensor>> &set) {
  std::vector<HostTensor> args = g.initial_values();
  for (const auto &[t, v] : set)
    args[arg_index(g, t)] = v;
  return interpret(g.function(), args);
}

} // namespace

TEST_CASE("nn: Linear has PyTorch's names, layout and initialization",
          "[frontend][nn]") {
  Graph g("f", /*seed=*/3);
  nn::Linear fc(g, "fc1", 64, 32);
  CHECK(names_of(fc.parameters()) ==
        std::vector<std::string>{"fc1.weight", "fc1.bias"});
  CHECK(fc.weight.type() == f32({32, 64}));
  CHECK(fc.bias.type() == f32({32}));
  // kaiming_uniform(a=sqrt(5)) and the bias both give U(+-1/sqrt(fan_in)).
  check_uniform_bound(g.initial_value("fc1.weight"), 1.0 / 8.0);
  check_uniform_bound(g.initial_value("fc1.bias"), 1.0 / 8.0);
  nn::Linear nobias(g, "head", 4, 2, /*bias=*/false);
  CHECK(names_of(nobias.parameters()) ==
        std::vector<std::string>{"head.weight"});
}

TEST_CASE("nn: Linear computes x @ W^T + b", "[frontend][nn]") {
  Graph g("f");
  Tensor x = g.input("x", f32({1, 2}));
  nn::Linear fc(g, "fc", 2, 3);
  g.output(fc(x));
  HostTensor w = HostTensor::from(f32({3, 2}), {1, 2, 3, 4, 5, 6});
  HostTensor b = HostTensor::from(f32({3}), {0.5, 0, -1});
  auto out = run(g, {{x, HostTensor::from(f32({1, 2}), {1, -1})},
                     {fc.weight, w},
                     {fc.bias, b}});
  check_values(out[0], {1 - 2 + 0.5, 3 - 4, 5 - 6 - 1});
  CHECK_THROWS_WITH(fc(g.input("bad", f32({1, 3}))),
                    Contains("Linear 'fc': expects input [..., 2]"));
}

TEST_CASE("nn: Sequential and ModuleList name children by index",
          "[frontend][nn]") {
  Graph g("f");
  NameScope s(g, "model");
  nn::Sequential net(g, "net");
  net.add<nn::Linear>(4, 8);
  net.add<nn::ReLU>();
  net.add_fn([](Tensor t) { return t * 2.0; });
  auto &inner = net.add<nn::Sequential>();
  inner.add_named<nn::Linear>("proj", 8, 2);
  CHECK(names_of(net.parameters()) ==
        std::vector<std::string>{"model.net.0.weight", "model.net.0.bias",
                                 "model.net.3.proj.weight",
                                 "model.net.3.proj.bias"});
  CHECK(net.size() == 4);
  CHECK(net.at<nn::Linear>(0).out_features == 8);
  CHECK_THROWS_WITH(net.at<nn::Linear>(1), Contains("child 1 is a ReLU"));
  CHECK_THROWS_WITH(net[7], Contains("index 7 out of range"));
  Tensor y = net(g.input("x", f32({5, 4})));
  CHECK(y.type() == f32({5, 2}));
  CHECK(net.get("3.proj.bias").same(inner.get("proj.bias")));
  CHECK_THROWS_WITH(net.get("nope"), Contains("model.net.0.weight"));
}

namespace {
/// A module with a child, as a user writes one.
class Block : public nn::Module {
public:
  Block(nn::Parent p, const std::string &name)
      : Module(p, name), attn(*this, "attn", 8, 2), norm(*this, "norm", {8}) {}
  Tensor forward(Tensor x) override { return norm(x + attn(x)); }
  nn::MultiheadAttention attn;
  nn::LayerNorm norm;
};
} // namespace

TEST_CASE("nn: nested modules get stable hierarchical names",
          "[frontend][nn]") {
  Graph g("f");
  nn::ModuleList blocks(g, "blocks");
  blocks.add<Block>();
  blocks.add<Block>();
  std::vector<std::string> names = names_of(blocks.parameters());
  REQUIRE(names.size() == 2 * 10);
  CHECK(names[0] == "blocks.0.attn.q_proj.weight");
  CHECK(names[7] == "blocks.0.attn.out_proj.bias");
  CHECK(names[8] == "blocks.0.norm.weight");
  CHECK(names[10] == "blocks.1.attn.q_proj.weight");
  Tensor x = g.input("x", f32({2, 3, 8}));
  CHECK(blocks[1](x).type() == f32({2, 3, 8}));
  CHECK_THROWS_WITH(blocks(x), Contains("does not map one tensor"));
  // A model root named "" gives its children unprefixed names.
  struct Root : nn::Module {
    Root(Graph &g) : Module(g, ""), fc(*this, "fc", 2, 2) {}
    nn::Linear fc;
  } root(g);
  CHECK(names_of(root.parameters()) ==
        std::vector<std::string>{"fc.weight", "fc.bias"});
}

TEST_CASE("nn: Conv2d has OIHW weights and matches a hand-computed case",
          "[frontend][nn]") {
  Graph g("f");
  nn::Conv2d conv(g, "conv", 1, 1, 2);
  nn::Conv2d big(g, "big", 4, 6, 3, 1, 1, 1, 2, /*bias=*/false);
  CHECK(big.weight.type() == f32({6, 2, 3, 3}));
  CHECK_FALSE(big.bias.valid());
  check_uniform_bound(g.initial_value("big.weight"), 1.0 / std::sqrt(18.0));
  Tensor x = g.input("x", f32({1, 1, 3, 3}));
  g.output(conv(x));
  auto out = run(
      g, {{x, HostTensor::from(f32({1, 1, 3, 3}), {1, 2, 3, 4, 5, 6, 7, 8, 9})},
          {conv.weight, HostTensor::from(f32({1, 1, 2, 2}), {1, 0, 0, 1})},
          {conv.bias, HostTensor::from(f32({1}), {0.5})}});
  // out[i][j] = x[i][j] + x[i+1][j+1] + 0.5
  CHECK(out[0].type() == f32({1, 1, 2, 2}));
  check_values(out[0], {6.5, 8.5, 12.5, 14.5});
}

TEST_CASE("nn: ConvTranspose2d has IOHW weights and matches hand-computed "
          "cases",
          "[frontend][nn]") {
  Graph g("f");
  nn::ConvTranspose2d up(g, "up", 1, 1, 2, /*stride=*/2);
  nn::ConvTranspose2d same(g, "same", 1, 1, 2);
  nn::ConvTranspose2d wide(g, "wide", 8, 3, 4, 2, 1, 0, 1, /*bias=*/false);
  CHECK(wide.weight.type() == f32({8, 3, 4, 4}));
  // PyTorch's fan_in for the transposed layout: shape[1] * k * k = 48.
  check_uniform_bound(g.initial_value("wide.weight"), 1.0 / std::sqrt(48.0));
  Tensor x = g.input("x", f32({1, 1, 2, 2}));
  g.output(up(x));
  g.output(same(x));
  HostTensor ones = HostTensor::splat(f32({1, 1, 2, 2}), 1.0);
  HostTensor zero = HostTensor::splat(f32({1}), 0.0);
  auto out = run(g, {{x, HostTensor::from(f32({1, 1, 2, 2}), {1, 2, 3, 4})},
                     {up.weight, ones},
                     {up.bias, zero},
                     {same.weight, ones},
                     {same.bias, zero}});
  // Stride 2: each input element fills its own 2x2 block.
  check_values(out[0], {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  // Stride 1: the 2x2 blocks overlap and add up.
  check_values(out[1], {1, 3, 2, 4, 10, 6, 3, 7, 4});
}

TEST_CASE("nn: pooling modules match hand-computed cases", "[frontend][nn]") {
  Graph g("f");
  nn::MaxPool2d maxp(g, "maxp", 2);
  nn::AvgPool2d avgp(g, "avgp", 2);
  nn::MaxPool2d overlap(g, "overlap", 3, /*stride=*/1, /*padding=*/1);
  nn::GlobalAvgPool2d gap(g, "gap");
  CHECK(maxp.options.stride == std::array<int64_t, 2>{2, 2});
  Tensor x = g.input("x", f32({1, 1, 4, 4}));
  g.output(maxp(x));
  g.output(avgp(x));
  g.output(overlap(x));
  g.output(gap(x));
  std::vector<double> v;
  for (int i = 1; i <= 16; ++i)
    v.push_back(i);
  auto out = run(g, {{x, HostTensor::from(f32({1, 1, 4, 4}), v)}});
  check_values(out[0], {6, 8, 14, 16});
  check_values(out[1], {3.5, 5.5, 11.5, 13.5});
  check_values(out[2],
               {6, 7, 8, 8, 10, 11, 12, 12, 14, 15, 16, 16, 14, 15, 16, 16});
  CHECK(out[3].type() == f32({1, 1}));
  check_values(out[3], {8.5});
}

TEST_CASE("nn: BatchNorm2d in training mode records running-stat updates",
          "[frontend][nn]") {
  Graph g("f");
  nn::BatchNorm2d bn(g, "bn", 2);
  CHECK(names_of(bn.parameters()) ==
        std::vector<std::string>{"bn.weight", "bn.bias"});
  CHECK(names_of(bn.buffers()) ==
        std::vector<std::string>{"bn.running_mean", "bn.running_var"});
  check_values(g.initial_value("bn.weight"), {1, 1});
  check_values(g.initial_value("bn.bias"), {0, 0});
  check_values(g.initial_value("bn.running_mean"), {0, 0});
  check_values(g.initial_value("bn.running_var"), {1, 1});
  Tensor x = g.input("x", f32({2, 2, 1, 2}));
  g.output(bn(x), "y");
  g.output(bn(x * 2.0), "y2"); // a second call chains onto the first update
  // The updates come first (recorded by the first call, then rewritten by
  // the second), then y and y2.
  const Function &f = g.function();
  REQUIRE(f.results().size() == 4);
  CHECK(f.result_updates()[0] == bn.running_mean.value());
  CHECK(f.result_updates()[1] == bn.running_var.value());
  CHECK(f.result_updates()[2] == nullptr);
  // Channel 0 holds {1, 2, 3, 4}: mean 2.5, unbiased var 5/3; channel 1
  // holds {0, 0, 0, 4}: mean 1, unbiased var 4.
  auto out = run(
      g, {{x, HostTensor::from(f32({2, 2, 1, 2}), {1, 2, 0, 0, 3, 4, 0, 4})}});
  double m0 = 0.1 * 2.5, v0 = 0.9 + 0.1 * 5.0 / 3.0;
  double m1 = 0.1 * 1.0, v1 = 0.9 + 0.1 * 4.0;
  // The second call sees 2x: mean doubles, variance quadruples.
  check_values(out[0], {0.9 * m0 + 0.1 * 5.0, 0.9 * m1 + 0.1 * 2.0}, 1e-5);
  check_values(out[1], {0.9 * v0 + 0.1 * 20.0 / 3.0, 0.9 * v1 + 0.1 * 16.0},
               1e-5);
  // y is normalized with the biased batch variance (5/4 for channel 0).
  double s0 = std::sqrt(1.25 + 1e-5);
  CHECK_THAT(out[2].get(0), Catch::Matchers::WithinRel(-1.5 / s0, 1e-4));
}

TEST_CASE("nn: BatchNorm2d in inference mode uses the running statistics",
          "[frontend][nn]") {
  Graph g("f");
  nn::BatchNorm2d bn(g, "bn", 1);
  bn.eval();
  CHECK_FALSE(bn.is_training());
  Tensor x = g.input("x", f32({1, 1, 1, 2}));
  g.output(bn(x));
  CHECK(g.function().results().size() == 1);
  auto out = run(g, {{x, HostTensor::from(f32({1, 1, 1, 2}), {1, -2})}});
  double s = std::sqrt(1.0 + 1e-5);
  check_values(out[0], {1 / s, -2 / s}, 1e-5);
}

TEST_CASE("nn: LayerNorm, Embedding and Dropout", "[frontend][nn]") {
  Graph g("f", /*seed=*/9);
  nn::LayerNorm ln(g, "ln", {4});
  check_values(g.initial_value("ln.weight"), {1, 1, 1, 1});
  check_values(g.initial_value("ln.bias"), {0, 0, 0, 0});
  nn::Embedding emb(g, "emb", 1000, 16);
  const HostTensor &w = g.initial_value("emb.weight");
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < w.numel(); ++i) {
    sum += w.get(i);
    sq += w.get(i) * w.get(i);
  }
  double mean = sum / double(w.numel());
  CHECK(std::abs(mean) < 0.05); // N(0, 1)
  CHECK(std::abs(std::sqrt(sq / double(w.numel()) - mean * mean) - 1) < 0.05);
  Tensor ids = g.input("ids", i64({2, 3}));
  CHECK(emb(ids).type() == f32({2, 3, 16}));
  CHECK_THROWS_WITH(ln(g.input("bad", f32({2, 5}))),
                    Contains("does not end with the normalized shape"));

  Tensor x = g.input("x", f32({4, 8}));
  nn::Dropout plain(g, "drop", 0.5);
  CHECK_THROWS_WITH(plain(x), Contains("needs the i64 scalar inputs"));
  plain.eval();
  CHECK(plain(x).same(x));
  Tensor seed = g.input("seed", i64({})), step = g.input("step", i64({}));
  nn::Dropout d1(g, "d1", 0.5, seed, step), d2(g, "d2", 0.5, seed, step);
  g.output(d1(x));
  g.output(d2(x));
  auto out = run(g, {{x, HostTensor::splat(f32({4, 8}), 1.0)},
                     {seed, HostTensor::from_ints(i64({}), {7})}});
  int kept = 0, differ = 0;
  for (int64_t i = 0; i < 32; ++i) {
    double a = out[0].get(i), b = out[1].get(i);
    CHECK((a == 0.0 || a == 2.0));
    kept += a != 0.0;
    differ += a != b;
  }
  CHECK(kept > 4);
  CHECK(kept < 28);
  CHECK(differ > 0); // the two modules draw different masks
}

TEST_CASE("nn: LSTM has PyTorch's parameter names and unrolls over time",
          "[frontend][nn]") {
  Graph g("f");
  nn::LSTM lstm(g, "lstm", 3, 4, /*num_layers=*/2);
  CHECK(names_of(lstm.parameters()) ==
        std::vector<std::string>{"lstm.weight_ih_l0", "lstm.weight_hh_l0",
                                 "lstm.bias_ih_l0", "lstm.bias_hh_l0",
                                 "lstm.weight_ih_l1", "lstm.weight_hh_l1",
                                 "lstm.bias_ih_l1", "lstm.bias_hh_l1"});
  CHECK(lstm.weight_ih[0].type() == f32({16, 3}));
  CHECK(lstm.weight_ih[1].type() == f32({16, 4}));
  check_uniform_bound(g.initial_value("lstm.weight_hh_l1"), 0.5);
  Tensor x = g.input("x", f32({5, 2, 3}));
  nn::LstmOutput o = lstm.run(x);
  CHECK(o.outputs.size() == 5);
  REQUIRE(o.final_states.size() == 2);
  CHECK(o.final_states[1].h.same(o.outputs.back()));
  Tensor seq = lstm(x);
  CHECK(seq.type() == f32({5, 2, 4}));
  g.output(seq);
  std::vector<double> v;
  for (int i = 0; i < 30; ++i)
    v.push_back(std::sin(i));
  auto out = run(g, {{x, HostTensor::from(f32({5, 2, 3}), v)}});
  for (double e : values(out[0]))
    CHECK(std::abs(e) < 1.0); // h = o * tanh(c) lies in (-1, 1)
}

TEST_CASE("nn: MultiheadAttention projects, attends and checks heads",
          "[frontend][nn]") {
  Graph g("f");
  nn::MultiheadAttention attn(g, "attn", 8, 2);
  CHECK(names_of(attn.parameters()).front() == "attn.q_proj.weight");
  CHECK(attn.parameters().size() == 8);
  Tensor q = g.input("q", f32({2, 3, 8})), kv = g.input("kv", f32({2, 5, 8}));
  CHECK(attn(q, kv, kv).type() == f32({2, 3, 8}));
  CHECK(attn(q).type() == f32({2, 3, 8}));
  CHECK_THROWS_WITH(nn::MultiheadAttention(g, "bad", 6, 4),
                    Contains("must be divisible by num_heads"));
}
