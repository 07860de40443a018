/// \file
/// Unit tests of the reductions (reduce_sum, reduce_max, reduce_min,
/// reduce_mean) and of argmax/argmin: shape rules and hand-worked values.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include <cmath>
#include <limits>

using namespace kiln;
using namespace kiln::test;

namespace {
Attrs axes(std::vector<int64_t> a, bool keep = false) {
  return {{"axes", Attribute::ints(a)}, {"keepdims", keep}};
}
const double kNaN = std::nan("");
const double kInf = std::numeric_limits<double>::infinity();
// [[1, 2, 3], [4, 5, 6]]
HostTensor m23() { return HostTensor::from(f32({2, 3}), {1, 2, 3, 4, 5, 6}); }
} // namespace

TEST_CASE("reduce_sum: shapes with and without keepdims",
          "[ir][ops][reduce_sum]") {
  CHECK(infer(OpKind::ReduceSum, {f32({2, 3, 4})}, axes({1}))[0] ==
        f32({2, 4}));
  CHECK(infer(OpKind::ReduceSum, {f32({2, 3, 4})}, axes({-1, 0}, true))[0] ==
        f32({1, 3, 1}));
  CHECK(infer(OpKind::ReduceSum, {i32({2, 3})}, axes({0, 1}))[0] == i32({}));
  // An empty list reduces nothing.
  CHECK(infer(OpKind::ReduceSum, {f32({2, 3})}, axes({}))[0] == f32({2, 3}));
}

TEST_CASE("reduce_sum: values", "[ir][ops][reduce_sum]") {
  check_values(eval(OpKind::ReduceSum, {m23()}, axes({1}))[0], {6, 15});
  check_values(eval(OpKind::ReduceSum, {m23()}, axes({0}))[0], {5, 7, 9});
  auto all = eval(OpKind::ReduceSum, {m23()}, axes({0, 1}, true))[0];
  CHECK(all.type() == f32({1, 1}));
  check_values(all, {21});
  check_values(eval(OpKind::ReduceSum, {m23()}, axes({}))[0],
               {1, 2, 3, 4, 5, 6});
  auto ints = HostTensor::from_ints(i64({3}), {int64_t(1) << 53, 1, 1});
  CHECK(eval(OpKind::ReduceSum, {ints}, axes({0}))[0].get_int(0) ==
        (int64_t(1) << 53) + 2);
  // An empty extent sums to 0.
  check_values(eval(OpKind::ReduceSum, {HostTensor(f32({2, 0}))}, axes({1}))[0],
               {0, 0});
}

TEST_CASE("reduce_max and reduce_min: values and NaN",
          "[ir][ops][reduce_max]") {
  check_values(eval(OpKind::ReduceMax, {m23()}, axes({1}))[0], {3, 6});
  check_values(eval(OpKind::ReduceMin, {m23()}, axes({0}))[0], {1, 2, 3});
  auto x = HostTensor::from(f64({2, 3}), {1, kNaN, 3, -1, -5, 2});
  check_values(eval(OpKind::ReduceMax, {x}, axes({1}))[0], {kNaN, 2});
  check_values(eval(OpKind::ReduceMin, {x}, axes({1}))[0], {kNaN, -5});
  auto i = HostTensor::from_ints(i32({3}), {-4, 9, 2});
  CHECK(eval(OpKind::ReduceMax, {i}, axes({0}))[0].get_int(0) == 9);
  CHECK(eval(OpKind::ReduceMin, {i}, axes({0}))[0].get_int(0) == -4);
}

TEST_CASE("reduce_max and reduce_min: empty extents give the identity",
          "[ir][ops][reduce_min]") {
  HostTensor e(f32({2, 0}));
  check_values(eval(OpKind::ReduceMax, {e}, axes({1}))[0], {-kInf, -kInf});
  check_values(eval(OpKind::ReduceMin, {e}, axes({1}))[0], {kInf, kInf});
  auto imax = eval(OpKind::ReduceMax, {HostTensor(i32({0}))}, axes({0}))[0];
  CHECK(imax.get_int(0) == std::numeric_limits<int32_t>::min());
  auto imin = eval(OpKind::ReduceMin, {HostTensor(i64({0}))}, axes({0}))[0];
  CHECK(imin.get_int(0) == std::numeric_limits<int64_t>::max());
}

TEST_CASE("reduce_mean: values", "[ir][ops][reduce_mean]") {
  check_values(eval(OpKind::ReduceMean, {m23()}, axes({1}))[0], {2, 5});
  check_values(eval(OpKind::ReduceMean, {m23()}, axes({0, 1}))[0], {3.5});
  check_values(
      eval(OpKind::ReduceMean, {HostTensor(f32({0, 2}))}, axes({0}))[0],
      {kNaN, kNaN});
}

TEST_CASE("reduce: rejects bad axes and dtypes", "[ir][ops][reduce_sum]") {
  CHECK_THAT(infer_error(OpKind::ReduceSum, {f32({2, 3})}, axes({2})),
             Catch::Contains("reduce_sum: axis 2 is out of range for f32[2,3] "
                             "(valid: -2 to 1)"));
  CHECK_THAT(infer_error(OpKind::ReduceMax, {f32({2, 3})}, axes({1, -1})),
             Catch::Contains("axis -1 is listed twice"));
  CHECK_THAT(infer_error(OpKind::ReduceMin, {boolean({2})}, axes({0})),
             Catch::Contains("operand must be a numeric tensor, got bool[2]"));
  CHECK_THAT(infer_error(OpKind::ReduceMean, {i32({2})}, axes({0})),
             Catch::Contains("reduce_mean: operand must be a float tensor"));
  CHECK_THAT(infer_error(OpKind::ReduceSum, {f32({2})}),
             Catch::Contains("missing attribute 'axes'"));
  CHECK_THAT(infer_error(OpKind::ReduceSum, {f32({2})},
                         {{"axes", Attribute::ints({0})}, {"keepdims", 1}}),
             Catch::Contains("attribute 'keepdims' must be true or false"));
}

// ---- argmax / argmin -----------------------------------------------------

TEST_CASE("argmax: shapes", "[ir][ops][argmax]") {
  CHECK(infer(OpKind::Argmax, {f32({2, 3})}, {{"axis", 1}})[0] == i64({2}));
  CHECK(infer(OpKind::Argmin, {i32({2, 3, 4})},
              {{"axis", -2}, {"keepdims", true}})[0] == i64({2, 1, 4}));
}

TEST_CASE("argmax: first extreme, NaN wins", "[ir][ops][argmax]") {
  auto x = HostTensor::from(f32({3, 3}), {1, 3, 3, 5, 2, kNaN, kNaN, 7, kNaN});
  check_values(eval(OpKind::Argmax, {x}, {{"axis", 1}})[0], {1, 2, 0});
  check_values(eval(OpKind::Argmin, {x}, {{"axis", 1}})[0], {0, 2, 0});
  auto y = HostTensor::from(f32({2, 3}), {1, 3, 0, 5, 2, 2});
  auto a0 = eval(OpKind::Argmax, {y}, {{"axis", 0}, {"keepdims", true}})[0];
  CHECK(a0.type() == i64({1, 3}));
  check_values(a0, {1, 0, 1});
  check_values(eval(OpKind::Argmin, {y}, {{"axis", -1}})[0], {2, 1});
}

TEST_CASE("argmax: integers compare exactly", "[ir][ops][argmax]") {
  int64_t big = int64_t(1) << 53;
  auto x = HostTensor::from_ints(i64({3}), {big, big + 1, big});
  CHECK(eval(OpKind::Argmax, {x}, {{"axis", 0}})[0].get_int(0) == 1);
  CHECK(eval(OpKind::Argmin, {x}, {{"axis", 0}})[0].get_int(0) == 0);
}

TEST_CASE("argmax: rejects empty and out-of-range axes", "[ir][ops][argmax]") {
  CHECK_THAT(infer_error(OpKind::Argmax, {f32({2, 0})}, {{"axis", 1}}),
             Catch::Contains("argmax: axis 1 of f32[2,0] is empty"));
  CHECK_THAT(infer_error(OpKind::Argmin, {f32({2, 3})}, {{"axis", -3}}),
             Catch::Contains("axis -3 is out of range for f32[2,3]"));
  CHECK_THAT(infer_error(OpKind::Argmax, {f32({2})}),
             Catch::Contains("missing attribute 'axis'"));
}
