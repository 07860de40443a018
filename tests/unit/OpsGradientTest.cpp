/// \file
/// Unit tests of the gradient primitives conv2d_weight_grad and
/// max_pool2d_grad: shape rules, hand-worked values, and the adjoint
/// identity that defines conv2d_weight_grad:
/// <conv2d(x, w), g> = <w, conv2d_weight_grad(x, g)>.
// SPDX-License-Identifier: Apache-2.0
#include "GradCheck.h"

#include <cmath>

using namespace kiln;
using namespace kiln::test;

namespace {

Attrs wgrad(std::vector<int64_t> kernel, std::vector<int64_t> stride = {1, 1},
            std::vector<int64_t> padding = {0, 0},
            std::vector<int64_t> dilation = {1, 1}, int64_t groups = 1) {
  return {{"kernel", Attribute::ints(kernel)},
          {"stride", Attribute::ints(stride)},
          {"padding", Attribute::ints(padding)},
          {"dilation", Attribute::ints(dilation)},
          {"groups", Attribute(groups)}};
}

Attrs conv_of(const Attrs &a) {
  Attrs r;
  for (const NamedAttr &x : a)
    if (x.first != "kernel")
      r.push_back(x);
  return r;
}

Attrs pool(std::vector<int64_t> k, std::vector<int64_t> s,
           std::vector<int64_t> p = {0, 0}) {
  return {{"kernel", Attribute::ints(k)},
          {"stride", Attribute::ints(s)},
          {"padding", Attribute::ints(p)}};
}

double dot(const HostTensor &a, const HostTensor &b) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    s += a.get(i) * b.get(i);
  return s;
}

} // namespace

TEST_CASE("conv2d_weight_grad: shapes", "[ir][ops][conv2d_weight_grad]") {
  CHECK(infer(OpKind::Conv2dWeightGrad,
              {f32({8, 3, 32, 32}), f32({8, 16, 32, 32})},
              wgrad({3, 3}, {1, 1}, {1, 1}))[0] == f32({16, 3, 3, 3}));
  CHECK(infer(OpKind::Conv2dWeightGrad, {f32({1, 4, 8, 8}), f32({1, 6, 4, 4})},
              wgrad({3, 3}, {2, 2}, {1, 1}, {1, 1}, 2))[0] ==
        f32({6, 2, 3, 3}));
}

TEST_CASE("conv2d_weight_grad: rejects a gradient of the wrong shape",
          "[ir][ops][conv2d_weight_grad]") {
  CHECK(infer_error(OpKind::Conv2dWeightGrad,
                    {f32({1, 3, 8, 8}), f32({1, 4, 7, 8})}, wgrad({3, 3}),
                    {}) ==
        "conv2d_weight_grad: the gradient f32[1,4,7,8] must have the type of "
        "conv2d's result, f32[1,4,6,6]");
  CHECK(infer_error(OpKind::Conv2dWeightGrad,
                    {f32({1, 3, 8, 8}), f32({1, 4, 6, 6})},
                    wgrad({3, 3}, {1, 1}, {0, 0}, {1, 1}, 2))
            .find("'groups' (2) must divide") != std::string::npos);
  CHECK(infer_error(OpKind::Conv2dWeightGrad,
                    {f32({1, 3, 8, 8}), f64({1, 4, 6, 6})}, wgrad({3, 3}))
            .find("dtypes differ") != std::string::npos);
}

TEST_CASE("conv2d_weight_grad: hand-worked values",
          "[ir][ops][conv2d_weight_grad]") {
  // x = 1..9 as 3x3, g = ones 2x2, kernel 2x2: each weight sums the 2x2
  // block of x it meets: w[a][b] = sum x[a..a+1][b..b+1].
  HostTensor x =
      HostTensor::from(f64({1, 1, 3, 3}), {1, 2, 3, 4, 5, 6, 7, 8, 9});
  HostTensor g = HostTensor::splat(f64({1, 1, 2, 2}), 1);
  check_values(eval(OpKind::Conv2dWeightGrad, {x, g}, wgrad({2, 2}))[0],
               {12, 16, 24, 28});
  // Padding 1, stride 2: g at (0,0) and (1,1) of a 2x2 output.
  HostTensor g2 = HostTensor::from(f64({1, 1, 2, 2}), {1, 0, 0, 10});
  check_values(
      eval(OpKind::Conv2dWeightGrad, {x, g2}, wgrad({2, 2}, {2, 2}, {1, 1}))[0],
      {0 + 50, 0 + 60, 0 + 80, 1 + 90});
}

TEST_CASE("conv2d_weight_grad: the adjoint of conv2d in its weight",
          "[ir][ops][conv2d_weight_grad]") {
  Rng r(3);
  struct Case {
    Shape x, w;
    Attrs a;
  };
  std::vector<Case> cases = {
      {{2, 3, 6, 5}, {4, 3, 3, 2}, wgrad({3, 2}, {2, 1}, {1, 1})},
      {{1, 4, 7, 7}, {6, 2, 2, 3}, wgrad({2, 3}, {1, 2}, {1, 0}, {2, 1}, 2)}};
  for (const Case &c : cases) {
    HostTensor x = r.uniform(f64(c.x)), w = r.uniform(f64(c.w));
    HostTensor y = eval(OpKind::Conv2d, {x, w}, conv_of(c.a))[0];
    HostTensor g = r.uniform(y.type());
    HostTensor dw = eval(OpKind::Conv2dWeightGrad, {x, g}, c.a)[0];
    REQUIRE(dw.type() == w.type());
    CHECK_THAT(dot(y, g), Catch::Matchers::WithinRel(dot(w, dw), 1e-12));
  }
}

TEST_CASE("max_pool2d_grad: shapes and errors", "[ir][ops][max_pool2d_grad]") {
  CHECK(infer(OpKind::MaxPool2dGrad, {f32({2, 3, 8, 8}), f32({2, 3, 4, 4})},
              pool({2, 2}, {2, 2}))[0] == f32({2, 3, 8, 8}));
  CHECK(infer_error(OpKind::MaxPool2dGrad,
                    {f32({2, 3, 8, 8}), f32({2, 3, 3, 4})},
                    pool({2, 2}, {2, 2})) ==
        "max_pool2d_grad: the gradient f32[2,3,3,4] must have the type of "
        "max_pool2d's result, f32[2,3,4,4]");
  CHECK(infer_error(OpKind::MaxPool2dGrad,
                    {i32({2, 3, 8, 8}), i32({2, 3, 4, 4})},
                    pool({2, 2}, {2, 2}))
            .find("must be a float tensor") != std::string::npos);
}

TEST_CASE("max_pool2d_grad: routes to the first maximum of each window",
          "[ir][ops][max_pool2d_grad]") {
  // 1x1x3x3, kernel 2, stride 1: windows overlap, so the centre (9)
  // collects all four gradients; ties go to the first in row-major order.
  HostTensor x =
      HostTensor::from(f64({1, 1, 3, 3}), {1, 2, 3, 4, 9, 6, 7, 8, 5});
  HostTensor g = HostTensor::from(f64({1, 1, 2, 2}), {1, 2, 3, 4});
  check_values(eval(OpKind::MaxPool2dGrad, {x, g}, pool({2, 2}, {1, 1}))[0],
               {0, 0, 0, 0, 10, 0, 0, 0, 0});
  HostTensor ties = HostTensor::splat(f64({1, 1, 2, 2}), 7);
  HostTensor g1 = HostTensor::splat(f64({1, 1, 1, 1}), 5);
  check_values(eval(OpKind::MaxPool2dGrad, {ties, g1}, pool({2, 2}, {2, 2}))[0],
               {5, 0, 0, 0});
  // Padding never receives gradient; NaN counts as the maximum.
  HostTensor n = HostTensor::from(f64({1, 1, 2, 2}), {1, std::nan(""), 3, 2});
  HostTensor g9 =
      HostTensor::from(f64({1, 1, 3, 3}), {1, 2, 3, 4, 5, 6, 7, 8, 9});
  check_values(
      eval(OpKind::MaxPool2dGrad, {n, g9}, pool({2, 2}, {1, 1}, {1, 1}))[0],
      {1, 2 + 3 + 5 + 6, 4 + 7 + 8, 9});
}
