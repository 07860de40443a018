/// \file
/// Indexing ops: gather (take along one axis), scatter_add (its adjoint) and
/// one_hot. Indices are data, so they are never trusted: gather and
/// scatter_add clamp them into [0, dim-1] (as XLA does) and one_hot gives a
/// zero row for an out-of-range index, so no input can make the
/// interpreter read or write out of bounds.
// SPDX-License-Identifier: Apache-2.0
#include "ir/ops/OpDefs.h"

#include <algorithm>
#include <cstring>

namespace kiln::ops {

namespace {

/// x.shape[:axis] + idx.shape + x.shape[axis+1:].
Shape gathered_shape(const Shape &x, const Shape &idx, size_t axis) {
  Shape s(x.begin(), x.begin() + int64_t(axis));
  s.insert(s.end(), idx.begin(), idx.end());
  s.insert(s.end(), x.begin() + int64_t(axis) + 1, x.end());
  return s;
}

/// Checks the indexed operand \p x (operand 0) and the index operand \p i
/// and returns the normalized axis, or -1 after an error.
int64_t check_indexing(ShapeCtx &c, size_t i) {
  const TensorType &x = c.in[0];
  int64_t a = c.int_attr("axis");
  int64_t axis = normalize_axis(a, x.rank());
  if (axis < 0) {
    c.fail() << "axis " << a << " is out of range for " << type_str(x);
    return -1;
  }
  if (x.shape[size_t(axis)] == 0) {
    c.fail() << "axis " << a << " of " << type_str(x)
             << " is empty; there is nothing to index";
    return -1;
  }
  if (!is_integer(c.in[i].dtype)) {
    c.fail() << "indices must be i32 or i64, got " << type_str(c.in[i]);
    return -1;
  }
  return axis;
}

/// The sizes around the indexed axis: x viewed as [outer, len, inner].
struct Split {
  int64_t outer = 1, len = 0, inner = 1;
};

Split split_at(const Shape &s, size_t axis) {
  Split r;
  r.len = s[axis];
  for (size_t d = 0; d < axis; ++d)
    r.outer *= s[d];
  for (size_t d = axis + 1; d < s.size(); ++d)
    r.inner *= s[d];
  return r;
}

int64_t clamp_index(const HostTensor &idx, int64_t j, int64_t len) {
  return std::clamp<int64_t>(idx.get_int(j), 0, len - 1);
}

// ---- gather --------------------------------------------------------------

bool shape_gather(ShapeCtx &c) {
  int64_t axis = check_indexing(c, 1);
  if (axis < 0)
    return false;
  return push_result(
      c, {c.in[0].dtype,
          gathered_shape(c.in[0].shape, c.in[1].shape, size_t(axis))});
}

void interp_gather(const Node &n, const std::vector<const HostTensor *> &in,
                   std::vector<HostTensor> &out) {
  const HostTensor &x = *in[0], &idx = *in[1];
  HostTensor r(n.type());
  size_t axis = size_t(normalize_axis(n.int_attr("axis"), x.type().rank()));
  Split s = split_at(x.shape(), axis);
  size_t sz = dtype_size(x.dtype());
  int64_t m = idx.numel();
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t j = 0; j < m; ++j) {
      int64_t k = clamp_index(idx, j, s.len);
      for (int64_t i = 0; i < s.inner; ++i) {
        int64_t src = (o * s.len + k) * s.inner + i;
        int64_t dst = (o * m + j) * s.inner + i;
        std::memcpy(r.bytes() + size_t(dst) * sz, x.bytes() + size_t(src) * sz,
                    sz);
      }
    }
  out.push_back(std::move(r));
}

// ---- scatter_add ---------------------------------------------------------

bool shape_scatter_add(ShapeCtx &c) {
  int64_t axis = check_indexing(c, 1);
  if (axis < 0)
    return false;
  const TensorType &base = c.in[0], &src = c.in[2];
  if (is_bool(base.dtype) || src.dtype != base.dtype) {
    c.fail() << "base and src must have the same numeric dtype, got "
             << type_str(base) << " and " << type_str(src);
    return false;
  }
  Shape want = gathered_shape(base.shape, c.in[1].shape, size_t(axis));
  if (src.shape != want) {
    c.fail() << "src shape " << shape_str(src.shape) << " must be "
             << shape_str(want)
             << " (base.shape[:axis] + idx.shape + base.shape[axis+1:])";
    return false;
  }
  c.out.push_back(base);
  return true;
}

template <typename T, typename Get, typename Set>
void scatter_loop(const HostTensor &idx, const Split &s, int64_t n_base,
                  Get get, Set set) {
  std::vector<T> acc(static_cast<size_t>(n_base));
  for (int64_t e = 0; e < n_base; ++e)
    acc[size_t(e)] = get(0, e);
  int64_t m = idx.numel();
  for (int64_t o = 0; o < s.outer; ++o)
    for (int64_t j = 0; j < m; ++j) {
      int64_t k = clamp_index(idx, j, s.len);
      for (int64_t i = 0; i < s.inner; ++i) {
        T &a = acc[size_t((o * s.len + k) * s.inner + i)];
        a = T(a + get(1, (o * m + j) * s.inner + i));
      }
    }
  for (int64_t e = 0; e < n_base; ++e)
    set(e, acc[size_t(e)]);
}

void interp_scatter_add(const Node &n,
                        const std::vector<const HostTensor *> &in,
                        std::vector<HostTensor> &out) {
  const HostTensor &base = *in[0], &idx = *in[1], &src = *in[2];
  HostTensor r(n.type());
  size_t axis = size_t(normalize_axis(n.int_attr("axis"), base.type().rank()));
  Split s = split_at(base.shape(), axis);
  const HostTensor *t[2] = {&base, &src};
  if (is_integer(r.dtype())) {
    // Wrapping int64 sums (unsigned arithmetic: no overflow UB).
    scatter_loop<uint64_t>(
        idx, s, base.numel(),
        [&](int w, int64_t e) { return uint64_t(t[w]->get_int(e)); },
        [&](int64_t e, uint64_t v) { r.set_int(e, int64_t(v)); });
  } else {
    scatter_loop<double>(
        idx, s, base.numel(), [&](int w, int64_t e) { return t[w]->get(e); },
        [&](int64_t e, double v) { r.set(e, v); });
  }
  out.push_back(std::move(r));
}

// ---- one_hot -------------------------------------------------------------

bool shape_one_hot(ShapeCtx &c) {
  if (!want_integer(c, 0))
    return false;
  int64_t depth = c.int_attr("depth");
  if (depth < 0 || depth > kMaxElements) {
    c.fail() << "'depth' must be at least 0, got " << depth;
    return false;
  }
  TensorType t;
  if (!declared_type(c, t))
    return false;
  Shape want = c.in[0].shape;
  want.push_back(depth);
  if (is_bool(t.dtype) || t.shape != want) {
    c.fail() << "result must be a numeric tensor of shape " << shape_str(want)
             << " (indices shape + [depth]), got " << type_str(t);
    return false;
  }
  c.out.push_back(t);
  return true;
}

void interp_one_hot(const Node &n, const std::vector<const HostTensor *> &in,
                    std::vector<HostTensor> &out) {
  const HostTensor &idx = *in[0];
  HostTensor r(n.type());
  int64_t depth = n.int_attr("depth");
  for (int64_t j = 0; j < idx.numel(); ++j) {
    int64_t k = idx.get_int(j);
    if (k >= 0 && k < depth)
      r.set_int(j * depth + k, 1);
  }
  out.push_back(std::move(r));
}

} // namespace

const OpDef kOpDef_gather = {
    "gather",
    "takes the entries of 'axis' named by the indices (clamped into range): "
    "x.shape[:axis] + idx.shape + x.shape[axis+1:]",
    "%y = gather(%table, %ids) {axis = 0} : f32[8,16]",
    2,
    2,
    {{"axis", AttrKind::Int, Attribute(0)}},
    shape_gather,
    interp_gather};

const OpDef kOpDef_scatter_add = {
    "scatter_add",
    "base with src added at the (clamped) indices along 'axis'; the adjoint "
    "of gather",
    "%y = scatter_add(%base, %ids, %src) {axis = 0} : f32[100,16]",
    3,
    3,
    {{"axis", AttrKind::Int, Attribute(0)}},
    shape_scatter_add,
    interp_scatter_add};

const OpDef kOpDef_one_hot = {
    "one_hot",
    "1 at each index along a new last axis of size 'depth', else 0; an "
    "out-of-range index gives a zero row",
    "%y = one_hot(%labels) {depth = 10} : f32[32,10]",
    1,
    1,
    {{"depth", AttrKind::Int, std::nullopt}},
    shape_one_hot,
    interp_one_hot,
    /*needs_result_type=*/true};

} // namespace kiln::ops
