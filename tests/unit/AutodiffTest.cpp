/// \file
/// build_gradients and the autodiff pass: fan-out, broadcasting, integer
/// operands, values that do not reach the loss, the error for an op without
/// a gradient, tie handling, a two-layer MLP, and the pass's output
/// convention (checked numerically and after canonicalize).
// SPDX-License-Identifier: Apache-2.0
#include "GradCheck.h"

#include "ir/Parser.h"
#include "ir/Printer.h"
#include "passes/PassManager.h"

using namespace kiln;
using namespace kiln::test;

namespace {

std::unique_ptr<Module> parse(const std::string &text) {
  Diagnostics d;
  auto m = parse_and_verify(text, "t.kir", d);
  INFO(text);
  REQUIRE(m);
  return m;
}

/// The gradient results of build_gradients for \p f's first result w.r.t.
/// the parameters named \p names, evaluated on \p args.
std::vector<HostTensor> gradients(Function &f,
                                  const std::vector<std::string> &names,
                                  const std::vector<HostTensor> &args) {
  std::vector<Value *> wrt;
  for (const std::string &n : names)
    wrt.push_back(f.find_value(n));
  f.set_results(build_gradients(f, f.result(0), wrt));
  return interpret(f, args);
}

const char *kMlp =
    R"(func @mlp(%x: f64[4,3], %t: f64[4,2], %w1: f64[3,5] {param}, %b1: f64[5] {param}, %w2: f64[5,2] {param}, %b2: f64[2] {param}) -> (f64[]) {
  %h0 = matmul(%x, %w1) : f64[4,5]
  %h1 = add(%h0, %b1) : f64[4,5]
  %h = relu(%h1) : f64[4,5]
  %o0 = matmul(%h, %w2) : f64[4,2]
  %o = add(%o0, %b2) : f64[4,2]
  %d = sub(%o, %t) : f64[4,2]
  %sq = mul(%d, %d) : f64[4,2]
  %loss = reduce_mean(%sq) {axes = [0, 1], keepdims = false} : f64[]
  return %loss
}
)";

std::vector<HostTensor> mlp_args(const Function &f) {
  Rng r(21);
  std::vector<HostTensor> args;
  for (const auto &p : f.params())
    args.push_back(r.uniform(p->type()));
  return args;
}

} // namespace

TEST_CASE("autodiff: fan-out sums the gradients of every use", "[autodiff]") {
  auto m = parse(R"(func @f(%x: f64[3]) -> (f64[]) {
  %sq = mul(%x, %x) : f64[3]
  %e = exp(%x) : f64[3]
  %s = add(%sq, %e) : f64[3]
  %loss = reduce_sum(%s) {axes = [0], keepdims = false} : f64[]
  return %loss
}
)");
  HostTensor x = HostTensor::from(f64({3}), {0.5, -1, 2});
  auto g = gradients(*m->functions()[0], {"x"}, {x});
  check_values(g[0], {1 + std::exp(0.5), -2 + std::exp(-1), 4 + std::exp(2)});
  Rng r(1);
  check_gradients(*parse(R"(func @f(%x: f64[3]) -> (f64[]) {
  %sq = mul(%x, %x) : f64[3]
  %e = exp(%sq) : f64[3]
  %s = add(%sq, %e) : f64[3]
  %loss = reduce_sum(%s) {axes = [0], keepdims = false} : f64[]
  return %loss
}
)")
                       ->functions()[0],
                  {r.uniform(f64({3}))}, {0});
}

TEST_CASE("autodiff: broadcast operands get gradients of their own shape",
          "[autodiff]") {
  auto m = parse(R"(func @f(%a: f64[3,1], %b: f64[4]) -> (f64[]) {
  %s = add(%a, %b) : f64[3,4]
  %loss = reduce_sum(%s) {axes = [0, 1], keepdims = false} : f64[]
  return %loss
}
)");
  Rng r(2);
  auto g = gradients(*m->functions()[0], {"a", "b"},
                     {r.uniform(f64({3, 1})), r.uniform(f64({4}))});
  CHECK(g[0].type() == f64({3, 1}));
  check_values(g[0], {4, 4, 4});
  CHECK(g[1].type() == f64({4}));
  check_values(g[1], {3, 3, 3, 3});
}

TEST_CASE("autodiff: integer operands and unused values get zeros",
          "[autodiff]") {
  auto m = parse(R"(func @f(%x: f64[3], %k: i32[3], %u: f64[2]) -> (f64[]) {
  %kf = cast(%k) : f64[3]
  %p = mul(%x, %kf) : f64[3]
  %loss = reduce_sum(%p) {axes = [0], keepdims = false} : f64[]
  return %loss
}
)");
  HostTensor x = HostTensor::from(f64({3}), {1, 2, 3});
  HostTensor k = HostTensor::from_ints(i32({3}), {4, -5, 6});
  HostTensor u = HostTensor::from(f64({2}), {1, 1});
  auto g = gradients(*m->functions()[0], {"x", "k", "u"}, {x, k, u});
  check_values(g[0], {4, -5, 6});
  CHECK(g[1].type() == i32({3}));
  check_values(g[1], {0, 0, 0});
  check_values(g[2], {0, 0});
}

TEST_CASE("autodiff: comparisons feeding select need no gradient",
          "[autodiff]") {
  auto m = parse(R"(func @f(%x: f64[4]) -> (f64[]) {
  %zero = constant() {value = 0.0} : f64[]
  %pos = gt(%x, %zero) : bool[4]
  %sq = mul(%x, %x) : f64[4]
  %y = select(%pos, %sq, %x) : f64[4]
  %loss = reduce_sum(%y) {axes = [0], keepdims = false} : f64[]
  return %loss
}
)");
  HostTensor x = HostTensor::from(f64({4}), {1.5, -2, 3, -0.5});
  auto g = gradients(*m->functions()[0], {"x"}, {x});
  check_values(g[0], {3, 1, 6, 1});
}

TEST_CASE("autodiff: an op without a gradient on the path is an error",
          "[autodiff]") {
  auto m = parse(R"(func @f(%w: f32[4,3] {param}) -> (f32[]) {
  %1 = argmax(%w) {axis = 1, keepdims = false} : i64[4]
  %2 = cast(%1) : f32[4]
  %3 = reduce_sum(%2) {axes = [0], keepdims = false} : f32[]
  return %3
}
)");
  Function &f = *m->functions()[0];
  size_t nodes = f.num_nodes();
  CHECK_THROWS_WITH(
      build_gradients(f, f.result(0), {f.param(0)}),
      Catch::Matchers::StartsWith(
          "autodiff: argmax has no gradient (on the path loss <- %3 = "
          "reduce_sum <- %2 = cast <- %1 = argmax <- %w)"));
  CHECK(f.num_nodes() == nodes);
  // Not on a path to the parameter asked for: fine.
  auto ok = parse(R"(func @f(%w: f32[3], %x: f32[4,3]) -> (f32[]) {
  %i = argmax(%x) {axis = 1, keepdims = false} : i64[4]
  %g = gather(%w, %i) {axis = 0} : f32[4]
  %loss = reduce_sum(%g) {axes = [0], keepdims = false} : f32[]
  return %loss
}
)");
  Function &h = *ok->functions()[0];
  CHECK_NOTHROW(build_gradients(h, h.result(0), {h.param(0)}));
  CHECK_THROWS_WITH(build_gradients(h, h.result(0), {h.param(1)}),
                    Catch::Matchers::Contains("argmax has no gradient"));
}

TEST_CASE("autodiff: ties split the gradient evenly", "[autodiff]") {
  auto m = parse(R"(func @f(%x: f64[2,3], %y: f64[3]) -> (f64[]) {
  %r = reduce_max(%x) {axes = [1], keepdims = false} : f64[2]
  %s = reduce_sum(%r) {axes = [0], keepdims = false} : f64[]
  %m = max(%x, %y) : f64[2,3]
  %t = reduce_sum(%m) {axes = [0, 1], keepdims = false} : f64[]
  %loss = add(%s, %t) : f64[]
  return %loss
}
)");
  HostTensor x = HostTensor::from(f64({2, 3}), {5, 1, 5, 2, 2, 2});
  HostTensor y = HostTensor::from(f64({3}), {5, 0, 3});
  auto g = gradients(*m->functions()[0], {"x", "y"}, {x, y});
  // reduce_max: row 0 ties at 5 twice, row 1 three times; max(x, y): x
  // wins where larger, half at a tie.
  check_values(g[0], {0.5 + 0.5, 1, 0.5 + 1, 1.0 / 3, 1 + 1.0 / 3, 1.0 / 3});
  check_values(g[1], {0.5 + 1, 0, 1});
}

TEST_CASE("autodiff: a two-layer MLP against finite differences",
          "[autodiff]") {
  auto m = parse(kMlp);
  Function &f = *m->functions()[0];
  check_gradients(f, mlp_args(f), {2, 3, 4, 5});
}

TEST_CASE("autodiff pass: appends grad.<param> results in parameter order",
          "[autodiff]") {
  auto m = parse(kMlp);
  auto before = m->clone();
  PassContext ctx;
  REQUIRE(autodiff(*m, ctx));
  Function &f = *m->functions()[0];
  REQUIRE(f.results().size() == 5);
  const char *names[] = {"grad.w1", "grad.b1", "grad.w2", "grad.b2"};
  for (size_t i = 0; i < 4; ++i) {
    CHECK(f.result(i + 1)->name() == names[i]);
    CHECK(f.result(i + 1)->type() == f.param(i + 2)->type());
  }
  CHECK(ctx.stats.size() == 1);
  std::vector<HostTensor> args = mlp_args(f);
  auto out = interpret(f, args);
  CHECK(out[0].bit_equal(interpret(*before->functions()[0], args)[0]));
  // canonicalize after autodiff computes the same values.
  std::string text = to_string(*m);
  REQUIRE(canonicalize(*m, ctx));
  auto clean = interpret(*m->functions()[0], args);
  for (size_t i = 0; i < out.size(); ++i)
    check_values(clean[i], values(out[i]), 1e-12, 1e-15);
  // The output parses back.
  CHECK(to_string(*parse(text)) == text);
}

TEST_CASE("autodiff pass: skips functions without a scalar loss or params",
          "[autodiff]") {
  auto m = parse(R"(func @vec(%w: f32[3] {param}) -> (f32[3]) {
  %y = exp(%w) : f32[3]
  return %y
}
func @noparam(%x: f32[3]) -> (f32[]) {
  %s = reduce_sum(%x) {axes = [0], keepdims = false} : f32[]
  return %s
}
)");
  PassContext ctx;
  std::string text = to_string(*m);
  CHECK_FALSE(autodiff(*m, ctx));
  CHECK(to_string(*m) == text);
}

TEST_CASE("autodiff pass: parameters sharing a gradient value get their own",
          "[autodiff]") {
  auto m = parse(R"(func @f(%a: f32[] {param}, %b: f32[] {param}) -> (f32[]) {
  %s = add(%a, %b) : f32[]
  return %s
}
)");
  PassContext ctx;
  REQUIRE(autodiff(*m, ctx));
  Function &f = *m->functions()[0];
  CHECK(f.result(1)->name() == "grad.a");
  CHECK(f.result(2)->name() == "grad.b");
  auto out = interpret(
      f, {HostTensor::splat(f32({}), 2), HostTensor::splat(f32({}), 3)});
  CHECK(out[1].get(0) == 1.0);
  CHECK(out[2].get(0) == 1.0);
  std::string text = to_string(*m);
  CHECK(to_string(*parse(text)) == text);
}
