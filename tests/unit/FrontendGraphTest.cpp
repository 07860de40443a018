/// \file
/// The graph-building API: handles, operators with broadcasting and scalars,
/// located errors, naming scopes, initial values, and .kir round trip.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include "frontend/Ops.h"
#include "ir/Parser.h"
#include "ir/Printer.h"

using namespace kiln;
using namespace kiln::test;
using Catch::Contains;

namespace {
Initializer fill_with(double v) {
  return {"fill", [v](HostTensor &t, uint64_t) {
            for (int64_t i = 0; i < t.numel(); ++i)
              t.set(i, v);
          }};
}
Initializer seeded() {
  return {"seeded", [](HostTensor &t, uint64_t seed) {
            for (int64_t i = 0; i < t.numel(); ++i)
              t.set(i, double((seed >> (i % 32)) & 0xff));
          }};
}
} // namespace

TEST_CASE("frontend: operators broadcast and mix scalars", "[frontend]") {
  Graph g("f");
  Tensor x = g.input("x", f32({2, 3}));
  Tensor b = g.input("b", f32({3}));
  Tensor y = (x + b) * 2.0 - 1.0;
  Tensor z = 1.0 / (-y);
  Tensor mask = x > 0.5;
  CHECK(y.type() == f32({2, 3}));
  CHECK(mask.dtype() == DType::Bool);
  g.output(z, "z");
  g.output(mask);
  HostTensor xv = HostTensor::from(f32({2, 3}), {0, 1, 2, 3, 4, 5});
  HostTensor bv = HostTensor::from(f32({3}), {1, 0, -1});
  std::vector<HostTensor> out = interpret(g.function(), {xv, bv});
  // y = (x + b) * 2 - 1 = [1, 1, 1, 7, 7, 7]; z = -1 / y
  check_values(out[0], {-1, -1, -1, -1.0 / 7, -1.0 / 7, -1.0 / 7});
  check_values(out[1], {0, 1, 1, 1, 1, 1});
}

TEST_CASE("frontend: a shape error names the op, the shapes and the line",
          "[frontend]") {
  Graph g("f");
  Tensor x = g.input("x", f32({4, 784}));
  Tensor w = g.input("w", f32({785, 10}));
  int line = __LINE__ + 2;
  try {
    matmul(x, w);
    FAIL("matmul accepted mismatched inner dimensions");
  } catch (const Error &e) {
    std::string where = "FrontendGraphTest.cpp:" + std::to_string(line);
    CHECK_THAT(e.what(), Contains(where + ": matmul: inner dimensions differ"));
    CHECK_THAT(e.what(), Contains("f32[4,784], f32[785,10]"));
  }
  line = __LINE__ + 2;
  try {
    x + g.input("c", f32({3}));
    FAIL("add accepted shapes that do not broadcast");
  } catch (const Error &e) {
    CHECK_THAT(e.what(), Contains("FrontendGraphTest.cpp:" +
                                  std::to_string(line) + ": add: shapes"));
  }
}

TEST_CASE("frontend: params are named by scope, initialized by name",
          "[frontend]") {
  Graph g1("a", /*seed=*/5), g2("b", /*seed=*/5);
  {
    NameScope s(g1, "blocks");
    NameScope t(g1, "0");
    g1.param("weight", f32({4}), seeded());
  }
  g1.param("other", f32({4}), seeded());
  g2.param("other", f32({4}), seeded()); // other order, same name
  {
    NameScope s(g2, "blocks.0");
    g2.param("weight", f32({4}), seeded());
  }
  CHECK(g1.function().param(0)->name() == "blocks.0.weight");
  CHECK(g1.function().param(0)->arg_kind() == ArgKind::Param);
  CHECK(g1.initial_value("blocks.0.weight")
            .bit_equal(g2.initial_value("blocks.0.weight")));
  CHECK(g1.initial_value("other").bit_equal(g2.initial_value("other")));
  CHECK_FALSE(
      g1.initial_value("other").bit_equal(g1.initial_value("blocks.0.weight")));
  CHECK_THROWS_WITH(g1.param("other", f32({4}), seeded()),
                    Contains("a value named 'other' already exists"));
  CHECK_THROWS_WITH(g1.input("bad name", f32({1})), Contains("invalid name"));
  CHECK_THROWS_WITH(g1.initial_value("nope"), Contains("no parameter"));
}

TEST_CASE("frontend: updates, state and round trip through .kir",
          "[frontend]") {
  Graph g("step");
  Tensor x = g.input("x", f32({2, 2}));
  Tensor w = g.param("w", f32({2, 2}), fill_with(0.5));
  Tensor n = g.state("count", i64({}), fill_with(3));
  Tensor loss = reduce_sum(matmul(x, w), {0, 1});
  g.output(loss, "loss");
  g.update(w, w - x * 0.1);
  g.update(n, n + 1.0);
  CHECK_THROWS_WITH(g.update(x, x), Contains("must be a param or state"));
  CHECK_THROWS_WITH(g.update(w, x * 2.0 + w), Contains("already updated"));
  CHECK_THROWS_WITH(g.update(n, loss),
                    Contains("is i64[] but the new value is f32[]"));

  std::string text = g.to_kir();
  CHECK_THAT(text, Contains("%w: f32[2,2] {param}"));
  CHECK_THAT(text, Contains("%count: i64[] {state}"));
  CHECK_THAT(text, Contains("{updates = %w}"));
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(text, "step.kir", diags);
  REQUIRE(m);
  CHECK(to_string(*m) == text);

  std::vector<HostTensor> args = g.initial_values();
  args[0] = HostTensor::from(f32({2, 2}), {1, 2, 3, 4});
  std::vector<HostTensor> out = interpret(g.function(), args);
  check_values(out[0], {10}); // sum(x @ 0.5) = 0.5 * 2 * (1+2+3+4)
  check_values(out[1], {0.4, 0.3, 0.2, 0.1});
  CHECK(out[2].get_int(0) == 4);
}

TEST_CASE("frontend: layout helpers", "[frontend]") {
  Graph g("f");
  Tensor x = g.input("x", f32({2, 3, 4}));
  CHECK(reshape(x, {-1, 4}).shape() == Shape{6, 4});
  CHECK_THROWS_WITH(reshape(x, {-1, 5}), Contains("cannot infer -1"));
  CHECK(transpose_last2(x).shape() == Shape{2, 4, 3});
  CHECK(slice_axis(x, -1, 1, 3).shape() == Shape{2, 3, 2});
  CHECK(x.dim(-1) == 4);
  CHECK(one_hot(g.input("i", i64({5})), 7).type() == f32({5, 7}));
  CHECK(cast(x, DType::F64).type() == f64({2, 3, 4}));
  Conv2dOptions o;
  o.padding = {1, 1};
  Tensor img = g.input("img", f32({1, 3, 8, 8}));
  Tensor k = g.input("k", f32({4, 3, 3, 3}));
  CHECK(conv2d(img, k, o).shape() == Shape{1, 4, 8, 8});
  CHECK(max_pool2d(img).shape() == Shape{1, 3, 4, 4});
  CHECK_THROWS_WITH(g.constant(0.5, i32({})), Contains("not representable"));
}
