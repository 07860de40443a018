/// \file
/// The gradient table: one vector-Jacobian product per op of ir/Ops.def,
/// each with its math as a comment (g is the gradient of the result y).
/// Elementwise, source and reduction rules live here; layout and indexing in
/// GradRulesLayout.cpp, contractions and pooling in GradRulesContraction.cpp.
///
/// Three kinds of entry:
///  - a rule: the operand gradients, built from ordinary primitives;
///  - grad_zero: piecewise-constant ops (sign, floor, ceil, round,
///    comparisons, logic, is_finite) and ops whose operands are all integer
///    or absent (sources, one_hot): the gradient is zero (almost
///    everywhere), so nothing flows through them;
///  - nullptr: no gradient. argmax and argmin turn values into positions; a
///    loss that reaches a parameter only through a position is almost always
///    a mistake, so autodiff reports it instead of silently returning zero.
///    max_pool2d_grad has no second derivative here.
// SPDX-License-Identifier: Apache-2.0
#include "passes/GradRules.h"

#include "ir/Error.h"

#include <algorithm>

namespace kiln {

// ---- the builder ---------------------------------------------------------

Value *GradBuilder::op(OpKind k, const std::vector<Value *> &operands,
                       Attrs attrs, const std::vector<TensorType> &types) {
  return f_.add(k, operands, std::move(attrs), types, n_.loc())->result();
}

Value *GradBuilder::splat(double v, const TensorType &t) {
  return op(OpKind::Constant, {}, {{"value", Attribute(v)}}, {t});
}

Value *GradBuilder::reshape(Value *a, const TensorType &t) {
  return a->type() == t ? a : op(OpKind::Reshape, {a}, {}, {t});
}

Value *GradBuilder::cast(Value *a, DType dt) {
  if (a->type().dtype == dt)
    return a;
  return op(OpKind::Cast, {a}, {}, {{dt, a->type().shape}});
}

Value *GradBuilder::sum_to(Value *g, const Shape &s) {
  const Shape &gs = g->type().shape;
  if (gs == s)
    return g;
  KILN_CHECK(gs.size() >= s.size())
      << "sum_to: " << shape_str(gs) << " is not a broadcast of "
      << shape_str(s);
  size_t lead = gs.size() - s.size();
  std::vector<int64_t> axes;
  for (size_t d = 0; d < gs.size(); ++d)
    if (d < lead || (s[d - lead] == 1 && gs[d] != 1))
      axes.push_back(int64_t(d));
  if (!axes.empty())
    g = op(OpKind::ReduceSum, {g},
           {{"axes", Attribute::ints(axes)}, {"keepdims", Attribute(true)}});
  return reshape(g, {g->type().dtype, s});
}

namespace {

// ---- helpers ---------------------------------------------------------------

Value *x0(const Node &n) { return n.operand(0); }
Value *y(const Node &n) { return n.result(); }
DType dt(const Node &n) { return n.type().dtype; }

/// Each operand's gradient summed back to the operand's shape (binary ops
/// and select broadcast their operands).
Grads unbroadcast(GradBuilder &b, const Node &n, Grads g) {
  for (size_t i = 0; i < g.size(); ++i)
    if (g[i])
      g[i] = b.sum_to(g[i], n.operand(i)->type().shape);
  return g;
}

/// One unary gradient, built only when the operand wants it.
template <typename F> Grads unary(GradBuilder &b, F f) {
  return {b.wants(0) ? f() : nullptr};
}

// ---- zero and none -------------------------------------------------------

/// d/dx f(x) = 0 (almost everywhere), or f has no float operands.
Grads grad_zero(GradBuilder &, const Node &n) {
  return Grads(n.num_operands(), nullptr);
}

// ---- elementwise unary ---------------------------------------------------

/// d/dx (-x) = -g
Grads grad_neg(GradBuilder &b, const Node &) {
  return unary(b, [&] { return b.neg(b.g()); });
}
/// d/dx |x| = g*sign(x)
Grads grad_abs(GradBuilder &b, const Node &n) {
  return unary(b, [&] { return b.mul(b.g(), b.op(OpKind::Sign, {x0(n)})); });
}
/// d/dx e^x = g*y
Grads grad_exp(GradBuilder &b, const Node &n) {
  return unary(b, [&] { return b.mul(b.g(), y(n)); });
}
/// d/dx log(x) = g/x
Grads grad_log(GradBuilder &b, const Node &n) {
  return unary(b, [&] { return b.div(b.g(), x0(n)); });
}
/// d/dx sqrt(x) = g/(2y)
Grads grad_sqrt(GradBuilder &b, const Node &n) {
  return unary(b,
               [&] { return b.div(b.g(), b.mul(y(n), b.scalar(2.0, dt(n)))); });
}
/// d/dx x^(-1/2) = -1/2 x^(-3/2) = g*(-0.5)*y^3
Grads grad_rsqrt(GradBuilder &b, const Node &n) {
  return unary(b, [&] {
    Value *y3 = b.mul(y(n), b.mul(y(n), y(n)));
    return b.mul(b.g(), b.mul(b.scalar(-0.5, dt(n)), y3));
  });
}
/// d/dx tanh(x) = g*(1 - y^2)
Grads grad_tanh(GradBuilder &b, const Node &n) {
  return unary(b, [&] {
    return b.mul(b.g(), b.sub(b.scalar(1.0, dt(n)), b.mul(y(n), y(n))));
  });
}
/// d/dx sigmoid(x) = g*y*(1 - y)
Grads grad_sigmoid(GradBuilder &b, const Node &n) {
  return unary(b, [&] {
    return b.mul(b.g(), b.mul(y(n), b.sub(b.scalar(1.0, dt(n)), y(n))));
  });
}
/// d/dx relu(x) = g where x > 0, else 0 (0 at the kink, as PyTorch)
Grads grad_relu(GradBuilder &b, const Node &n) {
  return unary(b, [&] {
    Value *zero = b.scalar(0.0, dt(n));
    Value *pos = b.op(OpKind::Gt, {x0(n), zero});
    return b.op(OpKind::Select, {pos, b.g(), zero});
  });
}
/// d/dx sin(x) = g*cos(x)
Grads grad_sin(GradBuilder &b, const Node &n) {
  return unary(b, [&] { return b.mul(b.g(), b.op(OpKind::Cos, {x0(n)})); });
}
/// d/dx cos(x) = -g*sin(x)
Grads grad_cos(GradBuilder &b, const Node &n) {
  return unary(b,
               [&] { return b.neg(b.mul(b.g(), b.op(OpKind::Sin, {x0(n)}))); });
}
constexpr double k2OverSqrtPi = 1.12837916709551257390; // 2/sqrt(pi)

/// d/dx erf(x) = g * 2/sqrt(pi) * e^(-x^2)
Grads grad_erf(GradBuilder &b, const Node &n) {
  return unary(b, [&] {
    Value *e = b.op(OpKind::Exp, {b.neg(b.mul(x0(n), x0(n)))});
    return b.mul(b.g(), b.mul(b.scalar(k2OverSqrtPi, dt(n)), e));
  });
}

// ---- elementwise binary (NumPy broadcasting) -----------------------------

/// d/da (a+b) = g;  d/db (a+b) = g
Grads grad_add(GradBuilder &b, const Node &n) {
  return unbroadcast(
      b, n, {b.wants(0) ? b.g() : nullptr, b.wants(1) ? b.g() : nullptr});
}
/// d/da (a-b) = g;  d/db (a-b) = -g
Grads grad_sub(GradBuilder &b, const Node &n) {
  return unbroadcast(
      b, n,
      {b.wants(0) ? b.g() : nullptr, b.wants(1) ? b.neg(b.g()) : nullptr});
}
/// d/da (a*b) = g*b;  d/db (a*b) = g*a
Grads grad_mul(GradBuilder &b, const Node &n) {
  return unbroadcast(b, n,
                     {b.wants(0) ? b.mul(b.g(), n.operand(1)) : nullptr,
                      b.wants(1) ? b.mul(b.g(), n.operand(0)) : nullptr});
}
/// d/da (a/b) = g/b;  d/db (a/b) = -g*a/b^2 = -(g*y)/b
Grads grad_div(GradBuilder &b, const Node &n) {
  Value *den = n.operand(1);
  return unbroadcast(
      b, n,
      {b.wants(0) ? b.div(b.g(), den) : nullptr,
       b.wants(1) ? b.neg(b.div(b.mul(b.g(), y(n)), den)) : nullptr});
}
/// d/da a^b = g*b*a^(b-1);  d/db a^b = g*y*log(a), taken as 0 where a = 0
/// (the limit for b > 0, as PyTorch)
Grads grad_pow(GradBuilder &b, const Node &n) {
  Value *a = n.operand(0), *e = n.operand(1);
  Grads g(2, nullptr);
  if (b.wants(0)) {
    Value *am1 = b.op(OpKind::Pow, {a, b.sub(e, b.scalar(1.0, dt(n)))});
    g[0] = b.mul(b.g(), b.mul(e, am1));
  }
  if (b.wants(1)) {
    Value *zero = b.scalar(0.0, dt(n));
    Value *at0 = b.op(OpKind::Eq, {a, zero});
    Value *la = b.op(OpKind::Select, {at0, zero, b.op(OpKind::Log, {a})});
    g[1] = b.mul(b.g(), b.mul(y(n), la));
  }
  return unbroadcast(b, n, g);
}

/// The share of g that max (or min) gives its first operand: 1 where a
/// wins, 1/2 where a = b (ties split evenly, as PyTorch), else 0.
Value *first_share(GradBuilder &b, const Node &n, OpKind wins) {
  Value *a = n.operand(0), *c = n.operand(1);
  Value *tie =
      b.op(OpKind::Select, {b.op(OpKind::Eq, {a, c}), b.scalar(0.5, dt(n)),
                            b.scalar(0.0, dt(n))});
  return b.op(OpKind::Select, {b.op(wins, {a, c}), b.scalar(1.0, dt(n)), tie});
}

/// The gradients of max (wins = gt) or min (wins = lt).
Grads grad_extreme(GradBuilder &b, const Node &n, OpKind wins) {
  Value *ga = b.mul(b.g(), first_share(b, n, wins));
  return unbroadcast(
      b, n,
      {b.wants(0) ? ga : nullptr, b.wants(1) ? b.sub(b.g(), ga) : nullptr});
}
/// d/da max(a,b) = g*[a > b] + g/2*[a = b];  d/db = g - d/da
Grads grad_max(GradBuilder &b, const Node &n) {
  return grad_extreme(b, n, OpKind::Gt);
}
/// d/da min(a,b) = g*[a < b] + g/2*[a = b];  d/db = g - d/da
Grads grad_min(GradBuilder &b, const Node &n) {
  return grad_extreme(b, n, OpKind::Lt);
}
/// d/da select(c,a,b) = g where c, else 0;  d/db = g where !c, else 0;
/// the bool condition gets none
Grads grad_select(GradBuilder &b, const Node &n) {
  Value *c = n.operand(0), *zero = b.scalar(0.0, dt(n));
  return unbroadcast(
      b, n,
      {nullptr, b.wants(1) ? b.op(OpKind::Select, {c, b.g(), zero}) : nullptr,
       b.wants(2) ? b.op(OpKind::Select, {c, zero, b.g()}) : nullptr});
}
/// d/dx cast(x) = cast(g) back to x's dtype (float to float; casts to or
/// from integers and bool pass nothing)
Grads grad_cast(GradBuilder &b, const Node &n) {
  return unary(b, [&] { return b.cast(b.g(), x0(n)->type().dtype); });
}

// ---- reductions ----------------------------------------------------------

/// The operand's shape with the reduced axes kept as 1.
TensorType kept_type(const Node &n) {
  TensorType t = x0(n)->type();
  for (int64_t a : n.ints_attr("axes"))
    t.shape[size_t(normalize_axis(a, t.rank()))] = 1;
  t.dtype = dt(n);
  return t;
}

/// \p v (the reduced shape) broadcast back over the reduced axes.
Value *expand(GradBuilder &b, const Node &n, Value *v) {
  return b.op(OpKind::BroadcastTo, {b.reshape(v, kept_type(n))}, {},
              {x0(n)->type()});
}

/// d/dx sum(x) = g broadcast over the reduced axes
Grads grad_reduce_sum(GradBuilder &b, const Node &n) {
  return unary(b, [&] { return expand(b, n, b.g()); });
}
/// d/dx mean(x) = g/count broadcast over the reduced axes
Grads grad_reduce_mean(GradBuilder &b, const Node &n) {
  return unary(b, [&] {
    int64_t count =
        x0(n)->type().numel() / std::max<int64_t>(1, n.type().numel());
    double scale = count ? 1.0 / double(count) : 0.0;
    return expand(b, n, b.mul(b.g(), b.scalar(scale, dt(n))));
  });
}
/// d/dx max(x) = g where x = y, split evenly among ties:
/// g*[x = y] / count(x = y)   (the same for min)
Grads grad_reduce_extreme(GradBuilder &b, const Node &n) {
  return unary(b, [&] {
    TensorType kept = kept_type(n);
    Value *hit = b.op(OpKind::Eq, {x0(n), b.reshape(y(n), kept)});
    Value *hits = b.cast(hit, dt(n));
    Value *count = b.op(OpKind::ReduceSum, {hits},
                        {{"axes", Attribute::ints(n.ints_attr("axes"))},
                         {"keepdims", Attribute(true)}});
    return b.mul(hits, b.div(b.reshape(b.g(), kept), count));
  });
}
/// d/dx max(x) = g*[x = y] / count(x = y), over the reduced axes
Grads grad_reduce_max(GradBuilder &b, const Node &n) {
  return grad_reduce_extreme(b, n);
}
/// d/dx min(x) = g*[x = y] / count(x = y), over the reduced axes
Grads grad_reduce_min(GradBuilder &b, const Node &n) {
  return grad_reduce_extreme(b, n);
}

// ---- the table -----------------------------------------------------------

// Zero gradient (almost everywhere), or no float operand to differentiate.
constexpr GradFn grad_sign = grad_zero, grad_floor = grad_zero,
                 grad_ceil = grad_zero, grad_round = grad_zero,
                 grad_not = grad_zero, grad_is_finite = grad_zero,
                 grad_and = grad_zero, grad_or = grad_zero, grad_eq = grad_zero,
                 grad_ne = grad_zero, grad_lt = grad_zero, grad_le = grad_zero,
                 grad_gt = grad_zero, grad_ge = grad_zero,
                 grad_constant = grad_zero, grad_iota = grad_zero,
                 grad_random_uniform = grad_zero,
                 grad_random_normal = grad_zero, grad_one_hot = grad_zero;
// Deliberate: positions have no derivative (see the file comment).
constexpr GradFn grad_argmax = nullptr, grad_argmin = nullptr;
// Deliberate: no second derivative through max pooling.
constexpr GradFn grad_max_pool2d_grad = nullptr;
// Deliberate: collectives are inserted after autodiff (data-parallel pass),
// so nothing differentiates through them.
constexpr GradFn grad_all_reduce_start = nullptr,
                 grad_all_reduce_wait = nullptr, grad_send = nullptr,
                 grad_recv = nullptr;

#define KILN_OP(Kind, name) grad_##name, // a missing grad_<op> fails to compile
constexpr GradFn kGradRules[] = {
#include "ir/Ops.def"
};
static_assert(sizeof(kGradRules) / sizeof(kGradRules[0]) == size_t(kNumOps),
              "every op of Ops.def needs a gradient rule (or nullptr)");

} // namespace

GradFn grad_rule(OpKind op) { return kGradRules[int(op)]; }

} // namespace kiln
