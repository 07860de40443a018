/// \file
/// Shapes and tensor types. Every value in the Graph IR has a static
/// TensorType, printed in .kir as DTYPE[d0,d1,...] (`f32[]` is a scalar).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/DType.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kiln {

/// Dimensions of a tensor, outermost first. Every dimension is >= 0.
using Shape = std::vector<int64_t>;

/// The largest element count a tensor may have (2^48): larger shapes are
/// rejected by the parser and the shape rules, so that products of dimensions
/// never overflow int64 anywhere in kiln.
constexpr int64_t kMaxElements = int64_t(1) << 48;

/// Number of elements of \p s (1 for a scalar). The caller guarantees that
/// the product does not exceed kMaxElements (see checked_numel).
int64_t numel(const Shape &s);
/// Number of elements, or -1 when the product exceeds kMaxElements or any
/// dimension is negative.
int64_t checked_numel(const Shape &s);
/// "[2,3]" ("[]" for a scalar).
std::string shape_str(const Shape &s);
/// Row-major strides in elements.
std::vector<int64_t> row_major_strides(const Shape &s);

struct TensorType {
  DType dtype = DType::F32;
  Shape shape;

  int64_t rank() const { return int64_t(shape.size()); }
  int64_t numel() const { return kiln::numel(shape); }
  size_t bytes() const { return size_t(numel()) * dtype_size(dtype); }
  bool operator==(const TensorType &o) const {
    return dtype == o.dtype && shape == o.shape;
  }
  bool operator!=(const TensorType &o) const { return !(*this == o); }
};

/// "f32[2,3]".
std::string type_str(const TensorType &t);

/// NumPy broadcasting of two shapes (aligned at the right; a dimension of 1
/// stretches). Returns false when they are incompatible.
bool broadcast_shapes(const Shape &a, const Shape &b, Shape &out);

/// Normalizes an axis in [-rank, rank) to [0, rank); returns -1 when out of
/// range.
int64_t normalize_axis(int64_t axis, int64_t rank);

} // namespace kiln
