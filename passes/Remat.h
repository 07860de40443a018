/// \file
/// remat: rematerialization of a training step's forward activations.
///
/// A training step (frontend/Train.h, passes/Autodiff.h) is one function:
/// the forward part computes the loss (result 0), the backward part and
/// the optimizer update follow it. Every forward value the backward part
/// reads stays live from the forward pass to its backward use; remat
/// chooses which of those values to keep and clones the definitions of the
/// others (and of the forward values they need) into the backward part,
/// just before their first backward use, so the originals die early and
/// the memory planner reuses their bytes. See docs/remat.md.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"
#include "passes/Lower.h"

#include <cstdint>
#include <map>
#include <string>

namespace kiln {

/// What remat should do: CompileOptions::remat and `kiln-opt -p remat{...}`.
struct RematPolicy {
  enum class Mode {
    None,  ///< keep every activation (the pass changes nothing)
    SqrtN, ///< segment checkpointing with about sqrt(N) boundaries
    Budget ///< least recompute FLOPs whose planned arena fits budget_bytes
  };
  Mode mode = Mode::None;
  /// Budget mode: the largest arena (plan_memory's arena_bytes) allowed.
  int64_t budget_bytes = 0;

  static RematPolicy none() { return {}; }
  static RematPolicy sqrt_n() { return {Mode::SqrtN, 0}; }
  static RematPolicy budget(int64_t bytes) { return {Mode::Budget, bytes}; }
};

/// What rematerialize did.
struct RematReport {
  /// False when the function is not a training step (no float scalar
  /// result 0 followed by nodes that read the forward part) or the policy
  /// is None: nothing changed.
  bool applied = false;
  /// The plan chosen ("sqrt_n", "cheap", "segments/k", "keep-all").
  std::string plan;
  /// Forward values the backward part reads, and how many are kept.
  int saved = 0, kept = 0;
  /// Segment boundaries of the plan (0 for plans without segments).
  int boundaries = 0;
  /// Nodes cloned into the backward part, and their work (multiply-add = 2).
  int recomputed_nodes = 0;
  double recompute_flops = 0;
  /// Optimizer-update nodes moved up to just after their gradients.
  int updates_moved = 0;
  /// Budget mode: the planned arena of the chosen plan and of no remat.
  int64_t arena_bytes = 0, arena_bytes_none = 0;
  /// Budget mode: candidate plans scored by the memory planner.
  int candidates = 0;
};

/// Rematerializes the training step \p f under \p policy. Budget mode
/// lowers candidate plans with \p lower (with plan_memory on) to score
/// them, and throws kiln::Error when no plan fits, naming the smallest
/// arena it found. Results never change: recomputed nodes are copies of the
/// originals, and every op is deterministic (random ops are counter-based).
/// Run it after canonicalize: CSE would merge the copies back.
RematReport rematerialize(Function &f, const RematPolicy &policy,
                          const LowerOptions &lower = {});

/// Reads a policy from pass options: `{}` or `{sqrt_n}` or
/// `{mode=sqrt_n}`; `{none}` or `{mode=none}`; `{budget=BYTES}`,
/// `{budget-bytes=BYTES}` or `{mode=budget, budget-bytes=BYTES}` (BYTES
/// may end in k, M or G: powers of 1024). On bad options returns false and
/// sets \p err.
bool parse_remat_policy(const std::map<std::string, std::string> &options,
                        RematPolicy &policy, std::string &err);

} // namespace kiln
