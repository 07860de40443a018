/// \file
/// remat's budget mode: candidate keep sets scored by the real memory
/// planner. Each candidate is applied to a copy of the function, lowered
/// (fusion decides what is materialized) and planned by plan_memory; among
/// the plans whose arena fits the budget the one with the least recompute
/// FLOPs wins (ties: the smaller arena). "keep-all" (no remat) is a
/// candidate, so the result is never worse than no remat, and so is the
/// plan sqrt_n picks, so it is never worse than sqrt_n at the same memory.
// SPDX-License-Identifier: Apache-2.0
#include "ir/Error.h"
#include "passes/RematImpl.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>

namespace kiln::remat_detail {

namespace {

struct Candidate {
  std::string name;
  KeepSet keep;
  /// Two-level plans: each value's piece (nested_groups); empty: none.
  std::vector<int> group;
  int boundaries = 0;
  int64_t arena = -1;
  double flops = 0;
  /// The function as it is: no keep set applied, no update moved.
  bool untouched = false;
};

std::vector<Candidate> candidates(const Analysis &a) {
  std::vector<Candidate> out;
  std::set<std::pair<KeepSet, std::vector<int>>> seen;
  auto add = [&](std::string name, KeepSet keep, int boundaries,
                 std::vector<int> group = {}) {
    if (seen.insert({keep, group}).second)
      out.push_back(
          {std::move(name), std::move(keep), std::move(group), boundaries});
  };
  out.push_back({"none", {}, {}, 0, -1, 0, /*untouched=*/true});
  add("keep-all", keep_all(a), 0);
  for (int window : {kCheapWindow, 4, 64, 1 << 30}) {
    KeepSet cheap(a.values.size(), false);
    keep_cheap_policy(a, 0, cheap, window);
    add(window == kCheapWindow ? "cheap" : "cheap/" + std::to_string(window),
        cheap, 0);
  }
  std::vector<Segmenting> segs = segmentings(a);
  for (const Segmenting &s : segs) {
    int k = int(s.splits.size());
    std::string name = "segments/" + std::to_string(k + 1);
    add(name, segment_keep(a, s.splits, /*cheap_tail=*/true), k);
  }
  // Two-level plans for the smallest arenas (about two extra forward
  // passes): every segment of the few-segment splittings, cut in pieces.
  for (const Segmenting &s : segs) {
    int k = int(s.splits.size());
    if (k < 2 || k * k * k > 8 * int(a.forward.size()))
      continue;
    for (int pieces : {2, 4, 8})
      add("segments/" + std::to_string(k + 1) + "x" + std::to_string(pieces),
          segment_keep(a, s.splits, true), k,
          nested_groups(a, s.splits, pieces));
  }
  // Partial plans: only the first j segments of the best few segmentings
  // are recomputed, the rest keeps its contractions (the cheap policy). They
  // fill the range between "cheap" and full segmentings.
  std::stable_sort(segs.begin(), segs.end(),
                   [](const Segmenting &x, const Segmenting &y) {
                     return x.estimate < y.estimate;
                   });
  for (size_t i = 0; i < std::min<size_t>(segs.size(), 3); ++i) {
    const std::vector<int> &sp = segs[i].splits;
    for (size_t j = 1; j < sp.size(); ++j)
      add("segments/" + std::to_string(sp.size() + 1) +
              "[:" + std::to_string(j) + "]",
          segment_keep(a, {sp.begin(), sp.begin() + long(j)}, true), int(j));
  }
  return out;
}

/// Applies \p c to a copy of \p f: its recompute FLOPs, and the copy.
std::unique_ptr<Function> applied_copy(const Function &f, Candidate &c) {
  std::unique_ptr<Function> copy = f.clone();
  if (c.untouched)
    return copy;
  Analysis a = analyze(*copy);
  c.flops = apply_keep_set(*copy, a, c.keep, c.group).flops;
  schedule_updates_early(*copy);
  return copy;
}

/// The planned arena of \p c (applied to a copy of \p f).
void score(const Function &f, Candidate &c, const LowerOptions &lower) {
  std::unique_ptr<Function> copy = applied_copy(f, c);
  LowerOptions lo = lower;
  lo.plan_memory = true;
  c.arena = int64_t(kiln::lower(*copy, lo).arena_bytes);
  if (std::getenv("KILN_REMAT_DEBUG"))
    std::fprintf(stderr, "remat: candidate %-20s arena %12lld flops %.3g\n",
                 c.name.c_str(), (long long)c.arena, c.flops);
}

} // namespace

RematReport remat_budget(Function &f, const Analysis &a, int64_t budget,
                         const LowerOptions &lower) {
  std::vector<Candidate> cands = candidates(a);
  // Lower in order of recompute FLOPs: the first plan that fits (and any
  // with as few FLOPs) wins, so usually only a few are planned. When none
  // fits, all are, to name the smallest arena.
  for (size_t i = 1; i < cands.size(); ++i)
    applied_copy(f, cands[i]);
  std::stable_sort(
      cands.begin() + 1, cands.end(),
      [](const Candidate &x, const Candidate &y) { return x.flops < y.flops; });
  const Candidate *best = nullptr, *smallest = nullptr;
  int scored = 0;
  for (Candidate &c : cands) {
    if (best && c.flops > best->flops)
      break;
    score(f, c, lower);
    ++scored;
    if (!smallest || c.arena < smallest->arena)
      smallest = &c;
    if (c.arena <= budget && (!best || c.arena < best->arena))
      best = &c;
  }
  if (!best)
    throw Error("remat: no plan fits the budget of " + std::to_string(budget) +
                " bytes; the smallest arena found is " +
                std::to_string(smallest->arena) + " bytes (plan " +
                smallest->name + "); raise the budget to at least that");
  RematReport r;
  Applied ap;
  if (!best->untouched) {
    ap = apply_keep_set(f, a, best->keep, best->group);
    r.updates_moved = schedule_updates_early(f);
  }
  r.applied = true;
  r.plan = best->name;
  r.saved = int(std::count(a.saved.begin(), a.saved.end(), true));
  r.kept = ap.kept;
  r.boundaries = best->boundaries;
  r.recomputed_nodes = ap.recomputed_nodes;
  r.recompute_flops = ap.flops;
  r.arena_bytes = best->arena;
  r.arena_bytes_none = cands.front().arena;
  r.candidates = scored;
  return r;
}

} // namespace kiln::remat_detail
