/// \file
/// Every differentiable primitive's gradient rule against central finite
/// differences in f64 on the interpreter: loss = reduce_sum(op(inputs) *
/// random weights), with odd and broadcasting shapes, and inputs chosen away
/// from kinks and ties (relu, abs, max, reductions, pooling).
// SPDX-License-Identifier: Apache-2.0
#include "GradCheck.h"

using namespace kiln;
using namespace kiln::test;

namespace {

Attrs reduce(std::vector<int64_t> axes, bool keepdims) {
  return {{"axes", Attribute::ints(axes)}, {"keepdims", Attribute(keepdims)}};
}

Attrs conv(std::vector<int64_t> stride, std::vector<int64_t> padding,
           std::vector<int64_t> dilation, int64_t groups) {
  return {{"stride", Attribute::ints(stride)},
          {"padding", Attribute::ints(padding)},
          {"dilation", Attribute::ints(dilation)},
          {"groups", Attribute(groups)}};
}

Attrs with(Attrs a, const char *name, Attribute v) {
  a.emplace_back(name, std::move(v));
  return a;
}

Attrs pool(std::vector<int64_t> k, std::vector<int64_t> s,
           std::vector<int64_t> p) {
  return {{"kernel", Attribute::ints(k)},
          {"stride", Attribute::ints(s)},
          {"padding", Attribute::ints(p)}};
}

} // namespace

TEST_CASE("autodiff: unary elementwise gradients", "[autodiff]") {
  Rng r(1);
  TensorType t = f64({3, 5});
  for (OpKind op : {OpKind::Neg, OpKind::Exp, OpKind::Tanh, OpKind::Sigmoid,
                    OpKind::Sin, OpKind::Cos, OpKind::Erf})
    check_op(op, {r.uniform(t, -2, 2)});
  for (OpKind op : {OpKind::Log, OpKind::Sqrt, OpKind::Rsqrt})
    check_op(op, {r.uniform(t, 0.3, 3)});
  // Away from the kink at 0.
  for (OpKind op : {OpKind::Abs, OpKind::Relu})
    check_op(op, {r.distinct(t, 0.05)});
}

TEST_CASE("autodiff: piecewise-constant ops have zero gradient", "[autodiff]") {
  Rng r(2);
  // Values k + 0.25: away from the steps of floor, ceil, round and sign.
  HostTensor x = r.distinct(f64({2, 3}), 0.25, 1.0);
  for (OpKind op : {OpKind::Sign, OpKind::Floor, OpKind::Ceil, OpKind::Round})
    check_op(op, {x});
}

TEST_CASE("autodiff: binary elementwise gradients with broadcasting",
          "[autodiff]") {
  Rng r(3);
  std::vector<std::pair<Shape, Shape>> shapes = {
      {{2, 3, 4}, {3, 1}}, {{1, 4}, {3, 1}}, {{5}, {}}, {{2, 3}, {2, 3}}};
  for (auto &[sa, sb] : shapes) {
    for (OpKind op : {OpKind::Add, OpKind::Sub, OpKind::Mul})
      check_op(op, {r.uniform(f64(sa)), r.uniform(f64(sb))});
    check_op(OpKind::Div, {r.uniform(f64(sa)), r.uniform(f64(sb), 0.5, 2)});
    check_op(OpKind::Pow, {r.uniform(f64(sa), 0.5, 2), r.uniform(f64(sb))});
    // Operands on interleaved grids never tie.
    for (OpKind op : {OpKind::Max, OpKind::Min})
      check_op(op, {r.distinct(f64(sa), 0.0), r.distinct(f64(sb), 0.1)});
  }
}

TEST_CASE("autodiff: select and cast gradients", "[autodiff]") {
  Rng r(4);
  HostTensor c = HostTensor::from(boolean({3, 1}), {1, 0, 1});
  check_op(OpKind::Select, {c, r.uniform(f64({2, 3, 4})), r.uniform(f64({4}))});
  // f32 -> f64: the loss is linear in x, so a step of 2^-8 is exact.
  check_op(OpKind::Cast, {r.uniform(f32({3, 2}))}, {}, {f64({3, 2})}, 1.0 / 256,
           1e-6);
}

TEST_CASE("autodiff: reduction gradients", "[autodiff]") {
  Rng r(5);
  TensorType t = f64({3, 4, 5});
  std::vector<std::pair<std::vector<int64_t>, bool>> cases = {
      {{1}, false}, {{0, 2}, true}, {{-1}, false}, {{0, 1, 2}, false}};
  for (auto &[axes, keep] : cases) {
    check_op(OpKind::ReduceSum, {r.uniform(t)}, reduce(axes, keep));
    check_op(OpKind::ReduceMean, {r.uniform(t)}, reduce(axes, keep));
    check_op(OpKind::ReduceMax, {r.distinct(t)}, reduce(axes, keep));
    check_op(OpKind::ReduceMin, {r.distinct(t)}, reduce(axes, keep));
  }
}

TEST_CASE("autodiff: layout gradients", "[autodiff]") {
  Rng r(6);
  HostTensor x = r.uniform(f64({2, 3, 5}));
  check_op(OpKind::Reshape, {x}, {}, {f64({5, 6})});
  check_op(OpKind::Transpose, {x}, {{"perm", Attribute::ints({2, 0, 1})}});
  check_op(OpKind::BroadcastTo, {r.uniform(f64({3, 1}))}, {}, {f64({2, 3, 4})});
  for (std::vector<int64_t> step :
       std::vector<std::vector<int64_t>>{{1, 1, 1}, {1, 2, 3}, {2, 1, 2}})
    check_op(OpKind::Slice, {x},
             {{"start", Attribute::ints({0, 1, 1})},
              {"stop", Attribute::ints({2, 3, 5})},
              {"step", Attribute::ints(step)}});
  check_op(OpKind::Concat,
           {r.uniform(f64({2, 1, 3})), r.uniform(f64({2, 4, 3})),
            r.uniform(f64({2, 2, 3}))},
           {{"axis", Attribute(1)}});
  check_op(OpKind::Pad, {x},
           {{"low", Attribute::ints({1, 0, 2})},
            {"high", Attribute::ints({0, 2, 1})},
            {"value", Attribute(3.0)}});
}

TEST_CASE("autodiff: gather and scatter_add gradients", "[autodiff]") {
  Rng r(7);
  // Repeated and out-of-range (clamped) indices accumulate alike.
  HostTensor ids = HostTensor::from_ints(i64({2, 3}), {0, 3, 3, 1, 7, -2});
  check_op(OpKind::Gather, {r.uniform(f64({4, 5})), ids},
           {{"axis", Attribute(0)}});
  check_op(OpKind::Gather, {r.uniform(f64({2, 4, 3})), ids},
           {{"axis", Attribute(1)}});
  check_op(OpKind::ScatterAdd,
           {r.uniform(f64({2, 4, 3})), ids, r.uniform(f64({2, 2, 3, 3}))},
           {{"axis", Attribute(1)}});
}

TEST_CASE("autodiff: matmul gradients with batch broadcasting", "[autodiff]") {
  Rng r(8);
  check_op(OpKind::Matmul, {r.uniform(f64({3, 4})), r.uniform(f64({4, 2}))});
  check_op(OpKind::Matmul,
           {r.uniform(f64({2, 1, 3, 4})), r.uniform(f64({5, 4, 2}))});
  check_op(OpKind::Matmul, {r.uniform(f64({3, 4})), r.uniform(f64({2, 4, 3}))});
  // A matrix under a batched operand: its gradient is one product over the
  // rows of every batch (K = 2*3*5, and 1*3 with an extent-1 batch dim).
  check_op(OpKind::Matmul,
           {r.uniform(f64({2, 3, 5, 4})), r.uniform(f64({4, 2}))});
  check_op(OpKind::Matmul, {r.uniform(f64({1, 3, 4})), r.uniform(f64({4, 2}))});
}

TEST_CASE("autodiff: conv2d gradients", "[autodiff]") {
  Rng r(9);
  // stride 2 on an odd size needs output_padding in the input gradient.
  check_op(OpKind::Conv2d,
           {r.uniform(f64({2, 2, 5, 6})), r.uniform(f64({3, 2, 3, 3}))},
           conv({2, 2}, {1, 1}, {1, 1}, 1));
  check_op(OpKind::Conv2d,
           {r.uniform(f64({1, 4, 7, 5})), r.uniform(f64({6, 2, 2, 3}))},
           conv({1, 2}, {1, 0}, {2, 1}, 2));
  check_op(OpKind::Conv2d,
           {r.uniform(f64({1, 3, 6, 6})), r.uniform(f64({3, 1, 3, 3}))},
           conv({3, 3}, {0, 0}, {1, 1}, 3));
}

TEST_CASE("autodiff: conv2d_transpose gradients", "[autodiff]") {
  Rng r(10);
  Attrs a = with(conv({2, 2}, {1, 1}, {1, 1}, 1), "output_padding",
                 Attribute::ints({1, 0}));
  check_op(OpKind::Conv2dTranspose,
           {r.uniform(f64({2, 3, 3, 4})), r.uniform(f64({3, 2, 3, 3}))}, a);
  a = with(conv({1, 2}, {0, 1}, {1, 1}, 2), "output_padding",
           Attribute::ints({0, 1}));
  check_op(OpKind::Conv2dTranspose,
           {r.uniform(f64({1, 4, 3, 3})), r.uniform(f64({4, 3, 2, 3}))}, a);
  // output_padding >= stride (allowed below the dilation).
  a = with(conv({1, 1}, {0, 0}, {2, 2}, 1), "output_padding",
           Attribute::ints({1, 1}));
  check_op(OpKind::Conv2dTranspose,
           {r.uniform(f64({1, 2, 3, 3})), r.uniform(f64({2, 2, 2, 2}))}, a);
}

TEST_CASE("autodiff: conv2d_weight_grad gradients (second order)",
          "[autodiff]") {
  Rng r(11);
  Attrs a =
      with(conv({2, 1}, {1, 1}, {1, 1}, 2), "kernel", Attribute::ints({3, 2}));
  check_op(OpKind::Conv2dWeightGrad,
           {r.uniform(f64({2, 4, 5, 4})), r.uniform(f64({2, 6, 3, 5}))}, a);
}

TEST_CASE("autodiff: pooling gradients", "[autodiff]") {
  Rng r(12);
  HostTensor x = r.distinct(f64({2, 2, 5, 6}));
  check_op(OpKind::MaxPool2d, {x}, pool({2, 2}, {2, 2}, {0, 0}));
  check_op(OpKind::MaxPool2d, {x}, pool({3, 3}, {2, 1}, {1, 1}));
  for (bool include : {true, false}) {
    Attrs a = with(pool({3, 2}, {2, 2}, {1, 1}), "count_include_pad",
                   Attribute(include));
    check_op(OpKind::AvgPool2d, {x}, a);
  }
  check_op(
      OpKind::AvgPool2d, {x},
      with(pool({2, 2}, {1, 1}, {0, 0}), "count_include_pad", Attribute(true)));
}
