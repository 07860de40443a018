/// \file
/// Pipeline model partitioning on the Graph IR: a forward function that
/// computes a scalar loss is cut into K stages, one per rank, in body
/// order, at chosen cut values or where the FLOPs balance. Stage k's
/// functions exchange the values that cross its boundaries with send/recv
/// ops (ir/ops/Collective.cpp): activations forward with tag 2k, their
/// gradients backward with tag 2k+1. frontend/Pipeline.h runs them in a
/// GPipe schedule.
///
///   stage_forward(k):  recv the inputs from stage k-1, compute, send the
///                      boundary values to stage k+1; results: the received
///                      values (kept for the backward pass), the send
///                      tokens, and on the last stage the loss.
///   stage_backward(k): recompute stage k from the kept inputs (GPipe's
///                      rematerialization), recv the gradients of its
///                      outputs from stage k+1, and append the gradients
///                      (autodiff) of sum(output * gradient) -- on the
///                      last stage of loss * scale -- w.r.t. the kept
///                      inputs, sent back to stage k-1, and w.r.t. the
///                      stage's params, returned.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"

#include <memory>
#include <vector>

namespace kiln {

/// Where a function splits.
struct StagePlan {
  int stages = 1;
  /// The stage of each node (by pointer); nodes without operands
  /// (constants, iota) are -1: every stage that uses one gets a copy. Nodes
  /// the loss does not depend on are absent.
  std::vector<std::pair<const Node *, int>> nodes;
  /// boundary[k]: values of stage k that stage k+1 reads, in body order.
  std::vector<std::vector<Value *>> boundary;
  /// The {param} and input parameters each stage reads, in order.
  std::vector<std::vector<Value *>> params;
  Value *loss = nullptr;
};

/// Multiply-adds of matmul and convolutions count 2 FLOPs each; any other
/// node one per result element.
double node_flops(const Node &n);

/// Splits \p f, whose value \p loss is a scalar, after each of \p cuts
/// (values of \p f in body order; stage k ends with cuts[k]'s
/// definition). Throws kiln::Error naming the value when one crosses more
/// than one boundary, a {param} is read by two stages, or a cut is not
/// before the loss.
StagePlan plan_stages(const Function &f, Value *loss,
                      const std::vector<Value *> &cuts);
/// \p stages - 1 cut values that balance the FLOPs of the loss's nodes.
std::vector<Value *> balanced_cuts(const Function &f, Value *loss, int stages);

/// The forward function of stage \p k (see the file comment). Its
/// parameters are the stage's params (as plain inputs).
std::unique_ptr<Function> stage_forward(const Function &f,
                                        const StagePlan &plan, int k);
/// The backward function of stage \p k: parameters the kept boundary
/// inputs (k > 0) then the stage's params; results the gradients of the
/// stage's {param} parameters, in plan.params[k] order, then send tokens.
/// \p loss_scale multiplies the loss on the last stage (1 / micro-batches).
std::unique_ptr<Function> stage_backward(const Function &f,
                                         const StagePlan &plan, int k,
                                         double loss_scale);

} // namespace kiln
