/// \file
/// Private to ir/: the OpDef of every op (each defined in its family's file
/// under ir/ops/) and helpers shared by the shape rules and interpreter
/// kernels of several families.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/OpRegistry.h"

#include <functional>

namespace kiln::ops {

#define KILN_OP(Kind, name) extern const OpDef kOpDef_##name;
#include "ir/Ops.def"

/// Fails unless every operand has the same dtype.
bool same_dtypes(ShapeCtx &c);
/// Fails unless operand \p i has a float dtype.
bool want_float(ShapeCtx &c, size_t i);
/// Fails unless operand \p i is integer (i32 or i64).
bool want_integer(ShapeCtx &c, size_t i);
/// Fails unless operand \p i has rank \p rank ("expects a rank-4 NCHW input").
bool want_rank(ShapeCtx &c, size_t i, int64_t rank, const char *what);
/// Fails unless the list attribute \p name has \p n entries, each >= \p min.
bool want_list(ShapeCtx &c, const char *name, size_t n, int64_t min);
/// Result type for ops that take it from the annotation: exactly one
/// declared type, whose element count must not overflow.
bool declared_type(ShapeCtx &c, TensorType &t);
/// Fails when \p s has more than kMaxElements elements; else sets out.
bool push_result(ShapeCtx &c, TensorType t);

/// Calls \p f(out_index, flat) for every element of \p shape in row-major
/// order; out_index is the multi-index.
void for_each_index(
    const Shape &shape,
    const std::function<void(const std::vector<int64_t> &, int64_t)> &f);
/// The flat index into a tensor of shape \p in that NumPy broadcasting reads
/// for the multi-index \p idx of the (broadcast) output.
int64_t broadcast_offset(const std::vector<int64_t> &idx, const Shape &in);
/// Flat row-major offset of \p idx in \p shape.
int64_t flat_offset(const std::vector<int64_t> &idx, const Shape &shape);

} // namespace kiln::ops
