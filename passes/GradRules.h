/// \file
/// Gradient rules (vector-Jacobian products), one per primitive op, in one
/// table filled from ir/Ops.def (passes/GradRules.cpp). A rule reads the
/// gradient g of a node's result and builds, with ordinary primitives, the
/// gradient of each operand that autodiff wants; every later pass therefore
/// applies to the backward graph too. Autodiff (passes/Autodiff.h) walks the
/// graph and calls the rules; nothing else should need this header.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"

#include <vector>

namespace kiln {

/// What a rule builds with: the function (new nodes are appended at its
/// insertion point, located at the differentiated node), the gradient of the
/// node's result and which operands need a gradient.
class GradBuilder {
public:
  GradBuilder(Function &f, const Node &n, Value *g, std::vector<bool> wanted)
      : f_(f), n_(n), g_(g), wanted_(std::move(wanted)) {}

  /// The gradient of the node's result; it has the result's type.
  Value *g() const { return g_; }
  /// Whether operand \p i needs a gradient (a float operand that depends on
  /// a value autodiff differentiates with respect to). Rules skip the rest.
  bool wants(size_t i) const { return wanted_[i]; }

  /// Builds one node with Function::add and returns its result.
  Value *op(OpKind k, const std::vector<Value *> &operands, Attrs attrs = {},
            const std::vector<TensorType> &types = {});
  /// A splat constant of type \p t.
  Value *splat(double v, const TensorType &t);
  /// A scalar constant of dtype \p dt (it broadcasts against anything).
  Value *scalar(double v, DType dt) { return splat(v, {dt, {}}); }
  Value *add(Value *a, Value *b) { return op(OpKind::Add, {a, b}); }
  Value *sub(Value *a, Value *b) { return op(OpKind::Sub, {a, b}); }
  Value *mul(Value *a, Value *b) { return op(OpKind::Mul, {a, b}); }
  Value *div(Value *a, Value *b) { return op(OpKind::Div, {a, b}); }
  Value *neg(Value *a) { return op(OpKind::Neg, {a}); }
  Value *reshape(Value *a, const TensorType &t);
  /// \p a, a float tensor, as dtype \p dt (a cast, or \p a itself).
  Value *cast(Value *a, DType dt);
  /// Undoes NumPy broadcasting: sums \p g (whose shape is a broadcast of
  /// \p s) over the broadcast axes and reshapes it to \p s. Returns \p g
  /// itself when its shape is already \p s.
  Value *sum_to(Value *g, const Shape &s);

private:
  Function &f_;
  const Node &n_;
  Value *g_;
  std::vector<bool> wanted_;
};

/// One gradient per operand of the node; nullptr where there is none (an
/// integer or bool operand, one not wanted, or a zero gradient).
using Grads = std::vector<Value *>;
using GradFn = Grads (*)(GradBuilder &b, const Node &n);

/// The gradient rule of \p op, or nullptr for the ops that have no gradient
/// (argmax, argmin, max_pool2d_grad): autodiff reports an error when one of
/// them lies on a path from the loss to a value it differentiates.
GradFn grad_rule(OpKind op);

/// Rules defined outside GradRules.cpp, by op family (the table in
/// GradRules.cpp names every op's rule).
// GradRulesLayout.cpp: layout and indexing.
Grads grad_reshape(GradBuilder &b, const Node &n);
Grads grad_transpose(GradBuilder &b, const Node &n);
Grads grad_broadcast_to(GradBuilder &b, const Node &n);
Grads grad_slice(GradBuilder &b, const Node &n);
Grads grad_concat(GradBuilder &b, const Node &n);
Grads grad_pad(GradBuilder &b, const Node &n);
Grads grad_gather(GradBuilder &b, const Node &n);
Grads grad_scatter_add(GradBuilder &b, const Node &n);
// GradRulesContraction.cpp: contractions, pooling and their gradients.
Grads grad_matmul(GradBuilder &b, const Node &n);
Grads grad_conv2d(GradBuilder &b, const Node &n);
Grads grad_conv2d_transpose(GradBuilder &b, const Node &n);
Grads grad_conv2d_weight_grad(GradBuilder &b, const Node &n);
Grads grad_max_pool2d(GradBuilder &b, const Node &n);
Grads grad_avg_pool2d(GradBuilder &b, const Node &n);

} // namespace kiln
