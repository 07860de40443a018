/// \file
/// Generators of the CPU backend's contraction kernels as self-contained C
/// (no #includes, GCC/clang vector extensions, OpenMP): a cache-blocked,
/// packed, register-tiled GEMM (batched, strided operands read in place, a
/// fused epilogue applied to each output tile before it leaves the cache) and
/// a 2-D convolution lowered to the same machinery by implicit GEMM (the
/// im2col rows are gathered straight into the packed B panel).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace kiln::codegen {

/// Builds the C expression stored for one output element. Arguments are C
/// expressions for the indices and the accumulated sum, e.g. returns
/// "fmaxf(" + acc + " + bias[" + j + "], 0.0f)". For a GEMM the indices are
/// (b, i, j).
using EpilogueFn =
    std::function<std::string(const std::string &, const std::string &,
                              const std::string &, const std::string &)>;

/// The convolution form of EpilogueFn: indices (n, o, oh, ow), then acc.
using Conv2dEpilogueFn = std::function<std::string(
    const std::string &, const std::string &, const std::string &,
    const std::string &, const std::string &)>;

/// Element type of a contraction. F64 takes a simple (unpacked) path.
enum class GemmDType { F32, F64 };

/// Vector width (floats per register) of the host: 16 with AVX-512F, 8 with
/// AVX2+FMA, else 4. Read once from the CPU's feature flags.
int host_vector_width();

/// The micro-kernel and cache-block sizes a contraction is generated with.
/// Zeros mean "choose for vector_width and the host's caches".
struct GemmTiling {
  int mr = 0; ///< rows of the register tile
  int nr = 0; ///< columns of the register tile (a multiple of vector_width)
  int kc = 0; ///< depth of a packed panel (B micro-panel KC x NR stays in L1)
  int mc = 0; ///< rows of a packed A block (MC x KC stays in L2)
  int nc = 0; ///< columns of a packed B panel (KC x NC, shared by threads)
};

/// One batch level of a GemmSpec: its extent and the strides of A, B and
/// C along it in elements (0 for a broadcast operand; c_stride -1: C is
/// row-major over the levels, [levels..., M, c_row_stride]).
struct GemmBatch {
  int64_t extent = 1, a_stride = 0, b_stride = 0, c_stride = -1;
};

/// The C expression of the index along level \p level of the flat batch
/// index \p flat (row-major over \p extents, outermost first), e.g.
/// "((b_) / 4 % 8)".
std::string batch_level_index(const std::string &flat,
                              const std::vector<int64_t> &extents,
                              size_t level);

/// C[b][i][j] = epilogue(b, i, j, sum_k A(b,i,k) * B(b,k,j)) for every batch
/// b, with A(b,m,k) = A[b*a_batch_stride + m*a_row_stride + k*a_col_stride],
/// B(b,k,n) = B[b*b_batch_stride + k*b_row_stride + n*b_col_stride] (any
/// strides, 0 for a broadcast batch; a transposed operand is read in place by
/// the packing step) and C[b*c_batch_stride + i*c_row_stride + j].
struct GemmSpec {
  std::string name = "gemm"; ///< name of the generated C function
  GemmDType dtype = GemmDType::F32;
  int64_t batch = 1, M = 1, N = 1, K = 1;
  int64_t a_batch_stride = -1; ///< -1: M*K
  int64_t a_row_stride = -1;   ///< -1: K (row-major A)
  int64_t a_col_stride = 1;
  int64_t b_batch_stride = -1; ///< -1: K*N
  int64_t b_row_stride = -1;   ///< -1: N (row-major B)
  int64_t b_col_stride = 1;
  int64_t c_batch_stride = -1; ///< -1: M*c_row_stride
  int64_t c_row_stride = -1;   ///< -1: N
  /// Several batch levels, outermost first (e.g. [B, H] of attention over
  /// transposed views, whose strides do not merge into one); b then runs
  /// over the product of their extents, row-major. When set, batch and the
  /// *_batch_stride fields are ignored.
  std::vector<GemmBatch> batch_dims;
  int vector_width = 0; ///< 0: host_vector_width()
  GemmTiling tiling;    ///< zeros: chosen for the host
  /// Optional; empty stores the sum. The expression may use the parameters
  /// named in extra_params.
  EpilogueFn epilogue;
  /// Appended to the parameter list, e.g. "const float *restrict bias".
  std::string extra_params;
};

/// Returns the C source of
///   void <name>(const T *restrict A, const T *restrict B, T *restrict C
///               [, extra_params]);
/// specialized to the spec's shapes, strides and tiling. The source includes
/// no headers and declares what it calls (omp_*, aligned_alloc, free), so an
/// epilogue must use builtins (__builtin_fmaxf) or declare its own helpers.
/// Compile with -fopenmp, -O3 and the host's features (ClangJit does). The
/// function allocates its packing buffers per call: it is reentrant. Extra
/// parameters need descriptive names (bias, scale, residual): names of up
/// to three letters and names ending in '_' may collide with the kernel's
/// locals. Throws kiln::Error on a non-positive size or an invalid tiling.
std::string emit_gemm(const GemmSpec &s);

/// out[n][o][oh][ow] = epilogue(n, o, oh, ow, sum over c in o's group, kh, kw
///   of w[o][c][kh][kw] * x[n][g*C/groups + c][oh*stride-pad+kh*dil]
///   [ow*stride-pad+kw*dil]) with zero padding; x is NCHW, w OIHW
///   (O x C/groups x KH x KW), out NCHW with OH = (H + 2*pad - dil*(KH-1) - 1)
///   / stride + 1.
struct Conv2dSpec {
  std::string name = "conv2d";
  int64_t N = 1, C = 1, H = 1, W = 1; ///< input
  int64_t O = 1, KH = 1, KW = 1;      ///< weight (O x C/groups x KH x KW)
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dil_h = 1, dil_w = 1;
  int64_t groups = 1;
  int vector_width = 0;
  GemmTiling tiling;
  Conv2dEpilogueFn epilogue; ///< optional, indices (n, o, oh, ow)
  std::string extra_params;
};

/// Output height and width of \p s; throws kiln::Error when not positive.
void conv2d_output_size(const Conv2dSpec &s, int64_t &oh, int64_t &ow);

/// Returns the C source of
///   void <name>(const float *restrict x, const float *restrict w,
///               float *restrict out [, extra_params]);
/// computed by implicit GEMM per (n, group): M = O/groups, N = OH*OW,
/// K = C/groups*KH*KW, the B panel gathered from x with padding on the fly
/// (no im2col buffer). Throws kiln::Error on an invalid spec.
std::string emit_conv2d(const Conv2dSpec &s);

/// The input gradient of the forward convolution \p s (conv2d_transpose of
/// the output gradient with the same weight):
///   gx[n][c][h][w] = sum over o in c's group, kh, kw and the (oh, ow) with
///   h = oh*stride_h - pad_h + kh*dil_h (w likewise) of
///   gy[n][o][oh][ow] * w[o][c % (C/groups)][kh][kw].
/// Returns the C source of
///   void <name>(const float *restrict gy, const float *restrict w,
///               float *restrict gx);
/// gy is [N, O, OH, OW], w OIHW, gx [N, C, H, W]. Stride 1 runs as the
/// forward implicit GEMM of gy with the flipped, transposed weight; other
/// strides as a GEMM per image into a column buffer and a col2im gather.
/// \p s must have no epilogue; throws kiln::Error on an invalid spec.
std::string emit_conv2d_input_grad(const Conv2dSpec &s);

/// The weight gradient of the forward convolution \p s
/// (conv2d_weight_grad): gw[o][c][kh][kw] = sum over n, oh, ow of
/// gy[n][o][oh][ow] * x[n][g*C/groups + c][oh*stride_h - pad_h + kh*dil_h]
/// [ow*stride_w - pad_w + kw*dil_w]. Returns the C source of
///   void <name>(const float *restrict x, const float *restrict gy,
///               float *restrict gw);
/// one implicit GEMM per group (M = O/groups, N = C/groups*KH*KW, K =
/// N*OH*OW). \p s must have no epilogue; throws kiln::Error on an invalid
/// spec.
std::string emit_conv2d_weight_grad(const Conv2dSpec &s);

} // namespace kiln::codegen
