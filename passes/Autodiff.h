/// \file
/// Reverse-mode automatic differentiation on the Graph IR. build_gradients
/// appends the backward graph to a function, built from ordinary primitives
/// by the rules of passes/GradRules.cpp, so the forward and backward parts
/// stay one function that every later pass (canonicalize, remat, fuse) sees
/// whole. The `autodiff` pass (passes/Passes.def) wraps it for kiln-opt.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"

#include <vector>

namespace kiln {

/// Appends to \p f the nodes that compute d loss / d wrt[i] for each i and
/// returns those gradients, one per entry of \p wrt, each of wrt[i]'s type.
///
/// - \p loss: a float value of \p f, usually a scalar; a non-scalar loss is
///   differentiated as the sum of its elements.
/// - \p wrt: values of \p f (parameters or node results). A value that does
///   not influence the loss, or an integer or bool one, gets a zeros
///   constant.
/// - Only nodes on a path from some wrt[i] to the loss are differentiated;
///   where a value is used several times its gradients are added; gradients
///   of broadcast operands are summed back to the operand's shape.
/// - Throws kiln::Error, leaving \p f unchanged, when an op without a
///   gradient (argmax, argmin) lies on such a path:
///   "autodiff: argmax has no gradient (on the path loss <- %3 = reduce_sum
///   <- %2 = cast <- %1 = argmax <- %w); ...". Values are named as the
///   printer names them.
/// New nodes go at the end of the body (the insertion point is restored).
std::vector<Value *> build_gradients(Function &f, Value *loss,
                                     const std::vector<Value *> &wrt);

} // namespace kiln
