/// \file
/// Row fusion: a reduction (sum, max, min, mean with keepdims) whose every
/// use lies inside one elementwise kernel of the reduction's input shape is
/// computed inside that kernel, once per row (per index of the kept axes),
/// before the row's outputs. Values used both by the reductions and by the
/// output (softmax's exp(x - max), layer norm's x - mean) are recomputed
/// rather than stored. Softmax and layer norm become one kernel each:
///
///   parallel for row:
///     m = max_c x[row, c]
///     s = sum_c exp(x[row, c] - m)
///     for c: out[row, c] = exp(x[row, c] - m) / s
// SPDX-License-Identifier: Apache-2.0
#include "passes/LowerImpl.h"

#include "ir/Error.h"

#include <algorithm>

namespace kiln::lowering {

using loop::Op;

namespace {

bool is_row_reduction(OpKind op) {
  return op == OpKind::ReduceSum || op == OpKind::ReduceMax ||
         op == OpKind::ReduceMin || op == OpKind::ReduceMean;
}

bool is_view_op(OpKind op) {
  return op == OpKind::Reshape || op == OpKind::Transpose ||
         op == OpKind::BroadcastTo || op == OpKind::Slice ||
         op == OpKind::Pad || op == OpKind::Concat || op == OpKind::Gather;
}

} // namespace

/// Grows the group of \p root backwards from \p v; false when a value that
/// depends on a row reduction is read through an index map that is not
/// plain broadcasting (row locality would break).
bool Lowering::grow_row_group(
    const Value *v, const Shape &s, RowGroup &g,
    std::unordered_set<const Value *> &group,
    const std::unordered_set<const Value *> &boundary) {
  if (group.count(v) || !v->def() || boundary.count(v))
    return true;
  const Node &n = *v->def();
  bool reduction = is_row_reduction(n.op()) && n.bool_attr("keepdims") &&
                   n.operand(0)->type().shape == s &&
                   (g.axes.empty() || reduced_axes(n) == g.axes);
  bool inline_ok = kind_of(n.op()) == Kind::Injective && !anchor_.count(v) &&
                   !(n.op() == OpKind::Constant && n.attr("value")->is_list());
  if (!reduction && !inline_ok)
    return true; // a boundary: read from its buffer
  if (reduction) {
    if (g.axes.empty())
      g.axes = reduced_axes(n);
    g.reductions.push_back(&n);
  }
  group.insert(v);
  for (const Value *o : n.operands())
    if (!grow_row_group(o, s, g, group, boundary))
      return false;
  return true;
}

/// True when nothing in \p group that depends on one of its reductions is
/// read other than elementwise at the root's shape.
bool Lowering::row_local(const Value *root,
                         const std::unordered_set<const Value *> &group,
                         const std::vector<bool> &axes) const {
  // Per-row scalars have the root's shape with the reduced axes at 1.
  Shape row_shape = root->type().shape;
  for (size_t d = 0; d < row_shape.size(); ++d)
    if (axes[d])
      row_shape[d] = 1;
  std::unordered_set<const Value *> dependent;
  for (const auto &np : f_.body()) {
    const Value *v = np->result();
    if (!group.count(v))
      continue;
    bool dep = false;
    for (const Value *o : np->operands())
      dep |= dependent.count(o) > 0 ||
             (group.count(o) && is_row_reduction(o->def()->op()));
    if (!dep)
      continue;
    const Shape &vs = v->type().shape;
    if (is_view_op(np->op()) || (!is_row_reduction(np->op()) &&
                                 vs != root->type().shape && vs != row_shape))
      return false;
    dependent.insert(v);
  }
  return true;
}

void Lowering::find_row_groups() {
  for (const auto &np : f_.body()) {
    const Value *root = np->result();
    if (!materialize_.count(root) || kind_of(np->op()) != Kind::Injective ||
        is_view_op(np->op()) || anchor_.count(root))
      continue;
    std::unordered_set<const Value *> boundary;
    for (int attempt = 0; attempt < 16; ++attempt) {
      RowGroup g;
      std::unordered_set<const Value *> group;
      group.insert(root);
      bool ok = true;
      for (const Value *o : np->operands())
        ok = ok && grow_row_group(o, root->type().shape, g, group, boundary);
      if (!ok || g.reductions.empty() || !row_local(root, group, g.axes))
        break;
      // Every value of the group but the root must be used only inside it.
      bool closed = true;
      for (const Value *v : group)
        for (const Use &u : real_uses(v))
          if (v != root && (!u.user || !group.count(u.user->result()))) {
            boundary.insert(v);
            closed = false;
          }
      if (!closed)
        continue;
      std::sort(g.reductions.begin(), g.reductions.end(),
                [&](const Node *a, const Node *b) {
                  return position(a) < position(b);
                });
      g.reductions.erase(std::unique(g.reductions.begin(), g.reductions.end()),
                         g.reductions.end());
      for (const Value *v : group)
        if (v != root)
          materialize_.erase(v);
      row_groups_[root] = std::move(g);
      break;
    }
  }
}

StmtPtr Lowering::row_kernel(const Value *root, const RowGroup &g, int out) {
  const Shape &s = root->type().shape;
  Shape kept, red;
  for (size_t d = 0; d < s.size(); ++d)
    (g.axes[d] ? red : kept).push_back(s[d]);
  int64_t cost = numel(red) * int64_t(g.reductions.size() + 1);
  return loop_nest(kept, cost, [&](const Index &kidx) {
    // The full index of one row element for fresh reduction variables.
    auto row_loop = [&](std::vector<int> &vars) {
      Index full(s.size());
      size_t k = 0;
      for (size_t d = 0; d < s.size(); ++d) {
        if (g.axes[d]) {
          vars.push_back(new_var("r"));
          full[d] = loop::var(vars.back());
        } else {
          full[d] = kidx[k++];
        }
      }
      return full;
    };
    auto wrap = [&](std::vector<StmtPtr> body, const std::vector<int> &vars) {
      size_t r = red.size();
      for (size_t i = vars.size(); i-- > 0;)
        body = {loop::for_loop(vars[i], red[--r], loop::LoopKind::Serial,
                               std::move(body))};
      return body;
    };
    std::vector<StmtPtr> stmts;
    for (const Node *n : g.reductions) {
      DType t = acc_type(n->type().dtype);
      std::vector<int> vars;
      Index full = row_loop(vars);
      int acc = new_var("acc", t);
      bool mx = n->op() == OpKind::ReduceMax, mn = n->op() == OpKind::ReduceMin;
      Op combine = mx ? Op::Max : mn ? Op::Min : Op::Add;
      ExprPtr av = loop::var(acc, t);
      stmts.push_back(
          loop::decl(acc, t, mx || mn ? lowest(t, mx) : loop::imm(0, t)));
      std::vector<StmtPtr> body = {loop::assign(
          acc, loop::make(combine, t,
                          {av, convert(value_at(n->operand(0), full), t)}))};
      for (StmtPtr &st : wrap(std::move(body), vars))
        stmts.push_back(st);
      ExprPtr result =
          n->op() == OpKind::ReduceMean
              ? loop::make(Op::Div, t, {av, loop::imm(double(numel(red)), t)})
              : av;
      int rv = new_var("row", n->type().dtype);
      stmts.push_back(
          loop::decl(rv, n->type().dtype, convert(result, n->type().dtype)));
      overrides[n->result()] = loop::var(rv, n->type().dtype);
    }
    std::vector<int> vars;
    Index full = row_loop(vars);
    for (StmtPtr &st :
         wrap({loop::store(out, flat_index(full, s), value_at(root, full))},
              vars))
      stmts.push_back(st);
    for (const Node *n : g.reductions)
      overrides.erase(n->result());
    return stmts;
  });
}

} // namespace kiln::lowering
