/// \file
/// Layout ops: reshape, transpose, broadcast_to, slice, concat and pad. They
/// move elements without arithmetic, so the interpreter copies each element's
/// bytes exactly (no rounding through double, so i64 stays exact).
// SPDX-License-Identifier: Apache-2.0
#include "ir/ops/OpDefs.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace kiln::ops {

namespace {

/// Copies element \p si of \p src to element \p di of \p dst (same dtype).
void copy_elem(HostTensor &dst, int64_t di, const HostTensor &src, int64_t si) {
  size_t sz = dtype_size(dst.dtype());
  std::memcpy(dst.bytes() + size_t(di) * sz, src.bytes() + size_t(si) * sz, sz);
}

bool want_same_dtype(ShapeCtx &c, const TensorType &t) {
  if (t.dtype == c.in[0].dtype)
    return true;
  c.fail() << "result dtype differs from the operand's (" << type_str(t)
           << " vs " << type_str(c.in[0]) << "); insert a cast";
  return false;
}

// ---- reshape and broadcast_to --------------------------------------------

bool shape_reshape(ShapeCtx &c) {
  TensorType t;
  if (!declared_type(c, t) || !want_same_dtype(c, t))
    return false;
  if (t.numel() != c.in[0].numel()) {
    c.fail() << "element counts differ (" << type_str(c.in[0]) << " has "
             << c.in[0].numel() << ", " << type_str(t) << " has " << t.numel()
             << ")";
    return false;
  }
  c.out.push_back(t);
  return true;
}

void interp_reshape(const Node &n, const std::vector<const HostTensor *> &in,
                    std::vector<HostTensor> &out) {
  HostTensor r(n.type());
  std::memcpy(r.bytes(), in[0]->bytes(), r.type().bytes());
  out.push_back(std::move(r));
}

bool shape_broadcast_to(ShapeCtx &c) {
  TensorType t;
  if (!declared_type(c, t) || !want_same_dtype(c, t))
    return false;
  Shape s;
  if (!broadcast_shapes(c.in[0].shape, t.shape, s) || s != t.shape) {
    c.fail() << "cannot broadcast " << shape_str(c.in[0].shape) << " to "
             << shape_str(t.shape)
             << "; each operand dimension must be 1 or equal the result's, "
                "aligned at the right";
    return false;
  }
  c.out.push_back(t);
  return true;
}

void interp_broadcast_to(const Node &n,
                         const std::vector<const HostTensor *> &in,
                         std::vector<HostTensor> &out) {
  HostTensor r(n.type());
  for_each_index(r.shape(), [&](const std::vector<int64_t> &idx, int64_t i) {
    copy_elem(r, i, *in[0], broadcast_offset(idx, in[0]->shape()));
  });
  out.push_back(std::move(r));
}

// ---- transpose -----------------------------------------------------------

bool shape_transpose(ShapeCtx &c) {
  const TensorType &x = c.in[0];
  std::vector<int64_t> perm = c.ints_attr("perm");
  if (int64_t(perm.size()) != x.rank()) {
    c.fail() << "'perm' has " << perm.size() << " entries but " << type_str(x)
             << " has rank " << x.rank();
    return false;
  }
  std::vector<bool> seen(perm.size(), false);
  Shape s;
  for (int64_t p : perm) {
    if (p < 0 || p >= x.rank() || seen[size_t(p)]) {
      c.fail() << "'perm' must be a permutation of 0.." << x.rank() - 1
               << ", got " << attr_str(c.attr("perm"));
      return false;
    }
    seen[size_t(p)] = true;
    s.push_back(x.shape[size_t(p)]);
  }
  c.out.push_back({x.dtype, s});
  return true;
}

void interp_transpose(const Node &n, const std::vector<const HostTensor *> &in,
                      std::vector<HostTensor> &out) {
  const HostTensor &x = *in[0];
  HostTensor r(n.type());
  std::vector<int64_t> perm = n.ints_attr("perm");
  std::vector<int64_t> src(perm.size());
  for_each_index(r.shape(), [&](const std::vector<int64_t> &idx, int64_t i) {
    for (size_t d = 0; d < perm.size(); ++d)
      src[size_t(perm[d])] = idx[d];
    copy_elem(r, i, x, flat_offset(src, x.shape()));
  });
  out.push_back(std::move(r));
}

// ---- slice ---------------------------------------------------------------

bool shape_slice(ShapeCtx &c) {
  const TensorType &x = c.in[0];
  size_t rank = size_t(x.rank());
  if (!want_list(c, "start", rank, 0) || !want_list(c, "stop", rank, 0) ||
      !want_list(c, "step", rank, 1))
    return false;
  std::vector<int64_t> start = c.ints_attr("start"), stop = c.ints_attr("stop"),
                       step = c.ints_attr("step");
  Shape s;
  for (size_t d = 0; d < rank; ++d) {
    if (start[d] > stop[d] || stop[d] > x.shape[d]) {
      c.fail() << "axis " << d << ": need 0 <= start <= stop <= " << x.shape[d]
               << " for " << type_str(x) << ", got start " << start[d]
               << ", stop " << stop[d];
      return false;
    }
    int64_t len = stop[d] - start[d];
    s.push_back(len / step[d] + (len % step[d] != 0));
  }
  c.out.push_back({x.dtype, s});
  return true;
}

void interp_slice(const Node &n, const std::vector<const HostTensor *> &in,
                  std::vector<HostTensor> &out) {
  const HostTensor &x = *in[0];
  HostTensor r(n.type());
  std::vector<int64_t> start = n.ints_attr("start"), step = n.ints_attr("step");
  std::vector<int64_t> src(start.size());
  for_each_index(r.shape(), [&](const std::vector<int64_t> &idx, int64_t i) {
    for (size_t d = 0; d < src.size(); ++d)
      src[d] = start[d] + idx[d] * step[d];
    copy_elem(r, i, x, flat_offset(src, x.shape()));
  });
  out.push_back(std::move(r));
}

// ---- concat --------------------------------------------------------------

bool shape_concat(ShapeCtx &c) {
  if (!same_dtypes(c))
    return false;
  const TensorType &a = c.in[0];
  int64_t axis = normalize_axis(c.int_attr("axis"), a.rank());
  if (axis < 0) {
    c.fail() << "axis " << c.int_attr("axis") << " is out of range for "
             << type_str(a);
    return false;
  }
  Shape s = a.shape;
  for (size_t i = 1; i < c.in.size(); ++i) {
    const TensorType &b = c.in[i];
    bool ok = b.rank() == a.rank();
    for (int64_t d = 0; ok && d < a.rank(); ++d)
      ok = d == axis || b.shape[size_t(d)] == a.shape[size_t(d)];
    if (!ok) {
      c.fail() << "operand " << i << " is " << type_str(b) << ", operand 0 is "
               << type_str(a) << "; shapes must agree except along axis "
               << axis;
      return false;
    }
    s[size_t(axis)] += b.shape[size_t(axis)];
    if (s[size_t(axis)] > kMaxElements) {
      c.fail() << "joined axis " << axis << " is too long";
      return false;
    }
  }
  return push_result(c, {a.dtype, s});
}

void interp_concat(const Node &n, const std::vector<const HostTensor *> &in,
                   std::vector<HostTensor> &out) {
  HostTensor r(n.type());
  size_t axis = size_t(normalize_axis(n.int_attr("axis"), r.type().rank()));
  int64_t base = 0;
  for (const HostTensor *x : in) {
    for_each_index(x->shape(), [&](const std::vector<int64_t> &idx, int64_t i) {
      std::vector<int64_t> o = idx;
      o[axis] += base;
      copy_elem(r, flat_offset(o, r.shape()), *x, i);
    });
    base += x->shape()[axis];
  }
  out.push_back(std::move(r));
}

// ---- pad -----------------------------------------------------------------

bool pad_value_ok(ShapeCtx &c, DType t, const Attribute &a) {
  double v = a.as_number();
  bool in_range = a.is_int() || (std::trunc(v) == v && std::fabs(v) < 9.2e18);
  bool ok =
      is_float(t) || (is_bool(t) ? (v == 0.0 || v == 1.0)
                                 : in_range && (t != DType::I32 ||
                                                std::fabs(v) <= 2147483647.0));
  if (!ok)
    c.fail() << "'value' " << attr_str(a) << " is not a valid " << dtype_name(t)
             << (is_bool(t) ? "; use 0 or 1" : "; use an integer");
  return ok;
}

/// The pad value as an integer (exact for an integer attribute).
int64_t pad_int(const Attribute &a) {
  return a.is_int() ? a.as_int() : int64_t(a.as_number());
}

bool shape_pad(ShapeCtx &c) {
  const TensorType &x = c.in[0];
  size_t rank = size_t(x.rank());
  if (!want_list(c, "low", rank, 0) || !want_list(c, "high", rank, 0) ||
      !pad_value_ok(c, x.dtype, c.attr("value")))
    return false;
  std::vector<int64_t> low = c.ints_attr("low"), high = c.ints_attr("high");
  Shape s = x.shape;
  for (size_t d = 0; d < rank; ++d)
    s[d] += low[d] + high[d];
  return push_result(c, {x.dtype, s});
}

void interp_pad(const Node &n, const std::vector<const HostTensor *> &in,
                std::vector<HostTensor> &out) {
  const HostTensor &x = *in[0];
  HostTensor r(n.type());
  const Attribute &v = *n.attr("value");
  for (int64_t i = 0; i < r.numel(); ++i) {
    if (is_integer(r.dtype()))
      r.set_int(i, pad_int(v)); // integral and in range: checked by the rule
    else
      r.set(i, v.as_number());
  }
  std::vector<int64_t> low = n.ints_attr("low");
  for_each_index(x.shape(), [&](const std::vector<int64_t> &idx, int64_t i) {
    std::vector<int64_t> o = idx;
    for (size_t d = 0; d < o.size(); ++d)
      o[d] += low[d];
    copy_elem(r, flat_offset(o, r.shape()), x, i);
  });
  out.push_back(std::move(r));
}

} // namespace

const OpDef kOpDef_reshape = {
    "reshape",
    "the same elements in row-major order under the written shape",
    "%y = reshape(%x) : f32[2,6]",
    1,
    1,
    {},
    shape_reshape,
    interp_reshape,
    /*needs_result_type=*/true};

const OpDef kOpDef_transpose = {
    "transpose",
    "permutes the axes: result axis i is operand axis perm[i]",
    "%y = transpose(%x) {perm = [1, 0]} : f32[3,2]",
    1,
    1,
    {{"perm", AttrKind::Ints, std::nullopt}},
    shape_transpose,
    interp_transpose};

const OpDef kOpDef_broadcast_to = {
    "broadcast_to",
    "NumPy broadcasting of the operand to the written shape",
    "%y = broadcast_to(%x) : f32[4,3]",
    1,
    1,
    {},
    shape_broadcast_to,
    interp_broadcast_to,
    /*needs_result_type=*/true};

const OpDef kOpDef_slice = {
    "slice",
    "elements start, start+step, ... below stop along each axis",
    "%y = slice(%x) {start = [0, 1], stop = [4, 3], step = [2, 1]} : f32[2,2]",
    1,
    1,
    {{"start", AttrKind::Ints, std::nullopt},
     {"stop", AttrKind::Ints, std::nullopt},
     {"step", AttrKind::Ints, std::nullopt}},
    shape_slice,
    interp_slice};

const OpDef kOpDef_concat = {
    "concat",
    "joins the operands along 'axis'; other dimensions must agree",
    "%y = concat(%a, %b) {axis = 1} : f32[2,5]",
    1,
    -1,
    {{"axis", AttrKind::Int, std::nullopt}},
    shape_concat,
    interp_concat};

const OpDef kOpDef_pad = {
    "pad",
    "adds low[d] and high[d] elements of 'value' before and after axis d",
    "%y = pad(%x) {low = [1, 0], high = [1, 2], value = 0.0} : f32[4,5]",
    1,
    1,
    {{"low", AttrKind::Ints, std::nullopt},
     {"high", AttrKind::Ints, std::nullopt},
     {"value", AttrKind::Number, Attribute(0.0)}},
    shape_pad,
    interp_pad};

} // namespace kiln::ops
