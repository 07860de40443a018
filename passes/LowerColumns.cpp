/// \file
/// Row reductions in lanes (lane_reduce) and column reductions: a
/// reduce_sum/mean/max/min over the leading axes of its input (a bias gradient:
/// [B, T, N] -> [N]) as a sweep over the rows that accumulates a block of
/// output columns, so that every row is read along its contiguous columns (the
/// element-per-output loop walks each column down the rows, one cache line per
/// element).
// SPDX-License-Identifier: Apache-2.0
#include "passes/LowerImpl.h"

namespace kiln::lowering {

using loop::Op;

std::vector<StmtPtr>
Lowering::lane_reduce(int acc, DType t, Op combine, const ExprPtr &init,
                      int64_t extent,
                      const std::function<ExprPtr(ExprPtr)> &value) {
  std::vector<StmtPtr> s, step;
  std::vector<ExprPtr> lanes;
  int r = new_var("r");
  for (int l = 0; l < kReduceLanes; ++l) {
    int v = new_var("lane", t);
    lanes.push_back(loop::var(v, t));
    s.push_back(loop::decl(v, t, init));
    ExprPtr at = loop::add(loop::mul(loop::var(r), loop::int_imm(kReduceLanes)),
                           loop::int_imm(l));
    step.push_back(
        loop::assign(v, loop::make(combine, t, {lanes.back(), value(at)})));
  }
  s.push_back(loop::for_loop(r, extent / kReduceLanes, loop::LoopKind::Serial,
                             std::move(step)));
  while (lanes.size() > 1) {
    std::vector<ExprPtr> half;
    for (size_t i = 0; i < lanes.size(); i += 2)
      half.push_back(loop::make(combine, t, {lanes[i], lanes[i + 1]}));
    lanes = std::move(half);
  }
  s.push_back(loop::decl(acc, t, lanes[0]));
  return s;
}

int64_t column_block(int64_t cols) {
  if (cols <= 64)
    return cols;
  for (int64_t b = 64; b >= 16; --b)
    if (cols % b == 0)
      return b;
  return 0;
}

StmtPtr Lowering::column_reduction_kernel(const Node &n, int out) {
  OpKind op = n.op();
  if (!opts_.column_reductions ||
      (op != OpKind::ReduceSum && op != OpKind::ReduceMean &&
       op != OpKind::ReduceMax && op != OpKind::ReduceMin))
    return nullptr;
  const Value *x = n.operand(0);
  const Shape &in = x->type().shape;
  DType t = acc_type(x->type().dtype);
  if (t != n.type().dtype || !is_float(t) ||
      prog_.buffers[size_t(out)].dtype != t)
    return nullptr;
  // The reduced axes (of extent > 1) must all lie before the kept ones.
  std::vector<bool> reduced = reduced_axes(n);
  Shape red, kept;
  for (size_t d = 0; d < in.size(); ++d) {
    if (in[d] == 1)
      continue;
    if (reduced[d] && !kept.empty())
      return nullptr;
    (reduced[d] ? red : kept).push_back(in[d]);
  }
  int64_t rows = numel(red), cols = numel(kept), jb = column_block(cols);
  if (rows < 2 || cols < 16 || jb == 0)
    return nullptr;
  bool is_max = op == OpKind::ReduceMax, is_min = op == OpKind::ReduceMin;
  Op combine = is_max ? Op::Max : is_min ? Op::Min : Op::Add;
  int bv = new_var("jb"), rv = new_var("r");
  // Column j of block bv, and its element of x in row rv.
  auto column = [&](int jj) {
    return loop::add(loop::mul(loop::var(bv), loop::int_imm(jb)),
                     loop::var(jj));
  };
  auto sweep = [&](const std::function<ExprPtr(const ExprPtr &)> &value) {
    int jj = new_var("j");
    ExprPtr j = column(jj);
    return loop::for_loop(jj, jb, loop::LoopKind::Serial,
                          {loop::store(out, j, value(j))});
  };
  ExprPtr init = is_max || is_min ? lowest(t, is_max) : loop::imm(0, t);
  std::vector<StmtPtr> body = {sweep([&](const ExprPtr &) { return init; })};
  body.push_back(loop::for_loop(
      rv, rows, loop::LoopKind::Serial, {sweep([&](const ExprPtr &j) {
        Index ri = unflatten(loop::var(rv), red), ki = unflatten(j, kept);
        Index full(in.size(), loop::int_imm(0));
        for (size_t d = 0, r = 0, k = 0; d < in.size(); ++d)
          if (in[d] != 1)
            full[d] = reduced[d] ? ri[r++] : ki[k++];
        return loop::make(
            combine, t, {loop::load(out, t, j), convert(value_at(x, full), t)});
      })}));
  if (op == OpKind::ReduceMean)
    body.push_back(sweep([&](const ExprPtr &j) {
      return loop::make(Op::Div, t,
                        {loop::load(out, t, j), loop::imm(double(rows), t)});
    }));
  bool parallel = cols / jb > 1 && rows * cols >= opts_.parallel_threshold;
  return loop::block({loop::for_loop(bv, cols / jb,
                                     parallel ? loop::LoopKind::Parallel
                                              : loop::LoopKind::Serial,
                                     std::move(body))});
}

} // namespace kiln::lowering
