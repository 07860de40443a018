/// \file
/// Initializers for parameters and state buffers, as PyTorch's torch.nn.init
/// defines them, seeded and deterministic: the values depend only on the
/// Graph's seed and the parameter's full name (Graph::param), and are drawn
/// from Philox4x32-10 bits (ir/Philox.h), the same on every machine.
///
/// Fans follow PyTorch for its layouts: for a tensor of rank >= 2,
/// fan_in = shape[1] * receptive field and fan_out = shape[0] * receptive
/// field (receptive field = product of shape[2:]); so a Linear weight is
/// [out_features, in_features] and a conv weight OIHW.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "frontend/Graph.h"

namespace kiln::init {

enum class FanMode { FanIn, FanOut };
enum class Nonlinearity { Linear, Sigmoid, Tanh, Relu, LeakyRelu };

/// PyTorch's calculate_gain: 1 (linear, sigmoid), 5/3 (tanh), sqrt(2) (relu),
/// sqrt(2 / (1 + slope^2)) (leaky relu with \p param as the slope).
double gain(Nonlinearity nl, double param = 0.01);
/// fan_in and fan_out of \p shape as above; throws kiln::Error below rank 2.
std::pair<int64_t, int64_t> fans(const Shape &shape);

Initializer zeros();
Initializer ones();
Initializer constant(double value);
/// N(mean, std^2).
Initializer normal(double std, double mean = 0.0);
/// U(low, high).
Initializer uniform(double low, double high);
/// U(-a, a), a = gain * sqrt(6 / (fan_in + fan_out)).
Initializer xavier_uniform(double gain = 1.0);
/// N(0, std^2), std = gain * sqrt(2 / (fan_in + fan_out)).
Initializer xavier_normal(double gain = 1.0);
/// U(-b, b), b = gain * sqrt(3 / fan), gain = gain(nl, a).
Initializer kaiming_uniform(double a = 0.0, FanMode mode = FanMode::FanIn,
                            Nonlinearity nl = Nonlinearity::LeakyRelu);
/// N(0, std^2), std = gain(nl, a) / sqrt(fan).
Initializer kaiming_normal(double a = 0.0, FanMode mode = FanMode::FanIn,
                           Nonlinearity nl = Nonlinearity::LeakyRelu);

} // namespace kiln::init
