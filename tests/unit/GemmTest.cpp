/// \file
/// The generated contraction kernels (codegen/Gemm.h), compiled in process
/// by ClangJit and compared with plain loops in double: GEMM edges (sizes 1,
/// 3, 17, 64, 1023 against the tiles), several cache blocks, transposed and
/// broadcast operands, batches, epilogues, the GEMV/small and f64 paths, the
/// AVX2-width kernel, and conv2d with stride, padding, dilation and groups.
// SPDX-License-Identifier: Apache-2.0
#include "codegen/Gemm.h"
#include "codegen/ClangJit.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

using namespace kiln;
using namespace kiln::codegen;

namespace {

/// Compiles \p source in process (no cache) and keeps the module alive.
std::unique_ptr<JitModule> jit(const std::string &source,
                               const std::string &name) {
  CCompileOptions opts;
  opts.use_cache = false;
  opts.name = name;
  std::unique_ptr<JitModule> mod;
  Status st = jit_compile_c(source, opts, mod);
  INFO(st.message());
  REQUIRE(st.is_ok());
  return mod;
}

template <typename T> std::vector<T> random_vec(size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> dist(-1.0, 1.0);
  std::vector<T> v(n);
  for (auto &x : v)
    x = static_cast<T>(dist(gen));
  return v;
}

/// Elements of A and B a spec reads, with its strides (-1 = defaults).
int64_t extent(int64_t batch, int64_t bs, int64_t rows, int64_t rs,
               int64_t cols, int64_t cs) {
  return (batch - 1) * bs + (rows - 1) * rs + (cols - 1) * cs + 1;
}

/// The full strides of \p s (defaults filled in).
GemmSpec filled(GemmSpec s) {
  if (s.a_row_stride < 0)
    s.a_row_stride = s.K;
  if (s.a_batch_stride < 0)
    s.a_batch_stride = s.M * s.K;
  if (s.b_row_stride < 0)
    s.b_row_stride = s.N;
  if (s.b_batch_stride < 0)
    s.b_batch_stride = s.K * s.N;
  return s;
}

/// Runs the generated kernel of \p spec (extra parameter: a float bias of
/// N when \p bias_relu) and checks it against a double loop.
template <typename T> void check_gemm(GemmSpec spec, bool bias_relu = false) {
  if (bias_relu) {
    spec.extra_params = "const float *restrict bias";
    spec.epilogue = [](const std::string &, const std::string &,
                       const std::string &j, const std::string &acc) {
      return "__builtin_fmaxf(" + acc + " + bias[" + j + "], 0.0f)";
    };
  }
  const GemmSpec s = filled(spec);
  auto a = random_vec<T>(extent(s.batch, s.a_batch_stride, s.M, s.a_row_stride,
                                s.K, s.a_col_stride),
                         1);
  auto b = random_vec<T>(extent(s.batch, s.b_batch_stride, s.K, s.b_row_stride,
                                s.N, s.b_col_stride),
                         2);
  auto bias = random_vec<float>(s.N, 3);
  std::vector<T> c(s.batch * s.M * s.N, T(-7));
  auto mod = jit(emit_gemm(spec), spec.name);
  if (bias_relu) {
    using Fn = void(const T *, const T *, T *, const float *);
    mod->lookup_fn<Fn>(spec.name)(a.data(), b.data(), c.data(), bias.data());
  } else {
    using Fn = void(const T *, const T *, T *);
    mod->lookup_fn<Fn>(spec.name)(a.data(), b.data(), c.data());
  }
  int64_t bad = 0;
  for (int64_t bi = 0; bi < s.batch; ++bi)
    for (int64_t i = 0; i < s.M; ++i)
      for (int64_t j = 0; j < s.N; ++j) {
        double ref = 0, mag = 0;
        for (int64_t k = 0; k < s.K; ++k) {
          double x = a[bi * s.a_batch_stride + i * s.a_row_stride +
                       k * s.a_col_stride],
                 y = b[bi * s.b_batch_stride + k * s.b_row_stride +
                       j * s.b_col_stride];
          ref += x * y;
          mag += std::fabs(x * y);
        }
        if (bias_relu)
          ref = std::max(ref + bias[j], 0.0);
        double got = c[(bi * s.M + i) * s.N + j];
        if (!(std::fabs(got - ref) <= 1e-5 * (mag + 1))) {
          if (bad++ < 3)
            WARN("C[" << bi << "][" << i << "][" << j << "] = " << got
                      << ", expected " << ref);
        }
      }
  INFO(spec.name << " M " << s.M << " N " << s.N << " K " << s.K);
  CHECK(bad == 0);
}

GemmSpec gemm(int64_t m, int64_t n, int64_t k, const char *name = "g") {
  GemmSpec s;
  s.name = name;
  s.M = m;
  s.N = n;
  s.K = k;
  return s;
}

} // namespace

TEST_CASE("gemm: sizes off the tiles (1, 3, 17, 64, 1023)", "[gemm]") {
  for (auto [m, n, k] : {std::array<int64_t, 3>{1, 1, 1},
                         {3, 3, 3},
                         {17, 17, 17},
                         {64, 64, 64},
                         {17, 1023, 3},
                         {1023, 17, 64},
                         {64, 3, 1023},
                         {1, 1023, 64},
                         {3, 64, 1023},
                         {37, 64, 600}}) // the 6 x 64 tile, two KC blocks
    check_gemm<float>(gemm(m, n, k));
}

TEST_CASE("gemm: several KC, MC and NC blocks with partial tiles", "[gemm]") {
  GemmSpec s = gemm(67, 100, 45);
  s.tiling.kc = 16;
  s.tiling.mc = 28;
  s.tiling.nc = 64;
  check_gemm<float>(s);
  check_gemm<float>(s, /*bias_relu=*/true);
  s = gemm(33, 1100, 600); // small M: per-thread B micro-panels, 2 KC blocks
  s.batch = 2;
  check_gemm<float>(s, /*bias_relu=*/true);
}

TEST_CASE("gemm: transposed operands are read in place", "[gemm]") {
  GemmSpec s = gemm(37, 70, 41); // x @ W^T with W [N, K] row-major
  s.b_row_stride = 1;
  s.b_col_stride = s.K;
  check_gemm<float>(s);
  s.a_row_stride = 1; // A^T @ W^T with A stored [K, M]
  s.a_col_stride = s.M;
  check_gemm<float>(s);
  s.M = 1; // GEMV against a transposed weight
  s.a_row_stride = s.K;
  s.a_col_stride = 1;
  check_gemm<float>(s, /*bias_relu=*/true);
}

TEST_CASE("gemm: transposed B packed by register transposes", "[gemm]") {
  GemmSpec s = gemm(67, 300, 150); // k and n edges, several KC blocks
  s.batch = 2;
  s.b_row_stride = 1;
  s.b_col_stride = s.K + 3; // padded rows of W
  s.b_batch_stride = s.N * s.b_col_stride;
  s.tiling.kc = 48;
  check_gemm<float>(s, /*bias_relu=*/true);
  s.vector_width = 8;
  check_gemm<float>(s);
  s.vector_width = 4;
  check_gemm<float>(s);
  s = gemm(33, 1100, 600); // small M: per-thread B micro-panels
  s.b_row_stride = 1;
  s.b_col_stride = s.K;
  check_gemm<float>(s, /*bias_relu=*/true);
}

TEST_CASE("gemm: batches, broadcast batch and output row stride", "[gemm]") {
  GemmSpec s = gemm(33, 40, 20);
  s.batch = 3;
  check_gemm<float>(s);
  s.b_batch_stride = 0; // one B for every batch
  check_gemm<float>(s, /*bias_relu=*/true);
  s.a_batch_stride = 0;
  s.b_batch_stride = -1;
  check_gemm<float>(s);
}

TEST_CASE("gemm: bias + relu epilogue on the packed, GEMV and small paths",
          "[gemm]") {
  check_gemm<float>(gemm(64, 64, 64), true);
  check_gemm<float>(gemm(1, 1023, 17), true);
  check_gemm<float>(gemm(3, 5, 7), true);
}

TEST_CASE("gemm: f64 and the 8-lane (AVX2) kernel", "[gemm]") {
  GemmSpec s = gemm(19, 45, 33);
  s.dtype = GemmDType::F64;
  check_gemm<double>(s);
  s = gemm(29, 45, 33);
  s.vector_width = 8;
  check_gemm<float>(s, /*bias_relu=*/true);
}

TEST_CASE("gemm: invalid specs are rejected", "[gemm]") {
  CHECK_THROWS_AS(emit_gemm(gemm(0, 4, 4)), Error);
  GemmSpec s = gemm(8, 8, 8);
  s.tiling.nr = 20;
  s.vector_width = 16;
  CHECK_THROWS_AS(emit_gemm(s), Error);
  Conv2dSpec c;
  c.C = 3;
  c.groups = 2;
  CHECK_THROWS_AS(emit_conv2d(c), Error);
}

namespace {

/// Runs emit_conv2d(s) with a per-channel bias + residual + relu epilogue
/// (the residual read at every (n, o, oh, ow)) and checks it against a
/// direct double loop.
void check_conv(Conv2dSpec s) {
  int64_t oh = 0, ow = 0;
  conv2d_output_size(s, oh, ow);
  s.extra_params = "const float *restrict bias, const float *restrict residual";
  s.epilogue = [o_ = s.O, oh_ = oh,
                ow_ = ow](const std::string &n, const std::string &o,
                          const std::string &y, const std::string &z,
                          const std::string &acc) {
    std::string at = "((" + n + " * " + std::to_string(o_) + " + " + o +
                     ") * " + std::to_string(oh_) + " + " + y + ") * " +
                     std::to_string(ow_) + " + " + z;
    return "__builtin_fmaxf(" + acc + " + bias[" + o + "] + residual[" + at +
           "], 0.0f)";
  };
  const int64_t cg = s.C / s.groups, og = s.O / s.groups;
  auto x = random_vec<float>(s.N * s.C * s.H * s.W, 4);
  auto w = random_vec<float>(s.O * cg * s.KH * s.KW, 5);
  auto bias = random_vec<float>(s.O, 6);
  auto residual = random_vec<float>(s.N * s.O * oh * ow, 7);
  std::vector<float> out(s.N * s.O * oh * ow, -7.f);
  auto mod = jit(emit_conv2d(s), s.name);
  using Fn =
      void(const float *, const float *, float *, const float *, const float *);
  mod->lookup_fn<Fn>(s.name)(x.data(), w.data(), out.data(), bias.data(),
                             residual.data());
  int64_t bad = 0;
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t o = 0; o < s.O; ++o)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t z = 0; z < ow; ++z) {
          double ref = 0;
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t kh = 0; kh < s.KH; ++kh)
              for (int64_t kw = 0; kw < s.KW; ++kw) {
                int64_t ih = y * s.stride_h - s.pad_h + kh * s.dil_h;
                int64_t iw = z * s.stride_w - s.pad_w + kw * s.dil_w;
                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W)
                  continue;
                int64_t ci = o / og * cg + c;
                ref += double(x[((n * s.C + ci) * s.H + ih) * s.W + iw]) *
                       w[((o * cg + c) * s.KH + kh) * s.KW + kw];
              }
          const int64_t at = ((n * s.O + o) * oh + y) * ow + z;
          ref = std::max(ref + bias[o] + residual[size_t(at)], 0.0);
          double got = out[size_t(at)];
          if (!(std::fabs(got - ref) <= 1e-4 * (std::fabs(ref) + 1)) &&
              bad++ < 3)
            WARN("out[" << n << "][" << o << "][" << y << "][" << z
                        << "] = " << got << ", expected " << ref);
        }
  CHECK(bad == 0);
}

Conv2dSpec conv(int64_t n, int64_t c, int64_t hw, int64_t o, int64_t k) {
  Conv2dSpec s;
  s.N = n;
  s.C = c;
  s.H = s.W = hw;
  s.O = o;
  s.KH = s.KW = k;
  return s;
}

} // namespace

TEST_CASE("conv2d: implicit GEMM vs a direct loop", "[gemm][conv]") {
  Conv2dSpec s = conv(2, 3, 9, 20, 3); // stride 2, padding 1
  s.stride_h = s.stride_w = 2;
  s.pad_h = s.pad_w = 1;
  check_conv(s);
  s = conv(1, 4, 11, 18, 3); // dilation 2, asymmetric stride and padding
  s.dil_h = s.dil_w = 2;
  s.stride_w = 2;
  s.pad_h = 2;
  check_conv(s);
  s = conv(2, 6, 7, 30, 3); // groups 2
  s.groups = 2;
  s.pad_h = s.pad_w = 1;
  check_conv(s);
  s = conv(2, 8, 6, 24, 1); // pointwise: B read in place, no gather
  check_conv(s);
  s = conv(3, 4, 8, 2, 4); // O = 2: the unpacked path
  s.stride_h = s.stride_w = 2;
  s.pad_h = s.pad_w = 1;
  check_conv(s);
}

TEST_CASE("conv2d: images side by side along N", "[gemm][conv]") {
  // OH*OW = 16, 32, 64: tiles of 16, 32 and 64 columns never straddle two
  // images; the bias + relu epilogue sees each column's image.
  Conv2dSpec s = conv(3, 16, 4, 40, 3);
  s.pad_h = s.pad_w = 1;
  s.groups = 2;
  check_conv(s);
  s = conv(2, 12, 8, 30, 3);
  s.W = 4;
  s.pad_h = s.pad_w = 1;
  check_conv(s);
  s = conv(3, 24, 8, 20, 1); // pointwise
  check_conv(s);
  s = conv(2, 8, 8, 20, 3); // 8 lanes
  s.pad_h = s.pad_w = 1;
  s.vector_width = 8;
  check_conv(s);
}

TEST_CASE("conv2d: whole input rows packed by shifted vectors",
          "[gemm][conv]") {
  // Stride 1 along w, OW == W: the im2col rows are shifted windows of the
  // input row's vectors (16, 8 or 4 lanes as W allows), padding rows zero.
  for (int64_t hw : {32, 16, 8, 4}) {
    Conv2dSpec s = conv(2, 5, hw, 13, 3);
    s.pad_h = s.pad_w = 1;
    INFO("3x3 at " << hw);
    check_conv(s);
  }
  Conv2dSpec s = conv(2, 3, 16, 14, 5); // 5x5 padding 2
  s.pad_h = s.pad_w = 2;
  check_conv(s);
  s = conv(2, 4, 16, 12, 3); // dilation 2, stride 2 along h only
  s.dil_h = s.dil_w = 2;
  s.pad_h = s.pad_w = 2;
  s.stride_h = 2;
  check_conv(s);
  s = conv(1, 6, 32, 20, 3); // one image: tiles within the image
  s.pad_h = s.pad_w = 1;
  check_conv(s);
  s = conv(2, 160, 8, 24, 3); // C*9 = 1440: three KC blocks of 54 channels
  s.pad_h = s.pad_w = 1;
  check_conv(s);
  s = conv(2, 8, 12, 20, 3); // W = 12: 16-column tiles straddle rows
  s.pad_h = s.pad_w = 1;
  check_conv(s);
  s = conv(2, 6, 16, 20, 3); // 8 lanes
  s.pad_h = s.pad_w = 1;
  s.groups = 2;
  s.vector_width = 8;
  check_conv(s);
  // Stride 2 with W == 2*OW: even and odd input lanes split by shuffles.
  for (int64_t hw : {32, 16, 8}) {
    s = conv(2, 5, hw, 13, 3);
    s.pad_h = s.pad_w = 1;
    s.stride_h = s.stride_w = 2;
    INFO("3x3 stride 2 at " << hw);
    check_conv(s);
  }
  s = conv(2, 6, 32, 20, 1); // the 1x1 stride-2 shortcut
  s.stride_h = s.stride_w = 2;
  check_conv(s);
  s = conv(2, 4, 16, 12, 3); // stride 2, dilation 2: even lanes only
  s.stride_h = s.stride_w = 2;
  s.dil_h = s.dil_w = 2;
  s.pad_h = s.pad_w = 2;
  check_conv(s);
  // Panels of at least VW weight rows are packed by register transposes
  // (24 rows: blocks [0, 16) and [8, 24)), the k tail (K = 180) by elements.
  s = conv(2, 20, 4, 50, 3);
  s.pad_h = s.pad_w = 1;
  check_conv(s);
  s = conv(2, 7, 4, 30, 3); // 8 lanes, 12-row panels: blocks [0, 8), [4, 12)
  s.W = 2;
  s.pad_h = s.pad_w = 1;
  s.vector_width = 8;
  check_conv(s);
  s = conv(2, 6, 32, 20, 3); // stride 2, 8 lanes
  s.stride_h = s.stride_w = 2;
  s.pad_h = s.pad_w = 1;
  s.vector_width = 8;
  check_conv(s);
}

namespace {

/// The input and weight gradients of the forward convolution \p s for an
/// output gradient gy, by a direct double loop: gx[n][c][h][w] and
/// gw[o][c][kh][kw] accumulate gy[n][o][oh][ow] times the weight or input
/// element that conv2d multiplied at that position.
void conv_grads_reference(const Conv2dSpec &s, const std::vector<float> &x,
                          const std::vector<float> &w,
                          const std::vector<float> &gy, std::vector<double> &gx,
                          std::vector<double> &gw) {
  int64_t oh = 0, ow = 0;
  conv2d_output_size(s, oh, ow);
  const int64_t cg = s.C / s.groups, og = s.O / s.groups;
  gx.assign(x.size(), 0.0);
  gw.assign(w.size(), 0.0);
  for (int64_t n = 0; n < s.N; ++n)
    for (int64_t o = 0; o < s.O; ++o)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t z = 0; z < ow; ++z) {
          double g = gy[((n * s.O + o) * oh + y) * ow + z];
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t kh = 0; kh < s.KH; ++kh)
              for (int64_t kw = 0; kw < s.KW; ++kw) {
                int64_t ih = y * s.stride_h - s.pad_h + kh * s.dil_h;
                int64_t iw = z * s.stride_w - s.pad_w + kw * s.dil_w;
                if (ih < 0 || ih >= s.H || iw < 0 || iw >= s.W)
                  continue;
                int64_t xi =
                    ((n * s.C + o / og * cg + c) * s.H + ih) * s.W + iw;
                int64_t wi = ((o * cg + c) * s.KH + kh) * s.KW + kw;
                gx[size_t(xi)] += g * w[size_t(wi)];
                gw[size_t(wi)] += g * x[size_t(xi)];
              }
        }
}

/// Elements of \p got farther than 1e-4 (relative to the largest
/// reference element) from \p want; warns about the first three.
int64_t mismatches(const std::vector<float> &got,
                   const std::vector<double> &want, const char *what) {
  double scale = 1;
  for (double v : want)
    scale = std::max(scale, std::fabs(v));
  int64_t bad = 0;
  for (size_t i = 0; i < want.size(); ++i)
    if (!(std::fabs(got[i] - want[i]) <= 1e-4 * scale) && bad++ < 3)
      WARN(what << "[" << i << "] = " << got[i] << ", expected " << want[i]);
  return bad;
}

/// Runs emit_conv2d_input_grad and emit_conv2d_weight_grad for \p s and
/// checks both against conv_grads_reference.
void check_conv_grads(Conv2dSpec s) {
  int64_t oh = 0, ow = 0;
  conv2d_output_size(s, oh, ow);
  const int64_t cg = s.C / s.groups;
  auto x = random_vec<float>(s.N * s.C * s.H * s.W, 7);
  auto w = random_vec<float>(s.O * cg * s.KH * s.KW, 8);
  auto gy = random_vec<float>(s.N * s.O * oh * ow, 9);
  std::vector<double> want_gx, want_gw;
  conv_grads_reference(s, x, w, gy, want_gx, want_gw);
  using Fn = void(const float *, const float *, float *);
  std::vector<float> gx(x.size(), -7.f), gw(w.size(), -7.f);
  s.name = "cgx";
  auto mx = jit(emit_conv2d_input_grad(s), s.name);
  mx->lookup_fn<Fn>(s.name)(gy.data(), w.data(), gx.data());
  s.name = "cgw";
  auto mw = jit(emit_conv2d_weight_grad(s), s.name);
  mw->lookup_fn<Fn>(s.name)(x.data(), gy.data(), gw.data());
  INFO("N " << s.N << " C " << s.C << " H " << s.H << " W " << s.W << " O "
            << s.O << " K " << s.KH << "x" << s.KW << " stride " << s.stride_h
            << "x" << s.stride_w << " pad " << s.pad_h << "x" << s.pad_w
            << " dil " << s.dil_h << " groups " << s.groups);
  CHECK(mismatches(gx, want_gx, "gx") == 0);
  CHECK(mismatches(gw, want_gw, "gw") == 0);
}

} // namespace

TEST_CASE("conv2d backward: input and weight gradients vs a direct loop",
          "[gemm][conv]") {
  Conv2dSpec s = conv(2, 16, 9, 24, 3); // 3x3 padding 1: flipped forward
  s.pad_h = s.pad_w = 1;
  check_conv_grads(s);
  s.stride_h = s.stride_w = 2; // stride 2: GEMM + col2im
  check_conv_grads(s);
  s = conv(3, 10, 11, 20, 3); // odd sizes, dilation 2, asymmetric stride
  s.W = 13;
  s.dil_h = s.dil_w = 2;
  s.stride_w = 2;
  s.pad_h = 2;
  check_conv_grads(s);
  s = conv(2, 12, 7, 30, 3); // groups 3
  s.groups = 3;
  s.pad_h = s.pad_w = 1;
  check_conv_grads(s);
  s = conv(3, 16, 8, 24, 3); // flipped forward with images along N
  s.pad_h = s.pad_w = 1;
  check_conv_grads(s);
  s = conv(3, 16, 12, 20, 3); // KC blocks of 40 across rows and images
  s.pad_h = s.pad_w = 1;
  s.tiling.kc = 40;
  check_conv_grads(s);
  s = conv(2, 40, 6, 24, 1); // 1x1 stride 1: weight gradient K = N*H*W
  check_conv_grads(s);
  s = conv(2, 20, 8, 36, 1); // 1x1 stride 2 (a ResNet shortcut)
  s.stride_h = s.stride_w = 2;
  check_conv_grads(s);
  s = conv(1, 6, 5, 18, 1); // 1x1 with padding 1: beyond the kernel
  s.pad_h = s.pad_w = 1;
  check_conv_grads(s);
  s = conv(2, 8, 9, 3, 4); // O = 3: the unpacked weight-gradient path
  s.stride_h = s.stride_w = 2;
  s.pad_h = s.pad_w = 1;
  check_conv_grads(s);
  s = conv(2, 16, 10, 20, 3); // the 8-lane (AVX2) kernels
  s.pad_h = s.pad_w = 1;
  s.vector_width = 8;
  check_conv_grads(s);
  s.stride_h = s.stride_w = 2;
  check_conv_grads(s);
}

TEST_CASE("conv2d backward: an epilogue is rejected", "[gemm][conv]") {
  Conv2dSpec s = conv(1, 4, 5, 4, 3);
  s.epilogue = [](const std::string &, const std::string &, const std::string &,
                  const std::string &, const std::string &acc) { return acc; };
  CHECK_THROWS_AS(emit_conv2d_input_grad(s), Error);
  CHECK_THROWS_AS(emit_conv2d_weight_grad(s), Error);
}
