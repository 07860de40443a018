/// \file
/// A function for every primitive op, and C++ operators, on Tensor handles.
/// Each takes a trailing `SourceLoc loc = SourceLoc::current()`, so a shape
/// error names the user's file:line. Binary ops broadcast as NumPy does.
/// Composite layers (softmax, layer_norm, ...) are in frontend/Layers.h.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "frontend/Graph.h"

#include <array>
#include <vector>

namespace kiln {

using SL = SourceLoc;

// ---- Elementwise unary ----------------------------------------------------
Tensor neg(Tensor x, SL loc = SL::current());
Tensor abs(Tensor x, SL loc = SL::current());
Tensor sign(Tensor x, SL loc = SL::current());
Tensor exp(Tensor x, SL loc = SL::current());
Tensor log(Tensor x, SL loc = SL::current());
Tensor sqrt(Tensor x, SL loc = SL::current());
Tensor rsqrt(Tensor x, SL loc = SL::current());
Tensor tanh(Tensor x, SL loc = SL::current());
Tensor sigmoid(Tensor x, SL loc = SL::current());
Tensor relu(Tensor x, SL loc = SL::current());
Tensor sin(Tensor x, SL loc = SL::current());
Tensor cos(Tensor x, SL loc = SL::current());
Tensor erf(Tensor x, SL loc = SL::current());
Tensor floor(Tensor x, SL loc = SL::current());
Tensor ceil(Tensor x, SL loc = SL::current());
Tensor round(Tensor x, SL loc = SL::current());
Tensor logical_not(Tensor x, SL loc = SL::current());
Tensor is_finite(Tensor x, SL loc = SL::current());

// ---- Elementwise binary (NumPy broadcasting) ------------------------------
Tensor add(Tensor a, Tensor b, SL loc = SL::current());
Tensor sub(Tensor a, Tensor b, SL loc = SL::current());
Tensor mul(Tensor a, Tensor b, SL loc = SL::current());
Tensor div(Tensor a, Tensor b, SL loc = SL::current());
Tensor pow(Tensor a, Tensor b, SL loc = SL::current());
/// Elementwise maximum / minimum (NaN-propagating).
Tensor maximum(Tensor a, Tensor b, SL loc = SL::current());
Tensor minimum(Tensor a, Tensor b, SL loc = SL::current());
Tensor logical_and(Tensor a, Tensor b, SL loc = SL::current());
Tensor logical_or(Tensor a, Tensor b, SL loc = SL::current());
Tensor eq(Tensor a, Tensor b, SL loc = SL::current());
Tensor ne(Tensor a, Tensor b, SL loc = SL::current());
Tensor lt(Tensor a, Tensor b, SL loc = SL::current());
Tensor le(Tensor a, Tensor b, SL loc = SL::current());
Tensor gt(Tensor a, Tensor b, SL loc = SL::current());
Tensor ge(Tensor a, Tensor b, SL loc = SL::current());
/// c ? a : b elementwise; c is bool.
Tensor select(Tensor c, Tensor a, Tensor b, SL loc = SL::current());
/// Converts to \p dtype (same shape).
Tensor cast(Tensor x, DType dtype, SL loc = SL::current());
/// A scalar constant of \p like's dtype (rank 0; broadcasts in binary ops).
Tensor scalar_like(Tensor like, double value, SL loc = SL::current());

// ---- Sources --------------------------------------------------------------
/// Element = its index along \p axis.
Tensor iota(Graph &g, TensorType type, int64_t axis = 0,
            SL loc = SL::current());
/// Philox bits of (seed, offset, element): uniform in [0, 1) / normal(0, 1).
/// \p seed and \p offset are i64 scalars (inputs, so each step differs).
Tensor random_uniform(Tensor seed, Tensor offset, TensorType type,
                      SL loc = SL::current());
Tensor random_normal(Tensor seed, Tensor offset, TensorType type,
                     SL loc = SL::current());

// ---- Reductions -----------------------------------------------------------
Tensor reduce_sum(Tensor x, std::vector<int64_t> axes, bool keepdims = false,
                  SL loc = SL::current());
Tensor reduce_max(Tensor x, std::vector<int64_t> axes, bool keepdims = false,
                  SL loc = SL::current());
Tensor reduce_min(Tensor x, std::vector<int64_t> axes, bool keepdims = false,
                  SL loc = SL::current());
Tensor reduce_mean(Tensor x, std::vector<int64_t> axes, bool keepdims = false,
                   SL loc = SL::current());
/// Index (i64) of the first maximum / minimum along \p axis.
Tensor argmax(Tensor x, int64_t axis, bool keepdims = false,
              SL loc = SL::current());
Tensor argmin(Tensor x, int64_t axis, bool keepdims = false,
              SL loc = SL::current());

// ---- Layout ---------------------------------------------------------------
/// New shape with the same element count; one entry may be -1 (inferred).
Tensor reshape(Tensor x, Shape shape, SL loc = SL::current());
Tensor transpose(Tensor x, std::vector<int64_t> perm, SL loc = SL::current());
/// Swaps the last two axes (matrix transpose of each batch element).
Tensor transpose_last2(Tensor x, SL loc = SL::current());
Tensor broadcast_to(Tensor x, Shape shape, SL loc = SL::current());
/// One start/stop/step per axis; \p step empty means all ones.
Tensor slice(Tensor x, std::vector<int64_t> start, std::vector<int64_t> stop,
             std::vector<int64_t> step = {}, SL loc = SL::current());
/// x[..., start:stop, ...] along one axis (negative axis from the end).
Tensor slice_axis(Tensor x, int64_t axis, int64_t start, int64_t stop,
                  SL loc = SL::current());
Tensor concat(const std::vector<Tensor> &xs, int64_t axis,
              SL loc = SL::current());
Tensor pad(Tensor x, std::vector<int64_t> low, std::vector<int64_t> high,
           double value = 0.0, SL loc = SL::current());

// ---- Indexing -------------------------------------------------------------
/// x.shape[:axis] + idx.shape + x.shape[axis+1:]; indices clamped.
Tensor gather(Tensor x, Tensor idx, int64_t axis = 0, SL loc = SL::current());
/// base + src scattered at idx along axis (the adjoint of gather).
Tensor scatter_add(Tensor base, Tensor idx, Tensor src, int64_t axis = 0,
                   SL loc = SL::current());
Tensor one_hot(Tensor idx, int64_t depth, DType dtype = DType::F32,
               SL loc = SL::current());

// ---- Contractions and pooling ---------------------------------------------
/// [..., M, K] x [..., K, N] -> [..., M, N], batch dims broadcast.
Tensor matmul(Tensor a, Tensor b, SL loc = SL::current());

struct Conv2dOptions {
  std::array<int64_t, 2> stride = {1, 1};
  std::array<int64_t, 2> padding = {0, 0};
  std::array<int64_t, 2> dilation = {1, 1};
  int64_t groups = 1;
  /// conv2d_transpose only.
  std::array<int64_t, 2> output_padding = {0, 0};
};
/// NCHW input, OIHW weight.
Tensor conv2d(Tensor x, Tensor w, const Conv2dOptions &o = {},
              SL loc = SL::current());
/// NCHW input, IOHW weight (as PyTorch's ConvTranspose2d).
Tensor conv2d_transpose(Tensor x, Tensor w, const Conv2dOptions &o = {},
                        SL loc = SL::current());

struct Pool2dOptions {
  std::array<int64_t, 2> kernel = {2, 2};
  std::array<int64_t, 2> stride = {2, 2};
  std::array<int64_t, 2> padding = {0, 0};
  /// avg_pool2d only: count padded zeros in the divisor (PyTorch's default).
  bool count_include_pad = true;
};
Tensor max_pool2d(Tensor x, const Pool2dOptions &o = {},
                  SL loc = SL::current());
Tensor avg_pool2d(Tensor x, const Pool2dOptions &o = {},
                  SL loc = SL::current());

// ---- Operators ------------------------------------------------------------
/// The right-hand side of an operator: a Tensor, or a scalar that becomes a
/// constant of the other side's dtype. It carries the expression's location.
struct Operand {
  Operand(Tensor t, SL loc = SL::current()) : tensor(t), loc(loc) {}
  Operand(double v, SL loc = SL::current())
      : scalar(v), is_scalar(true), loc(loc) {}
  Tensor tensor;
  double scalar = 0;
  bool is_scalar = false;
  SL loc;
};

Tensor operator+(const Tensor &a, const Operand &b);
Tensor operator-(const Tensor &a, const Operand &b);
Tensor operator*(const Tensor &a, const Operand &b);
Tensor operator/(const Tensor &a, const Operand &b);
Tensor operator+(double a, const Operand &b);
Tensor operator-(double a, const Operand &b);
Tensor operator*(double a, const Operand &b);
Tensor operator/(double a, const Operand &b);
Tensor operator-(const Tensor &a);
Tensor operator<(const Tensor &a, const Operand &b);
Tensor operator<=(const Tensor &a, const Operand &b);
Tensor operator>(const Tensor &a, const Operand &b);
Tensor operator>=(const Tensor &a, const Operand &b);

} // namespace kiln
