/// \file
/// Matmuls of any rank >= 2 as Gemm nodes: operands read in place as
/// strided views, the batch dims as merged batch levels, broadcast-B batch
/// levels folded into M, and the fused epilogue.
// SPDX-License-Identifier: Apache-2.0
#include "passes/LowerImpl.h"

#include <algorithm>

namespace kiln::lowering {

using loop::Op;

namespace {

/// An index expression as offset + sum coef * var + sum of floor-division
/// atoms (E / c) times their coefficients.
struct AffineForm {
  std::map<int, int64_t> coef;
  int64_t offset = 0;
  std::map<std::pair<const loop::Expr *, int64_t>, int64_t> atoms;
};

bool collect(const ExprPtr &e, int64_t scale, AffineForm &f);

/// Adds \p scale * (x / c) to \p f, nested divisions folded
/// ((x / a) / b = x / (a*b) for x >= 0).
bool div_atom(ExprPtr x, int64_t c, int64_t scale, AffineForm &f) {
  while (x->op == Op::IDiv && x->args[1]->op == Op::IntImm &&
         x->args[1]->ival > 0) {
    c *= x->args[1]->ival;
    x = x->args[0];
  }
  if (c == 1)
    return collect(x, scale, f);
  f.atoms[{x.get(), c}] += scale;
  return true;
}

/// Adds \p scale * e to \p f; false when e is not a sum of multiples of
/// variables, constants and divisions by constants. x % c is rewritten as
/// x - c * (x / c), so the division and remainder pairs of an unflattened
/// index ([B*T] read as [B, T]) cancel when the strides are contiguous.
bool collect(const ExprPtr &e, int64_t scale, AffineForm &f) {
  switch (e->op) {
  case Op::IntImm:
    f.offset += scale * e->ival;
    return true;
  case Op::Var:
    f.coef[e->var] += scale;
    return true;
  case Op::Add:
    return collect(e->args[0], scale, f) && collect(e->args[1], scale, f);
  case Op::Sub:
    return collect(e->args[0], scale, f) && collect(e->args[1], -scale, f);
  case Op::Mul:
    if (e->args[0]->op == Op::IntImm)
      return collect(e->args[1], scale * e->args[0]->ival, f);
    if (e->args[1]->op == Op::IntImm)
      return collect(e->args[0], scale * e->args[1]->ival, f);
    return false;
  case Op::IDiv:
  case Op::IMod: {
    if (e->args[1]->op != Op::IntImm || e->args[1]->ival <= 0)
      return false;
    int64_t c = e->args[1]->ival;
    if (e->op == Op::IDiv)
      return div_atom(e->args[0], c, scale, f);
    return collect(e->args[0], scale, f) &&
           div_atom(e->args[0], c, -scale * c, f);
  }
  default:
    return false;
  }
}

/// affine() that also sees through divisions and remainders that cancel.
bool affine_index(const ExprPtr &e, std::map<int, int64_t> &coef,
                  int64_t &offset) {
  AffineForm f;
  if (!collect(e, 1, f))
    return false;
  for (const auto &[atom, c] : f.atoms)
    if (c != 0)
      return false;
  coef = std::move(f.coef);
  offset += f.offset;
  return true;
}

/// Fills \p s when \p e is a load of a \p t buffer at an affine index of
/// \p vars only.
bool strided(const ExprPtr &e, DType t, const std::vector<int> &vars,
             Strided &s) {
  if (e->op != Op::Load || e->dtype != t)
    return false;
  std::map<int, int64_t> coef;
  if (!affine_index(e->args[0], coef, s.offset))
    return false;
  for (const auto &[v, c] : coef)
    if (c != 0 && std::find(vars.begin(), vars.end(), v) == vars.end())
      return false;
  s.buffer = e->buffer;
  for (int v : vars)
    s.stride[v] = coef.count(v) ? coef[v] : 0;
  return true;
}

/// A batch level under construction: the output dims it covers (row-major
/// inside the level) and the strides of A and B along it.
struct Level {
  int64_t extent = 1, a = 0, b = 0;
  std::vector<size_t> dims;
};

/// The batch levels of output dims [0, nb) of \p s whose index vars are
/// \p vars: dims of extent 1 dropped, and a dim merged into the level
/// outside it when A and B step through both as through one (the outer
/// stride is the inner stride times the inner extent; C is row-major).
std::vector<Level> batch_levels(const Shape &s, const std::vector<int> &vars,
                                const Strided &sa, const Strided &sb) {
  std::vector<Level> levels;
  for (size_t d = 0; d < vars.size(); ++d) {
    if (s[d] == 1)
      continue;
    int64_t a = sa.stride.at(vars[d]), b = sb.stride.at(vars[d]);
    if (!levels.empty() && levels.back().a == a * s[d] &&
        levels.back().b == b * s[d]) {
      Level &l = levels.back();
      l.extent *= s[d];
      l.a = a;
      l.b = b;
      l.dims.push_back(d);
      continue;
    }
    levels.push_back({s[d], a, b, {d}});
  }
  return levels;
}

/// The index of output dims \p dims (row-major over their extents in \p s)
/// at flat index \p flat, stored in \p out.
void split_index(const ExprPtr &flat, const std::vector<size_t> &dims,
                 const Shape &s, Index &out) {
  Shape ext;
  for (size_t d : dims)
    ext.push_back(s[d]);
  Index parts = unflatten(flat, ext);
  for (size_t q = 0; q < dims.size(); ++q)
    out[dims[q]] = parts[q];
}

} // namespace

StmtPtr Lowering::gemm_kernel(const Node &c, const Value *root, int out) {
  const Shape &s = c.type().shape;
  DType t = c.type().dtype;
  const Value *a = c.operand(0), *b = c.operand(1);
  bool half = opts_.half_gemm && (t == DType::F16 || t == DType::BF16);
  DType out_t = prog_.buffers[size_t(out)].dtype;
  // A 16-bit product may feed a cast to f32 (its epilogue converts).
  if (!opts_.use_gemm || s.size() < 2 ||
      (t != DType::F32 && t != DType::F64 && !half) ||
      (out_t != t && !(half && out_t == DType::F32)))
    return nullptr;
  int64_t work = numel(s) * a->type().shape.back();
  if (work < opts_.gemm_min_work)
    return nullptr;
  const size_t nb = s.size() - 2;
  std::vector<int> bvars;
  Index pre;
  for (size_t d = 0; d < nb; ++d) {
    bvars.push_back(new_var("b"));
    pre.push_back(loop::var(bvars.back()));
  }
  int iv = new_var("i"), jv = new_var("j"), kv = new_var("k");
  Index ia = pre, ib = pre;
  ia.insert(ia.end(), {loop::var(iv), loop::var(kv)});
  ib.insert(ib.end(), {loop::var(kv), loop::var(jv)});
  std::vector<int> va = bvars, vb = bvars;
  va.insert(va.end(), {iv, kv});
  vb.insert(vb.end(), {kv, jv});
  Strided sa, sb;
  std::vector<StmtPtr> body;
  if (!gemm_operand(a, ia, va, t, sa, body) ||
      !gemm_operand(b, ib, vb, t, sb, body))
    return nullptr;
  std::vector<Level> levels = batch_levels(s, bvars, sa, sb);
  loop::GemmDesc g;
  g.a = sa.buffer;
  g.b = sb.buffer;
  g.c = out;
  g.m = s[nb];
  g.n = s.back();
  g.k = a->type().shape.back();
  g.a_offset = sa.offset;
  g.a_row_stride = sa.stride[iv];
  g.a_col_stride = sa.stride[kv];
  g.b_offset = sb.offset;
  g.b_row_stride = sb.stride[kv];
  g.b_col_stride = sb.stride[jv];
  // Inner levels that broadcast B and step A by whole matrices are rows of
  // one taller product (x[B, T, D] @ W[D, N] is one [B*T, D] @ [D, N]).
  std::vector<size_t> m_dims;
  while (!levels.empty() && levels.back().b == 0 &&
         levels.back().a == g.m * g.a_row_stride) {
    const Level &l = levels.back();
    m_dims.insert(m_dims.begin(), l.dims.begin(), l.dims.end());
    g.m *= l.extent;
    levels.pop_back();
  }
  m_dims.push_back(nb);
  Index oi(s.size(), loop::int_imm(0));
  for (const Level &l : levels) {
    int lv = new_var("b");
    g.batch.push_back({l.extent, l.a, l.b, lv});
    split_index(loop::var(lv), l.dims, s, oi);
  }
  g.i_var = new_var("i");
  split_index(loop::var(g.i_var), m_dims, s, oi);
  g.j_var = jv;
  oi[nb + 1] = loop::var(jv);
  g.acc_var = new_var("acc", t);
  overrides[c.result()] = loop::var(g.acc_var, t);
  g.epilogue = value_at(root, oi);
  overrides.erase(c.result());
  body.push_back(loop::gemm(std::move(g)));
  return loop::block(std::move(body));
}

bool Lowering::gemm_operand(const Value *v, const Index &idx,
                            const std::vector<int> &vars, DType t, Strided &s,
                            std::vector<StmtPtr> &staging) {
  const Shape &vs = v->type().shape;
  if (strided(value_at(v, broadcast_index(idx, vs)), t, vars, s))
    return true;
  if (v->type().dtype != t)
    return false;
  // Not a strided view (a reshape that merges a transpose's dims): copy it
  // into a row-major buffer of this kernel first; the copy costs one pass
  // over the operand, the loop-nest product one per output column.
  int buf = add_buffer(
      (v->name().empty() ? std::string("operand") : v->name()) + "_rm",
      v->type(), loop::BufferKind::Temp, -1);
  staging.push_back(loop_nest(vs, 1, [&](const Index &i) {
    return std::vector<StmtPtr>{
        loop::store(buf, flat_index(i, vs), value_at(v, i))};
  }));
  s = Strided();
  return strided(loop::load(buf, t, flat_index(broadcast_index(idx, vs), vs)),
                 t, vars, s);
}

} // namespace kiln::lowering
