/// \file
/// Kernels of the ops that are neither elementwise, reductions nor plain
/// contractions: transposed convolution and the weight gradient of conv2d
/// (f32 ones as Conv2d nodes, see conv_grad_kernel; otherwise in gather
/// form: every output element sums its own inputs, so the outer loops run
/// in parallel without races), pooling and its gradient, and scatter_add.
// SPDX-License-Identifier: Apache-2.0
#include "passes/LowerImpl.h"

#include "ir/Error.h"

#include <limits>

namespace kiln::lowering {

using loop::Op;

namespace {

ExprPtr i64(int64_t v) { return loop::int_imm(v); }
ExprPtr sub(ExprPtr a, ExprPtr b) {
  return loop::make(Op::Sub, DType::I64, {std::move(a), std::move(b)});
}
ExprPtr in_bounds(const ExprPtr &p, int64_t n) {
  return bool_and(cmp(Op::Ge, p, i64(0)), cmp(Op::Lt, p, i64(n)));
}
ExprPtr accumulate(int acc, DType t, ExprPtr term) {
  return loop::make(Op::Add, t, {loop::var(acc, t), std::move(term)});
}
StmtPtr nest(std::vector<std::pair<int, int64_t>> loops,
             std::vector<StmtPtr> body) {
  for (size_t i = loops.size(); i-- > 0;)
    body = {loop::for_loop(loops[i].first, loops[i].second,
                           loop::LoopKind::Serial, std::move(body))};
  return loop::block(std::move(body));
}

/// Sums over output positions of conv2d_transpose: out[n,oc,oh,ow] gathers
/// x[n,ic,ih,iw]*w[ic,c,kh,kw] where oh = ih*s - p + kh*d.
StmtPtr conv_transpose(Lowering &l, const Node &n, int out) {
  const Value *x = n.operand(0), *w = n.operand(1);
  const Shape &xs = x->type().shape, &ws = w->type().shape,
              &os = n.type().shape;
  std::vector<int64_t> st = n.ints_attr("stride"), pd = n.ints_attr("padding"),
                       dl = n.ints_attr("dilation");
  int64_t groups = n.int_attr("groups"), cig = xs[1] / groups, cog = ws[1];
  DType t = acc_type(n.type().dtype);
  return l.loop_nest(os, cig * ws[2] * ws[3], [&](const Index &o) {
    int acc = l.new_var("acc", t), ic = l.new_var("c"), kh = l.new_var("kh"),
        kw = l.new_var("kw");
    ExprPtr g = loop::idiv(o[1], cog), c = loop::imod(o[1], cog);
    ExprPtr icg = loop::add(loop::mul(g, i64(cig)), loop::var(ic));
    ExprPtr valid;
    Index pos(2);
    for (size_t d = 0; d < 2; ++d) {
      // oh = ih*s - p + k*d  <=>  ih = (oh + p - k*d) / s, exactly.
      ExprPtr tt = sub(loop::add(o[2 + d], i64(pd[d])),
                       loop::mul(loop::var(d ? kw : kh), i64(dl[d])));
      ExprPtr pos_t = clamp_index(tt, 0, std::numeric_limits<int32_t>::max());
      ExprPtr ok = bool_and(cmp(Op::Ge, tt, i64(0)),
                            cmp(Op::Eq, loop::imod(pos_t, st[d]), i64(0)));
      ExprPtr ih = loop::idiv(pos_t, st[d]);
      ok = bool_and(ok, cmp(Op::Lt, ih, i64(xs[2 + d])));
      valid = valid ? bool_and(valid, ok) : ok;
      pos[d] = clamp_index(ih, 0, xs[2 + d] - 1);
    }
    ExprPtr prod = loop::make(
        Op::Mul, t,
        {convert(l.value_at(x, {o[0], icg, pos[0], pos[1]}), t),
         convert(l.value_at(w, {icg, c, loop::var(kh), loop::var(kw)}), t)});
    ExprPtr term = loop::make(Op::Select, t, {valid, prod, loop::imm(0, t)});
    return std::vector<StmtPtr>{
        loop::decl(acc, t, loop::imm(0, t)),
        nest({{ic, cig}, {kh, ws[2]}, {kw, ws[3]}},
             {loop::assign(acc, accumulate(acc, t, term))}),
        loop::store(out, flat_index(o, os),
                    convert(loop::var(acc, t), n.type().dtype))};
  });
}

/// dw[o,c,kh,kw] = sum_{n,oh,ow} x[n, g*cg+c, oh*s-p+kh*d, ...] * g[n,o,oh,ow].
StmtPtr conv_weight_grad(Lowering &l, const Node &n, int out) {
  const Value *x = n.operand(0), *gr = n.operand(1);
  const Shape &xs = x->type().shape, &gs = gr->type().shape,
              &os = n.type().shape;
  std::vector<int64_t> st = n.ints_attr("stride"), pd = n.ints_attr("padding"),
                       dl = n.ints_attr("dilation");
  int64_t groups = n.int_attr("groups"), og = gs[1] / groups, cg = os[1];
  DType t = acc_type(n.type().dtype);
  return l.loop_nest(os, gs[0] * gs[2] * gs[3], [&](const Index &o) {
    int acc = l.new_var("acc", t), b = l.new_var("n"), oh = l.new_var("oh"),
        ow = l.new_var("ow");
    ExprPtr ch = loop::add(loop::mul(loop::idiv(o[0], og), i64(cg)), o[1]);
    ExprPtr valid;
    Index pos(2);
    for (size_t d = 0; d < 2; ++d) {
      ExprPtr p = loop::add(
          sub(loop::mul(loop::var(d ? ow : oh), i64(st[d])), i64(pd[d])),
          loop::mul(o[2 + d], i64(dl[d])));
      ExprPtr ok = in_bounds(p, xs[2 + d]);
      valid = valid ? bool_and(valid, ok) : ok;
      pos[d] = clamp_index(p, 0, xs[2 + d] - 1);
    }
    ExprPtr prod = loop::make(
        Op::Mul, t,
        {convert(l.value_at(x, {loop::var(b), ch, pos[0], pos[1]}), t),
         convert(
             l.value_at(gr, {loop::var(b), o[0], loop::var(oh), loop::var(ow)}),
             t)});
    ExprPtr term = loop::make(Op::Select, t, {valid, prod, loop::imm(0, t)});
    return std::vector<StmtPtr>{
        loop::decl(acc, t, loop::imm(0, t)),
        nest({{b, gs[0]}, {oh, gs[2]}, {ow, gs[3]}},
             {loop::assign(acc, accumulate(acc, t, term))}),
        loop::store(out, flat_index(o, os),
                    convert(loop::var(acc, t), n.type().dtype))};
  });
}

/// The window position (input coordinates) and its validity.
struct Window {
  Index pos;
  ExprPtr valid;
};
Window window_at(const Index &o, int kh, int kw, const Shape &xs,
                 const std::vector<int64_t> &st,
                 const std::vector<int64_t> &pd) {
  Window w;
  w.pos = {o[0], o[1], nullptr, nullptr};
  for (size_t d = 0; d < 2; ++d) {
    ExprPtr p = loop::add(sub(loop::mul(o[2 + d], i64(st[d])), i64(pd[d])),
                          loop::var(d ? kw : kh));
    ExprPtr ok = in_bounds(p, xs[2 + d]);
    w.valid = w.valid ? bool_and(w.valid, ok) : ok;
    w.pos[2 + d] = clamp_index(p, 0, xs[2 + d] - 1);
  }
  return w;
}

StmtPtr pool(Lowering &l, const Node &n, int out) {
  const Value *x = n.operand(0);
  const Shape &xs = x->type().shape, &os = n.type().shape;
  std::vector<int64_t> k = n.ints_attr("kernel"), st = n.ints_attr("stride"),
                       pd = n.ints_attr("padding");
  bool is_max = n.op() == OpKind::MaxPool2d;
  DType t = acc_type(n.type().dtype);
  return l.loop_nest(os, k[0] * k[1], [&](const Index &o) {
    int acc = l.new_var("acc", t), cnt = l.new_var("cnt"), kh = l.new_var("kh"),
        kw = l.new_var("kw");
    Window w = window_at(o, kh, kw, xs, st, pd);
    ExprPtr v = convert(l.value_at(x, w.pos), t);
    ExprPtr lowest =
        is_float(t)
            ? loop::float_imm(-std::numeric_limits<double>::infinity(), t)
            : loop::int_imm(n.type().dtype == DType::I32
                                ? std::numeric_limits<int32_t>::min()
                                : std::numeric_limits<int64_t>::min(),
                            t);
    ExprPtr av = loop::var(acc, t);
    std::vector<StmtPtr> body;
    if (is_max) {
      body = {loop::assign(
          acc, loop::make(Op::Select, t,
                          {w.valid, loop::make(Op::Max, t, {av, v}), av}))};
    } else {
      body = {
          loop::assign(
              acc, loop::make(Op::Select, t,
                              {w.valid, loop::make(Op::Add, t, {av, v}), av})),
          loop::assign(cnt,
                       loop::make(Op::Select, DType::I64,
                                  {w.valid, loop::add(loop::var(cnt), i64(1)),
                                   loop::var(cnt)}))};
    }
    ExprPtr result = av;
    if (!is_max) {
      ExprPtr div = n.bool_attr("count_include_pad")
                        ? loop::imm(double(k[0] * k[1]), t)
                        : convert(loop::var(cnt), t);
      result = loop::make(Op::Div, t, {av, div});
    }
    return std::vector<StmtPtr>{
        loop::decl(acc, t, is_max ? lowest : loop::imm(0, t)),
        loop::decl(cnt, DType::I64, i64(0)),
        nest({{kh, k[0]}, {kw, k[1]}}, std::move(body)),
        loop::store(out, flat_index(o, os), convert(result, n.type().dtype))};
  });
}

} // namespace

StmtPtr max_pool_grad(Lowering &l, const Node &n, int out);
StmtPtr scatter_add(Lowering &l, const Node &n, int out);

StmtPtr Lowering::opaque_kernel(const Node &n, int out) {
  switch (n.op()) {
  case OpKind::Conv2dTranspose:
    if (StmtPtr k = conv_grad_kernel(n, out))
      return k;
    return conv_transpose(*this, n, out);
  case OpKind::Conv2dWeightGrad:
    if (StmtPtr k = conv_grad_kernel(n, out))
      return k;
    return conv_weight_grad(*this, n, out);
  case OpKind::MaxPool2d:
  case OpKind::AvgPool2d:
    return pool(*this, n, out);
  case OpKind::MaxPool2dGrad:
    return max_pool_grad(*this, n, out);
  case OpKind::ScatterAdd:
    return scatter_add(*this, n, out);
  default:
    KILN_UNREACHABLE(std::string("not an opaque op: ") + n.op_name());
  }
}

} // namespace kiln::lowering
