/// \file
/// Private to codegen/: the CUDA contraction kernels — one shared-memory
/// tiled, register-blocked template that serves matmul (Gemm nodes, strided
/// operands read in place, batch on grid z) and convolution (Conv2d nodes
/// as implicit GEMM per group: the im2col element is gathered from x with
/// zero padding while the tile is loaded), with the fused epilogue applied
/// to each accumulator before the store.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "codegen/CExpr.h"
#include "codegen/CudaPrinter.h"

#include <string>

namespace kiln::codegen {

/// The block tile (bm x bn, depth bk) and each thread's register tile
/// (tm x tn); (bm/tm)*(bn/tn) threads per block.
struct CudaTile {
  int bm, bn, bk, tm, tn;
  int threads() const { return (bm / tm) * (bn / tn); }
};

/// 128x128x8 with 8x8 per thread for large products, else 64x64x16 with
/// 4x4 per thread (both 256 threads).
CudaTile choose_cuda_tile(int64_t m, int64_t n);

/// C(z, i, j) = store(sum_k A(z, i, k) * B(z, k, j)) for z < batch.
struct CudaContraction {
  std::string name;
  std::string type = "float"; ///< accumulator / tile element type
  int64_t batch = 1, m = 1, n = 1, k = 1;
  std::string params; ///< the kernel's parameter list
  /// Statements that set `v` to A(z, i, k) (kiln_i64 z, i, k in range).
  std::string load_a;
  /// Statements that set `v` to B(z, k, j).
  std::string load_b;
  /// Statements that store the accumulator `acc` at (z, i, j) in range.
  std::string store;
};

/// The `extern "C" __global__` kernel of \p c with tile \p t; its launch
/// is grid (ceil(n/bn), ceil(m/bm), batch), t.threads() threads.
std::string emit_cuda_contraction(const CudaContraction &c, const CudaTile &t);

/// The contraction of a Gemm node: name, sizes and loads/stores, printed
/// with \p ep (whose subst it sets for the epilogue).
CudaContraction cuda_gemm(const loop::Program &p, const loop::GemmDesc &g,
                          ExprPrinter &ep);
/// The contraction of a Conv2d node (M = O/groups, N = batch*OH*OW,
/// K = C/groups*KH*KW, one z per group).
CudaContraction cuda_conv2d(const loop::Program &p, const loop::Conv2dDesc &c,
                            ExprPrinter &ep);

} // namespace kiln::codegen
