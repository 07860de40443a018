/// \file
/// Helpers shared by the workload builders (private to bench/models).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "bench/models/Models.h"

namespace kiln::models::detail {

inline TensorType f32(Shape s) { return {DType::F32, std::move(s)}; }
inline TensorType i64(Shape s) { return {DType::I64, std::move(s)}; }

/// A Model with a fresh Graph named \p name.
Model start(const std::string &name, uint64_t seed);

/// Adds a data input to the graph and to m.inputs.
Tensor add_input(Model &m, const std::string &name, TensorType type);

/// Makes \p leading the function's first results, in order and named, ahead
/// of the state updates already recorded (BN running statistics); fills
/// m.outputs, m.params and m.buffers (from \p root's modules), and sets
/// m.loss to the first leading output when \p is_loss.
void finish(Model &m, const NamedTensors &leading,
            const std::vector<const nn::Module *> &roots, bool is_loss);

} // namespace kiln::models::detail
