/// \file
/// Inlining: the scalar expression of a value at an index, composing the
/// index maps of views (reshape, transpose, broadcast, slice, pad, concat,
/// gather) and the scalar ops of elementwise nodes. Nothing here copies.
// SPDX-License-Identifier: Apache-2.0
#include "passes/LowerImpl.h"

#include "ir/Error.h"
#include "ir/OpRegistry.h"

#include <limits>

namespace kiln::lowering {

using loop::Op;

ExprPtr flat_index(const Index &idx, const Shape &shape) {
  ExprPtr flat = loop::int_imm(0);
  for (size_t d = 0; d < shape.size(); ++d)
    flat = loop::add(loop::mul(flat, loop::int_imm(shape[d])), idx[d]);
  return flat;
}

Index unflatten(const ExprPtr &flat, const Shape &shape) {
  Index idx(shape.size());
  int64_t inner = 1;
  for (size_t d = shape.size(); d-- > 0;) {
    ExprPtr q = loop::idiv(flat, inner);
    // The outermost coordinate needs no modulo: flat < numel.
    idx[d] = d == 0 ? q : loop::imod(q, shape[d]);
    inner *= shape[d];
  }
  return idx;
}

Index broadcast_index(const Index &idx, const Shape &operand) {
  size_t lead = idx.size() - operand.size();
  Index r;
  for (size_t d = 0; d < operand.size(); ++d)
    r.push_back(operand[d] == 1 ? loop::int_imm(0) : idx[lead + d]);
  return r;
}

ExprPtr clamp_index(const ExprPtr &i, int64_t lo, int64_t hi) {
  return loop::make(Op::Min, DType::I64,
                    {loop::make(Op::Max, DType::I64, {i, loop::int_imm(lo)}),
                     loop::int_imm(hi)});
}

ExprPtr cmp(Op op, ExprPtr a, ExprPtr b) {
  return loop::make(op, DType::Bool, {std::move(a), std::move(b)});
}

ExprPtr bool_and(ExprPtr a, ExprPtr b) {
  return loop::make(Op::And, DType::Bool, {std::move(a), std::move(b)});
}

DType acc_type(DType t) {
  if (t == DType::F16 || t == DType::BF16)
    return DType::F32;
  if (is_integer(t) || is_bool(t))
    return DType::I64;
  return t;
}

ExprPtr convert(ExprPtr e, DType t) {
  if (e->dtype == t)
    return e;
  return loop::make(Op::Cast, t, {std::move(e)});
}

ExprPtr lowest(DType t, bool max) {
  if (is_float(t))
    return loop::float_imm(max ? -std::numeric_limits<double>::infinity()
                               : std::numeric_limits<double>::infinity(),
                           t);
  return loop::int_imm(max ? std::numeric_limits<int64_t>::min()
                           : std::numeric_limits<int64_t>::max(),
                       t);
}

std::vector<bool> reduced_axes(const Node &n) {
  int64_t rank = n.operand(0)->type().rank();
  std::vector<bool> r(size_t(rank), false);
  if (n.op() == OpKind::Argmax || n.op() == OpKind::Argmin) {
    r[size_t(normalize_axis(n.int_attr("axis"), rank))] = true;
    return r;
  }
  for (int64_t a : n.ints_attr("axes"))
    r[size_t(normalize_axis(a, rank))] = true;
  return r;
}

namespace {

ExprPtr in_range(const ExprPtr &i, int64_t lo, int64_t hi) {
  return bool_and(cmp(Op::Ge, i, loop::int_imm(lo)),
                  cmp(Op::Lt, i, loop::int_imm(hi)));
}

ExprPtr splat_constant(const Node &n) {
  const Attribute &v = *n.attr("value");
  const Attribute &e = v.is_list() ? v.as_list()[0] : v;
  double x =
      e.kind() == Attribute::Kind::Bool ? double(e.as_bool()) : e.as_number();
  if (e.is_int() && is_integer(n.type().dtype))
    return loop::int_imm(e.as_int(), n.type().dtype);
  return loop::imm(x, n.type().dtype);
}

Index pad_source(Lowering &l, const Node &n, const Index &idx, ExprPtr &inb) {
  const Shape &in = n.operand(0)->type().shape;
  std::vector<int64_t> low = n.ints_attr("low");
  Index src;
  (void)l;
  for (size_t d = 0; d < in.size(); ++d) {
    ExprPtr i =
        loop::make(Op::Sub, DType::I64, {idx[d], loop::int_imm(low[d])});
    ExprPtr ok = in_range(i, 0, in[d]);
    inb = inb ? bool_and(inb, ok) : ok;
    src.push_back(clamp_index(i, 0, in[d] - 1));
  }
  return src;
}

ExprPtr concat_at(Lowering &l, const Node &n, const Index &idx) {
  int64_t axis = n.int_attr("axis");
  axis = normalize_axis(axis, n.type().rank());
  // Select from the last operand backwards: operand k covers [off_k, off_k+1).
  std::vector<int64_t> offsets;
  int64_t off = 0;
  for (Value *v : n.operands()) {
    offsets.push_back(off);
    off += v->type().shape[size_t(axis)];
  }
  // Operand k covers [offsets[k], offsets[k+1]) along the axis: the last
  // operand whose offset is <= the index wins.
  ExprPtr r;
  for (size_t k = 0; k < n.num_operands(); ++k) {
    const Value *v = n.operand(k);
    int64_t dim = v->type().shape[size_t(axis)];
    if (dim == 0)
      continue;
    Index sub = idx;
    sub[size_t(axis)] =
        clamp_index(loop::make(Op::Sub, DType::I64,
                               {idx[size_t(axis)], loop::int_imm(offsets[k])}),
                    0, dim - 1);
    ExprPtr val = l.value_at(v, sub);
    r = r ? loop::make(
                Op::Select, n.type().dtype,
                {cmp(Op::Ge, idx[size_t(axis)], loop::int_imm(offsets[k])), val,
                 r})
          : val;
  }
  return r;
}

ExprPtr gather_at(Lowering &l, const Node &n, const Index &idx) {
  const Value *x = n.operand(0), *ids = n.operand(1);
  int64_t axis = normalize_axis(n.int_attr("axis"), x->type().rank());
  size_t r = size_t(ids->type().rank());
  Index id_idx(idx.begin() + axis, idx.begin() + axis + int64_t(r));
  ExprPtr id = l.value_at(ids, id_idx);
  if (id->dtype != DType::I64)
    id = loop::make(Op::Cast, DType::I64, {id});
  Index src(idx.begin(), idx.begin() + axis);
  src.push_back(clamp_index(id, 0, x->type().shape[size_t(axis)] - 1));
  src.insert(src.end(), idx.begin() + axis + int64_t(r), idx.end());
  return l.value_at(x, src);
}

/// The index of a reshape's input \p in read at output index \p idx of
/// shape \p out. Dims of extent 1 read index 0; the others are matched in
/// groups of equal product, so that a split ([B, T, H*D] -> [B, T, H, D])
/// or a merge of dims stays affine and only a group that is split one way
/// and merged the other needs division.
Index reshape_index(const Index &idx, const Shape &out, const Shape &in) {
  std::vector<size_t> is, os;
  for (size_t d = 0; d < in.size(); ++d)
    if (in[d] != 1)
      is.push_back(d);
  for (size_t d = 0; d < out.size(); ++d)
    if (out[d] != 1)
      os.push_back(d);
  if (numel(in) == 0)
    return unflatten(flat_index(idx, out), in);
  Index src(in.size(), loop::int_imm(0));
  for (size_t a = 0, b = 0; a < is.size();) {
    Shape gi = {in[is[a]]}, go = {out[os[b]]};
    Index gidx = {idx[os[b]]};
    size_t a0 = a++;
    ++b;
    while (numel(gi) != numel(go)) {
      if (numel(gi) < numel(go)) {
        gi.push_back(in[is[a++]]);
      } else {
        go.push_back(out[os[b]]);
        gidx.push_back(idx[os[b++]]);
      }
    }
    ExprPtr flat = go.size() == 1 ? gidx[0] : flat_index(gidx, go);
    Index parts = gi.size() == 1 ? Index{flat} : unflatten(flat, gi);
    for (size_t q = 0; q < gi.size(); ++q)
      src[is[a0 + q]] = parts[q];
  }
  return src;
}

ExprPtr view_at(Lowering &l, const Node &n, const Index &idx) {
  const Value *x = n.operand(0);
  const Shape &in = x->type().shape;
  switch (n.op()) {
  case OpKind::Reshape:
    return l.value_at(x, reshape_index(idx, n.type().shape, in));
  case OpKind::BroadcastTo:
    return l.value_at(x, broadcast_index(idx, in));
  case OpKind::Transpose: {
    std::vector<int64_t> perm = n.ints_attr("perm");
    Index src(perm.size());
    for (size_t d = 0; d < perm.size(); ++d)
      src[size_t(perm[d])] = idx[d];
    return l.value_at(x, src);
  }
  case OpKind::Slice: {
    std::vector<int64_t> start = n.ints_attr("start"),
                         step = n.ints_attr("step");
    Index src;
    for (size_t d = 0; d < in.size(); ++d)
      src.push_back(loop::add(loop::mul(idx[d], loop::int_imm(step[d])),
                              loop::int_imm(start[d])));
    return l.value_at(x, src);
  }
  case OpKind::Pad: {
    ExprPtr inb;
    Index src = pad_source(l, n, idx, inb);
    ExprPtr fill = loop::imm(n.number_attr("value"), n.type().dtype);
    if (!inb)
      return l.value_at(x, src);
    return loop::make(Op::Select, n.type().dtype,
                      {inb, l.value_at(x, src), fill});
  }
  default:
    KILN_UNREACHABLE("not a view op");
  }
}

ExprPtr source_at(Lowering &l, const Node &n, const Index &idx) {
  DType t = n.type().dtype;
  switch (n.op()) {
  case OpKind::Constant:
    return splat_constant(n);
  case OpKind::Iota: {
    ExprPtr i =
        idx[size_t(normalize_axis(n.int_attr("axis"), n.type().rank()))];
    return t == DType::I64 ? i : loop::make(Op::Cast, t, {i});
  }
  case OpKind::RandomUniform:
  case OpKind::RandomNormal: {
    ExprPtr seed = l.value_at(n.operand(0), {});
    ExprPtr offset = l.value_at(n.operand(1), {});
    Op op =
        n.op() == OpKind::RandomUniform ? Op::RandomUniform : Op::RandomNormal;
    return loop::make(op, t, {seed, offset, flat_index(idx, n.type().shape)});
  }
  case OpKind::OneHot: {
    Index sub(idx.begin(), idx.end() - 1);
    ExprPtr id = l.value_at(n.operand(0), sub);
    if (id->dtype != DType::I64)
      id = loop::make(Op::Cast, DType::I64, {id});
    return loop::make(
        Op::Select, t,
        {cmp(Op::Eq, id, idx.back()), loop::imm(1, t), loop::imm(0, t)});
  }
  default:
    KILN_UNREACHABLE("not a source op");
  }
}

} // namespace

ExprPtr Lowering::value_at(const Value *v, const Index &idx) {
  auto o = overrides.find(v);
  if (o != overrides.end())
    return o->second;
  if (is_materialized(v) && v != computing)
    return loop::load(buffer_of(v), v->type().dtype,
                      flat_index(idx, v->type().shape));
  const Node &n = *v->def();
  KILN_CHECK(kind_of(n.op()) == Kind::Injective)
      << n.op_name() << " must be materialized before it is read";
  DType t = n.type().dtype;
  switch (n.op()) {
  case OpKind::Reshape:
  case OpKind::BroadcastTo:
  case OpKind::Transpose:
  case OpKind::Slice:
  case OpKind::Pad:
    return view_at(*this, n, idx);
  case OpKind::Concat:
    return concat_at(*this, n, idx);
  case OpKind::Gather:
    return gather_at(*this, n, idx);
  case OpKind::Constant:
  case OpKind::Iota:
  case OpKind::RandomUniform:
  case OpKind::RandomNormal:
  case OpKind::OneHot:
    return source_at(*this, n, idx);
  case OpKind::Cast:
    return loop::make(loop::Op::Cast, t, {value_at(n.operand(0), idx)});
  default:
    break;
  }
  std::vector<ExprPtr> args;
  for (const Value *a : n.operands())
    args.push_back(value_at(a, broadcast_index(idx, a->type().shape)));
  return loop::make(scalar_op(n.op()), t, std::move(args));
}

} // namespace kiln::lowering
