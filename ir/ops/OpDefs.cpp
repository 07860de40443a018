/// \file
/// Helpers shared by the op families.
// SPDX-License-Identifier: Apache-2.0
#include "ir/ops/OpDefs.h"

namespace kiln::ops {

bool same_dtypes(ShapeCtx &c) {
  for (size_t i = 1; i < c.in.size(); ++i)
    if (c.in[i].dtype != c.in[0].dtype) {
      c.fail() << "operand dtypes differ (" << type_str(c.in[0]) << " vs "
               << type_str(c.in[i]) << "); insert a cast";
      return false;
    }
  return true;
}

bool want_float(ShapeCtx &c, size_t i) {
  if (is_float(c.in[i].dtype))
    return true;
  c.fail() << "operand " << i << " must be a float tensor, got "
           << type_str(c.in[i]) << "; cast it to f32 first";
  return false;
}

bool want_integer(ShapeCtx &c, size_t i) {
  if (is_integer(c.in[i].dtype))
    return true;
  c.fail() << "operand " << i << " must be an i32 or i64 tensor, got "
           << type_str(c.in[i]);
  return false;
}

bool want_rank(ShapeCtx &c, size_t i, int64_t rank, const char *what) {
  if (c.in[i].rank() == rank)
    return true;
  c.fail() << "expects a rank-" << rank << " " << what << " as operand " << i
           << ", got " << type_str(c.in[i]);
  return false;
}

bool want_list(ShapeCtx &c, const char *name, size_t n, int64_t min) {
  std::vector<int64_t> v = c.ints_attr(name);
  if (v.size() != n) {
    c.fail() << "'" << name << "' needs " << n << " entries, got " << v.size();
    return false;
  }
  for (int64_t x : v)
    if (x < min || x > kMaxElements) {
      c.fail() << "'" << name << "' entries must be at least " << min
               << (x > kMaxElements ? " and at most 2^48" : "") << ", got "
               << x;
      return false;
    }
  return true;
}

bool declared_type(ShapeCtx &c, TensorType &t) {
  if (c.declared->size() != 1) {
    c.fail() << "has one result, " << c.declared->size() << " annotated";
    return false;
  }
  t = (*c.declared)[0];
  if (checked_numel(t.shape) < 0) {
    c.fail() << "result type " << type_str(t) << " has too many elements";
    return false;
  }
  return true;
}

bool push_result(ShapeCtx &c, TensorType t) {
  if (checked_numel(t.shape) < 0) {
    c.fail() << "result " << type_str(t) << " has too many elements";
    return false;
  }
  c.out.push_back(std::move(t));
  return true;
}

void for_each_index(
    const Shape &shape,
    const std::function<void(const std::vector<int64_t> &, int64_t)> &f) {
  int64_t n = numel(shape);
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t flat = 0; flat < n; ++flat) {
    f(idx, flat);
    for (int64_t d = int64_t(shape.size()) - 1; d >= 0; --d) {
      if (++idx[d] < shape[d])
        break;
      idx[d] = 0;
    }
  }
}

int64_t broadcast_offset(const std::vector<int64_t> &idx, const Shape &in) {
  size_t lead = idx.size() - in.size();
  int64_t off = 0;
  for (size_t d = 0; d < in.size(); ++d)
    off = off * in[d] + (in[d] == 1 ? 0 : idx[lead + d]);
  return off;
}

int64_t flat_offset(const std::vector<int64_t> &idx, const Shape &shape) {
  int64_t off = 0;
  for (size_t d = 0; d < shape.size(); ++d)
    off = off * shape[d] + idx[d];
  return off;
}

} // namespace kiln::ops
