/// \file
/// Losses, reduced to a scalar (mean by default), numerically stable.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "frontend/Ops.h"

namespace kiln {

enum class Reduction { Mean, Sum, None };

/// Softmax cross-entropy of \p logits [N, C] against integer \p labels [N]
/// (i32 or i64), through log-sum-exp: mean over N of
/// logsumexp(logits_n) - logits_n[label_n].
Tensor cross_entropy(Tensor logits, Tensor labels,
                     Reduction r = Reduction::Mean, SL loc = SL::current());
/// (pred - target)^2, reduced over every element.
Tensor mse(Tensor pred, Tensor target, Reduction r = Reduction::Mean,
           SL loc = SL::current());
/// Binary cross-entropy on logits, stable for any magnitude:
/// max(x, 0) - x * t + log(1 + exp(-|x|)), reduced over every element.
Tensor bce_with_logits(Tensor logits, Tensor targets,
                       Reduction r = Reduction::Mean, SL loc = SL::current());
/// (weight_decay / 2) * sum of squares of every tensor in \p params: added
/// to a loss, its gradient is weight_decay * w (classic L2 regularization).
Tensor l2_penalty(const std::vector<Tensor> &params, double weight_decay,
                  SL loc = SL::current());

} // namespace kiln
