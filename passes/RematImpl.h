/// \file
/// Private to passes/Remat*.cpp: the analysis of a training step and keep
/// sets. A keep set says, per forward value, whether it stays (is read by
/// the backward part where it was computed) or is recomputed there.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "passes/Remat.h"

#include <unordered_map>
#include <vector>

namespace kiln::remat_detail {

/// How much recomputing an op costs, and so whether it is worth storing.
enum class Cost {
  Free,     ///< constants, iota, views: never stored for the backward part
  Cheap,    ///< elementwise and injective: recomputed by default
  Medium,   ///< reductions, pooling: kept by default (small or row-wise)
  Expensive ///< contractions: kept unless memory forces otherwise
};
Cost cost_of(OpKind op);
/// The work of one node: 2*M*N*K for a matmul, 2*out*C/g*KH*KW for a
/// convolution, input elements for reductions, output elements otherwise.
double node_flops(const Node &n);

/// The forward/backward split of a training step. The IR has no marker:
/// the forward part is every node the loss (result 0) depends on; the
/// backward part is every other node after the loss's definition (autodiff
/// appends the gradients and train_step the updates there). Nodes before
/// the loss that it does not need (batch-norm running-statistics updates)
/// are left alone.
struct Analysis {
  /// Forward nodes in body order; a node's position is its index here.
  std::vector<Node *> forward;
  std::unordered_map<const Node *, int> pos;
  /// Forward values (every result of every forward node), numbered.
  std::vector<Value *> values;
  std::unordered_map<const Value *, int> id;
  /// Per value: read by a backward node; a function result (always kept);
  /// position of its definition and of its last forward use (-1: none).
  std::vector<bool> saved, pinned;
  std::vector<int> def_pos, last_use;
  /// Per value: bytes it holds when it is stored (0 for constants, iota,
  /// and views of parameters).
  std::vector<int64_t> bytes;
  /// Per forward position: bytes of its results that the lowering will
  /// likely materialize (saved, multiply used, or read by a contraction).
  std::vector<int64_t> weight;
  /// Per forward position: bytes of values defined at or before it and read
  /// by a forward node after it (the checkpoint cost of a split there).
  std::vector<int64_t> cut_bytes;
  bool is_training_step = false;
};
Analysis analyze(const Function &f);

/// Per forward value id: true = keep.
using KeepSet = std::vector<bool>;

/// Keeps every saved value (no remat).
KeepSet keep_all(const Analysis &a);
/// Marks in \p keep what recomputing the saved values at positions >= \p
/// from needs kept under the cheap policy: a saved Medium or Expensive value
/// is kept; a Cheap or Free one is recomputed from its operands, walking
/// back through Cheap and Free ops to the first kept, Medium or Expensive
/// values, which are kept. A Cheap value more than \p window forward
/// positions before the saved value the walk started from is kept too: its
/// clone would be built long before its own backward uses and stay live
/// until them (a residual stream would be recomputed whole, block by block,
/// at the start of the backward part).
void keep_cheap_policy(const Analysis &a, int from, KeepSet &keep, int window);
/// The window of sqrt_n's tail (budget mode also tries others).
constexpr int kCheapWindow = 16;

/// A segmenting of the forward order: a split after each position in
/// `splits` (increasing); `estimate` is the modelled peak (checkpoint
/// bytes plus the largest segment).
struct Segmenting {
  std::vector<int> splits;
  int64_t estimate = 0;
};
/// For k = 1, 2, ... segments of about equal weight, the splits of least
/// total checkpoint bytes (a dynamic program over the forward order), one
/// per distinct result, fewest splits first.
std::vector<Segmenting> segmentings(const Analysis &a);
/// Keeps the checkpoints (every value crossing a split, or the root of a
/// view crossing it) and, after the last split, what the cheap policy
/// keeps (\p cheap_tail) or every saved value.
KeepSet segment_keep(const Analysis &a, const std::vector<int> &splits,
                     bool cheap_tail);

/// Two-level plans: within each segment before the last split (recomputed
/// in the backward part), splits into about \p pieces pieces of equal
/// weight. Values crossing a piece's end are recomputed once and shared
/// (group -1); every other value of a piece gets the piece's group: its
/// clones are dropped, and recomputed again, once the backward part needs
/// a value of another piece. Returns the group of every forward value.
std::vector<int> nested_groups(const Analysis &a,
                               const std::vector<int> &splits, int pieces);

struct Applied {
  int recomputed_nodes = 0;
  double flops = 0;
  int kept = 0;
};
/// Rewrites \p f (analysed as \p a): every operand of a backward node that
/// is a forward value not kept becomes a clone, built just before that
/// node and shared by later backward uses (for values with a \p group
/// >= 0, only until a value of another group is needed).
Applied apply_keep_set(Function &f, const Analysis &a, const KeepSet &keep,
                       const std::vector<int> &group = {});

/// Moves the nodes that only feed `{updates}` results to just after their
/// operands (the one writing a parameter's new value after the parameter's
/// last other reader), so gradients die early. Returns the number of nodes
/// moved before the end. (passes/RematSchedule.cpp)
int schedule_updates_early(Function &f);

/// Budget mode (passes/RematBudget.cpp).
RematReport remat_budget(Function &f, const Analysis &a, int64_t budget,
                         const LowerOptions &lower);

} // namespace kiln::remat_detail
