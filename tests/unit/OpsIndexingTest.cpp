/// \file
/// Unit tests of the indexing ops: gather, scatter_add (its adjoint) and
/// one_hot, including their handling of out-of-range indices.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

using namespace kiln;
using namespace kiln::test;

namespace {
// [[1, 2], [3, 4], [5, 6]]
HostTensor m32() { return HostTensor::from(f32({3, 2}), {1, 2, 3, 4, 5, 6}); }
} // namespace

TEST_CASE("gather: shapes", "[ir][ops][gather]") {
  CHECK(infer(OpKind::Gather, {f32({10, 4}), i32({2, 3})})[0] ==
        f32({2, 3, 4}));
  CHECK(infer(OpKind::Gather, {f32({10, 4, 5}), i64({7})}, {{"axis", -2}})[0] ==
        f32({10, 7, 5}));
  CHECK(infer(OpKind::Gather, {f32({10}), i64({})})[0] == f32({}));
}

TEST_CASE("gather: values along axis 0 and 1", "[ir][ops][gather]") {
  auto idx = HostTensor::from_ints(i32({2}), {2, 0});
  auto r = eval(OpKind::Gather, {m32(), idx});
  CHECK(r[0].type() == f32({2, 2}));
  check_values(r[0], {5, 6, 1, 2});
  auto idx2 = HostTensor::from_ints(i64({2, 2}), {1, 0, 1, 1});
  auto c = eval(OpKind::Gather, {m32(), idx2}, {{"axis", 1}});
  CHECK(c[0].type() == f32({3, 2, 2}));
  check_values(c[0], {2, 1, 2, 2, 4, 3, 4, 4, 6, 5, 6, 6});
}

TEST_CASE("gather: clamps out-of-range indices", "[ir][ops][gather]") {
  auto idx = HostTensor::from_ints(i64({3}), {-5, 7, 1});
  check_values(eval(OpKind::Gather, {m32(), idx})[0], {1, 2, 5, 6, 3, 4});
}

TEST_CASE("gather: rejects bad indices and axes", "[ir][ops][gather]") {
  CHECK_THAT(infer_error(OpKind::Gather, {f32({3, 2}), f32({2})}),
             Catch::Contains("gather: indices must be i32 or i64, got f32[2]"));
  CHECK_THAT(infer_error(OpKind::Gather, {f32({0, 2}), i32({2})}),
             Catch::Contains("axis 0 of f32[0,2] is empty"));
  CHECK_THAT(
      infer_error(OpKind::Gather, {f32({3, 2}), i32({2})}, {{"axis", 2}}),
      Catch::Contains("axis 2 is out of range for f32[3,2]"));
}

TEST_CASE("scatter_add: adds rows at the indices", "[ir][ops][scatter_add]") {
  HostTensor base = HostTensor::from(f32({3, 2}), {0, 0, 10, 10, 0, 0});
  auto idx = HostTensor::from_ints(i32({3}), {2, 0, 2});
  auto r = eval(OpKind::ScatterAdd, {base, idx, m32()});
  CHECK(r[0].type() == f32({3, 2}));
  // Row 0 gets src row 1; row 2 gets src rows 0 and 2.
  check_values(r[0], {3, 4, 10, 10, 6, 8});
  // Clamped like gather: -1 -> 0, 9 -> 2.
  auto cl = HostTensor::from_ints(i64({3}), {-1, 9, 9});
  check_values(eval(OpKind::ScatterAdd, {base, cl, m32()})[0],
               {1, 2, 10, 10, 8, 10});
  auto ib = HostTensor::from_ints(i64({2}), {1, 1});
  auto isrc = HostTensor::from_ints(i64({2}), {int64_t(1) << 60, 3});
  auto ir = eval(OpKind::ScatterAdd, {HostTensor(i64({2})), ib, isrc})[0];
  CHECK(ir.get_int(1) == (int64_t(1) << 60) + 3);
}

TEST_CASE("scatter_add: is the adjoint of gather", "[ir][ops][scatter_add]") {
  // <gather(x, idx), y> == <x, scatter_add(0, idx, y)>, along axis 1.
  auto x = HostTensor::from(f64({2, 3}), {0.5, -1, 2, 3, 0.25, -2});
  auto idx = HostTensor::from_ints(i32({4}), {2, 2, 0, 5});
  auto y = HostTensor::from(f64({2, 4}), {1, 2, 3, 4, -1, 0.5, 2, 1});
  auto g = eval(OpKind::Gather, {x, idx}, {{"axis", 1}})[0];
  auto s = eval(OpKind::ScatterAdd, {HostTensor(f64({2, 3})), idx, y},
                {{"axis", 1}})[0];
  double lhs = 0, rhs = 0;
  for (int64_t i = 0; i < 8; ++i)
    lhs += g.get(i) * y.get(i);
  for (int64_t i = 0; i < 6; ++i)
    rhs += x.get(i) * s.get(i);
  // By hand: row 0 reads [2,2,0.5,2] -> 2+4+1.5+8 = 15.5; row 1 reads
  // [-2,-2,3,-2] -> 2-1+6-2 = 5.
  CHECK_THAT(lhs, Catch::Matchers::WithinRel(20.5, 1e-12));
  CHECK_THAT(rhs, Catch::Matchers::WithinRel(20.5, 1e-12));
}

TEST_CASE("scatter_add: rejects a mismatched src", "[ir][ops][scatter_add]") {
  CHECK(infer(OpKind::ScatterAdd,
              {f32({5, 4}), i32({2, 3}), f32({2, 3, 4})})[0] == f32({5, 4}));
  CHECK_THAT(
      infer_error(OpKind::ScatterAdd, {f32({5, 4}), i32({2}), f32({2, 5})}),
      Catch::Contains("scatter_add: src shape [2,5] must be [2,4]"));
  CHECK_THAT(
      infer_error(OpKind::ScatterAdd, {f32({5, 4}), i32({2}), f64({2, 4})}),
      Catch::Contains("same numeric dtype"));
  CHECK_THAT(
      infer_error(OpKind::ScatterAdd, {boolean({5}), i32({2}), boolean({2})}),
      Catch::Contains("same numeric dtype"));
  CHECK_THAT(infer_error(OpKind::ScatterAdd, {f32({5}), f32({2}), f32({2})}),
             Catch::Contains("indices must be i32 or i64"));
}

TEST_CASE("one_hot: rows, with zero rows out of range", "[ir][ops][one_hot]") {
  auto idx = HostTensor::from_ints(i64({4}), {0, 2, 3, -1});
  auto r = eval(OpKind::OneHot, {idx}, {{"depth", 3}}, {f32({4, 3})});
  check_values(r[0], {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0});
  auto i = eval(OpKind::OneHot, {HostTensor::from_ints(i32({2, 1}), {1, 0})},
                {{"depth", 2}}, {i32({2, 1, 2})});
  check_values(i[0], {0, 1, 1, 0});
  CHECK(infer(OpKind::OneHot, {i32({3})}, {{"depth", 0}}, {f32({3, 0})})[0] ==
        f32({3, 0}));
}

TEST_CASE("one_hot: rejects bad types", "[ir][ops][one_hot]") {
  CHECK_THAT(
      infer_error(OpKind::OneHot, {i32({3})}, {{"depth", 4}}, {f32({3, 5})}),
      Catch::Contains("one_hot: result must be a numeric tensor of "
                      "shape [3,4]"));
  CHECK_THAT(infer_error(OpKind::OneHot, {i32({3})}, {{"depth", 4}},
                         {boolean({3, 4})}),
             Catch::Contains("numeric"));
  CHECK_THAT(
      infer_error(OpKind::OneHot, {f32({3})}, {{"depth", 4}}, {f32({3, 4})}),
      Catch::Contains("must be an i32 or i64 tensor"));
  CHECK_THAT(
      infer_error(OpKind::OneHot, {i32({3})}, {{"depth", -1}}, {f32({3, 4})}),
      Catch::Contains("'depth' must be at least 0, got -1"));
}
