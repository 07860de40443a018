/// \file
/// canonicalize: the cleanup every pipeline starts and ends with.
///
/// Algorithm, repeated until nothing changes (at most kMaxRounds rounds):
///  1. Fold: a node whose operands are all constants is evaluated with the
///     reference interpreter and replaced by a constant (a splat when every
///     element is equal; element lists only up to kMaxFoldedList elements).
///  2. Simplify, by local rewrites: x+0, x-0, x*1, x/1, x^1 -> x (or
///     broadcast_to(x) when the constant widened x); neg(neg x), not(not x)
///     -> x; transpose of transpose -> one transpose (none if the identity);
///     reshape of reshape -> one reshape; reshape, broadcast_to, cast, slice,
///     pad, concat and reductions that change nothing -> their operand;
///     broadcast_to(broadcast_to x) -> broadcast_to x; broadcast_to of a
///     splat constant -> a splat constant; select(c, x, x) -> x.
///  3. CSE: a node equal to an earlier one (op, operands, attributes, result
///     types) is replaced by it. All ops are pure, random ones included (their
///     bits are a function of seed and offset), except collectives
///     (OpDef::communicates), which are never folded, merged or erased.
///  4. DCE: nodes whose results are unused are erased (not collectives).
///
/// Before:
///   %one = constant() {value = 1.0} : f32[]
///   %a = mul(%x, %one) : f32[4]
///   %t = transpose(%a) {perm = [1, 0]} ...
/// After: uses of %a read %x, and %one is gone.
// SPDX-License-Identifier: Apache-2.0
#include "passes/PassManager.h"

#include "ir/Error.h"
#include "ir/Interpreter.h"
#include "ir/OpRegistry.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <numeric>
#include <tuple>

namespace kiln {

namespace {

constexpr int kMaxRounds = 8;
/// Largest result the folder evaluates (elements).
constexpr int64_t kMaxFoldEval = int64_t(1) << 16;
/// Largest non-splat constant the folder writes out as an element list.
constexpr int64_t kMaxFoldedList = 256;

struct Stats {
  int folded = 0, simplified = 0, cse = 0, dce = 0;
  int total() const { return folded + simplified + cse + dce; }
};

bool is_constant(const Value *v) {
  return v->def() && v->def()->op() == OpKind::Constant;
}

/// The value of a constant whose elements are all equal, if \p v is one.
bool splat_value(const Value *v, double &out) {
  if (!is_constant(v))
    return false;
  const Attribute &a = *v->def()->attr("value");
  if (!a.is_list()) {
    out = a.kind() == Attribute::Kind::Bool ? a.as_bool() : a.as_number();
    return true;
  }
  const AttrList &l = a.as_list();
  if (l.empty() || !std::all_of(l.begin(), l.end(),
                                [&](const Attribute &e) { return e == l[0]; }))
    return false;
  out =
      l[0].kind() == Attribute::Kind::Bool ? l[0].as_bool() : l[0].as_number();
  return true;
}

bool is_splat_of(const Value *v, double x) {
  double s;
  return splat_value(v, s) && s == x;
}

/// The attribute text of one element of \p t, exact for its dtype.
Attribute element_attr(const HostTensor &t, int64_t i) {
  if (is_bool(t.dtype()))
    return Attribute(t.get_int(i) != 0);
  if (is_integer(t.dtype()))
    return Attribute(t.get_int(i));
  return Attribute(t.get(i));
}

/// A constant node equal to \p t, built before \p at; nullptr if too large.
Value *make_constant(Function &f, Node *at, const HostTensor &t) {
  int64_t n = t.numel();
  bool splat = n > 0;
  for (int64_t i = 1; i < n && splat; ++i)
    splat = std::memcmp(t.bytes(), t.bytes() + i * dtype_size(t.dtype()),
                        dtype_size(t.dtype())) == 0;
  if (!splat && n > kMaxFoldedList)
    return nullptr;
  Attribute value;
  if (splat) {
    value = element_attr(t, 0);
  } else {
    AttrList l;
    for (int64_t i = 0; i < n; ++i)
      l.push_back(element_attr(t, i));
    value = Attribute(std::move(l));
  }
  f.set_insert_point(at);
  Node *c =
      f.add(OpKind::Constant, {}, {{"value", value}}, {t.type()}, at->loc());
  f.set_insert_point(nullptr);
  return c->result();
}

bool try_fold(Function &f, Node *n) {
  if (n->op() == OpKind::Constant || n->num_operands() == 0 ||
      n->num_results() != 1 || n->type().numel() > kMaxFoldEval ||
      op_def(n->op()).communicates)
    return false;
  std::vector<HostTensor> args;
  for (Value *v : n->operands()) {
    if (!is_constant(v))
      return false;
    args.push_back(evaluate_node(*v->def(), {})[0]);
  }
  std::vector<const HostTensor *> in;
  for (const HostTensor &t : args)
    in.push_back(&t);
  HostTensor r = evaluate_node(*n, in)[0];
  Value *c = make_constant(f, n, r);
  if (!c)
    return false;
  f.replace_all_uses(n->result(), c);
  return true;
}

/// \p x standing in for \p n's result: itself when the types agree, else a
/// broadcast_to of it (x + 0 where 0 widened x).
Value *as_result_of(Function &f, Node *n, Value *x) {
  if (x->type() == n->type())
    return x;
  if (x->type().dtype != n->type().dtype)
    return nullptr;
  f.set_insert_point(n);
  Node *b = f.add(OpKind::BroadcastTo, {x}, {}, {n->type()}, n->loc());
  f.set_insert_point(nullptr);
  return b->result();
}

/// x op c -> x for a right identity c (and c op x -> x for a left one).
Value *identity_operand(const Node *n) {
  if (n->num_operands() == 0)
    return nullptr;
  Value *a = n->operand(0),
        *b = n->num_operands() > 1 ? n->operand(1) : nullptr;
  switch (n->op()) {
  case OpKind::Add:
    return is_splat_of(b, 0) ? a : is_splat_of(a, 0) ? b : nullptr;
  case OpKind::Mul:
    return is_splat_of(b, 1) ? a : is_splat_of(a, 1) ? b : nullptr;
  case OpKind::Sub:
    return is_splat_of(b, 0) ? a : nullptr;
  case OpKind::Div:
  case OpKind::Pow:
    return is_splat_of(b, 1) ? a : nullptr;
  case OpKind::Select:
    return n->operand(1) == n->operand(2) ? n->operand(1) : nullptr;
  default:
    return nullptr;
  }
}

/// The operand of \p n when \p n changes nothing about it.
Value *noop_operand(const Node *n) {
  Value *x = n->num_operands() ? n->operand(0) : nullptr;
  switch (n->op()) {
  case OpKind::Reshape:
  case OpKind::BroadcastTo:
  case OpKind::Cast:
  case OpKind::Slice:
  case OpKind::Pad:
  case OpKind::Concat:
  case OpKind::Transpose:
    return n->num_operands() == 1 && x->type() == n->type() &&
                   (n->op() != OpKind::Transpose ||
                    [&] {
                      auto p = n->ints_attr("perm");
                      for (size_t i = 0; i < p.size(); ++i)
                        if (p[i] != int64_t(i))
                          return false;
                      return true;
                    }())
               ? x
               : nullptr;
  case OpKind::ReduceSum:
  case OpKind::ReduceMax:
  case OpKind::ReduceMin:
  case OpKind::ReduceMean:
    return n->ints_attr("axes").empty() ? x : nullptr;
  case OpKind::Neg:
  case OpKind::Not:
    return x->def() && x->def()->op() == n->op() ? x->def()->operand(0)
                                                 : nullptr;
  default:
    return nullptr;
  }
}

/// True when \p perm swaps the last two axes and keeps the others.
bool swaps_last_two(const std::vector<int64_t> &perm) {
  size_t r = perm.size();
  for (size_t i = 0; i + 2 < r; ++i)
    if (perm[i] != int64_t(i))
      return false;
  return r >= 2 && perm[r - 2] == int64_t(r - 1) &&
         perm[r - 1] == int64_t(r - 2);
}

/// transpose(matmul(a, b)) over the last two axes -> matmul(b^T, a^T) when
/// the product has no other use and no batch broadcast: the product is then
/// computed in the layout its user reads (the weight gradient of x @ W^T
/// comes out as W's [out, in] instead of a transposed read in the update).
Value *transposed_matmul(Function &f, Node *n, Node *inner) {
  if (!inner || inner->op() != OpKind::Matmul ||
      inner->result()->uses().size() != 1 ||
      !swaps_last_two(n->ints_attr("perm")))
    return nullptr;
  Value *a = inner->operand(0), *b = inner->operand(1);
  const std::vector<int64_t> perm = n->ints_attr("perm");
  if (a->type().shape.size() != perm.size() ||
      b->type().shape.size() != perm.size())
    return nullptr;
  // At the product's place: the weight gradient of a layer is computed
  // where its inputs are live, not where autodiff put the transpose (the
  // end of the step).
  f.set_insert_point(inner);
  Attrs pa = {{"perm", Attribute::ints(perm)}};
  Value *bt = f.add(OpKind::Transpose, {b}, pa, {}, n->loc())->result();
  Value *at = f.add(OpKind::Transpose, {a}, pa, {}, n->loc())->result();
  return f.add(OpKind::Matmul, {bt, at}, {}, {}, n->loc())->result();
}

/// Rewrites that build a new node: transpose(transpose), reshape(reshape),
/// broadcast_to(broadcast_to), broadcast_to(splat constant),
/// transpose(matmul).
Value *fold_chain(Function &f, Node *n) {
  Value *x = n->num_operands() ? n->operand(0) : nullptr;
  Node *inner = x ? x->def() : nullptr;
  f.set_insert_point(n);
  Value *r = nullptr;
  double s;
  if (n->op() == OpKind::Transpose && inner &&
      inner->op() == OpKind::Transpose) {
    auto outer = n->ints_attr("perm"), first = inner->ints_attr("perm");
    std::vector<int64_t> perm(outer.size());
    for (size_t i = 0; i < outer.size(); ++i)
      perm[i] = first[size_t(outer[i])];
    r = f.add(OpKind::Transpose, {inner->operand(0)},
              {{"perm", Attribute::ints(perm)}}, {}, n->loc())
            ->result();
  } else if (n->op() == OpKind::Transpose &&
             (r = transposed_matmul(f, n, inner))) {
  } else if ((n->op() == OpKind::Reshape || n->op() == OpKind::BroadcastTo) &&
             inner && inner->op() == n->op()) {
    r = f.add(n->op(), {inner->operand(0)}, {}, {n->type()}, n->loc())
            ->result();
  } else if (n->op() == OpKind::BroadcastTo && splat_value(x, s)) {
    const Attribute &v = *inner->attr("value");
    Attribute elem = v.is_list() ? v.as_list()[0] : v;
    r = f.add(OpKind::Constant, {}, {{"value", elem}}, {n->type()}, n->loc())
            ->result();
  }
  f.set_insert_point(nullptr);
  return r;
}

bool try_simplify(Function &f, Node *n) {
  Value *r = nullptr;
  if (Value *x = identity_operand(n))
    r = as_result_of(f, n, x);
  if (!r)
    r = noop_operand(n);
  if (!r)
    r = fold_chain(f, n);
  if (!r || r == n->result())
    return false;
  f.replace_all_uses(n->result(), r);
  return true;
}

using CseKey = std::tuple<int, std::vector<const Value *>, std::string,
                          std::vector<std::string>>;

CseKey cse_key(const Node *n) {
  std::vector<const Value *> ops(n->operands().begin(), n->operands().end());
  std::string attrs;
  for (const NamedAttr &a : n->attrs())
    attrs += a.first + "=" + attr_str(a.second) + ";";
  std::vector<std::string> types;
  for (size_t i = 0; i < n->num_results(); ++i)
    types.push_back(type_str(n->type(i)));
  return {int(n->op()), ops, attrs, types};
}

int eliminate_common(Function &f) {
  std::map<CseKey, Node *> seen;
  int count = 0;
  for (Node *n : f.nodes()) {
    if (op_def(n->op()).communicates)
      continue;
    auto [it, inserted] = seen.emplace(cse_key(n), n);
    if (inserted)
      continue;
    for (size_t i = 0; i < n->num_results(); ++i)
      f.replace_all_uses(n->result(i), it->second->result(i));
    ++count;
  }
  return count;
}

int eliminate_dead(Function &f) {
  int count = 0;
  std::vector<Node *> nodes = f.nodes();
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    Node *n = *it;
    if (op_def(n->op()).communicates)
      continue; // the other ranks expect it
    bool used = false;
    for (size_t i = 0; i < n->num_results(); ++i)
      used |= n->result(i)->has_uses();
    if (used)
      continue;
    f.erase(n);
    ++count;
  }
  return count;
}

void canonicalize_function(Function &f, Stats &st) {
  for (int round = 0; round < kMaxRounds; ++round) {
    Stats before = st;
    for (Node *n : f.nodes()) {
      bool dead = true;
      for (size_t i = 0; i < n->num_results(); ++i)
        dead &= !n->result(i)->has_uses();
      if (dead)
        continue;
      if (try_fold(f, n))
        ++st.folded;
      else if (try_simplify(f, n))
        ++st.simplified;
    }
    st.cse += eliminate_common(f);
    st.dce += eliminate_dead(f);
    if (st.total() == before.total())
      return;
  }
}

} // namespace

bool canonicalize(Module &m, PassContext &ctx) {
  Stats st;
  for (const auto &f : m.functions())
    canonicalize_function(*f, st);
  ctx.stat("canonicalize: " + std::to_string(st.folded) + " folded, " +
           std::to_string(st.simplified) + " simplified, " +
           std::to_string(st.cse) + " common subexpressions, " +
           std::to_string(st.dce) + " dead nodes removed");
  return st.total() > 0;
}

} // namespace kiln
