/// \file
/// Losses from primitive ops: softmax cross-entropy through log-sum-exp,
/// mean squared error, binary cross-entropy on logits in its stable form,
/// and an L2 penalty.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Losses.h"

#include "frontend/Layers.h"
#include "ir/Error.h"

namespace kiln {

namespace {

/// Every axis of \p x.
std::vector<int64_t> all_axes(const Tensor &x) {
  std::vector<int64_t> axes;
  for (int64_t a = 0; a < x.rank(); ++a)
    axes.push_back(a);
  return axes;
}

Tensor reduce(Tensor x, Reduction r, SL loc) {
  switch (r) {
  case Reduction::Mean:
    return reduce_mean(x, all_axes(x), /*keepdims=*/false, loc);
  case Reduction::Sum:
    return reduce_sum(x, all_axes(x), /*keepdims=*/false, loc);
  case Reduction::None:
    return x;
  }
  KILN_UNREACHABLE("unknown reduction");
}

void require_same(const Tensor &a, const Tensor &b, const char *op, SL loc) {
  if (a.type() != b.type())
    throw Error(loc.prefix() + op +
                ": the operands must have the same type, "
                "got " +
                type_str(a.type()) + " and " + type_str(b.type()));
  if (!is_float(a.dtype()))
    throw Error(loc.prefix() + op + ": needs floating-point tensors, got " +
                type_str(a.type()));
}

} // namespace

Tensor cross_entropy(Tensor logits, Tensor labels, Reduction r, SL loc) {
  Graph &g = graph_of({logits, labels}, "cross_entropy", loc);
  if (logits.rank() != 2 || !is_float(logits.dtype()) || labels.rank() != 1 ||
      !is_integer(labels.dtype()) || labels.dim(0) != logits.dim(0))
    throw Error(loc.prefix() +
                "cross_entropy: needs float logits [N, C] and "
                "integer labels [N], got " +
                type_str(logits.type()) + " and " + type_str(labels.type()));
  // -log_softmax at the label, picked by comparing a class iota with the
  // label: log_softmax keeps x - max exact at large logits, and select
  // (rather than a one-hot product) keeps -inf logits elsewhere out.
  TensorType it{DType::I64, logits.shape()};
  Tensor cls = iota(g, it, 1, loc);
  Tensor lab = reshape(cast(labels, DType::I64, loc), {labels.dim(0), 1}, loc);
  Tensor ls = log_softmax(logits, 1, loc);
  Tensor picked =
      reduce_sum(select(eq(cls, lab, loc), ls, scalar_like(ls, 0.0, loc), loc),
                 {1}, /*keepdims=*/false, loc);
  Tensor per_row = neg(picked, loc);
  return reduce(per_row, r, loc);
}

Tensor mse(Tensor pred, Tensor target, Reduction r, SL loc) {
  graph_of({pred, target}, "mse", loc);
  require_same(pred, target, "mse", loc);
  Tensor d = sub(pred, target, loc);
  return reduce(mul(d, d, loc), r, loc);
}

Tensor bce_with_logits(Tensor logits, Tensor targets, Reduction r, SL loc) {
  graph_of({logits, targets}, "bce_with_logits", loc);
  require_same(logits, targets, "bce_with_logits", loc);
  Tensor one = scalar_like(logits, 1.0, loc);
  Tensor soft = log(add(one, exp(neg(abs(logits, loc), loc), loc), loc), loc);
  Tensor l =
      add(sub(relu(logits, loc), mul(logits, targets, loc), loc), soft, loc);
  return reduce(l, r, loc);
}

Tensor l2_penalty(const std::vector<Tensor> &params, double weight_decay,
                  SL loc) {
  if (params.empty())
    throw Error(loc.prefix() + "l2_penalty: needs at least one tensor");
  graph_of(params, "l2_penalty", loc);
  DType dt = params[0].dtype();
  Tensor total;
  for (const Tensor &p : params) {
    Tensor q = p.dtype() == dt ? p : cast(p, dt, loc);
    Tensor s = reduce_sum(mul(q, q, loc), all_axes(q), /*keepdims=*/false, loc);
    total = total.valid() ? add(total, s, loc) : s;
  }
  return mul(total, scalar_like(total, weight_decay / 2.0, loc), loc);
}

} // namespace kiln
