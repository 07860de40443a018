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
  /// > 0: A's rows are this far apart and contiguous along k (a_at(b, m + 1,
  /// k) is a_row_stride elements after a_at(b, m, k), a_at(b, m, k + 1) the
  /// next): full panels of at least vw rows are packed by register
  /// transposes.
  int64_t a_row_stride = 0;
  IndexFn b_at;         ///< (b, k, n) -> element of B
  bool b_n_unit = true; ///< B is contiguous along n
  /// > 0 when B is contiguous along k with this stride along n (x @ W^T):
  /// pack_b then transposes vw x vw blocks in registers.
  int64_t b_n_stride = 0;
  /// When set, replaces the packing loop of B: statements that fill
  /// p[k * NR + n] for k < kc, n < nr from b_at(b_, pc + k, j0 + n).
  std::string b_pack_body;
  /// b_pack_body calls `<name>_tr(src, lds, dst, ldd)`, the vw x vw
  /// register transpose: emit it.
  bool b_pack_transposes = false;
  /// b -> pointer to the output row 0 of batch b, e.g. "C + b * 4096".
  std::function<std::string(const std::string &)> c_base;
  /// j -> offset of output column j from a row's start; empty: j. The
  /// packed kernel calls it at the first column of a tile (the columns of
  /// one tile must be contiguous); the direct kernel ignores it (its rows
  /// must be contiguous).
  std::function<std::string(const std::string &)> c_col;
  int64_t ldc = 1;     ///< row stride of the output
  EpilogueFn epilogue; ///< (b, i, j, acc), may be empty
  /// Many small products (batch >= 8, M*N*K <= 2^23) may run whole per
  /// thread (the batch split over the threads, no barrier per product).
  bool split_batches = false;
  /// Optional, with epilogue: the packed kernel's statements applying the
  /// epilogue to output row i (a C expression) of a tile, whose nr columns
  /// from j0 are cr[0..nr) (locals b_, j0, nr and cr in scope). It replaces
  /// the loop over epilogue(b_, i, j0 + jj, acc): a convolution walks the
  /// tile by output rows so that each run's indices are affine in ow.
  std::function<std::string(const std::string &)> epilogue_row;
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

/// The packed or the direct kernel of \p c (its tiling chosen).
std::string emit_contraction(const Contraction &c);

/// The forward convolution \p s as a contraction per group, A the group's
/// weight rows, B the im2col matrix gathered while packing, its tiling
/// chosen. With \p merge the images lie side by side along N (A is packed
/// once for all of them, and small images fill the tiles) when a register
/// tile width divides OH*OW; otherwise one contraction per (image, group).
Contraction conv2d_contraction(const Conv2dSpec &s, bool merge = true);

/// The C helper `<name>_gather(xc, kh, kw, p0, len, q)` of \p s: writes
/// im2col row (kh, kw) of channel plane xc at the output positions p0 ..
/// p0+len (flattened over image, oh, ow) to q, run by run along output rows
/// (valid columns computed once per run, no per-element bounds test).
std::string conv_gather_helper(const Conv2dSpec &s);

/// fill(tmpl, more), then the geometry of \p s: NAME, NI (images), C, CG
/// (C/groups), H, W, HW, CHW, O, OG (O/groups), OP (O*OH*OW), G (groups),
/// KH, KW, KHW, SH, SW (strides), PH, PW (paddings), DH, DW (dilations), OH,
/// OW and P (OH*OW), as C long literals.
std::string fill_conv(
    const Conv2dSpec &s, std::string tmpl,
    std::initializer_list<std::pair<const char *, std::string>> more = {});

/// Replaces each "@KEY@" in \p tmpl by its value.
std::string
fill(std::string tmpl,
     std::initializer_list<std::pair<const char *, std::string>> subs);

} // namespace kiln::codegen::detail
