/// \file
/// Loop-invariant code motion for the CPU target: a costly subexpression of
/// a kernel's loop nest that reads no variable and no buffer the kernel
/// writes (AdamW's bias corrections `1 - pow(beta, step)` inside every
/// parameter update) becomes a scalar declared once before the nest,
/// instead of a libm call per element.
// SPDX-License-Identifier: Apache-2.0
#include "passes/LowerImpl.h"

#include <set>

namespace kiln::lowering {

using loop::Op;
using loop::StmtOp;

namespace {

/// Ops worth a scalar of their own: libm calls and divisions.
bool is_costly(Op op) {
  switch (op) {
  case Op::Exp:
  case Op::Log:
  case Op::Sqrt:
  case Op::Rsqrt:
  case Op::Tanh:
  case Op::Sigmoid:
  case Op::Sin:
  case Op::Cos:
  case Op::Erf:
  case Op::Div:
  case Op::Pow:
    return true;
  default:
    return false;
  }
}

class Hoister {
public:
  Hoister(loop::Program &p, const std::set<int> &written)
      : p_(p), written_(written) {}

  /// The scalars to declare before the kernel's statements.
  std::vector<StmtPtr> decls;

  /// \p e with its maximal invariant costly subexpressions replaced by
  /// scalars (the same pointer when nothing changed).
  ExprPtr rewrite(const ExprPtr &e) {
    if (!e)
      return e;
    bool costly = false;
    if (invariant(e, costly)) {
      if (!costly)
        return e;
      int v = p_.new_var(e->dtype, "inv");
      decls.push_back(loop::decl(v, e->dtype, e));
      return loop::var(v, e->dtype);
    }
    std::vector<ExprPtr> args;
    bool changed = false;
    for (const ExprPtr &a : e->args) {
      args.push_back(rewrite(a));
      changed |= args.back() != a;
    }
    if (!changed)
      return e;
    auto n = std::make_shared<loop::Expr>(*e);
    n->args = std::move(args);
    return n;
  }

  /// Rewrites the statements of loop bodies (depth > 0) in place; nothing
  /// under an empty loop (whose loads may lie outside empty buffers).
  void stmt(const StmtPtr &s, int depth) {
    if (s->op == StmtOp::For && s->extent <= 0)
      return;
    if (depth > 0) {
      s->value = rewrite(s->value);
      s->index = rewrite(s->index);
    }
    for (const StmtPtr &c : s->body)
      stmt(c, depth + (s->op == StmtOp::For));
  }

private:
  /// True when \p e reads no variable, no random bits and no buffer the
  /// kernel writes; \p costly is set when it contains a costly op.
  bool invariant(const ExprPtr &e, bool &costly) const {
    if (e->op == Op::Var || e->op == Op::RandomUniform ||
        e->op == Op::RandomNormal ||
        (e->op == Op::Load && written_.count(e->buffer)))
      return false;
    costly |= is_costly(e->op);
    for (const ExprPtr &a : e->args)
      if (!invariant(a, costly))
        return false;
    return true;
  }

  loop::Program &p_;
  const std::set<int> &written_;
};

/// The buffers \p s writes; false when it holds a contraction or a call.
bool plain_writes(const StmtPtr &s, std::set<int> &written) {
  if (s->gemm || s->conv || s->call)
    return false;
  if (s->op == StmtOp::Store)
    written.insert(s->buffer);
  for (const StmtPtr &c : s->body)
    if (!plain_writes(c, written))
      return false;
  return true;
}

} // namespace

void hoist_invariants(loop::Program &p) {
  for (loop::Kernel &k : p.kernels) {
    std::set<int> written;
    if (!k.body || !plain_writes(k.body, written))
      continue;
    Hoister h(p, written);
    h.stmt(k.body, 0);
    if (h.decls.empty())
      continue;
    h.decls.push_back(k.body);
    k.body = loop::block(std::move(h.decls));
  }
}

} // namespace kiln::lowering
