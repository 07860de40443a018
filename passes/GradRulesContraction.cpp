/// \file
/// Gradient rules of the contractions and pooling ops (the table is in
/// GradRules.cpp). A convolution's input gradient is the transposed
/// convolution of g with the same weight (output_padding recovers the input
/// size that conv2d's floor division lost); its weight gradient is the
/// conv2d_weight_grad primitive. Average pooling is a depthwise convolution
/// with a constant kernel, so its gradient is a depthwise
/// conv2d_transpose; max pooling's is the max_pool2d_grad primitive.
// SPDX-License-Identifier: Apache-2.0
#include "passes/GradRules.h"

#include "ir/Error.h"

namespace kiln {

namespace {

/// The attributes of \p n named in \p names.
Attrs pick(const Node &n, std::initializer_list<const char *> names) {
  Attrs a;
  for (const char *name : names)
    a.emplace_back(name, *n.attr(name));
  return a;
}

Attrs with(Attrs a, const char *name, Attribute v) {
  a.emplace_back(name, std::move(v));
  return a;
}

/// Swaps the last two axes.
Value *swap_last(GradBuilder &b, Value *v) {
  std::vector<int64_t> perm(size_t(v->type().rank()));
  for (size_t i = 0; i < perm.size(); ++i)
    perm[i] = int64_t(i);
  std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
  return b.op(OpKind::Transpose, {v}, {{"perm", Attribute::ints(perm)}});
}

/// The output_padding that makes conv2d_transpose of an [.., oh, ow]
/// gradient with kernel \p k give back an input of spatial size \p in:
/// in - ((o-1)*s - 2p + d*(k-1) + 1). It lies in [0, s-1] because conv2d
/// floors (in + 2p - d*(k-1) - 1) / s.
std::vector<int64_t> output_padding(const Shape &in, const Shape &out,
                                    const Shape &k, const Attrs &a) {
  std::vector<int64_t> s = find_attr(a, "stride")->as_ints(),
                       p = find_attr(a, "padding")->as_ints(),
                       d = find_attr(a, "dilation")->as_ints(), op(2);
  for (size_t i = 0; i < 2; ++i)
    op[i] = in[2 + i] -
            ((out[2 + i] - 1) * s[i] - 2 * p[i] + d[i] * (k[2 + i] - 1) + 1);
  return op;
}

/// d/dx conv2d(x, w) = conv2d_transpose(g, w) back to x's type; \p n holds
/// stride, padding, dilation and groups.
Value *conv_input_grad(GradBuilder &b, const Node &n, Value *g, Value *w,
                       const TensorType &x) {
  Attrs a = pick(n, {"stride", "padding", "dilation", "groups"});
  std::vector<int64_t> op =
      output_padding(x.shape, g->type().shape, w->type().shape, a);
  return b.op(OpKind::Conv2dTranspose, {g, w},
              with(a, "output_padding", Attribute::ints(op)));
}

/// d/dw conv2d(x, w) = conv2d_weight_grad(x, g) for a weight of type \p w.
Value *conv_weight_grad(GradBuilder &b, const Node &n, Value *x, Value *g,
                        const TensorType &w) {
  Attrs a = pick(n, {"stride", "padding", "dilation", "groups"});
  return b.op(OpKind::Conv2dWeightGrad, {x, g},
              with(a, "kernel", Attribute::ints({w.shape[2], w.shape[3]})));
}

/// \p v [N,C,H,W] sliced or zero-padded at the high end of H and W to \p t.
Value *fit_spatial(GradBuilder &b, Value *v, const TensorType &t) {
  const Shape &s = v->type().shape;
  if (s == t.shape)
    return v;
  std::vector<int64_t> zero(4, 0), stop = t.shape, high(4, 0);
  bool grow = false;
  for (size_t i = 2; i < 4; ++i) {
    stop[i] = std::min(s[i], t.shape[i]);
    high[i] = t.shape[i] - stop[i];
    grow = grow || high[i] > 0;
  }
  std::vector<int64_t> one(4, 1);
  if (stop != s)
    v = b.op(OpKind::Slice, {v},
             {{"start", Attribute::ints(zero)},
              {"stop", Attribute::ints(stop)},
              {"step", Attribute::ints(one)}});
  if (grow)
    v = b.op(OpKind::Pad, {v},
             {{"low", Attribute::ints(zero)},
              {"high", Attribute::ints(high)},
              {"value", Attribute(0.0)}});
  return v;
}

} // namespace

/// d/dA (A@B) = G@B^T;  d/dB (A@B) = A^T@G; each summed over the batch
/// dimensions that broadcasting stretched. A matrix B under a batched A
/// (x[B, T, D] @ W) gets sum_b A_b^T@G_b as one product over the rows of
/// every batch: A^T@G with A [B*T, D] and G [B*T, N] (K = B*T, no batched
/// product and no reduction).
Grads grad_matmul(GradBuilder &b, const Node &n) {
  Value *a = n.operand(0), *c = n.operand(1);
  Grads g(2, nullptr);
  if (b.wants(0))
    g[0] = b.sum_to(b.op(OpKind::Matmul, {b.g(), swap_last(b, c)}),
                    a->type().shape);
  const Shape &as = a->type().shape, &gs = n.type().shape;
  if (b.wants(1) && c->type().rank() == 2 && as.size() > 2 && numel(as) > 0) {
    DType t = n.type().dtype;
    int64_t rows = numel(as) / as.back();
    Value *a2 = b.reshape(a, {t, {rows, as.back()}});
    Value *g2 = b.reshape(b.g(), {t, {rows, gs.back()}});
    g[1] = b.op(OpKind::Matmul, {swap_last(b, a2), g2});
  } else if (b.wants(1)) {
    g[1] = b.sum_to(b.op(OpKind::Matmul, {swap_last(b, a), b.g()}),
                    c->type().shape);
  }
  return g;
}

/// d/dx conv2d(x, w) = conv2d_transpose(g, w) {output_padding to x's size};
/// d/dw conv2d(x, w) = conv2d_weight_grad(x, g)
Grads grad_conv2d(GradBuilder &b, const Node &n) {
  Value *x = n.operand(0), *w = n.operand(1);
  return {b.wants(0) ? conv_input_grad(b, n, b.g(), w, x->type()) : nullptr,
          b.wants(1) ? conv_weight_grad(b, n, x, b.g(), w->type()) : nullptr};
}

/// y = conv2d_transpose(x, w) is conv2d's input adjoint, with w read as
/// OIHW = [C_in, C_out/groups, kh, kw]. So d/dx = conv2d(g, w) and d/dw =
/// conv2d_weight_grad(g, x). When output_padding >= stride (allowed when
/// below the dilation) conv2d(g, w) is larger than x: it is sliced, and x is
/// zero-padded to match for the weight gradient.
Grads grad_conv2d_transpose(GradBuilder &b, const Node &n) {
  Value *x = n.operand(0), *w = n.operand(1);
  Attrs a = pick(n, {"stride", "padding", "dilation", "groups"});
  Grads g(2, nullptr);
  Value *full = nullptr;
  if (b.wants(0) || b.wants(1))
    full = b.op(OpKind::Conv2d, {b.g(), w}, a);
  if (b.wants(0))
    g[0] = fit_spatial(b, full, x->type());
  if (b.wants(1))
    g[1] = conv_weight_grad(b, n, b.g(), fit_spatial(b, x, full->type()),
                            w->type());
  return g;
}

/// dw = conv2d_weight_grad(x, g) is bilinear, the adjoint of conv2d in its
/// weight: <wbar, dw> = <conv2d(x, wbar), g>. So with G the gradient of dw:
/// d/dx = conv2d_transpose(g, G);  d/dg = conv2d(x, G)
Grads grad_conv2d_weight_grad(GradBuilder &b, const Node &n) {
  Value *x = n.operand(0), *g = n.operand(1);
  Attrs a = pick(n, {"stride", "padding", "dilation", "groups"});
  return {b.wants(0) ? conv_input_grad(b, n, g, b.g(), x->type()) : nullptr,
          b.wants(1) ? b.op(OpKind::Conv2d, {x, b.g()}, a) : nullptr};
}

/// d/dx max_pool2d(x) = g added at the first maximum of each window
/// (max_pool2d_grad; ties go to the first, as PyTorch)
Grads grad_max_pool2d(GradBuilder &b, const Node &n) {
  if (!b.wants(0))
    return {nullptr};
  return {b.op(OpKind::MaxPool2dGrad, {n.operand(0), b.g()},
               pick(n, {"kernel", "stride", "padding"}))};
}

/// avg_pool2d(x) = depthwise conv2d(x, ones[C,1,kh,kw]) / divisor, so
/// d/dx = conv2d_transpose(g / divisor, ones) {groups = C}. The divisor is
/// kh*kw, or with count_include_pad = false the in-bounds count of each
/// window: conv2d(ones[1,1,H,W], ones[1,1,kh,kw]), which canonicalize folds.
Grads grad_avg_pool2d(GradBuilder &b, const Node &n) {
  if (!b.wants(0))
    return {nullptr};
  const TensorType &x = n.operand(0)->type();
  DType dt = x.dtype;
  std::vector<int64_t> k = n.ints_attr("kernel");
  Attrs a =
      with(pick(n, {"stride", "padding"}), "dilation", Attribute::ints({1, 1}));
  Value *scaled;
  if (n.bool_attr("count_include_pad")) {
    scaled = b.mul(b.g(), b.scalar(1.0 / double(k[0] * k[1]), dt));
  } else {
    Value *plane = b.splat(1.0, {dt, {1, 1, x.shape[2], x.shape[3]}});
    Value *box = b.splat(1.0, {dt, {1, 1, k[0], k[1]}});
    scaled = b.div(b.g(), b.op(OpKind::Conv2d, {plane, box}, a));
  }
  Shape box_shape = {x.shape[1], 1, k[0], k[1]};
  Value *ones = b.splat(1.0, {dt, box_shape});
  std::vector<int64_t> op =
      output_padding(x.shape, n.type().shape, box_shape, a);
  Attrs t = with(a, "groups", Attribute(x.shape[1]));
  return {b.op(OpKind::Conv2dTranspose, {scaled, ones},
               with(t, "output_padding", Attribute::ints(op)))};
}

} // namespace kiln
