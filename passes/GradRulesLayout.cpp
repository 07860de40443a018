/// \file
/// Gradient rules of the layout and indexing ops (the table is in
/// GradRules.cpp). Each is the op's adjoint, written with layout ops: the
/// gradient of a slice is a pad, of a pad a slice, of a gather a
/// scatter_add, and so on.
// SPDX-License-Identifier: Apache-2.0
#include "passes/GradRules.h"

#include "ir/Error.h"

#include <algorithm>

namespace kiln {

namespace {

Value *x0(const Node &n) { return n.operand(0); }

Attrs slice_attrs(const std::vector<int64_t> &start,
                  const std::vector<int64_t> &stop) {
  return {{"start", Attribute::ints(start)},
          {"stop", Attribute::ints(stop)},
          {"step", Attribute::ints(std::vector<int64_t>(start.size(), 1))}};
}

/// Spreads \p g along axis \p d so that its element i lands at i*step:
/// [.., n, ..] -> [.., n, 1, ..] -> pad to [.., n, step, ..] -> [..,
/// n*step, ..], then keeps the first \p len elements (len >= (n-1)*step+1).
Value *interleave(GradBuilder &b, Value *g, size_t d, int64_t step,
                  int64_t len) {
  TensorType t = g->type();
  int64_t n = t.shape[d];
  TensorType split = t;
  split.shape.insert(split.shape.begin() + int64_t(d) + 1, 1);
  std::vector<int64_t> low(split.shape.size(), 0), high = low;
  high[d + 1] = step - 1;
  Value *p = b.op(OpKind::Pad, {b.reshape(g, split)},
                  {{"low", Attribute::ints(low)},
                   {"high", Attribute::ints(high)},
                   {"value", Attribute(0.0)}});
  TensorType merged = t;
  merged.shape[d] = n * step;
  Value *m = b.reshape(p, merged);
  if (len == n * step)
    return m;
  std::vector<int64_t> start(t.shape.size(), 0), stop = merged.shape;
  stop[d] = len;
  return b.op(OpKind::Slice, {m}, slice_attrs(start, stop));
}

} // namespace

/// d/dx reshape(x) = reshape(g) to x's shape
Grads grad_reshape(GradBuilder &b, const Node &n) {
  return {b.wants(0) ? b.reshape(b.g(), x0(n)->type()) : nullptr};
}

/// d/dx transpose(x, perm) = transpose(g, inverse(perm))
Grads grad_transpose(GradBuilder &b, const Node &n) {
  if (!b.wants(0))
    return {nullptr};
  std::vector<int64_t> perm = n.ints_attr("perm"), inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i)
    inv[size_t(perm[i])] = int64_t(i);
  return {b.op(OpKind::Transpose, {b.g()}, {{"perm", Attribute::ints(inv)}})};
}

/// d/dx broadcast_to(x) = g summed over the broadcast axes
Grads grad_broadcast_to(GradBuilder &b, const Node &n) {
  return {b.wants(0) ? b.sum_to(b.g(), x0(n)->type().shape) : nullptr};
}

/// d/dx x[start:stop:step] = g spread to every step-th place (interleave),
/// then zero-padded by start before and the rest after
Grads grad_slice(GradBuilder &b, const Node &n) {
  if (!b.wants(0))
    return {nullptr};
  const Shape &xs = x0(n)->type().shape;
  std::vector<int64_t> start = n.ints_attr("start"), step = n.ints_attr("step");
  Value *g = b.g();
  for (size_t d = 0; d < xs.size(); ++d)
    if (step[d] > 1 && g->type().shape[d] > 0)
      g = interleave(b, g, d, step[d],
                     std::min(g->type().shape[d] * step[d], xs[d] - start[d]));
  std::vector<int64_t> high(xs.size());
  for (size_t d = 0; d < xs.size(); ++d)
    high[d] = xs[d] - start[d] - g->type().shape[d];
  return {b.op(OpKind::Pad, {g},
               {{"low", Attribute::ints(start)},
                {"high", Attribute::ints(high)},
                {"value", Attribute(0.0)}})};
}

/// d/dx_i concat(x_0, ..., x_k) = the slice of g where x_i sits
Grads grad_concat(GradBuilder &b, const Node &n) {
  const Shape &ys = n.type().shape;
  size_t axis = size_t(normalize_axis(n.int_attr("axis"), int64_t(ys.size())));
  Grads gs(n.num_operands(), nullptr);
  int64_t offset = 0;
  for (size_t i = 0; i < n.num_operands(); ++i) {
    int64_t len = n.operand(i)->type().shape[axis];
    if (b.wants(i)) {
      std::vector<int64_t> start(ys.size(), 0), stop = ys;
      start[axis] = offset;
      stop[axis] = offset + len;
      gs[i] = b.op(OpKind::Slice, {b.g()}, slice_attrs(start, stop));
    }
    offset += len;
  }
  return gs;
}

/// d/dx pad(x, low, high) = g[low : low + x.shape]; the pad value is an
/// attribute and gets no gradient
Grads grad_pad(GradBuilder &b, const Node &n) {
  if (!b.wants(0))
    return {nullptr};
  std::vector<int64_t> low = n.ints_attr("low"), stop = low;
  const Shape &xs = x0(n)->type().shape;
  for (size_t d = 0; d < xs.size(); ++d)
    stop[d] += xs[d];
  return {b.op(OpKind::Slice, {b.g()}, slice_attrs(low, stop))};
}

/// d/dx gather(x, idx) = scatter_add(zeros like x, idx, g) (repeated
/// indices accumulate; indices clamp alike); idx gets none
Grads grad_gather(GradBuilder &b, const Node &n) {
  if (!b.wants(0))
    return {nullptr, nullptr};
  Value *zeros = b.splat(0.0, x0(n)->type());
  return {b.op(OpKind::ScatterAdd, {zeros, n.operand(1), b.g()},
               {{"axis", Attribute(n.int_attr("axis"))}}),
          nullptr};
}

/// d/dbase scatter_add(base, idx, src) = g;  d/dsrc = gather(g, idx)
Grads grad_scatter_add(GradBuilder &b, const Node &n) {
  Value *src = b.wants(2) ? b.op(OpKind::Gather, {b.g(), n.operand(1)},
                                 {{"axis", Attribute(n.int_attr("axis"))}})
                          : nullptr;
  return {b.wants(0) ? b.g() : nullptr, nullptr, src};
}

} // namespace kiln
