/// \file
/// The common nn layers, with PyTorch's parameter names, layouts and default
/// initializations, so a PyTorch state_dict maps onto them name for name:
///
/// | module | parameters (buffers) | init |
/// |---|---|---|
/// | Linear | weight [out, in], bias [out] | kaiming_uniform(a=sqrt(5)); bias
/// U(+-1/sqrt(in)) | | Conv2d | weight OIHW [out, in/groups, kh, kw], bias
/// [out] | same, fan_in = in/groups*kh*kw | | ConvTranspose2d | weight IOHW
/// [in, out/groups, kh, kw], bias [out] | same, fan_in = out/groups*kh*kw
/// (PyTorch's) | | BatchNorm2d | weight, bias [C] (running_mean, running_var
/// [C]) | 1, 0 (0, 1) | | LayerNorm | weight, bias [normalized_shape] | 1, 0 |
/// | Embedding | weight [num, dim] | N(0, 1) |
///
/// BatchNorm2d in training mode records its running-statistics update
/// itself (nn::update_state): the graph gets a result `{updates =
/// %bn.running_mean}` for each buffer, so a training step cannot forget it.
/// PyTorch's num_batches_tracked is not kept (momentum is fixed).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "frontend/Layers.h"
#include "frontend/nn/Module.h"

#include <array>
#include <optional>

namespace kiln::nn {

/// A height/width pair that converts from one integer (both equal) or two
/// (`{3, 1}`), like PyTorch's int-or-tuple arguments.
struct Size2 {
  Size2(int64_t v) : hw{v, v} {}
  Size2(int64_t h, int64_t w) : hw{h, w} {}
  std::array<int64_t, 2> hw;
};

/// y = x @ weight^T + bias, on x [..., in] -> [..., out].
class Linear : public Module {
public:
  Linear(Parent parent, const std::string &name, int64_t in_features,
         int64_t out_features, bool bias = true);
  const char *kind() const override { return "Linear"; }
  Tensor forward(Tensor x) override;

  Tensor weight, bias; ///< bias is null without one
  int64_t in_features, out_features;
};

/// 2-D convolution of NCHW input; arguments in PyTorch's order.
class Conv2d : public Module {
public:
  Conv2d(Parent parent, const std::string &name, int64_t in_channels,
         int64_t out_channels, Size2 kernel_size, Size2 stride = 1,
         Size2 padding = 0, Size2 dilation = 1, int64_t groups = 1,
         bool bias = true);
  const char *kind() const override { return "Conv2d"; }
  Tensor forward(Tensor x) override;

  Tensor weight, bias; ///< bias is null without one
  Conv2dOptions options;
};

/// Transposed 2-D convolution (the adjoint of Conv2d): IOHW weight and
/// PyTorch's argument order, output size (H-1)*stride - 2*padding +
/// dilation*(k-1) + output_padding + 1.
class ConvTranspose2d : public Module {
public:
  ConvTranspose2d(Parent parent, const std::string &name, int64_t in_channels,
                  int64_t out_channels, Size2 kernel_size, Size2 stride = 1,
                  Size2 padding = 0, Size2 output_padding = 0,
                  int64_t groups = 1, bool bias = true, Size2 dilation = 1);
  const char *kind() const override { return "ConvTranspose2d"; }
  Tensor forward(Tensor x) override;

  Tensor weight, bias; ///< bias is null without one
  Conv2dOptions options;
};

/// Batch normalization over N, H, W of NCHW input (NC input also works).
/// Training mode: batch statistics, and the running statistics updated with
/// \p momentum (unbiased batch variance) through nn::update_state, so each
/// call of the module chains onto the previous one's update. Inference
/// mode: the running statistics (the latest updated value if the module was
/// already applied in training mode in this graph).
class BatchNorm2d : public Module {
public:
  BatchNorm2d(Parent parent, const std::string &name, int64_t num_features,
              double eps = 1e-5, double momentum = 0.1, bool affine = true);
  const char *kind() const override { return "BatchNorm2d"; }
  Tensor forward(Tensor x) override;

  Tensor weight, bias;              ///< null when not affine
  Tensor running_mean, running_var; ///< the state buffers
  double eps, momentum;

private:
  /// The running statistics as of the last call (initially the buffers).
  Tensor mean_now_, var_now_;
};

/// Layer normalization over the trailing dims \p normalized_shape.
class LayerNorm : public Module {
public:
  LayerNorm(Parent parent, const std::string &name, Shape normalized_shape,
            double eps = 1e-5, bool elementwise_affine = true);
  const char *kind() const override { return "LayerNorm"; }
  Tensor forward(Tensor x) override;

  Tensor weight, bias; ///< null when not elementwise_affine
  Shape normalized_shape;
  double eps;
};

/// A lookup table: forward(ids) = weight[ids], ids.shape + [dim]; ids are
/// integer tensors.
class Embedding : public Module {
public:
  Embedding(Parent parent, const std::string &name, int64_t num_embeddings,
            int64_t embedding_dim);
  const char *kind() const override { return "Embedding"; }
  Tensor forward(Tensor ids) override;

  Tensor weight;
};

/// Inverted dropout with probability \p p in training mode, identity in
/// inference mode. The mask comes from kiln::dropout with the i64 scalar
/// inputs \p seed and \p step, shared by every Dropout of a model; each
/// module adds a constant derived from its path to the seed, so two
/// dropouts of the same shape draw different masks. Training mode with
/// p > 0 and no seed/step throws kiln::Error when called.
class Dropout : public Module {
public:
  Dropout(Parent parent, const std::string &name, double p = 0.5,
          Tensor seed = {}, Tensor step = {});
  const char *kind() const override { return "Dropout"; }
  Tensor forward(Tensor x) override;

  double p;
  Tensor seed, step;
};

/// Parameterless activations and reshapes, for Sequential.
class ReLU : public Module {
public:
  ReLU(Parent parent, const std::string &name) : Module(parent, name) {}
  const char *kind() const override { return "ReLU"; }
  Tensor forward(Tensor x) override { return relu(x); }
};
class Tanh : public Module {
public:
  Tanh(Parent parent, const std::string &name) : Module(parent, name) {}
  const char *kind() const override { return "Tanh"; }
  Tensor forward(Tensor x) override { return tanh(x); }
};
class Sigmoid : public Module {
public:
  Sigmoid(Parent parent, const std::string &name) : Module(parent, name) {}
  const char *kind() const override { return "Sigmoid"; }
  Tensor forward(Tensor x) override { return sigmoid(x); }
};
class GELU : public Module {
public:
  GELU(Parent parent, const std::string &name, GeluForm form = GeluForm::Erf)
      : Module(parent, name), form(form) {}
  const char *kind() const override { return "GELU"; }
  Tensor forward(Tensor x) override { return gelu(x, form); }
  GeluForm form;
};
class LeakyReLU : public Module {
public:
  LeakyReLU(Parent parent, const std::string &name, double slope = 0.01)
      : Module(parent, name), slope(slope) {}
  const char *kind() const override { return "LeakyReLU"; }
  Tensor forward(Tensor x) override { return leaky_relu(x, slope); }
  double slope;
};
/// Flattens dims start_dim.. into one: [N, C, H, W] -> [N, C*H*W].
class Flatten : public Module {
public:
  Flatten(Parent parent, const std::string &name, int64_t start_dim = 1)
      : Module(parent, name), start_dim(start_dim) {}
  const char *kind() const override { return "Flatten"; }
  Tensor forward(Tensor x) override;
  int64_t start_dim;
};

/// Max / average pooling of NCHW input; stride defaults to the kernel size
/// (PyTorch's default), average pooling counts padded zeros.
class MaxPool2d : public Module {
public:
  MaxPool2d(Parent parent, const std::string &name, Size2 kernel_size,
            std::optional<Size2> stride = std::nullopt, Size2 padding = 0);
  const char *kind() const override { return "MaxPool2d"; }
  Tensor forward(Tensor x) override { return max_pool2d(x, options); }
  Pool2dOptions options;
};
class AvgPool2d : public Module {
public:
  AvgPool2d(Parent parent, const std::string &name, Size2 kernel_size,
            std::optional<Size2> stride = std::nullopt, Size2 padding = 0);
  const char *kind() const override { return "AvgPool2d"; }
  Tensor forward(Tensor x) override { return avg_pool2d(x, options); }
  Pool2dOptions options;
};
/// Mean over H and W of NCHW input -> [N, C] (AdaptiveAvgPool2d(1) and a
/// flatten, as ResNet's head uses them).
class GlobalAvgPool2d : public Module {
public:
  GlobalAvgPool2d(Parent parent, const std::string &name)
      : Module(parent, name) {}
  const char *kind() const override { return "GlobalAvgPool2d"; }
  Tensor forward(Tensor x) override { return reduce_mean(x, {2, 3}); }
};

} // namespace kiln::nn
