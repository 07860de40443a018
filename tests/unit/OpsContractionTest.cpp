/// \file
/// Unit tests of matmul, conv2d and conv2d_transpose: shape rules,
/// hand-worked values, and conv2d_transpose as the adjoint of conv2d.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

using namespace kiln;
using namespace kiln::test;

namespace {
Attrs conv(std::vector<int64_t> stride, std::vector<int64_t> pad,
           std::vector<int64_t> dil = {1, 1}, int64_t groups = 1) {
  return {{"stride", Attribute::ints(stride)},
          {"padding", Attribute::ints(pad)},
          {"dilation", Attribute::ints(dil)},
          {"groups", Attribute(groups)}};
}
// 1x1x3x3 with values 1..9.
HostTensor x33() {
  return HostTensor::from(f32({1, 1, 3, 3}), {1, 2, 3, 4, 5, 6, 7, 8, 9});
}
HostTensor ones(TensorType t) { return HostTensor::splat(std::move(t), 1.0); }
/// Deterministic, irregular test data.
HostTensor ramp(TensorType t) {
  HostTensor r(std::move(t));
  for (int64_t i = 0; i < r.numel(); ++i)
    r.set(i, double((i * 37) % 11) / 4.0 - 1.0);
  return r;
}
double dot(const HostTensor &a, const HostTensor &b) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    s += a.get(i) * b.get(i);
  return s;
}
} // namespace

// ---- matmul --------------------------------------------------------------

TEST_CASE("matmul: shapes with broadcast batch dims", "[ir][ops][matmul]") {
  CHECK(infer(OpKind::Matmul, {f32({256, 784}), f32({784, 1024})})[0] ==
        f32({256, 1024}));
  CHECK(infer(OpKind::Matmul, {f32({3, 1, 2, 4}), f32({5, 4, 6})})[0] ==
        f32({3, 5, 2, 6}));
  CHECK(infer(OpKind::Matmul, {i32({2, 0}), i32({0, 3})})[0] == i32({2, 3}));
}

TEST_CASE("matmul: values", "[ir][ops][matmul]") {
  auto a = HostTensor::from(f32({2, 2}), {1, 2, 3, 4});
  auto b = HostTensor::from(f32({2, 2}), {5, 6, 7, 8});
  check_values(eval(OpKind::Matmul, {a, b})[0], {19, 22, 43, 50});
  // Batch of two [1,2] rows against one shared [2,1] column.
  auto ab = HostTensor::from(f64({2, 1, 2}), {1, 2, 3, 4});
  auto bb = HostTensor::from(f64({2, 1}), {10, 1});
  auto r = eval(OpKind::Matmul, {ab, bb})[0];
  CHECK(r.type() == f64({2, 1, 1}));
  check_values(r, {12, 34});
  auto ia = HostTensor::from_ints(i32({1, 2}), {3, -2});
  auto ib = HostTensor::from_ints(i32({2, 1}), {4, 5});
  CHECK(eval(OpKind::Matmul, {ia, ib})[0].get_int(0) == 2);
  // K = 0 gives zeros.
  check_values(eval(OpKind::Matmul,
                    {HostTensor(f32({2, 0})), HostTensor(f32({0, 1}))})[0],
               {0, 0});
}

TEST_CASE("matmul: rejects mismatched inner dims", "[ir][ops][matmul]") {
  CHECK_THAT(infer_error(OpKind::Matmul, {f32({256, 784}), f32({785, 10})}),
             Catch::Contains("matmul: inner dimensions differ (784 vs 785)"));
  CHECK_THAT(infer_error(OpKind::Matmul, {f32({4}), f32({4, 2})}),
             Catch::Contains("operands must have rank >= 2"));
  CHECK_THAT(infer_error(OpKind::Matmul, {f32({2, 2}), f64({2, 2})}),
             Catch::Contains("operand dtypes differ"));
  CHECK_THAT(infer_error(OpKind::Matmul, {f32({3, 2, 2}), f32({4, 2, 2})}),
             Catch::Contains("batch dimensions [3] and [4] do not broadcast"));
  CHECK_THAT(infer_error(OpKind::Matmul, {boolean({2, 2}), boolean({2, 2})}),
             Catch::Contains("operands must be numeric"));
}

// ---- conv2d --------------------------------------------------------------

TEST_CASE("conv2d: shapes", "[ir][ops][conv2d]") {
  CHECK(infer(OpKind::Conv2d, {f32({8, 3, 32, 32}), f32({16, 3, 3, 3})},
              conv({1, 1}, {1, 1}))[0] == f32({8, 16, 32, 32}));
  CHECK(infer(OpKind::Conv2d, {f32({1, 4, 9, 10}), f32({6, 2, 3, 3})},
              conv({2, 3}, {0, 1}, {2, 1}, 2))[0] == f32({1, 6, 3, 4}));
  CHECK(infer(OpKind::Conv2d, {f32({1, 3, 5, 5}), f32({2, 3, 3, 3})})[0] ==
        f32({1, 2, 3, 3}));
}

TEST_CASE("conv2d: values with stride, padding and dilation",
          "[ir][ops][conv2d]") {
  HostTensor w = ones(f32({1, 1, 2, 2}));
  check_values(eval(OpKind::Conv2d, {x33(), w})[0], {12, 16, 24, 28});
  auto p = eval(OpKind::Conv2d, {x33(), w}, conv({1, 1}, {1, 1}))[0];
  CHECK(p.type() == f32({1, 1, 4, 4}));
  check_values(p, {1, 3, 5, 3, 5, 12, 16, 9, 11, 24, 28, 15, 7, 15, 17, 9});
  check_values(eval(OpKind::Conv2d, {x33(), w}, conv({2, 2}, {1, 1}))[0],
               {1, 5, 11, 28});
  check_values(
      eval(OpKind::Conv2d, {x33(), w}, conv({1, 1}, {0, 0}, {2, 2}))[0], {20});
  // The weight is not flipped (cross-correlation).
  auto wd = HostTensor::from(f32({1, 1, 1, 2}), {1, -1});
  check_values(eval(OpKind::Conv2d, {x33(), wd})[0], {-1, -1, -1, -1, -1, -1});
}

TEST_CASE("conv2d: groups and channels", "[ir][ops][conv2d]") {
  auto x = HostTensor::from(f32({1, 2, 1, 1}), {2, 3});
  auto w = HostTensor::from(f32({2, 1, 1, 1}), {10, 100});
  check_values(eval(OpKind::Conv2d, {x, w}, conv({1, 1}, {0, 0}, {1, 1}, 2))[0],
               {20, 300});
  auto wf = HostTensor::from(f32({1, 2, 1, 1}), {10, 100});
  check_values(eval(OpKind::Conv2d, {x, wf})[0], {320});
}

TEST_CASE("conv2d: rejects bad shapes and attributes", "[ir][ops][conv2d]") {
  CHECK_THAT(
      infer_error(OpKind::Conv2d, {f32({1, 3, 8, 8}), f32({4, 2, 3, 3})}),
      Catch::Contains("conv2d: channels do not match: input "
                      "f32[1,3,8,8] has C=3"));
  CHECK_THAT(infer_error(OpKind::Conv2d, {f32({1, 4, 8, 8}), f32({3, 2, 3, 3})},
                         conv({1, 1}, {0, 0}, {1, 1}, 2)),
             Catch::Contains("O divisible by groups"));
  CHECK_THAT(
      infer_error(OpKind::Conv2d, {f32({1, 1, 2, 2}), f32({1, 1, 3, 3})}),
      Catch::Contains("output spatial size 0x0 is not positive"));
  CHECK_THAT(infer_error(OpKind::Conv2d, {f32({1, 1, 5, 5}), f32({1, 1, 3, 3})},
                         conv({1, 1}, {0, 0}, {3, 1})),
             Catch::Contains("not positive"));
  CHECK_THAT(infer_error(OpKind::Conv2d, {f32({1, 8, 8}), f32({1, 1, 3, 3})}),
             Catch::Contains("expects a rank-4 NCHW input as operand 0"));
  CHECK_THAT(infer_error(OpKind::Conv2d, {f32({1, 1, 8, 8}), f32({1, 1, 3, 3})},
                         conv({0, 1}, {0, 0})),
             Catch::Contains("'stride' entries must be at least 1, got 0"));
  CHECK_THAT(infer_error(OpKind::Conv2d, {f32({1, 1, 8, 8}), f32({1, 1, 3, 3})},
                         conv({1, 1}, {-1, 0})),
             Catch::Contains("'padding' entries must be at least 0"));
  CHECK_THAT(infer_error(OpKind::Conv2d, {f32({1, 1, 8, 8}), f32({1, 1, 3, 3})},
                         conv({1, 1}, {0, 0}, {1, 1}, 0)),
             Catch::Contains("'groups' must be at least 1, got 0"));
}

// ---- conv2d_transpose ----------------------------------------------------

TEST_CASE("conv2d_transpose: shapes", "[ir][ops][conv2d_transpose]") {
  Attrs a = conv({2, 2}, {1, 1});
  a.emplace_back("output_padding", Attribute::ints({1, 1}));
  CHECK(infer(OpKind::Conv2dTranspose,
              {f32({8, 32, 32, 32}), f32({32, 16, 3, 3})},
              a)[0] == f32({8, 16, 64, 64}));
  CHECK(infer(OpKind::Conv2dTranspose, {f32({1, 4, 3, 3}), f32({4, 3, 2, 2})},
              conv({1, 1}, {0, 0}, {1, 1}, 2))[0] == f32({1, 6, 4, 4}));
}

TEST_CASE("conv2d_transpose: values", "[ir][ops][conv2d_transpose]") {
  auto x = HostTensor::from(f32({1, 1, 2, 2}), {1, 2, 3, 4});
  HostTensor w = ones(f32({1, 1, 2, 2}));
  check_values(eval(OpKind::Conv2dTranspose, {x, w})[0],
               {1, 3, 2, 4, 10, 6, 3, 7, 4});
  check_values(eval(OpKind::Conv2dTranspose, {x, w}, conv({2, 2}, {0, 0}))[0],
               {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4});
  Attrs op = conv({2, 2}, {0, 0});
  op.emplace_back("output_padding", Attribute::ints({1, 0}));
  auto r = eval(OpKind::Conv2dTranspose, {x, w}, op)[0];
  CHECK(r.type() == f32({1, 1, 5, 4}));
  check_values(r, {1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4, 0, 0, 0, 0});
  // Padding crops the border: the centre of the stride-1 result.
  check_values(eval(OpKind::Conv2dTranspose, {x, w}, conv({1, 1}, {1, 1}))[0],
               {10});
}

TEST_CASE("conv2d_transpose: is the adjoint of conv2d",
          "[ir][ops][conv2d_transpose]") {
  // <conv2d(x, w), y> == <x, conv2d_transpose(y, w)> for the same weight.
  for (int64_t groups : {1, 2}) {
    Attrs a = conv({2, 2}, {1, 1}, {1, 1}, groups);
    HostTensor x = ramp(f64({2, 4, 5, 5}));
    HostTensor w = ramp(f64({6, 4 / groups, 3, 3}));
    HostTensor y = ramp(f64({2, 6, 3, 3}));
    auto cx = eval(OpKind::Conv2d, {x, w}, a)[0];
    REQUIRE(cx.type() == y.type());
    auto ty = eval(OpKind::Conv2dTranspose, {y, w}, a)[0];
    REQUIRE(ty.type() == x.type());
    CHECK_THAT(dot(cx, y), Catch::Matchers::WithinRel(dot(x, ty), 1e-12));
  }
}

TEST_CASE("conv2d_transpose: rejects bad attributes",
          "[ir][ops][conv2d_transpose]") {
  Attrs a = conv({2, 2}, {0, 0});
  a.emplace_back("output_padding", Attribute::ints({2, 0}));
  CHECK_THAT(
      infer_error(OpKind::Conv2dTranspose,
                  {f32({1, 1, 2, 2}), f32({1, 1, 2, 2})}, a),
      Catch::Contains("conv2d_transpose: 'output_padding' 2 must be "
                      "smaller than the stride (2) or the dilation (1)"));
  CHECK_THAT(infer_error(OpKind::Conv2dTranspose,
                         {f32({1, 3, 2, 2}), f32({2, 1, 2, 2})}),
             Catch::Contains("channels do not match"));
  CHECK_THAT(infer_error(OpKind::Conv2dTranspose,
                         {f32({1, 3, 2, 2}), f32({3, 1, 2, 2})},
                         conv({1, 1}, {0, 0}, {1, 1}, 2)),
             Catch::Contains("I divisible by groups"));
  CHECK_THAT(infer_error(OpKind::Conv2dTranspose,
                         {f32({1, 1, 1, 1}), f32({1, 1, 1, 1})},
                         conv({1, 1}, {1, 1})),
             Catch::Contains("is not positive"));
}
