/// \file
/// remat: which forward activations a training step keeps for its backward
/// part, and which it recomputes there (passes/Remat.h, docs/remat.md).
///
///  1. Split: the forward part is what the loss (result 0) depends on; the
///     backward part is every other node after the loss. A forward value
///     read by a backward node is "saved" (RematImpl.h, analyze).
///  2. Choose a keep set:
///     - sqrt_n: segment the forward order. A split after position p
///       checkpoints every value that crosses it (defined at or before p,
///       read by a forward node after p), so splits land where little
///       crosses (between residual blocks, not inside them). For k = 1, 2,
///       ... equal-weight segments a dynamic program finds the splits of
///       least checkpoint bytes; the k of least modelled peak (checkpoints
///       plus the largest segment) wins, about sqrt(N) on a chain. After
///       the last split only cheap values are recomputed.
///     - Cheap values (elementwise, casts, views) are never checkpoints:
///       they are recomputed from the nearest kept, reduction or
///       contraction values no more than 16 positions back
///       (keep_cheap_policy).
///     - budget: candidate plans (none, cheap, every segmenting, partial
///       and two-level segmentings) are applied to copies, lowered and
///       planned by plan_memory in order of recompute FLOPs; the first that
///       fits wins (passes/RematBudget.cpp).
///  3. Apply: each backward operand that is a forward value not kept is
///     replaced by a clone, built just before its first backward use with
///     the clones its own operands need (a whole segment, from its
///     checkpoint, when its first saved value is first needed) and shared
///     by the later backward uses. A clone of %h is named %h.remat.
///  4. Move the optimizer's update chains up to just after their gradients
///     (passes/RematSchedule.cpp).
///
/// Before (a chain; -p 'remat{sqrt_n}' on a longer one):
///   %h = matmul(%x, %w) : f32[4,4]
///   %a = relu(%h) : f32[4,4]
///   %loss = reduce_sum(%a) {axes = [0, 1], keepdims = false} : f32[]
///   ...
///   %gh = select(%pos, %g, %zero) ...    (with %pos = gt(%h, %zero))
/// After: the backward part reads %h.remat = matmul(%x, %w), built just
/// before %pos, and %h dies at the end of the forward part.
// SPDX-License-Identifier: Apache-2.0
#include "passes/Remat.h"

#include "ir/Error.h"
#include "passes/PassManager.h"
#include "passes/RematImpl.h"

#include <algorithm>
#include <cstdlib>
#include <unordered_set>

namespace kiln {

namespace remat_detail {

namespace {

class Cloner {
public:
  Cloner(Function &f, const Analysis &a, const KeepSet &keep,
         const std::vector<int> &group)
      : f_(f), a_(a), keep_(keep), group_(group) {
    for (const auto &p : f.params())
      names_.insert(p->name());
    for (const auto &n : f.body())
      for (size_t i = 0; i < n->num_results(); ++i)
        names_.insert(n->result(i)->name());
  }

  /// \p v, or its clone built before \p before when it is recomputed.
  Value *get(Value *v, Node *before) {
    auto it = a_.id.find(v);
    if (it == a_.id.end() || keep_[it->second])
      return v;
    if (Node *d = v->def(); d->op() == OpKind::Constant)
      return v;
    int g = group_.empty() ? -1 : group_[size_t(it->second)];
    if (g >= 0 && g != current_) { // a new piece: drop the last one's clones
      for (const Value *old : piece_)
        map_.erase(old);
      piece_.clear();
      current_ = g;
    }
    auto c = map_.find(v);
    if (c != map_.end())
      return c->second;
    Node *d = v->def();
    ValueMap operands; // a nested get may drop map_ entries: map explicitly
    for (Value *o : d->operands())
      operands[o] = get(o, before);
    f_.set_insert_point(before);
    Node *copy = f_.clone_nodes({d}, operands).front();
    for (size_t i = 0; i < copy->num_results(); ++i) {
      name(copy->result(i), d->result(i)->name());
      map_[d->result(i)] = copy->result(i);
      if (g >= 0)
        piece_.push_back(d->result(i));
    }
    ++done.recomputed_nodes;
    done.flops += node_flops(*d);
    return map_.at(v);
  }

  Applied done;

private:
  void name(Value *v, const std::string &orig) {
    if (orig.empty())
      return;
    std::string s = orig + ".remat";
    for (int i = 1; names_.count(s); ++i)
      s = orig + ".remat" + std::to_string(i);
    names_.insert(s);
    v->set_name(s);
  }

  Function &f_;
  const Analysis &a_;
  const KeepSet &keep_;
  const std::vector<int> &group_;
  ValueMap map_;
  /// The group whose clones map_ holds, and those clones' originals.
  int current_ = -1;
  std::vector<const Value *> piece_;
  std::unordered_set<std::string> names_;
};

} // namespace

Applied apply_keep_set(Function &f, const Analysis &a, const KeepSet &keep,
                       const std::vector<int> &group) {
  Cloner c(f, a, keep, group);
  Node *saved_ip = f.insert_point();
  const Node *loss = f.result(0)->def();
  bool after_loss = false;
  for (Node *n : f.nodes()) {
    bool backward = after_loss && !a.pos.count(n);
    after_loss = after_loss || n == loss;
    if (!backward)
      continue;
    for (size_t i = 0; i < n->num_operands(); ++i) {
      Value *v = c.get(n->operand(i), n);
      if (v != n->operand(i))
        n->set_operand(i, v);
    }
  }
  f.set_insert_point(saved_ip);
  for (size_t i = 0; i < keep.size(); ++i)
    c.done.kept += keep[i] && a.saved[i];
  return c.done;
}

} // namespace remat_detail

RematReport rematerialize(Function &f, const RematPolicy &policy,
                          const LowerOptions &lower) {
  using namespace remat_detail;
  RematReport r;
  if (policy.mode == RematPolicy::Mode::None)
    return r;
  Analysis a = analyze(f);
  if (!a.is_training_step)
    return r;
  if (policy.mode == RematPolicy::Mode::Budget)
    return remat_budget(f, a, policy.budget_bytes, lower);
  std::vector<Segmenting> segs = segmentings(a);
  Segmenting best;
  best.estimate = -1;
  for (const Segmenting &s : segs)
    if (best.estimate < 0 || s.estimate < best.estimate)
      best = s;
  Applied ap = apply_keep_set(f, a, segment_keep(a, best.splits, true));
  r.updates_moved = schedule_updates_early(f);
  r.applied = true;
  r.plan = "sqrt_n";
  r.saved = int(std::count(a.saved.begin(), a.saved.end(), true));
  r.kept = ap.kept;
  r.boundaries = int(best.splits.size());
  r.recomputed_nodes = ap.recomputed_nodes;
  r.recompute_flops = ap.flops;
  return r;
}

namespace {

bool parse_bytes(const std::string &s, int64_t &out) {
  char *end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str())
    return false;
  std::string unit = end;
  double scale = unit.empty()                 ? 1
                 : unit == "k" || unit == "K" ? 1024.0
                 : unit == "M"                ? 1024.0 * 1024
                 : unit == "G"                ? 1024.0 * 1024 * 1024
                                              : -1;
  if (scale < 0 || v <= 0)
    return false;
  out = int64_t(v * scale);
  return true;
}

} // namespace

bool parse_remat_policy(const std::map<std::string, std::string> &options,
                        RematPolicy &policy, std::string &err) {
  policy = RematPolicy::sqrt_n();
  std::string mode;
  for (const auto &[key, value] : options) {
    if (key == "mode" ||
        (value == "true" && (key == "none" || key == "sqrt_n"))) {
      mode = key == "mode" ? value : key;
      continue;
    }
    if (key == "budget" || key == "budget-bytes") {
      if (!parse_bytes(value, policy.budget_bytes)) {
        err = "remat: bad byte count '" + value +
              "' (write a positive number, optionally ending in k, M or G)";
        return false;
      }
      if (mode.empty())
        mode = "budget";
      continue;
    }
    err = "remat: unknown option '" + key +
          "' (options: sqrt_n, none, budget=BYTES, mode=none|sqrt_n|budget, "
          "budget-bytes=BYTES)";
    return false;
  }
  if (mode.empty() || mode == "sqrt_n")
    policy.mode = RematPolicy::Mode::SqrtN;
  else if (mode == "none")
    policy.mode = RematPolicy::Mode::None;
  else if (mode == "budget")
    policy.mode = RematPolicy::Mode::Budget;
  else {
    err = "remat: unknown mode '" + mode + "' (none, sqrt_n or budget)";
    return false;
  }
  if (policy.mode == RematPolicy::Mode::Budget && policy.budget_bytes <= 0) {
    err = "remat: budget mode needs budget-bytes=BYTES";
    return false;
  }
  return true;
}

bool remat(Module &m, PassContext &ctx) {
  RematPolicy policy;
  std::string err;
  if (!parse_remat_policy(ctx.options, policy, err)) {
    if (!ctx.diags)
      throw Error(err);
    ctx.diags->error({}) << err;
    return false;
  }
  bool changed = false;
  for (const auto &fp : m.functions()) {
    RematReport r;
    try {
      r = rematerialize(*fp, policy);
    } catch (const Error &e) {
      if (!ctx.diags)
        throw;
      ctx.diags->error(fp->loc()) << e.what();
      return changed;
    }
    if (!r.applied) {
      ctx.stat("remat: @" + fp->name() + ": unchanged");
      continue;
    }
    std::string s = "remat: @" + fp->name() + ": " + r.plan + ", " +
                    std::to_string(r.boundaries) + " boundaries, " +
                    std::to_string(r.kept) + " of " + std::to_string(r.saved) +
                    " saved values kept, " +
                    std::to_string(r.recomputed_nodes) + " nodes recomputed (" +
                    std::to_string(int64_t(r.recompute_flops)) + " flop), " +
                    std::to_string(r.updates_moved) + " update nodes moved";
    if (policy.mode == RematPolicy::Mode::Budget)
      s += ", arena " + std::to_string(r.arena_bytes) + " bytes (" +
           std::to_string(r.arena_bytes_none) + " without remat, " +
           std::to_string(r.candidates) + " plans scored)";
    ctx.stat(s);
    changed = changed || r.recomputed_nodes > 0;
  }
  return changed;
}

} // namespace kiln
