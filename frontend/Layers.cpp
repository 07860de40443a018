/// \file
/// Composite layers from primitive ops: softmax and log-sum-exp, layer and
/// batch normalization, GELU and leaky ReLU, dropout, embedding and conv1d.
/// Attention is in Attention.cpp, the LSTM in Recurrent.cpp.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Layers.h"

#include "ir/Error.h"

#include <cmath>

namespace kiln {

namespace {

/// \p axis of \p x made non-negative; throws kiln::Error naming \p op.
int64_t axis_of(const Tensor &x, int64_t axis, const char *op, SL loc) {
  int64_t a = normalize_axis(axis, x.rank());
  if (a < 0)
    throw Error(loc.prefix() + op + ": axis " + std::to_string(axis) +
                " is out of range for " + type_str(x.type()));
  return a;
}

void require_float(const Tensor &x, const char *op, SL loc) {
  if (!is_float(x.dtype()))
    throw Error(loc.prefix() + op + ": needs a floating-point tensor, got " +
                type_str(x.type()));
}

/// max over \p axes (keepdims), with non-finite maxima (an all -inf slice)
/// replaced by 0 so that x - max stays finite where x is.
Tensor safe_max(Tensor x, const std::vector<int64_t> &axes, SL loc) {
  Tensor m = reduce_max(x, axes, /*keepdims=*/true, loc);
  return select(is_finite(m, loc), m, scalar_like(m, 0.0, loc), loc);
}

/// \p p ([C], or null) reshaped to [1, C, 1, ...] to broadcast against an
/// N, C, ... tensor of rank \p rank.
Tensor per_channel(Tensor p, int64_t channels, int64_t rank, const char *what,
                   SL loc) {
  if (!p.valid())
    return p;
  if (p.shape() != Shape{channels})
    throw Error(loc.prefix() + "batch_norm: " + what + " must be [" +
                std::to_string(channels) + "], got " + type_str(p.type()));
  Shape s(size_t(rank), 1);
  s[1] = channels;
  return reshape(p, s, loc);
}

/// Every axis of a rank-\p rank tensor but the channel axis 1.
std::vector<int64_t> all_but_channels(int64_t rank) {
  std::vector<int64_t> axes = {0};
  for (int64_t a = 2; a < rank; ++a)
    axes.push_back(a);
  return axes;
}

/// y * gamma + beta, each skipped when null.
Tensor affine(Tensor y, Tensor gamma, Tensor beta, SL loc) {
  if (gamma.valid())
    y = mul(y, gamma, loc);
  if (beta.valid())
    y = add(y, beta, loc);
  return y;
}

/// (1 - momentum) * old + momentum * batch: a running-statistic update.
Tensor ema(Tensor old, Tensor batch, double momentum, SL loc) {
  return add(mul(old, scalar_like(old, 1.0 - momentum, loc), loc),
             mul(batch, scalar_like(batch, momentum, loc), loc), loc);
}

/// Checks batch-norm arguments; returns the channel count.
int64_t check_batch_norm(const Tensor &x, SL loc) {
  if (x.rank() < 2)
    throw Error(loc.prefix() +
                "batch_norm: needs an N, C, ... input of rank "
                ">= 2, got " +
                type_str(x.type()));
  require_float(x, "batch_norm", loc);
  return x.dim(1);
}

} // namespace

Tensor softmax(Tensor x, int64_t axis, SL loc) {
  require_float(x, "softmax", loc);
  int64_t a = axis_of(x, axis, "softmax", loc);
  Tensor e = exp(sub(x, safe_max(x, {a}, loc), loc), loc);
  return div(e, reduce_sum(e, {a}, /*keepdims=*/true, loc), loc);
}

Tensor log_softmax(Tensor x, int64_t axis, SL loc) {
  require_float(x, "log_softmax", loc);
  int64_t a = axis_of(x, axis, "log_softmax", loc);
  // (x - max) - log(sum(exp(x - max))): the max never comes back in, so
  // large logits keep their precision.
  Tensor d = sub(x, safe_max(x, {a}, loc), loc);
  Tensor s = reduce_sum(exp(d, loc), {a}, /*keepdims=*/true, loc);
  return sub(d, log(s, loc), loc);
}

Tensor logsumexp(Tensor x, std::vector<int64_t> axes, bool keepdims, SL loc) {
  require_float(x, "logsumexp", loc);
  Tensor m = safe_max(x, axes, loc);
  Tensor s = reduce_sum(exp(sub(x, m, loc), loc), axes, keepdims, loc);
  if (!keepdims)
    m = reshape(m, s.shape(), loc);
  return add(log(s, loc), m, loc);
}

Tensor layer_norm(Tensor x, Tensor gamma, Tensor beta, int64_t normalized_rank,
                  double eps, SL loc) {
  require_float(x, "layer_norm", loc);
  if (normalized_rank < 1 || normalized_rank > x.rank())
    throw Error(loc.prefix() + "layer_norm: normalized_rank " +
                std::to_string(normalized_rank) + " is out of range for " +
                type_str(x.type()));
  Shape norm_shape(x.shape().end() - normalized_rank, x.shape().end());
  for (const Tensor *p : {&gamma, &beta})
    if (p->valid() && p->shape() != norm_shape)
      throw Error(loc.prefix() +
                  "layer_norm: gamma and beta must have the "
                  "normalized shape " +
                  shape_str(norm_shape) + ", got " + type_str(p->type()));
  std::vector<int64_t> axes;
  for (int64_t a = x.rank() - normalized_rank; a < x.rank(); ++a)
    axes.push_back(a);
  Tensor d = sub(x, reduce_mean(x, axes, /*keepdims=*/true, loc), loc);
  Tensor var = reduce_mean(mul(d, d, loc), axes, /*keepdims=*/true, loc);
  Tensor y = mul(d, rsqrt(add(var, scalar_like(var, eps, loc), loc), loc), loc);
  return affine(y, gamma, beta, loc);
}

BatchNormOut batch_norm_train(Tensor x, Tensor gamma, Tensor beta,
                              Tensor running_mean, Tensor running_var,
                              double momentum, double eps, SL loc) {
  int64_t c = check_batch_norm(x, loc);
  int64_t n = c == 0 ? 0 : x.numel() / c;
  if (n < 2)
    throw Error(loc.prefix() +
                "batch_norm_train: needs more than one value "
                "per channel, got " +
                type_str(x.type()));
  std::vector<int64_t> axes = all_but_channels(x.rank());
  Tensor mean = reduce_mean(x, axes, /*keepdims=*/true, loc);
  Tensor d = sub(x, mean, loc);
  Tensor var = reduce_mean(mul(d, d, loc), axes, /*keepdims=*/true, loc);
  Tensor y = mul(d, rsqrt(add(var, scalar_like(var, eps, loc), loc), loc), loc);
  BatchNormOut out;
  out.y = affine(y, per_channel(gamma, c, x.rank(), "gamma", loc),
                 per_channel(beta, c, x.rank(), "beta", loc), loc);
  if (running_mean.valid()) {
    per_channel(running_mean, c, x.rank(), "running_mean", loc);
    Tensor m = cast(reshape(mean, {c}, loc), running_mean.dtype(), loc);
    out.running_mean = ema(running_mean, m, momentum, loc);
  }
  if (running_var.valid()) {
    per_channel(running_var, c, x.rank(), "running_var", loc);
    double unbias = double(n) / double(n - 1);
    Tensor v = cast(reshape(var, {c}, loc), running_var.dtype(), loc);
    out.running_var = ema(running_var, mul(v, scalar_like(v, unbias, loc), loc),
                          momentum, loc);
  }
  return out;
}

Tensor batch_norm_infer(Tensor x, Tensor gamma, Tensor beta,
                        Tensor running_mean, Tensor running_var, double eps,
                        SL loc) {
  int64_t c = check_batch_norm(x, loc);
  if (!running_mean.valid() || !running_var.valid())
    throw Error(loc.prefix() + "batch_norm_infer: needs running_mean and "
                               "running_var");
  Tensor m = per_channel(running_mean, c, x.rank(), "running_mean", loc);
  Tensor v = per_channel(running_var, c, x.rank(), "running_var", loc);
  m = cast(m, x.dtype(), loc);
  v = cast(v, x.dtype(), loc);
  Tensor y = mul(sub(x, m, loc),
                 rsqrt(add(v, scalar_like(v, eps, loc), loc), loc), loc);
  return affine(y, per_channel(gamma, c, x.rank(), "gamma", loc),
                per_channel(beta, c, x.rank(), "beta", loc), loc);
}

Tensor gelu(Tensor x, GeluForm form, SL loc) {
  require_float(x, "gelu", loc);
  Tensor half_x = mul(x, scalar_like(x, 0.5, loc), loc);
  Tensor one = scalar_like(x, 1.0, loc);
  if (form == GeluForm::Erf) {
    Tensor phi =
        erf(mul(x, scalar_like(x, 1.0 / std::sqrt(2.0), loc), loc), loc);
    return mul(half_x, add(one, phi, loc), loc);
  }
  const double k = std::sqrt(2.0 / 3.14159265358979323846);
  Tensor x3 = mul(mul(x, x, loc), x, loc);
  Tensor inner = add(x, mul(x3, scalar_like(x, 0.044715, loc), loc), loc);
  Tensor t = tanh(mul(inner, scalar_like(x, k, loc), loc), loc);
  return mul(half_x, add(one, t, loc), loc);
}

Tensor leaky_relu(Tensor x, double slope, SL loc) {
  require_float(x, "leaky_relu", loc);
  Tensor zero = scalar_like(x, 0.0, loc);
  return select(gt(x, zero, loc), x, mul(x, scalar_like(x, slope, loc), loc),
                loc);
}

Tensor dropout(Tensor x, double p, Tensor seed, Tensor step, SL loc) {
  require_float(x, "dropout", loc);
  if (!(p >= 0.0 && p <= 1.0))
    throw Error(loc.prefix() + "dropout: p must be in [0, 1], got " +
                std::to_string(p));
  if (p == 0.0)
    return x;
  Graph &g = graph_of({x, seed, step}, "dropout", loc);
  Tensor zero = g.constant(0.0, {x.dtype(), {}}, loc);
  if (p == 1.0)
    return broadcast_to(zero, x.shape(), loc);
  Tensor u = random_uniform(seed, step, {DType::F32, x.shape()}, loc);
  Tensor keep = ge(u, scalar_like(u, p, loc), loc);
  Tensor scaled = mul(x, scalar_like(x, 1.0 / (1.0 - p), loc), loc);
  return select(keep, scaled, zero, loc);
}

Tensor embedding(Tensor table, Tensor ids, SL loc) {
  if (table.rank() != 2)
    throw Error(loc.prefix() + "embedding: the table must be [V, D], got " +
                type_str(table.type()));
  if (!is_integer(ids.dtype()))
    throw Error(loc.prefix() + "embedding: ids must be integers, got " +
                type_str(ids.type()));
  return gather(table, ids, 0, loc);
}

Tensor conv1d(Tensor x, Tensor w, int64_t stride, int64_t padding_left,
              int64_t padding_right, int64_t dilation, int64_t groups, SL loc) {
  if (x.rank() != 3 || w.rank() != 3)
    throw Error(loc.prefix() +
                "conv1d: needs x [N, C, L] and w [O, C/groups, "
                "K], got " +
                type_str(x.type()) + " and " + type_str(w.type()));
  if (padding_left < 0 || padding_right < 0)
    throw Error(loc.prefix() + "conv1d: padding must be >= 0");
  Tensor x4 = reshape(x, {x.dim(0), x.dim(1), 1, x.dim(2)}, loc);
  Tensor w4 = reshape(w, {w.dim(0), w.dim(1), 1, w.dim(2)}, loc);
  Conv2dOptions o;
  o.stride = {1, stride};
  o.dilation = {1, dilation};
  o.groups = groups;
  if (padding_left == padding_right)
    o.padding = {0, padding_left};
  else if (padding_left + padding_right > 0)
    x4 = pad(x4, {0, 0, 0, padding_left}, {0, 0, 0, padding_right}, 0.0, loc);
  Tensor y = conv2d(x4, w4, o, loc);
  return reshape(y, {y.dim(0), y.dim(1), y.dim(3)}, loc);
}

} // namespace kiln
