/// \file
/// Training steps as one static graph: train_step appends the backward pass
/// (passes/Autodiff) and the optimizer update to a Graph whose forward part
/// computes a scalar loss, so a whole step — forward, backward, update — is
/// one function that later passes fuse, plan and rematerialize as a whole.
///
///   auto model = build_model(g);                 // forward + loss output
///   kiln::train_step(g, loss, params, {kiln::optim::sgd(0.01, 0.9)});
///   // g.function(): (inputs, params {param}, optimizer state {state})
///   //   -> (loss, ..., p_next {updates = %p}, state_next {updates = %s})
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "frontend/Graph.h"

#include <string>
#include <utility>
#include <vector>

namespace kiln {

/// An optimizer and its hyper-parameters, with PyTorch's semantics.
struct Optimizer {
  enum class Kind { Sgd, Adam, AdamW };
  Kind kind = Kind::Sgd;
  double lr = 0.01;
  /// SGD: momentum (0 = plain SGD) and Nesterov momentum.
  double momentum = 0.0;
  bool nesterov = false;
  /// SGD and Adam: L2 weight decay added to the gradient (wd * p).
  /// AdamW: decoupled decay, p -= lr * wd * p before the Adam step.
  double weight_decay = 0.0;
  /// Adam and AdamW.
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
};

namespace optim {
/// torch.optim.SGD: g += wd*p; buf = momentum*buf + g; g = nesterov ?
/// g + momentum*buf : buf; p -= lr*g.
Optimizer sgd(double lr, double momentum = 0.0, double weight_decay = 0.0,
              bool nesterov = false);
/// torch.optim.Adam (L2 weight decay added to the gradient).
Optimizer adam(double lr, double beta1 = 0.9, double beta2 = 0.999,
               double eps = 1e-8, double weight_decay = 0.0);
/// torch.optim.AdamW (decoupled weight decay).
Optimizer adamw(double lr, double weight_decay = 0.01, double beta1 = 0.9,
                double beta2 = 0.999, double eps = 1e-8);
} // namespace optim

struct TrainStepOptions {
  Optimizer optimizer;
  /// Clips gradients by their global L2 norm when > 0 (as
  /// torch.nn.utils.clip_grad_norm_: scale = min(1, max_norm / (norm + 1e-6))).
  double clip_grad_norm = 0.0;
  /// Adds, per parameter, outputs `norm.<name>` (the L2 norm of the
  /// parameter before the update) and `grad_norm.<name>` (of its gradient).
  bool diagnostics = false;
};

/// Named parameters, as nn modules list them.
using NamedParams = std::vector<std::pair<std::string, Tensor>>;

/// What train_step added, for callers that want to find things by name.
struct TrainStepInfo {
  /// Optimizer state buffers, by full name (`optim.fc1.weight.exp_avg`,
  /// `optim.step`).
  NamedParams state;
  /// Gradients of the params, in order (values inside the step function).
  std::vector<Tensor> grads;
};

/// Appends the backward pass of \p loss (a scalar float output of \p g; it
/// is added as an output if it is not one yet) with respect to \p params and
/// the optimizer update of each: each param gets a `{updates = %p}` result,
/// each optimizer state buffer (created here, zero-initialized) one too.
/// Updates the model already made (batch-norm running statistics) are kept.
/// Throws kiln::Error if a param is not a {param} of \p g, or autodiff meets
/// an op without a gradient.
TrainStepInfo train_step(Graph &g, Tensor loss, const NamedParams &params,
                         const TrainStepOptions &options,
                         SourceLoc loc = SourceLoc::current());

} // namespace kiln
