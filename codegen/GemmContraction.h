/// \file
/// Private to Gemm.cpp and Conv.cpp: a contraction described by C
/// expressions for its operand elements and output rows, from which one
/// emitter prints the packed, register-tiled kernel. A GEMM gives strided
/// loads; a convolution gives an im2col gather for B.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "codegen/Gemm.h"

#include <cstdint>
#include <functional>
#include <string>

namespace kiln::codegen::detail {

/// Builds a C expression from three index expressions.
using IndexFn = std::function<std::string(
    const std::string &, const std::string &, const std::string &)>;

/// out(b, i, j) = epilogue(b, i, j, sum_k a_at(b, i, k) * b_at(b, k, j)).
struct Contraction {
  std::string name;
  std::string elem = "float"; ///< "float" or "double"
  std::string params;         ///< the full C parameter list
  std::string helpers;        ///< static inline helpers the expressions call
  int64_t batch = 1, M = 1, N = 1, K = 1;
  IndexFn a_at;         ///< (b, m, k) -> element of A
  bool a_k_unit = true; ///< A is contiguous along k (packing loop order)
  IndexFn b_at;         ///< (b, k, n) -> element of B
  bool b_n_unit = true; ///< B is contiguous along n
  /// > 0 when B is contiguous along k with this stride along n (x @ W^T):
  /// pack_b then transposes vw x vw blocks in registers.
  int64_t b_n_stride = 0;
  /// When set, replaces the packing loop of B: statements that fill
  /// p[k * NR + n] for k < kc, n < nr from b_at(b_, pc + k, j0 + n).
  std::string b_pack_body;
  /// b -> pointer to the output row 0 of batch b, e.g. "C + b * 4096".
  std::function<std::string(const std::string &)> c_base;
  int64_t ldc = 1;     ///< row stride of the output
  EpilogueFn epilogue; ///< (b, i, j, acc), may be empty
  int vw = 16;
  GemmTiling t; ///< complete (no zeros)
};

/// Completes \p t for vector width \p vw and the shape (clamps the blocks to
/// the problem); throws kiln::Error on an invalid explicit tiling.
GemmTiling choose_tiling(GemmTiling t, int vw, int64_t M, int64_t N, int64_t K);

/// True when the unpacked path is cheaper than packing (tiny or M <= 4).
bool use_direct_path(const Contraction &c);

/// The C source of the packed, register-tiled kernel for \p c (f32).
std::string emit_packed(const Contraction &c);

/// The C source of the unpacked kernel (row-wise axpy or dot products):
/// small shapes, GEMV, and every f64 contraction.
std::string emit_direct(const Contraction &c);

/// Replaces each "@KEY@" in \p tmpl by its value.
std::string
fill(std::string tmpl,
     std::initializer_list<std::pair<const char *, std::string>> subs);

} // namespace kiln::codegen::detail
