/// \file
/// Kernels that scatter: scatter_add and the gradient of max pooling. Each
/// runs in parallel over slices that no other iteration writes (the
/// columns outside the scatter axis; the N*C planes), so no atomics.
// SPDX-License-Identifier: Apache-2.0
#include "passes/LowerImpl.h"

#include <algorithm>

namespace kiln::lowering {

using loop::Op;

namespace {
ExprPtr i64(int64_t v) { return loop::int_imm(v); }

Index concat_index(const Index &a, const Index &b, const Index &c) {
  Index r = a;
  r.insert(r.end(), b.begin(), b.end());
  r.insert(r.end(), c.begin(), c.end());
  return r;
}

} // namespace

StmtPtr scatter_add(Lowering &l, const Node &n, int out) {
  const Value *base = n.operand(0), *ids = n.operand(1), *src = n.operand(2);
  const Shape &s = n.type().shape, &is = ids->type().shape;
  size_t axis = size_t(normalize_axis(n.int_attr("axis"), int64_t(s.size())));
  Shape outer_s(s.begin(), s.begin() + int64_t(axis)),
      inner_s(s.begin() + int64_t(axis) + 1, s.end());
  int64_t outer = numel(outer_s), inner = numel(inner_s), dim = s[axis],
          count = numel(is);
  DType t = n.type().dtype;
  // Each iteration owns a block of jb columns after the axis and sweeps the
  // rows along them (an embedding gradient: whole rows of 256), instead of
  // walking one column down the rows.
  int64_t jb = inner >= 16 && l.options().column_reductions
                   ? std::max<int64_t>(column_block(inner), 1)
                   : 1;
  return l.loop_nest(
      {outer, inner / jb}, (dim + count) * jb, [&](const Index &oi) {
        // The rows of column jj of this block, as a loop when jb > 1.
        auto columns =
            [&](const std::function<StmtPtr(const ExprPtr &)> &body) {
              if (jb == 1)
                return body(oi[1]);
              int jj = l.new_var("c");
              return loop::for_loop(
                  jj, jb, loop::LoopKind::Serial,
                  {body(loop::add(loop::mul(oi[1], i64(jb)), loop::var(jj)))});
            };
        Index o = unflatten(oi[0], outer_s);
        auto at = [&](ExprPtr d, const ExprPtr &c) {
          return loop::add(
              loop::mul(loop::add(loop::mul(oi[0], i64(dim)), d), i64(inner)),
              c);
        };
        int d = l.new_var("d"), j = l.new_var("j");
        StmtPtr copy = loop::for_loop(
            d, dim, loop::LoopKind::Serial, {columns([&](const ExprPtr &c) {
              return loop::store(
                  out, at(loop::var(d), c),
                  l.value_at(base, concat_index(o, {loop::var(d)},
                                                unflatten(c, inner_s))));
            })});
        Index jdx = unflatten(loop::var(j), is);
        ExprPtr id = convert(l.value_at(ids, jdx), DType::I64);
        StmtPtr scatter = loop::for_loop(
            j, count, loop::LoopKind::Serial, {columns([&](const ExprPtr &c) {
              ExprPtr pos = at(clamp_index(id, 0, dim - 1), c);
              return loop::store(
                  out, pos,
                  loop::make(
                      Op::Add, t,
                      {loop::load(out, t, pos),
                       l.value_at(
                           src, concat_index(o, jdx, unflatten(c, inner_s)))}));
            })});
        return std::vector<StmtPtr>{copy, scatter};
      });
}

StmtPtr max_pool_grad(Lowering &l, const Node &n, int out) {
  const Value *x = n.operand(0), *g = n.operand(1);
  const Shape &xs = x->type().shape, &gs = g->type().shape;
  std::vector<int64_t> k = n.ints_attr("kernel"), st = n.ints_attr("stride"),
                       pd = n.ints_attr("padding");
  DType t = n.type().dtype,
        at = is_float(t) && t != DType::F64 ? DType::F32 : t;
  int64_t plane = xs[2] * xs[3];
  return l.loop_nest(
      {xs[0], xs[1]}, plane + gs[2] * gs[3] * k[0] * k[1],
      [&](const Index &nc) {
        ExprPtr base = loop::mul(loop::add(loop::mul(nc[0], i64(xs[1])), nc[1]),
                                 i64(plane));
        int p = l.new_var("p"), oh = l.new_var("oh"), ow = l.new_var("ow"),
            kh = l.new_var("kh"), kw = l.new_var("kw"),
            best = l.new_var("best", at), bi = l.new_var("bi"),
            cur = l.new_var("v", at), tk = l.new_var("take", DType::Bool);
        StmtPtr zero = loop::for_loop(
            p, plane, loop::LoopKind::Serial,
            {loop::store(out, loop::add(base, loop::var(p)), loop::imm(0, t))});
        // The window's first maximum (or first NaN), as the interpreter picks
        // it.
        ExprPtr valid, pos;
        Index xi = {nc[0], nc[1], nullptr, nullptr};
        for (size_t d = 0; d < 2; ++d) {
          ExprPtr q = loop::add(
              loop::make(
                  Op::Sub, DType::I64,
                  {loop::mul(loop::var(d ? ow : oh), i64(st[d])), i64(pd[d])}),
              loop::var(d ? kw : kh));
          ExprPtr ok =
              bool_and(cmp(Op::Ge, q, i64(0)), cmp(Op::Lt, q, i64(xs[2 + d])));
          valid = valid ? bool_and(valid, ok) : ok;
          xi[2 + d] = clamp_index(q, 0, xs[2 + d] - 1);
        }
        ExprPtr flat =
            loop::add(base, loop::add(loop::mul(xi[2], i64(xs[3])), xi[3]));
        ExprPtr bv = loop::var(best, at), cv = loop::var(cur, at);
        ExprPtr nan_best = cmp(Op::Ne, bv, bv), nan_cur = cmp(Op::Ne, cv, cv);
        ExprPtr none = cmp(Op::Lt, loop::var(bi), i64(0));
        ExprPtr better =
            loop::make(Op::Or, DType::Bool, {cmp(Op::Gt, cv, bv), nan_cur});
        better = bool_and(loop::make(Op::Not, DType::Bool, {nan_best}), better);
        ExprPtr take =
            bool_and(valid, loop::make(Op::Or, DType::Bool, {none, better}));
        StmtPtr window = loop::block(
            {loop::decl(best, at, loop::imm(0, at)),
             loop::decl(bi, DType::I64, i64(-1)),
             loop::for_loop(
                 kh, k[0], loop::LoopKind::Serial,
                 {loop::for_loop(
                     kw, k[1], loop::LoopKind::Serial,
                     {loop::decl(cur, at, convert(l.value_at(x, xi), at)),
                      loop::decl(tk, DType::Bool, take),
                      loop::assign(best, loop::make(Op::Select, at,
                                                    {loop::var(tk, DType::Bool),
                                                     cv, bv})),
                      loop::assign(bi, loop::make(Op::Select, DType::I64,
                                                  {loop::var(tk, DType::Bool),
                                                   flat, loop::var(bi)}))})}),
             loop::store(
                 out, clamp_index(loop::var(bi), 0, numel(xs) - 1),
                 loop::make(
                     Op::Add, t,
                     {loop::load(out, t,
                                 clamp_index(loop::var(bi), 0, numel(xs) - 1)),
                      loop::make(Op::Select, t,
                                 {cmp(Op::Ge, loop::var(bi), i64(0)),
                                  l.value_at(g, {nc[0], nc[1], loop::var(oh),
                                                 loop::var(ow)}),
                                  loop::imm(0, t)})}))});
        StmtPtr windows = loop::for_loop(
            oh, gs[2], loop::LoopKind::Serial,
            {loop::for_loop(ow, gs[3], loop::LoopKind::Serial, {window})});
        return std::vector<StmtPtr>{zero, windows};
      });
}

} // namespace kiln::lowering
