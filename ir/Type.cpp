/// \file
/// Shape arithmetic shared by the shape rules, the interpreter and the parser.
// SPDX-License-Identifier: Apache-2.0
#include "ir/Type.h"

#include <algorithm>

namespace kiln {

int64_t numel(const Shape &s) {
  int64_t n = 1;
  for (int64_t d : s)
    n *= d;
  return n;
}

int64_t checked_numel(const Shape &s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0 || d > kMaxElements)
      return -1;
    if (d != 0 && n > kMaxElements / d)
      return -1;
    n *= d;
  }
  return n;
}

std::string shape_str(const Shape &s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i)
      r += ",";
    r += std::to_string(s[i]);
  }
  return r + "]";
}

std::vector<int64_t> row_major_strides(const Shape &s) {
  std::vector<int64_t> st(s.size(), 1);
  for (int64_t i = int64_t(s.size()) - 2; i >= 0; --i)
    st[i] = st[i + 1] * s[i + 1];
  return st;
}

std::string type_str(const TensorType &t) {
  return std::string(dtype_name(t.dtype)) + shape_str(t.shape);
}

bool broadcast_shapes(const Shape &a, const Shape &b, Shape &out) {
  size_t r = std::max(a.size(), b.size());
  Shape res(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da != db && da != 1 && db != 1)
      return false;
    res[i] = da == 1 ? db : da;
  }
  out = std::move(res);
  return true;
}

int64_t normalize_axis(int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank)
    return -1;
  return axis < 0 ? axis + rank : axis;
}

} // namespace kiln
