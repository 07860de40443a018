/// \file
/// The common nn layers: parameters with PyTorch's names, layouts and
/// default initializations, forward passes over frontend ops and layers.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/nn/Layers.h"

#include "frontend/Init.h"
#include "ir/Error.h"

#include <cmath>

namespace kiln::nn {

namespace {

TensorType f32(Shape s) { return {DType::F32, std::move(s)}; }

/// PyTorch's reset_parameters for Linear and the convolutions:
/// kaiming_uniform(a=sqrt(5)) gives U(+-1/sqrt(fan_in)) for the weight.
Initializer default_weight_init() {
  return init::kaiming_uniform(std::sqrt(5.0));
}

/// U(+-1/sqrt(fan_in)) with fan_in taken from \p weight_shape as PyTorch
/// does (shape[1] * receptive field); U(0, 0) when fan_in is 0.
Initializer default_bias_init(const Shape &weight_shape) {
  int64_t fan_in = init::fans(weight_shape).first;
  double bound = fan_in > 0 ? 1.0 / std::sqrt(double(fan_in)) : 0.0;
  return init::uniform(-bound, bound);
}

void check_positive(const std::string &who, const char *what, int64_t v) {
  if (v <= 0)
    throw Error(who + ": " + what + " must be positive, got " +
                std::to_string(v));
}

void check_groups(const std::string &who, int64_t in, int64_t out,
                  int64_t groups) {
  check_positive(who, "groups", groups);
  if (in % groups != 0 || out % groups != 0)
    throw Error(who + ": in_channels " + std::to_string(in) +
                " and out_channels " + std::to_string(out) +
                " must be divisible by groups " + std::to_string(groups));
}

} // namespace

Linear::Linear(Parent parent, const std::string &name, int64_t in_features,
               int64_t out_features, bool has_bias)
    : Module(parent, name), in_features(in_features),
      out_features(out_features) {
  check_positive(describe(), "in_features", in_features);
  check_positive(describe(), "out_features", out_features);
  Shape ws = {out_features, in_features};
  weight = register_parameter("weight", f32(ws), default_weight_init());
  if (has_bias)
    bias =
        register_parameter("bias", f32({out_features}), default_bias_init(ws));
}

Tensor Linear::forward(Tensor x) {
  if (!x.valid() || x.rank() < 1 || x.dim(-1) != in_features)
    throw Error(
        describe() + ": expects input [..., " + std::to_string(in_features) +
        "], got " +
        (x.valid() ? type_str(x.type()) : std::string("a null tensor")));
  Tensor y = matmul(x, transpose(weight, {1, 0}));
  return bias.valid() ? y + bias : y;
}

Conv2d::Conv2d(Parent parent, const std::string &name, int64_t in_channels,
               int64_t out_channels, Size2 kernel_size, Size2 stride,
               Size2 padding, Size2 dilation, int64_t groups, bool has_bias)
    : Module(parent, name) {
  check_positive(describe(), "in_channels", in_channels);
  check_positive(describe(), "out_channels", out_channels);
  check_groups(describe(), in_channels, out_channels, groups);
  options.stride = stride.hw;
  options.padding = padding.hw;
  options.dilation = dilation.hw;
  options.groups = groups;
  Shape ws = {out_channels, in_channels / groups, kernel_size.hw[0],
              kernel_size.hw[1]};
  weight = register_parameter("weight", f32(ws), default_weight_init());
  if (has_bias)
    bias =
        register_parameter("bias", f32({out_channels}), default_bias_init(ws));
}

Tensor Conv2d::forward(Tensor x) {
  Tensor y = conv2d(x, weight, options);
  return bias.valid() ? y + reshape(bias, {1, bias.dim(0), 1, 1}) : y;
}

ConvTranspose2d::ConvTranspose2d(Parent parent, const std::string &name,
                                 int64_t in_channels, int64_t out_channels,
                                 Size2 kernel_size, Size2 stride, Size2 padding,
                                 Size2 output_padding, int64_t groups,
                                 bool has_bias, Size2 dilation)
    : Module(parent, name) {
  check_positive(describe(), "in_channels", in_channels);
  check_positive(describe(), "out_channels", out_channels);
  check_groups(describe(), in_channels, out_channels, groups);
  options.stride = stride.hw;
  options.padding = padding.hw;
  options.output_padding = output_padding.hw;
  options.dilation = dilation.hw;
  options.groups = groups;
  Shape ws = {in_channels, out_channels / groups, kernel_size.hw[0],
              kernel_size.hw[1]};
  weight = register_parameter("weight", f32(ws), default_weight_init());
  if (has_bias)
    bias =
        register_parameter("bias", f32({out_channels}), default_bias_init(ws));
}

Tensor ConvTranspose2d::forward(Tensor x) {
  Tensor y = conv2d_transpose(x, weight, options);
  return bias.valid() ? y + reshape(bias, {1, bias.dim(0), 1, 1}) : y;
}

BatchNorm2d::BatchNorm2d(Parent parent, const std::string &name,
                         int64_t num_features, double eps, double momentum,
                         bool affine)
    : Module(parent, name), eps(eps), momentum(momentum) {
  check_positive(describe(), "num_features", num_features);
  if (affine) {
    weight = register_parameter("weight", f32({num_features}), init::ones());
    bias = register_parameter("bias", f32({num_features}), init::zeros());
  }
  running_mean =
      register_buffer("running_mean", f32({num_features}), init::zeros());
  running_var =
      register_buffer("running_var", f32({num_features}), init::ones());
  mean_now_ = running_mean;
  var_now_ = running_var;
}

Tensor BatchNorm2d::forward(Tensor x) {
  if (!x.valid() || (x.rank() != 4 && x.rank() != 2) ||
      x.dim(1) != running_mean.dim(0))
    throw Error(
        describe() + ": expects input [N, " +
        std::to_string(running_mean.dim(0)) + ", H, W], got " +
        (x.valid() ? type_str(x.type()) : std::string("a null tensor")));
  if (!is_training())
    return batch_norm_infer(x, weight, bias, mean_now_, var_now_, eps);
  BatchNormOut out =
      batch_norm_train(x, weight, bias, mean_now_, var_now_, momentum, eps);
  update_state(graph(), running_mean, out.running_mean);
  update_state(graph(), running_var, out.running_var);
  mean_now_ = out.running_mean;
  var_now_ = out.running_var;
  return out.y;
}

LayerNorm::LayerNorm(Parent parent, const std::string &name,
                     Shape normalized_shape, double eps,
                     bool elementwise_affine)
    : Module(parent, name), normalized_shape(normalized_shape), eps(eps) {
  if (normalized_shape.empty())
    throw Error(describe() + ": normalized_shape must not be empty");
  if (elementwise_affine) {
    weight = register_parameter("weight", f32(normalized_shape), init::ones());
    bias = register_parameter("bias", f32(normalized_shape), init::zeros());
  }
}

Tensor LayerNorm::forward(Tensor x) {
  int64_t k = int64_t(normalized_shape.size());
  bool ok = x.valid() && x.rank() >= k;
  for (int64_t i = 0; ok && i < k; ++i)
    ok = x.dim(x.rank() - k + i) == normalized_shape[size_t(i)];
  if (!ok)
    throw Error(describe() + ": input " +
                (x.valid() ? type_str(x.type()) : std::string("(null)")) +
                " does not end with the normalized shape " +
                type_str(f32(normalized_shape)));
  return layer_norm(x, weight, bias, k, eps);
}

Embedding::Embedding(Parent parent, const std::string &name,
                     int64_t num_embeddings, int64_t embedding_dim)
    : Module(parent, name) {
  check_positive(describe(), "num_embeddings", num_embeddings);
  check_positive(describe(), "embedding_dim", embedding_dim);
  weight = register_parameter("weight", f32({num_embeddings, embedding_dim}),
                              init::normal(1.0));
}

Tensor Embedding::forward(Tensor ids) { return embedding(weight, ids); }

Dropout::Dropout(Parent parent, const std::string &name, double p, Tensor seed,
                 Tensor step)
    : Module(parent, name), p(p), seed(seed), step(step) {
  if (!(p >= 0.0 && p < 1.0))
    throw Error(describe() + ": p must be in [0, 1), got " + std::to_string(p));
}

Tensor Dropout::forward(Tensor x) {
  if (!is_training() || p == 0.0)
    return x;
  if (!seed.valid() || !step.valid())
    throw Error(describe() + ": training mode needs the i64 scalar inputs "
                             "seed and step: pass them to the constructor, "
                             "or call eval()");
  // A per-module offset of the seed (FNV-1a of the path, 31 bits, exact in
  // a double) decorrelates the masks of dropouts of the same shape.
  uint64_t h = 1469598103934665603ull;
  for (char c : path())
    h = (h ^ uint64_t(uint8_t(c))) * 1099511628211ull;
  Tensor my_seed = seed + double(h & 0x7fffffffu);
  return dropout(x, p, my_seed, step);
}

Tensor Flatten::forward(Tensor x) {
  int64_t d = start_dim < 0 ? start_dim + x.rank() : start_dim;
  if (d < 0 || d >= x.rank())
    throw Error(describe() + ": start_dim " + std::to_string(start_dim) +
                " out of range for " + type_str(x.type()));
  Shape s(x.shape().begin(), x.shape().begin() + d);
  s.push_back(-1);
  return reshape(x, s);
}

namespace {
Pool2dOptions pool_options(Size2 kernel, std::optional<Size2> stride,
                           Size2 padding) {
  Pool2dOptions o;
  o.kernel = kernel.hw;
  o.stride = stride ? stride->hw : kernel.hw;
  o.padding = padding.hw;
  return o;
}
} // namespace

MaxPool2d::MaxPool2d(Parent parent, const std::string &name, Size2 kernel_size,
                     std::optional<Size2> stride, Size2 padding)
    : Module(parent, name),
      options(pool_options(kernel_size, stride, padding)) {}

AvgPool2d::AvgPool2d(Parent parent, const std::string &name, Size2 kernel_size,
                     std::optional<Size2> stride, Size2 padding)
    : Module(parent, name),
      options(pool_options(kernel_size, stride, padding)) {}

} // namespace kiln::nn
