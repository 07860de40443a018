/// \file
/// Unit tests of max_pool2d and avg_pool2d.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include <cmath>

using namespace kiln;
using namespace kiln::test;

namespace {
Attrs pool(std::vector<int64_t> k, std::vector<int64_t> s,
           std::vector<int64_t> p = {0, 0}) {
  return {{"kernel", Attribute::ints(k)},
          {"stride", Attribute::ints(s)},
          {"padding", Attribute::ints(p)}};
}
// 1x1x4x4 with values 1..16.
HostTensor x44() {
  std::vector<double> v;
  for (int i = 1; i <= 16; ++i)
    v.push_back(i);
  return HostTensor::from(f32({1, 1, 4, 4}), v);
}
} // namespace

TEST_CASE("max_pool2d: shapes", "[ir][ops][max_pool2d]") {
  CHECK(infer(OpKind::MaxPool2d, {f32({8, 3, 32, 32})},
              pool({2, 2}, {2, 2}))[0] == f32({8, 3, 16, 16}));
  CHECK(infer(OpKind::MaxPool2d, {f32({1, 1, 5, 7})},
              pool({3, 3}, {2, 1}, {1, 1}))[0] == f32({1, 1, 3, 7}));
}

TEST_CASE("max_pool2d: values, padding and NaN", "[ir][ops][max_pool2d]") {
  check_values(eval(OpKind::MaxPool2d, {x44()}, pool({2, 2}, {2, 2}))[0],
               {6, 8, 14, 16});
  auto p = eval(OpKind::MaxPool2d, {x44()}, pool({2, 2}, {2, 2}, {1, 1}))[0];
  CHECK(p.type() == f32({1, 1, 3, 3}));
  check_values(p, {1, 3, 4, 9, 11, 12, 13, 15, 16});
  auto n = HostTensor::from(f32({1, 1, 2, 2}), {1, std::nan(""), 3, 4});
  check_values(eval(OpKind::MaxPool2d, {n}, pool({2, 2}, {1, 1}))[0],
               {std::nan("")});
  auto i = HostTensor::from_ints(i32({1, 1, 2, 2}), {-5, -9, -7, -6});
  CHECK(eval(OpKind::MaxPool2d, {i}, pool({2, 2}, {1, 1}, {1, 1}))[0].get_int(
            0) == -5);
}

TEST_CASE("avg_pool2d: values with and without counting padding",
          "[ir][ops][avg_pool2d]") {
  check_values(eval(OpKind::AvgPool2d, {x44()}, pool({2, 2}, {2, 2}))[0],
               {3.5, 5.5, 11.5, 13.5});
  auto inc = eval(OpKind::AvgPool2d, {x44()}, pool({2, 2}, {2, 2}, {1, 1}))[0];
  // Corners see one element, edges two, the middle four; the divisor is 4.
  check_values(inc, {0.25, 1.25, 1, 3.5, 8.5, 5, 3.25, 7.25, 4});
  Attrs ex = pool({2, 2}, {2, 2}, {1, 1});
  ex.emplace_back("count_include_pad", false);
  check_values(eval(OpKind::AvgPool2d, {x44()}, ex)[0],
               {1, 2.5, 4, 7, 8.5, 10, 13, 14.5, 16});
}

TEST_CASE("pooling: rejects bad windows and operands",
          "[ir][ops][max_pool2d]") {
  CHECK_THAT(infer_error(OpKind::MaxPool2d, {f32({1, 1, 4, 4})},
                         pool({2, 2}, {2, 2}, {2, 0})),
             Catch::Contains("max_pool2d: padding 2 is more than half the "
                             "kernel (2); use at most 1"));
  CHECK_THAT(
      infer_error(OpKind::AvgPool2d, {f32({1, 1, 2, 2})}, pool({3, 3}, {1, 1})),
      Catch::Contains("kernel [3,3] is larger than the padded input "
                      "f32[1,1,2,2]"));
  CHECK_THAT(
      infer_error(OpKind::AvgPool2d, {i32({1, 1, 4, 4})}, pool({2, 2}, {2, 2})),
      Catch::Contains("avg_pool2d: operand must be a float tensor"));
  CHECK_THAT(
      infer_error(OpKind::MaxPool2d, {f32({1, 4, 4})}, pool({2, 2}, {2, 2})),
      Catch::Contains("expects a rank-4 NCHW input"));
  CHECK_THAT(
      infer_error(OpKind::MaxPool2d, {f32({1, 1, 4, 4})}, pool({2, 2}, {0, 2})),
      Catch::Contains("'stride' entries must be at least 1, got 0"));
  CHECK_THAT(infer_error(OpKind::MaxPool2d, {f32({1, 1, 4, 4})},
                         {{"kernel", Attribute::ints({2, 2})}}),
             Catch::Contains("missing attribute 'stride'"));
}
