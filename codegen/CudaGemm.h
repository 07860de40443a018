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

/// The largest of 128x128x8 (8x8 per thread), 128x64x16 / 64x128x16 (8x4 /
/// 4x8, the longer side along the larger of m, n) and 64x64x16 (4x4)
/// whose grid has at least 132 blocks (one per SM of an H100); 64x64x16
/// when none has. All have 256 threads.
CudaTile choose_cuda_tile(int64_t m, int64_t n, int64_t batch = 1);

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
  /// The dimension along which consecutive elements of A (B) are closest
  /// in memory: consecutive threads load along it (coalescing). A along K
  /// and B along N unless set.
  bool a_fast_k = true, b_fast_k = false;
  /// When set: statements that set `const float *vp` to A(z, i, k) such
  /// that vp[0..3] are A's next 4 elements along the fast dimension, vp is
  /// 16-byte aligned for every i, k whose fast index is a multiple of 4,
  /// and the fast extent (K or M) is a multiple of 4: the tile is loaded
  /// with float4 loads. For f16/bf16 operands (the tensor-core template
  /// only: cuda_half_to_float drops them) `const kiln_u16 *vp` and 8
  /// elements, 8 in place of 4 throughout.
  std::string vec_a;
  std::string vec_b; ///< the same for B(z, k, j)
  /// Statements that store the accumulator `acc` at (z, i, j) in range.
  std::string store;
};

/// The `extern "C" __global__` kernel of \p c with tile \p t; its launch
/// is grid (ceil(n/bn), ceil(m/bm), batch * split), t.threads() threads.
/// With \p split > 1 (split-K) blocks z*split + s sum slice s of K's
/// tiles and write their partial tile to the extra last parameter
/// `kiln_part` (split*batch*m*n elements of c.type) instead of storing;
/// emit_cuda_split_sum's kernel then stores.
std::string emit_cuda_contraction(const CudaContraction &c, const CudaTile &t,
                                  int split = 1);

/// Whether \p c's loads read the batch index z (NVRTC warns of an unused
/// variable unless it is initialized from a builtin alone).
bool contraction_uses_z(const CudaContraction &c);

/// How many slices split-K cuts K into for \p c with tile \p t: 1 unless
/// the grid has fewer blocks than two waves of a large GPU and each slice
/// keeps at least 8 tiles of K (docs/cuda.md "Split-K").
int choose_cuda_split(const CudaContraction &c, const CudaTile &t);

/// The kernel that sums the \p split partials of each output in slice
/// order (deterministic) and stores them with c.store: a grid-stride loop
/// over batch*m*n, parameters c.params then `kiln_part`.
std::string emit_cuda_split_sum(const CudaContraction &c, int split);

/// The contraction of a Gemm node: name, sizes and loads/stores, printed
/// with \p ep (whose subst it sets for the epilogue).
CudaContraction cuda_gemm(const loop::Program &p, const loop::GemmDesc &g,
                          ExprPrinter &ep);
/// The contraction of a Conv2d node (M = O/groups, N = batch*OH*OW,
/// K = C/groups*KH*KW, one z per group).
CudaContraction cuda_conv2d(const loop::Program &p, const loop::Conv2dDesc &c,
                            ExprPrinter &ep);

} // namespace kiln::codegen
