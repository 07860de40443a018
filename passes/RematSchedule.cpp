/// \file
/// remat's update scheduling: train_step appends every optimizer update
/// after the whole backward part, so each parameter's gradient stays live
/// from its computation to the end of the step (on resnet18_train the
/// weight gradients are a quarter of the arena). This moves the nodes that
/// only feed `{updates}` results to just after their operands are ready;
/// the node that writes a parameter's new value waits for the parameter's
/// last other reader, so the planner can compute it in the parameter's own
/// buffer (alias_updates) and the gradient dies at once. Moving nodes
/// changes no value: `{updates}` results are written after the step.
// SPDX-License-Identifier: Apache-2.0
#include "passes/RematImpl.h"

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

namespace kiln::remat_detail {

namespace {

/// The backward nodes (after the loss) in body order.
std::vector<Node *> backward_nodes(const Function &f) {
  std::vector<Node *> out;
  bool after = false;
  for (Node *n : f.nodes()) {
    if (after)
      out.push_back(n);
    after = after || n == f.result(0)->def();
  }
  return out;
}

/// The optimizer's update chains: elementwise (or free) nodes whose every
/// result is used only by such nodes or by `{updates}` result slots. (The
/// gradients' own producers, contractions and reductions, stay put: else
/// the whole backward part, which only feeds updates, would qualify.)
std::unordered_set<const Node *> update_only(const Function &f,
                                             const std::vector<Node *> &back) {
  std::unordered_set<const Node *> m;
  for (auto it = back.rbegin(); it != back.rend(); ++it) {
    if (cost_of((*it)->op()) > Cost::Cheap)
      continue;
    bool only = true, any = false;
    for (size_t r = 0; r < (*it)->num_results(); ++r)
      for (const Use &u : (*it)->result(r)->uses()) {
        any = true;
        only =
            only && (u.user ? m.count(u.user) > 0
                            : f.result_updates()[size_t(u.index)] != nullptr);
      }
    if (only && any)
      m.insert(*it);
  }
  return m;
}

/// The last fixed node (by \p slot) whose kernel may read \p target,
/// following how lowering fuses: a view of the target is read in place by
/// its consumers; an elementwise value computed from it is inlined into its
/// elementwise consumers and a reduction's prologue, but a contraction
/// reads it from a buffer; a contraction reading the target (or a view of
/// it) runs where its single elementwise user, the epilogue, is. -1: none.
int last_reader(const Value *target,
                const std::unordered_map<const Node *, int> &slot,
                const std::unordered_set<const Node *> &movable) {
  int last = -1;
  auto at = [&](const Node *n) {
    if (!movable.count(n) && slot.count(n))
      last = std::max(last, slot.at(n));
  };
  // (value, direct): the target or a view of it, or a value computed from it.
  std::vector<std::pair<const Value *, bool>> work = {{target, true}};
  std::unordered_set<const Value *> seen;
  while (!work.empty()) {
    auto [v, direct] = work.back();
    work.pop_back();
    if (!seen.insert(v).second)
      continue;
    for (const Use &u : v->uses()) {
      if (!u.user)
        continue;
      Cost c = cost_of(u.user->op());
      if (c <= Cost::Cheap) {
        at(u.user);
        work.push_back({u.user->result(), direct && c == Cost::Free});
        continue;
      }
      if (!direct && c == Cost::Expensive)
        continue; // reads a buffer of the computed value
      at(u.user);
      const Value *r = u.user->result();
      if (c == Cost::Expensive && r->uses().size() == 1 && r->uses()[0].user &&
          cost_of(r->uses()[0].user->op()) == Cost::Cheap)
        at(r->uses()[0].user);
    }
  }
  return last;
}

} // namespace

int schedule_updates_early(Function &f) {
  if (f.results().empty() || !f.result(0)->def())
    return 0;
  std::vector<Node *> back = backward_nodes(f);
  std::unordered_set<const Node *> movable = update_only(f, back);
  if (movable.empty())
    return 0;
  // Slot of each placed node: the index of the fixed (not movable) node
  // after which it runs; -1 = before every fixed backward node.
  std::unordered_map<const Node *, int> slot;
  int fixed = 0;
  for (Node *n : back)
    if (!movable.count(n))
      slot[n] = fixed++;
  std::vector<std::vector<Node *>> after(size_t(fixed) + 1);
  for (Node *n : back) {
    if (!movable.count(n))
      continue;
    int s = -1;
    for (Value *o : n->operands())
      if (o->def() && slot.count(o->def()))
        s = std::max(s, slot[o->def()]);
    for (size_t r = 0; r < n->num_results(); ++r)
      for (const Use &u : n->result(r)->uses())
        if (!u.user)
          s = std::max(s, last_reader(f.result_updates()[size_t(u.index)], slot,
                                      movable));
    slot[n] = s;
    after[size_t(s + 1)].push_back(n);
  }
  // Rebuild the backward part's order: each fixed node, then what is ready.
  int moved = 0, index = 0;
  auto place = [&](Node *n) { f.move_before(n, nullptr); };
  for (Node *n : after[0])
    place(n), ++moved;
  for (Node *n : back) {
    if (movable.count(n))
      continue;
    place(n);
    for (Node *m : after[size_t(++index)])
      place(m), moved += index < fixed;
  }
  return moved;
}

} // namespace kiln::remat_detail
