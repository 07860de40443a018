/// \file
/// autodiff: reverse-mode differentiation of a training loss.
///
/// build_gradients(f, loss, wrt), step by step:
///  1. Region: the values that depend on some wrt[i] (a forward walk) and
///     the nodes with a result that reaches the loss (a backward walk, over
///     operands of every dtype). Nodes in both lie on a path from a wrt to
///     the loss; only they are differentiated.
///  2. Check: a node on such a path whose op has no gradient rule (argmax,
///     argmin) is an error naming the op and one path from the loss down to
///     a wrt value; nothing has been built yet.
///  3. Seed: d loss / d loss = ones of the loss's type.
///  4. Backward: the region's nodes in reverse order. A node whose (float)
///     result has a gradient calls its rule (passes/GradRules.cpp) for the
///     float operands that depend on a wrt; integer and bool operands get
///     none. A value used several times sums its gradients with `add`.
///  5. Each wrt[i] gets its summed gradient, or a zeros constant.
///
/// The pass runs this on each function whose first result is a float scalar
/// (the loss) and that has {param} parameters, then appends one result per
/// {param} parameter, in parameter order, each named grad.<param>.
///
/// Before:
///   func @f(%x: f32[4], %w: f32[4] {param}) -> (f32[]) {
///     %p = mul(%x, %w) : f32[4]
///     %loss = reduce_sum(%p) {axes = [0], keepdims = false} : f32[]
///     return %loss
///   }
/// After (-p autodiff):
///   func @f(%x: f32[4], %w: f32[4] {param}) -> (f32[], f32[4]) {
///     %p = mul(%x, %w) : f32[4]
///     %loss = reduce_sum(%p) {axes = [0], keepdims = false} : f32[]
///     %0 = constant() {value = 1.0} : f32[]
///     %1 = reshape(%0) : f32[1]
///     %2 = broadcast_to(%1) : f32[4]
///     %grad.w = mul(%2, %x) : f32[4]
///     return %loss, %grad.w
///   }
// SPDX-License-Identifier: Apache-2.0
#include "passes/Autodiff.h"

#include "ir/Error.h"
#include "ir/OpRegistry.h"
#include "passes/GradRules.h"
#include "passes/PassManager.h"

#include <unordered_map>
#include <unordered_set>

namespace kiln {

namespace {

/// build_gradients' error, with the location of the op without a gradient.
class NoGradient : public Error {
public:
  NoGradient(const std::string &msg, Loc loc)
      : Error(msg), loc(std::move(loc)) {}
  Loc loc;
};

/// Step 1: what lies between the wrt values and the loss.
struct Region {
  std::unordered_set<const Value *> wrt;
  /// Values that depend on a wrt value, the wrt values included.
  std::unordered_set<const Value *> from_wrt;
  /// Nodes with a result the loss depends on.
  std::unordered_set<const Node *> to_loss;
  /// Nodes in both, in body order.
  std::vector<Node *> active;
};

Region find_region(const Function &f, const Value *loss,
                   const std::vector<Value *> &wrt) {
  Region r;
  r.wrt.insert(wrt.begin(), wrt.end());
  r.from_wrt = r.wrt;
  std::vector<Node *> body = f.nodes();
  for (Node *n : body)
    for (Value *v : n->operands())
      if (r.from_wrt.count(v)) {
        for (size_t i = 0; i < n->num_results(); ++i)
          r.from_wrt.insert(n->result(i));
        break;
      }
  std::unordered_set<const Value *> needed = {loss};
  for (auto it = body.rbegin(); it != body.rend(); ++it) {
    Node *n = *it;
    bool needs = false;
    for (size_t i = 0; i < n->num_results(); ++i)
      needs = needs || needed.count(n->result(i));
    if (!needs)
      continue;
    r.to_loss.insert(n);
    needed.insert(n->operands().begin(), n->operands().end());
  }
  for (Node *n : body)
    if (r.to_loss.count(n) && r.from_wrt.count(n->result()))
      r.active.push_back(n);
  return r;
}

/// The names the printer gives \p f's values (unnamed values get the
/// smallest unused numbers in definition order), as "%name".
std::unordered_map<const Value *, std::string>
printed_names(const Function &f) {
  std::unordered_set<std::string> used;
  std::vector<const Value *> order;
  for (const auto &p : f.params())
    order.push_back(p.get());
  for (const auto &n : f.body())
    for (size_t i = 0; i < n->num_results(); ++i)
      order.push_back(n->result(i));
  for (const Value *v : order)
    used.insert(v->name());
  std::unordered_map<const Value *, std::string> names;
  int next = 0;
  for (const Value *v : order) {
    std::string s = v->name();
    while (s.empty() && used.count(std::to_string(next)))
      ++next;
    names[v] = "%" + (s.empty() ? std::to_string(next++) : s);
  }
  return names;
}

/// "loss <- %3 = reduce_sum <- %2 = argmax <- %w": one path from the loss
/// through \p bad down to a wrt value.
std::string path_through(const Function &f, const Region &r, const Node *bad,
                         const Value *loss) {
  auto names = printed_names(f);
  auto node_text = [&](const Node *n) {
    return names[n->result()] + " = " + n->op_name();
  };
  std::vector<std::string> up;
  for (const Node *n = bad;;) {
    up.insert(up.begin(), node_text(n));
    if (n->result() == loss)
      break;
    const Node *next = nullptr;
    for (const Use &u : n->result()->uses())
      if (u.user && r.to_loss.count(u.user) && !next)
        next = u.user;
    KILN_CHECK(next) << "a node on the path does not reach the loss";
    n = next;
  }
  std::string s = "loss";
  for (const std::string &t : up)
    s += " <- " + t;
  for (const Node *n = bad; n;) {
    const Value *v = nullptr;
    for (const Value *o : n->operands())
      if (r.from_wrt.count(o) && !v)
        v = o;
    s += " <- " + (r.wrt.count(v) ? names[v] : node_text(v->def()));
    n = r.wrt.count(v) ? nullptr : v->def();
  }
  return s;
}

/// Step 2: every node on a path needs a gradient rule.
void check_rules(const Function &f, const Region &r, const Value *loss) {
  for (const Node *n : r.active) {
    KILN_CHECK(n->num_results() == 1) << n->op_name() << " has several results";
    if (grad_rule(n->op()))
      continue;
    throw NoGradient(std::string("autodiff: ") + n->op_name() +
                         " has no gradient (on the path " +
                         path_through(f, r, n, loss) +
                         "); a position is not differentiable: use "
                         "reduce_max, a softmax or a select instead, or "
                         "stop differentiating that parameter",
                     n->loc());
  }
}

Value *constant_like(Function &f, const TensorType &t, double v) {
  Attrs a = {{"value", Attribute(v)}};
  if (is_bool(t.dtype))
    a[0].second = Attribute(v != 0);
  else if (is_integer(t.dtype))
    a[0].second = Attribute(int64_t(v));
  return f.add(OpKind::Constant, {}, a, {t})->result();
}

using GradMap = std::unordered_map<const Value *, Value *>;

void accumulate(Function &f, GradMap &grads, const Value *v, Value *g,
                const Loc &loc) {
  KILN_CHECK(g->type() == v->type())
      << "gradient " << type_str(g->type()) << " for " << type_str(v->type());
  auto it = grads.find(v);
  if (it == grads.end())
    grads.emplace(v, g);
  else
    it->second = f.add(OpKind::Add, {it->second, g}, {}, {}, loc)->result();
}

/// Step 4: one node's rule, its operand gradients added to \p grads.
void backprop_node(Function &f, const Region &r, Node *n, GradMap &grads) {
  auto it = grads.find(n->result());
  if (it == grads.end())
    return;
  std::vector<bool> wanted;
  bool any = false;
  for (Value *v : n->operands()) {
    wanted.push_back(is_float(v->type().dtype) && r.from_wrt.count(v));
    any = any || wanted.back();
  }
  if (!any)
    return;
  GradBuilder b(f, *n, it->second, wanted);
  Grads gs = grad_rule(n->op())(b, *n);
  KILN_CHECK(gs.size() == n->num_operands())
      << n->op_name() << "'s rule returned " << gs.size() << " gradients";
  for (size_t i = 0; i < gs.size(); ++i)
    if (wanted[i] && gs[i])
      accumulate(f, grads, n->operand(i), gs[i], n->loc());
}

} // namespace

std::vector<Value *> build_gradients(Function &f, Value *loss,
                                     const std::vector<Value *> &wrt) {
  if (!is_float(loss->type().dtype))
    throw Error("autodiff: the loss must be a float tensor, got " +
                type_str(loss->type()) + "; cast it to f32 first");
  Region r = find_region(f, loss, wrt);
  check_rules(f, r, loss);
  Node *saved = f.insert_point();
  f.set_insert_point(nullptr);
  GradMap grads;
  if (r.from_wrt.count(loss))
    grads[loss] = constant_like(f, loss->type(), 1.0);
  for (auto it = r.active.rbegin(); it != r.active.rend(); ++it)
    backprop_node(f, r, *it, grads);
  std::vector<Value *> out;
  for (Value *w : wrt) {
    auto it = grads.find(w);
    bool has = it != grads.end() && is_float(w->type().dtype);
    out.push_back(has ? it->second : constant_like(f, w->type(), 0.0));
  }
  f.set_insert_point(saved);
  return out;
}

namespace {

bool is_loss_function(const Function &f) {
  return !f.results().empty() && f.result(0)->type().rank() == 0 &&
         is_float(f.result(0)->type().dtype);
}

/// "grad.w", or "grad.w.1", ... when that name is taken.
std::string fresh_name(const Function &f, const std::string &base) {
  std::string s = base;
  for (int i = 1; f.find_value(s); ++i)
    s = base + "." + std::to_string(i);
  return s;
}

/// Appends \p grads as results of \p f, each named grad.<param>; a value
/// that is already a named result (two parameters with the same gradient
/// value) is copied by an identity reshape so that each has its own name.
void append_results(Function &f, const std::vector<Value *> &params,
                    std::vector<Value *> grads) {
  std::vector<Value *> results = f.results();
  std::vector<Value *> updates = f.result_updates();
  updates.resize(results.size(), nullptr);
  for (size_t i = 0; i < grads.size(); ++i) {
    Value *g = grads[i];
    if (!g->name().empty() || g->is_param())
      g = f.add(OpKind::Reshape, {g}, {}, {g->type()})->result();
    g->set_name(fresh_name(f, "grad." + params[i]->name()));
    results.push_back(g);
    updates.push_back(nullptr);
  }
  f.set_results(results, updates);
}

} // namespace

bool autodiff(Module &m, PassContext &ctx) {
  bool changed = false;
  for (const auto &fp : m.functions()) {
    Function &f = *fp;
    std::vector<Value *> params;
    for (const auto &p : f.params())
      if (p->arg_kind() == ArgKind::Param)
        params.push_back(p.get());
    if (params.empty() || !is_loss_function(f))
      continue;
    size_t before = f.num_nodes();
    std::vector<Value *> grads;
    try {
      grads = build_gradients(f, f.result(0), params);
    } catch (const NoGradient &e) {
      if (!ctx.diags)
        throw;
      ctx.diags->error(e.loc) << e.what();
      return changed;
    }
    append_results(f, params, grads);
    ctx.stat("autodiff: @" + f.name() + ": " + std::to_string(grads.size()) +
             " gradients, " + std::to_string(f.num_nodes() - before) +
             " nodes added");
    changed = true;
  }
  return changed;
}

} // namespace kiln
