/// \file
/// Kernels of reductions and contractions, with inlined prologues and
/// contraction epilogues.
// SPDX-License-Identifier: Apache-2.0
#include "passes/LowerImpl.h"

#include "ir/Error.h"
#include "ir/OpRegistry.h"

#include <algorithm>
#include <limits>
#include <map>

namespace kiln::lowering {

using loop::Op;

loop::Op scalar_op(OpKind op) {
  struct Pair {
    OpKind graph;
    loop::Op scalar;
  };
  static const Pair kMap[] = {
      {OpKind::Neg, Op::Neg},         {OpKind::Abs, Op::Abs},
      {OpKind::Sign, Op::Sign},       {OpKind::Exp, Op::Exp},
      {OpKind::Log, Op::Log},         {OpKind::Sqrt, Op::Sqrt},
      {OpKind::Rsqrt, Op::Rsqrt},     {OpKind::Tanh, Op::Tanh},
      {OpKind::Sigmoid, Op::Sigmoid}, {OpKind::Relu, Op::Relu},
      {OpKind::Sin, Op::Sin},         {OpKind::Cos, Op::Cos},
      {OpKind::Erf, Op::Erf},         {OpKind::Floor, Op::Floor},
      {OpKind::Ceil, Op::Ceil},       {OpKind::Round, Op::Round},
      {OpKind::Not, Op::Not},         {OpKind::IsFinite, Op::IsFinite},
      {OpKind::Add, Op::Add},         {OpKind::Sub, Op::Sub},
      {OpKind::Mul, Op::Mul},         {OpKind::Div, Op::Div},
      {OpKind::Pow, Op::Pow},         {OpKind::Max, Op::Max},
      {OpKind::Min, Op::Min},         {OpKind::And, Op::And},
      {OpKind::Or, Op::Or},           {OpKind::Eq, Op::Eq},
      {OpKind::Ne, Op::Ne},           {OpKind::Lt, Op::Lt},
      {OpKind::Le, Op::Le},           {OpKind::Gt, Op::Gt},
      {OpKind::Ge, Op::Ge},           {OpKind::Select, Op::Select},
      {OpKind::Cast, Op::Cast}};
  for (const Pair &p : kMap)
    if (p.graph == op)
      return p.scalar;
  KILN_UNREACHABLE(std::string("no scalar op for ") + kiln::op_name(op));
}

namespace {

ExprPtr is_nan(const ExprPtr &v) { return cmp(Op::Ne, v, v); }

} // namespace

StmtPtr Lowering::reduction_kernel(const Node &n, int out) {
  if (StmtPtr k = column_reduction_kernel(n, out))
    return k;
  const Value *x = n.operand(0);
  const Shape &in = x->type().shape;
  std::vector<bool> reduced = reduced_axes(n);
  bool arg = n.op() == OpKind::Argmax || n.op() == OpKind::Argmin;
  Shape kept_shape, red_shape;
  for (size_t d = 0; d < in.size(); ++d)
    (reduced[d] ? red_shape : kept_shape).push_back(in[d]);
  bool keepdims = n.bool_attr("keepdims");
  const Shape &out_shape = n.type().shape;
  DType t = acc_type(x->type().dtype), out_t = n.type().dtype;
  int64_t count = numel(red_shape);

  return loop_nest(kept_shape, count, [&](const Index &kept) {
    std::vector<int> rvars;
    Index full(in.size()), out_idx;
    size_t ki = 0;
    for (size_t d = 0; d < in.size(); ++d) {
      if (reduced[d]) {
        rvars.push_back(new_var("r"));
        full[d] = loop::var(rvars.back());
        if (keepdims)
          out_idx.push_back(loop::int_imm(0));
      } else {
        full[d] = kept[ki++];
        out_idx.push_back(full[d]);
      }
    }
    ExprPtr v = convert(value_at(x, full), t);
    std::vector<StmtPtr> pre, body;
    ExprPtr result;
    if (arg) {
      bool mx = n.op() == OpKind::Argmax;
      int best = new_var("best", t), bi = new_var("bi"), cur = new_var("v", t);
      ExprPtr bv = loop::var(best, t), cv = loop::var(cur, t);
      pre = {loop::decl(best, t, lowest(t, mx)),
             loop::decl(bi, DType::I64, loop::int_imm(-1))};
      // Take the element when it is strictly better, or the first NaN, or the
      // first element at all (bi < 0); a NaN best stays.
      ExprPtr better = cmp(mx ? Op::Gt : Op::Lt, cv, bv);
      if (is_float(t))
        better =
            bool_and(loop::make(Op::Not, DType::Bool, {is_nan(bv)}),
                     loop::make(Op::Or, DType::Bool, {is_nan(cv), better}));
      better =
          loop::make(Op::Or, DType::Bool,
                     {cmp(Op::Lt, loop::var(bi), loop::int_imm(0)), better});
      int take = new_var("take", DType::Bool);
      body = {
          loop::decl(cur, t, v), loop::decl(take, DType::Bool, better),
          loop::assign(best,
                       loop::make(Op::Select, t,
                                  {loop::var(take, DType::Bool), cv, bv})),
          loop::assign(bi, loop::make(Op::Select, DType::I64,
                                      {loop::var(take, DType::Bool),
                                       loop::var(rvars[0]), loop::var(bi)}))};
      result = loop::var(bi);
    } else {
      int acc = new_var("acc", t);
      ExprPtr av = loop::var(acc, t);
      bool is_max = n.op() == OpKind::ReduceMax,
           is_min = n.op() == OpKind::ReduceMin;
      ExprPtr init = is_max || is_min ? lowest(t, is_max) : loop::imm(0, t);
      Op combine = is_max ? Op::Max : is_min ? Op::Min : Op::Add;
      size_t last = in.size() - 1;
      if (opts_.lane_reductions && rvars.size() == 1 && reduced[last] &&
          is_float(t) && count >= 4 * kReduceLanes &&
          count % kReduceLanes == 0) {
        pre = lane_reduce(acc, t, combine, init, count, [&](ExprPtr r) {
          Index at = full;
          at[last] = std::move(r);
          return convert(value_at(x, at), t);
        });
        rvars.clear(); // no loop around an empty body
      } else {
        pre = {loop::decl(acc, t, init)};
        body = {loop::assign(acc, loop::make(combine, t, {av, v}))};
      }
      result = n.op() == OpKind::ReduceMean
                   ? loop::make(Op::Div, t, {av, loop::imm(double(count), t)})
                   : av;
    }
    for (size_t r = rvars.size(); r-- > 0;)
      body = {loop::for_loop(rvars[r], red_shape[r], loop::LoopKind::Serial,
                             std::move(body))};
    pre.insert(pre.end(), body.begin(), body.end());
    pre.push_back(loop::store(out, flat_index(out_idx, out_shape),
                              convert(result, out_t)));
    return pre;
  });
}

namespace {

/// The body computing one output element of a matmul or conv2d into the
/// accumulator \p acc (declared by the caller).
std::vector<StmtPtr> matmul_sum(Lowering &l, const Node &c, const Index &idx,
                                int acc, DType t) {
  const Value *a = c.operand(0), *b = c.operand(1);
  int64_t rank = int64_t(idx.size()), kdim = a->type().shape.back();
  int k = l.new_var("k");
  ExprPtr kv = loop::var(k);
  Index ia(idx.begin(), idx.end() - 1), ib(idx.begin(), idx.end() - 2);
  ia.back() = idx[size_t(rank - 2)];
  ia.push_back(kv);
  ib.push_back(kv);
  ib.push_back(idx.back());
  ExprPtr prod = loop::make(
      Op::Mul, t,
      {convert(l.value_at(a, broadcast_index(ia, a->type().shape)), t),
       convert(l.value_at(b, broadcast_index(ib, b->type().shape)), t)});
  return {loop::for_loop(
      k, kdim, loop::LoopKind::Serial,
      {loop::assign(acc, loop::make(Op::Add, t, {loop::var(acc, t), prod}))})};
}

std::vector<StmtPtr> conv_sum(Lowering &l, const Node &c, const Index &idx,
                              int acc, DType t) {
  const Value *x = c.operand(0), *w = c.operand(1);
  const Shape &xs = x->type().shape, &ws = w->type().shape;
  std::vector<int64_t> st = c.ints_attr("stride"), pd = c.ints_attr("padding"),
                       dl = c.ints_attr("dilation");
  int64_t groups = c.int_attr("groups"), cg = ws[1], og = ws[0] / groups;
  int ci = l.new_var("c"), kh = l.new_var("kh"), kw = l.new_var("kw");
  ExprPtr g = loop::idiv(idx[1], og);
  Index pos(2);
  ExprPtr valid;
  for (size_t d = 0; d < 2; ++d) {
    ExprPtr kv = loop::var(d ? kw : kh);
    ExprPtr p =
        loop::add(loop::make(Op::Sub, DType::I64,
                             {loop::mul(idx[2 + d], loop::int_imm(st[d])),
                              loop::int_imm(pd[d])}),
                  loop::mul(kv, loop::int_imm(dl[d])));
    ExprPtr ok = bool_and(cmp(Op::Ge, p, loop::int_imm(0)),
                          cmp(Op::Lt, p, loop::int_imm(xs[2 + d])));
    valid = valid ? bool_and(valid, ok) : ok;
    pos[d] = clamp_index(p, 0, xs[2 + d] - 1);
  }
  ExprPtr xv = convert(
      l.value_at(x, {idx[0],
                     loop::add(loop::mul(g, loop::int_imm(cg)), loop::var(ci)),
                     pos[0], pos[1]}),
      t);
  ExprPtr wv = convert(
      l.value_at(w, {idx[1], loop::var(ci), loop::var(kh), loop::var(kw)}), t);
  ExprPtr term =
      loop::make(Op::Select, t,
                 {valid, loop::make(Op::Mul, t, {xv, wv}), loop::imm(0, t)});
  StmtPtr inner =
      loop::assign(acc, loop::make(Op::Add, t, {loop::var(acc, t), term}));
  return {loop::for_loop(
      ci, cg, loop::LoopKind::Serial,
      {loop::for_loop(
          kh, ws[2], loop::LoopKind::Serial,
          {loop::for_loop(kw, ws[3], loop::LoopKind::Serial, {inner})})})};
}

} // namespace

bool affine(const ExprPtr &e, int64_t scale, std::map<int, int64_t> &coef,
            int64_t &off) {
  switch (e->op) {
  case Op::IntImm:
    off += scale * e->ival;
    return true;
  case Op::Var:
    coef[e->var] += scale;
    return true;
  case Op::Add:
    return affine(e->args[0], scale, coef, off) &&
           affine(e->args[1], scale, coef, off);
  case Op::Sub:
    return affine(e->args[0], scale, coef, off) &&
           affine(e->args[1], -scale, coef, off);
  case Op::Mul:
    if (e->args[0]->op == Op::IntImm)
      return affine(e->args[1], scale * e->args[0]->ival, coef, off);
    if (e->args[1]->op == Op::IntImm)
      return affine(e->args[0], scale * e->args[1]->ival, coef, off);
    return false;
  default:
    return false;
  }
}

namespace {

/// The buffer and offset of \p v when value_at(v, vars) is a load of an f32
/// buffer at offset + the row-major flat index of the fresh index vars.
bool contiguous(Lowering &l, const Value *v, int &buffer, int64_t &offset) {
  const Shape &s = v->type().shape;
  std::vector<int> vars;
  Index idx;
  for (size_t d = 0; d < s.size(); ++d) {
    vars.push_back(l.new_var("i"));
    idx.push_back(loop::var(vars.back()));
  }
  ExprPtr e = l.value_at(v, idx);
  std::map<int, int64_t> coef;
  offset = 0;
  if (e->op != Op::Load || e->dtype != DType::F32 ||
      !affine(e->args[0], 1, coef, offset))
    return false;
  int64_t stride = 1;
  for (size_t d = s.size(); d-- > 0;) {
    if (s[d] > 1 && coef[vars[d]] != stride)
      return false;
    coef.erase(vars[d]);
    stride *= s[d];
  }
  for (const auto &[var, c] : coef)
    if (c != 0)
      return false;
  buffer = e->buffer;
  return true;
}

/// Sets the sizes of \p d from the forward convolution of \p x by a weight
/// of shape \p w (only its kernel size is read) with \p o output channels,
/// and the attributes of \p n.
void conv_geometry(const Node &n, const Shape &x, int64_t o, const Shape &w,
                   loop::Conv2dDesc &d) {
  std::vector<int64_t> st = n.ints_attr("stride"), pd = n.ints_attr("padding"),
                       dl = n.ints_attr("dilation");
  d.N = x[0];
  d.C = x[1];
  d.H = x[2];
  d.W = x[3];
  d.O = o;
  d.KH = w[2];
  d.KW = w[3];
  d.stride_h = st[0];
  d.stride_w = st[1];
  d.pad_h = pd[0];
  d.pad_w = pd[1];
  d.dil_h = dl[0];
  d.dil_w = dl[1];
  d.groups = n.int_attr("groups");
}

} // namespace

StmtPtr Lowering::conv_kernel(const Node &c, const Value *root, int out) {
  const Shape &xs = c.operand(0)->type().shape,
              &ws = c.operand(1)->type().shape, &s = c.type().shape;
  if (!opts_.use_gemm || c.type().dtype != DType::F32 ||
      prog_.buffers[size_t(out)].dtype != DType::F32 ||
      numel(s) * ws[1] * ws[2] * ws[3] < opts_.conv_min_work)
    return nullptr;
  loop::Conv2dDesc d;
  if (!contiguous(*this, c.operand(0), d.x, d.x_offset) ||
      !contiguous(*this, c.operand(1), d.w, d.w_offset))
    return nullptr;
  d.out = out;
  conv_geometry(c, xs, ws[0], ws, d);
  d.acc_var = new_var("acc", DType::F32);
  d.n_var = new_var("n");
  d.o_var = new_var("o");
  d.oh_var = new_var("oh");
  d.ow_var = new_var("ow");
  overrides[c.result()] = loop::var(d.acc_var, DType::F32);
  d.epilogue = value_at(root, {loop::var(d.n_var), loop::var(d.o_var),
                               loop::var(d.oh_var), loop::var(d.ow_var)});
  overrides.erase(c.result());
  return loop::block({loop::conv2d(std::move(d))});
}

StmtPtr Lowering::conv_grad_kernel(const Node &n, int out) {
  const Shape &as = n.operand(0)->type().shape,
              &bs = n.operand(1)->type().shape, &s = n.type().shape;
  bool transpose = n.op() == OpKind::Conv2dTranspose;
  if (!opts_.use_gemm || n.type().dtype != DType::F32 ||
      prog_.buffers[size_t(out)].dtype != DType::F32)
    return nullptr;
  loop::Conv2dDesc d;
  d.kind = transpose ? loop::ConvKind::InputGrad : loop::ConvKind::WeightGrad;
  // The forward convolution: x [N, C, H, W] * w [O, C/groups, KH, KW] ->
  // [N, O, OH, OW]. conv2d_transpose(gy, w) is its input gradient (gy = as,
  // the result is x's shape); conv2d_weight_grad(x, gy) its weight gradient.
  const Shape &x = transpose ? s : as, &gy = transpose ? as : bs,
              &w = transpose ? bs : s;
  conv_geometry(n, x, gy[1], w, d);
  // conv2d_transpose's output_padding can make gx larger than any forward
  // input of gy's size (then it stays a loop nest).
  int64_t oh = (d.H + 2 * d.pad_h - d.dil_h * (d.KH - 1) - 1) / d.stride_h + 1,
          ow = (d.W + 2 * d.pad_w - d.dil_w * (d.KW - 1) - 1) / d.stride_w + 1;
  if (oh != gy[2] || ow != gy[3] ||
      numel(gy) * d.C / d.groups * d.KH * d.KW < opts_.conv_min_work)
    return nullptr;
  if (!contiguous(*this, n.operand(0), d.x, d.x_offset) ||
      !contiguous(*this, n.operand(1), d.w, d.w_offset))
    return nullptr;
  d.out = out;
  d.acc_var = new_var("acc", DType::F32);
  d.epilogue = loop::var(d.acc_var, DType::F32);
  return loop::block({loop::conv2d(std::move(d))});
}

StmtPtr Lowering::contraction_kernel(const Node &c, const Value *root,
                                     int out) {
  if (c.op() == OpKind::Matmul)
    if (StmtPtr g = gemm_kernel(c, root, out))
      return g;
  if (c.op() == OpKind::Conv2d)
    if (StmtPtr k = conv_kernel(c, root, out))
      return k;
  const Shape &s = c.type().shape;
  DType t = acc_type(c.type().dtype);
  int64_t cost = c.op() == OpKind::Matmul
                     ? c.operand(0)->type().shape.back()
                     : numel(Shape(c.operand(1)->type().shape.begin() + 1,
                                   c.operand(1)->type().shape.end()));
  return loop_nest(s, cost, [&](const Index &idx) {
    int acc = new_var("acc", t);
    std::vector<StmtPtr> body = {loop::decl(acc, t, loop::imm(0, t))};
    std::vector<StmtPtr> sum = c.op() == OpKind::Matmul
                                   ? matmul_sum(*this, c, idx, acc, t)
                                   : conv_sum(*this, c, idx, acc, t);
    body.insert(body.end(), sum.begin(), sum.end());
    overrides[c.result()] = convert(loop::var(acc, t), c.type().dtype);
    body.push_back(loop::store(out, flat_index(idx, s), value_at(root, idx)));
    overrides.erase(c.result());
    return body;
  });
}

} // namespace kiln::lowering
