/// \file
/// emit_gemm: turns a GemmSpec (shapes, strides, epilogue) into a
/// Contraction and picks the tiling for the host; GemmKernel.cpp prints it.
// SPDX-License-Identifier: Apache-2.0
#include "codegen/Gemm.h"

#include "codegen/GemmContraction.h"
#include "ir/Error.h"

#include <algorithm>

namespace kiln::codegen {

using detail::Contraction;

int host_vector_width() {
#if defined(__x86_64__) || defined(__i386__)
  static const int width = [] {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
      return 16;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
      return 8;
    return 4;
  }();
  return width;
#else
  return 4;
#endif
}

namespace detail {

namespace {

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

} // namespace

GemmTiling choose_tiling(GemmTiling t, int vw, int64_t M, int64_t N,
                         int64_t K) {
  // Register tile: MR*NR/vw accumulators + NR/vw B vectors + 1 broadcast
  // fit the register file (32 zmm with AVX-512, 16 ymm with AVX2). With 16
  // lanes, 6 x 64 (24 + 4 + 1 zmm) when N is wide: its C tile is 6 rows of 4
  // lines, which power-of-two row strides map to 4 L1 sets of 6 lines (a 14
  // x 32 tile puts 14 lines in each of 2 sets, beyond the 12 ways, and
  // measured 5-8% slower); 14 x 32 for narrow N, where 64 columns waste.
  const bool wide = vw == 16 && N >= 128;
  if (t.mr == 0)
    t.mr = vw == 16 ? (wide ? 6 : 14) : 6;
  if (t.nr == 0)
    t.nr = wide ? 4 * vw : 2 * vw;
  // KC: each KC block re-reads and re-writes the C tile, so KC is large
  // (512 measured best at 2048^3 among 128..2048); the 6 x 64 kernel then
  // streams its B micro-panel from L2 and keeps A's (12 KiB) in L1. MC x KC
  // of A (144 x 512 floats, 288 KiB) stays in the 2 MiB L2; the KC x NC B
  // panel is shared by the threads through L3.
  if (t.kc == 0)
    t.kc = wide ? 512 : 256;
  if (t.mc == 0)
    t.mc = t.mr * 24;
  if (t.nc == 0)
    t.nc = 4096;
  if (t.mr <= 0 || t.nr <= 0 || t.nr % vw != 0 || t.kc <= 0 || t.mc <= 0 ||
      t.nc <= 0)
    throw Error("gemm: invalid tiling (mr " + std::to_string(t.mr) + ", nr " +
                std::to_string(t.nr) + ", kc " + std::to_string(t.kc) +
                "); nr must be a positive multiple of the vector width " +
                std::to_string(vw));
  t.mc = round_up(std::min<int64_t>(t.mc, round_up(M, t.mr)), t.mr);
  t.nc = round_up(std::min<int64_t>(t.nc, round_up(N, t.nr)), t.nr);
  t.kc = std::min<int64_t>(t.kc, K);
  return t;
}

} // namespace detail

namespace {

std::string mul(const std::string &idx, int64_t stride) {
  if (stride == 0)
    return "0";
  if (stride == 1)
    return "(" + idx + ")";
  return "(" + idx + ") * " + std::to_string(stride) + "L";
}

/// Fills the defaulted strides of \p s, makes batch_dims its batch levels
/// (the one level of batch and *_batch_stride when empty) and batch their
/// product, and checks the sizes.
GemmSpec normalized(GemmSpec s) {
  if (!s.batch_dims.empty()) {
    s.batch = 1;
    for (const GemmBatch &d : s.batch_dims)
      s.batch *= d.extent > 0 ? d.extent : 0;
  }
  if (s.batch <= 0 || s.M <= 0 || s.N <= 0 || s.K <= 0)
    throw Error("gemm: sizes must be positive (batch " +
                std::to_string(s.batch) + ", M " + std::to_string(s.M) +
                ", N " + std::to_string(s.N) + ", K " + std::to_string(s.K) +
                ")");
  if (s.a_row_stride < 0)
    s.a_row_stride = s.K;
  if (s.a_batch_stride < 0)
    s.a_batch_stride = s.M * s.K;
  if (s.b_row_stride < 0)
    s.b_row_stride = s.N;
  if (s.b_batch_stride < 0)
    s.b_batch_stride = s.K * s.N;
  if (s.c_row_stride < 0)
    s.c_row_stride = s.N;
  if (s.c_batch_stride < 0)
    s.c_batch_stride = s.M * s.c_row_stride;
  if (s.batch_dims.empty())
    s.batch_dims = {
        {s.batch, s.a_batch_stride, s.b_batch_stride, s.c_batch_stride}};
  int64_t c_inner = s.M * s.c_row_stride;
  for (size_t d = s.batch_dims.size(); d-- > 0;) {
    GemmBatch &l = s.batch_dims[d];
    if (l.c_stride < 0)
      l.c_stride = c_inner;
    c_inner *= l.extent;
  }
  if (s.vector_width == 0)
    s.vector_width = host_vector_width();
  return s;
}

/// The C expression of sum over the levels of (index along the level of
/// flat batch index \p b) * the stride \p stride_of gives.
template <typename Stride>
std::string batch_offset(const GemmSpec &s, const std::string &b,
                         Stride stride_of) {
  if (s.batch_dims.size() == 1)
    return mul(b, stride_of(s.batch_dims[0]));
  std::vector<int64_t> ext;
  for (const GemmBatch &d : s.batch_dims)
    ext.push_back(d.extent);
  std::string r;
  for (size_t d = 0; d < ext.size(); ++d) {
    int64_t st = stride_of(s.batch_dims[d]);
    if (st != 0)
      r += (r.empty() ? "" : " + ") + mul(batch_level_index(b, ext, d), st);
  }
  return r.empty() ? "0" : r;
}

} // namespace

std::string batch_level_index(const std::string &flat,
                              const std::vector<int64_t> &extents,
                              size_t level) {
  int64_t inner = 1;
  for (size_t d = level + 1; d < extents.size(); ++d)
    inner *= extents[d];
  std::string r = "(" + flat + ")";
  if (inner > 1)
    r = "(" + r + " / " + std::to_string(inner) + "L)";
  if (level > 0)
    r = "(" + r + " % " + std::to_string(extents[level]) + "L)";
  return r;
}

std::string emit_gemm(const GemmSpec &spec) {
  const GemmSpec s = normalized(spec);
  Contraction c;
  c.name = s.name;
  c.elem = s.dtype == GemmDType::F32 ? "float" : "double";
  c.params = "const " + c.elem + " *restrict A, const " + c.elem +
             " *restrict B, " + c.elem + " *restrict C";
  if (!s.extra_params.empty())
    c.params += ", " + s.extra_params;
  c.batch = s.batch;
  c.M = s.M;
  c.N = s.N;
  c.K = s.K;
  c.a_at = [s](const std::string &b, const std::string &m,
               const std::string &k) {
    return "A[" + batch_offset(s, b, [](auto &d) { return d.a_stride; }) +
           " + " + mul(m, s.a_row_stride) + " + " + mul(k, s.a_col_stride) +
           "]";
  };
  c.a_k_unit = s.a_col_stride == 1 || s.a_row_stride != 1;
  c.b_at = [s](const std::string &b, const std::string &k,
               const std::string &n) {
    return "B[" + batch_offset(s, b, [](auto &d) { return d.b_stride; }) +
           " + " + mul(k, s.b_row_stride) + " + " + mul(n, s.b_col_stride) +
           "]";
  };
  c.b_n_unit = s.b_col_stride == 1 || s.b_row_stride != 1;
  if (!c.b_n_unit && s.b_col_stride > 0)
    c.b_n_stride = s.b_col_stride;
  c.c_base = [s](const std::string &b) {
    return "C + " + batch_offset(s, b, [](auto &d) { return d.c_stride; });
  };
  c.ldc = s.c_row_stride;
  c.epilogue = s.epilogue;
  c.split_batches = true;
  c.vw = s.vector_width;
  GemmTiling t = s.tiling;
  if (c.vw == 16 && c.N == 64 && t.mr == 0 && t.nr == 0) {
    // One 6 x 64 tile spans N = 64 exactly (choose_tiling's narrow 14 x 32
    // is for N < 128 in general): on one core 1024x64x1024 took 1.75
    // instead of 2.40 ms, attention's products (32 of 128x64x128 and 32 of
    // 128x128x64) 1.32 instead of 1.63 ms.
    t.mr = 6;
    t.nr = 64;
    t.kc = t.kc ? t.kc : 512;
  }
  c.t = detail::choose_tiling(t, c.vw, c.M, c.N, c.K);
  if (detail::use_direct_path(c))
    return detail::emit_direct(c);
  return detail::emit_packed(c);
}

} // namespace kiln::codegen
