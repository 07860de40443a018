/// \file
/// Op functions and operators: thin wrappers over Graph::apply that turn
/// arguments into attributes.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Ops.h"

#include "ir/Error.h"
#include "ir/OpRegistry.h"

namespace kiln {

namespace {

Tensor unary(OpKind op, Tensor x, SL loc) {
  return graph_of({x}, op_name(op), loc).apply1(op, {x}, {}, {}, loc);
}

Tensor binary(OpKind op, Tensor a, Tensor b, SL loc) {
  return graph_of({a, b}, op_name(op), loc).apply1(op, {a, b}, {}, {}, loc);
}

Attribute ints(const std::vector<int64_t> &v) { return Attribute::ints(v); }
Attribute ints(const std::array<int64_t, 2> &v) {
  return Attribute::ints({v[0], v[1]});
}

Tensor reduce(OpKind op, Tensor x, std::vector<int64_t> axes, bool keepdims,
              SL loc) {
  return graph_of({x}, op_name(op), loc)
      .apply1(op, {x}, {{"axes", ints(axes)}, {"keepdims", keepdims}}, {}, loc);
}

Tensor arg_reduce(OpKind op, Tensor x, int64_t axis, bool keepdims, SL loc) {
  return graph_of({x}, op_name(op), loc)
      .apply1(op, {x}, {{"axis", axis}, {"keepdims", keepdims}}, {}, loc);
}

Tensor random(OpKind op, Tensor seed, Tensor offset, TensorType type, SL loc) {
  return graph_of({seed, offset}, op_name(op), loc)
      .apply1(op, {seed, offset}, {}, {std::move(type)}, loc);
}

Tensor pool(OpKind op, Tensor x, const Pool2dOptions &o, SL loc) {
  Attrs attrs = {{"kernel", ints(o.kernel)},
                 {"stride", ints(o.stride)},
                 {"padding", ints(o.padding)}};
  if (op == OpKind::AvgPool2d)
    attrs.emplace_back("count_include_pad", o.count_include_pad);
  return graph_of({x}, op_name(op), loc).apply1(op, {x}, attrs, {}, loc);
}

/// The Tensor an operator operand stands for: itself, or a scalar constant
/// of \p like's dtype.
Tensor operand(const Operand &b, const Tensor &like) {
  if (!b.is_scalar)
    return b.tensor;
  return scalar_like(like, b.scalar, b.loc);
}

} // namespace

#define KILN_UNARY_FN(fn, Kind)                                                \
  Tensor fn(Tensor x, SL loc) { return unary(OpKind::Kind, x, loc); }
KILN_UNARY_FN(neg, Neg)
KILN_UNARY_FN(abs, Abs)
KILN_UNARY_FN(sign, Sign)
KILN_UNARY_FN(exp, Exp)
KILN_UNARY_FN(log, Log)
KILN_UNARY_FN(sqrt, Sqrt)
KILN_UNARY_FN(rsqrt, Rsqrt)
KILN_UNARY_FN(tanh, Tanh)
KILN_UNARY_FN(sigmoid, Sigmoid)
KILN_UNARY_FN(relu, Relu)
KILN_UNARY_FN(sin, Sin)
KILN_UNARY_FN(cos, Cos)
KILN_UNARY_FN(erf, Erf)
KILN_UNARY_FN(floor, Floor)
KILN_UNARY_FN(ceil, Ceil)
KILN_UNARY_FN(round, Round)
KILN_UNARY_FN(logical_not, Not)
KILN_UNARY_FN(is_finite, IsFinite)
#undef KILN_UNARY_FN

#define KILN_BINARY_FN(fn, Kind)                                               \
  Tensor fn(Tensor a, Tensor b, SL loc) {                                      \
    return binary(OpKind::Kind, a, b, loc);                                    \
  }
KILN_BINARY_FN(add, Add)
KILN_BINARY_FN(sub, Sub)
KILN_BINARY_FN(mul, Mul)
KILN_BINARY_FN(div, Div)
KILN_BINARY_FN(pow, Pow)
KILN_BINARY_FN(maximum, Max)
KILN_BINARY_FN(minimum, Min)
KILN_BINARY_FN(logical_and, And)
KILN_BINARY_FN(logical_or, Or)
KILN_BINARY_FN(eq, Eq)
KILN_BINARY_FN(ne, Ne)
KILN_BINARY_FN(lt, Lt)
KILN_BINARY_FN(le, Le)
KILN_BINARY_FN(gt, Gt)
KILN_BINARY_FN(ge, Ge)
#undef KILN_BINARY_FN

Tensor select(Tensor c, Tensor a, Tensor b, SL loc) {
  return graph_of({c, a, b}, "select", loc)
      .apply1(OpKind::Select, {c, a, b}, {}, {}, loc);
}

Tensor cast(Tensor x, DType dtype, SL loc) {
  return graph_of({x}, "cast", loc)
      .apply1(OpKind::Cast, {x}, {}, {{dtype, x.shape()}}, loc);
}

Tensor scalar_like(Tensor like, double value, SL loc) {
  return graph_of({like}, "constant", loc)
      .constant(value, {like.dtype(), {}}, loc);
}

Tensor iota(Graph &g, TensorType type, int64_t axis, SL loc) {
  return g.apply1(OpKind::Iota, {}, {{"axis", axis}}, {std::move(type)}, loc);
}

Tensor random_uniform(Tensor seed, Tensor offset, TensorType type, SL loc) {
  return random(OpKind::RandomUniform, seed, offset, std::move(type), loc);
}

Tensor random_normal(Tensor seed, Tensor offset, TensorType type, SL loc) {
  return random(OpKind::RandomNormal, seed, offset, std::move(type), loc);
}

Tensor reduce_sum(Tensor x, std::vector<int64_t> axes, bool keepdims, SL loc) {
  return reduce(OpKind::ReduceSum, x, std::move(axes), keepdims, loc);
}
Tensor reduce_max(Tensor x, std::vector<int64_t> axes, bool keepdims, SL loc) {
  return reduce(OpKind::ReduceMax, x, std::move(axes), keepdims, loc);
}
Tensor reduce_min(Tensor x, std::vector<int64_t> axes, bool keepdims, SL loc) {
  return reduce(OpKind::ReduceMin, x, std::move(axes), keepdims, loc);
}
Tensor reduce_mean(Tensor x, std::vector<int64_t> axes, bool keepdims, SL loc) {
  return reduce(OpKind::ReduceMean, x, std::move(axes), keepdims, loc);
}
Tensor argmax(Tensor x, int64_t axis, bool keepdims, SL loc) {
  return arg_reduce(OpKind::Argmax, x, axis, keepdims, loc);
}
Tensor argmin(Tensor x, int64_t axis, bool keepdims, SL loc) {
  return arg_reduce(OpKind::Argmin, x, axis, keepdims, loc);
}

Tensor reshape(Tensor x, Shape shape, SL loc) {
  Graph &g = graph_of({x}, "reshape", loc);
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] != -1) {
      known *= shape[i];
      continue;
    }
    if (infer >= 0)
      throw Error(loc.prefix() + "reshape: more than one -1 in " +
                  shape_str(shape));
    infer = int64_t(i);
  }
  if (infer >= 0) {
    if (known <= 0 || x.numel() % known != 0)
      throw Error(loc.prefix() + "reshape: cannot infer -1 in " +
                  shape_str(shape) + " for " + type_str(x.type()));
    shape[size_t(infer)] = x.numel() / known;
  }
  return g.apply1(OpKind::Reshape, {x}, {}, {{x.dtype(), shape}}, loc);
}

Tensor transpose(Tensor x, std::vector<int64_t> perm, SL loc) {
  return graph_of({x}, "transpose", loc)
      .apply1(OpKind::Transpose, {x}, {{"perm", ints(perm)}}, {}, loc);
}

Tensor transpose_last2(Tensor x, SL loc) {
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < x.rank(); ++i)
    perm.push_back(i);
  if (x.rank() < 2)
    throw Error(loc.prefix() + "transpose_last2: needs rank >= 2, got " +
                type_str(x.type()));
  std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
  return transpose(x, perm, loc);
}

Tensor broadcast_to(Tensor x, Shape shape, SL loc) {
  return graph_of({x}, "broadcast_to", loc)
      .apply1(OpKind::BroadcastTo, {x}, {}, {{x.dtype(), std::move(shape)}},
              loc);
}

Tensor slice(Tensor x, std::vector<int64_t> start, std::vector<int64_t> stop,
             std::vector<int64_t> step, SL loc) {
  if (step.empty())
    step.assign(start.size(), 1);
  return graph_of({x}, "slice", loc)
      .apply1(
          OpKind::Slice, {x},
          {{"start", ints(start)}, {"stop", ints(stop)}, {"step", ints(step)}},
          {}, loc);
}

Tensor slice_axis(Tensor x, int64_t axis, int64_t start, int64_t stop, SL loc) {
  int64_t a = normalize_axis(axis, x.rank());
  if (a < 0)
    throw Error(loc.prefix() + "slice: axis " + std::to_string(axis) +
                " is out of range for " + type_str(x.type()));
  std::vector<int64_t> lo(size_t(x.rank()), 0), hi = x.shape();
  lo[size_t(a)] = start;
  hi[size_t(a)] = stop;
  return slice(x, lo, hi, {}, loc);
}

Tensor concat(const std::vector<Tensor> &xs, int64_t axis, SL loc) {
  return graph_of(xs, "concat", loc)
      .apply1(OpKind::Concat, xs, {{"axis", axis}}, {}, loc);
}

Tensor pad(Tensor x, std::vector<int64_t> low, std::vector<int64_t> high,
           double value, SL loc) {
  return graph_of({x}, "pad", loc)
      .apply1(OpKind::Pad, {x},
              {{"low", ints(low)}, {"high", ints(high)}, {"value", value}}, {},
              loc);
}

Tensor gather(Tensor x, Tensor idx, int64_t axis, SL loc) {
  return graph_of({x, idx}, "gather", loc)
      .apply1(OpKind::Gather, {x, idx}, {{"axis", axis}}, {}, loc);
}

Tensor scatter_add(Tensor base, Tensor idx, Tensor src, int64_t axis, SL loc) {
  return graph_of({base, idx, src}, "scatter_add", loc)
      .apply1(OpKind::ScatterAdd, {base, idx, src}, {{"axis", axis}}, {}, loc);
}

Tensor one_hot(Tensor idx, int64_t depth, DType dtype, SL loc) {
  Shape s = idx.shape();
  s.push_back(depth);
  return graph_of({idx}, "one_hot", loc)
      .apply1(OpKind::OneHot, {idx}, {{"depth", depth}}, {{dtype, s}}, loc);
}

Tensor matmul(Tensor a, Tensor b, SL loc) {
  return binary(OpKind::Matmul, a, b, loc);
}

Tensor conv2d(Tensor x, Tensor w, const Conv2dOptions &o, SL loc) {
  return graph_of({x, w}, "conv2d", loc)
      .apply1(OpKind::Conv2d, {x, w},
              {{"stride", ints(o.stride)},
               {"padding", ints(o.padding)},
               {"dilation", ints(o.dilation)},
               {"groups", o.groups}},
              {}, loc);
}

Tensor conv2d_transpose(Tensor x, Tensor w, const Conv2dOptions &o, SL loc) {
  return graph_of({x, w}, "conv2d_transpose", loc)
      .apply1(OpKind::Conv2dTranspose, {x, w},
              {{"stride", ints(o.stride)},
               {"padding", ints(o.padding)},
               {"output_padding", ints(o.output_padding)},
               {"dilation", ints(o.dilation)},
               {"groups", o.groups}},
              {}, loc);
}

Tensor max_pool2d(Tensor x, const Pool2dOptions &o, SL loc) {
  return pool(OpKind::MaxPool2d, x, o, loc);
}

Tensor avg_pool2d(Tensor x, const Pool2dOptions &o, SL loc) {
  return pool(OpKind::AvgPool2d, x, o, loc);
}

Tensor operator+(const Tensor &a, const Operand &b) {
  return add(a, operand(b, a), b.loc);
}
Tensor operator-(const Tensor &a, const Operand &b) {
  return sub(a, operand(b, a), b.loc);
}
Tensor operator*(const Tensor &a, const Operand &b) {
  return mul(a, operand(b, a), b.loc);
}
Tensor operator/(const Tensor &a, const Operand &b) {
  return div(a, operand(b, a), b.loc);
}
Tensor operator+(double a, const Operand &b) {
  return add(scalar_like(b.tensor, a, b.loc), b.tensor, b.loc);
}
Tensor operator-(double a, const Operand &b) {
  return sub(scalar_like(b.tensor, a, b.loc), b.tensor, b.loc);
}
Tensor operator*(double a, const Operand &b) {
  return mul(scalar_like(b.tensor, a, b.loc), b.tensor, b.loc);
}
Tensor operator/(double a, const Operand &b) {
  return div(scalar_like(b.tensor, a, b.loc), b.tensor, b.loc);
}
Tensor operator-(const Tensor &a) { return neg(a, SL{}); }
Tensor operator<(const Tensor &a, const Operand &b) {
  return lt(a, operand(b, a), b.loc);
}
Tensor operator<=(const Tensor &a, const Operand &b) {
  return le(a, operand(b, a), b.loc);
}
Tensor operator>(const Tensor &a, const Operand &b) {
  return gt(a, operand(b, a), b.loc);
}
Tensor operator>=(const Tensor &a, const Operand &b) {
  return ge(a, operand(b, a), b.loc);
}

} // namespace kiln
