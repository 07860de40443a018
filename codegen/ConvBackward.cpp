/// \file
/// The two backward products of a convolution as fast contractions on the
/// GEMM machinery:
/// - the input gradient (conv2d_transpose): with stride 1 a forward
///   convolution of the output gradient with the flipped, transposed weight
///   (repacked once per call) and complementary padding, else a GEMM per
///   image into a column buffer (w^T x gy) and a col2im gather into gx;
/// - the weight gradient (conv2d_weight_grad): one implicit GEMM per group,
///   M = O/groups, N = C/groups*KH*KW, K = N*OH*OW over all images, the
///   im2col rows gathered run by run and transposed into the packed B panel
///   by vw x vw register transposes.
// SPDX-License-Identifier: Apache-2.0
#include "codegen/Gemm.h"

#include "codegen/GemmContraction.h"
#include "ir/Error.h"

namespace kiln::codegen {

using detail::Contraction;
using detail::fill;
using detail::fill_conv;

namespace {

std::string str(int64_t v) { return std::to_string(v) + "L"; }

/// Bytes for \p floats floats, rounded up to aligned_alloc's 64.
std::string alloc_bytes(int64_t floats) {
  return str((floats * 4 + 63) / 64 * 64);
}

/// Makes the exported function \p name of \p src file-local.
std::string make_static(std::string src, const std::string &name) {
  size_t at = src.find("\nvoid " + name + "(");
  if (at != std::string::npos)
    src.insert(at + 1, "static ");
  return src;
}

void check_no_epilogue(const Conv2dSpec &s, const char *what) {
  if (s.epilogue)
    throw Error(std::string(what) + ": an epilogue is not supported");
}

/// Stride 1 and padding within the dilated kernel: gx is the forward
/// convolution of gy with w flipped and transposed, padding dil*(K-1) - pad.
bool is_flipped_forward(const Conv2dSpec &s) {
  return s.stride_h == 1 && s.stride_w == 1 &&
         s.pad_h <= s.dil_h * (s.KH - 1) && s.pad_w <= s.dil_w * (s.KW - 1);
}

std::string input_grad_flipped(const Conv2dSpec &s, int64_t oh, int64_t ow) {
  Conv2dSpec f;
  f.name = s.name + "_f";
  f.N = s.N;
  f.C = s.O;
  f.H = oh;
  f.W = ow;
  f.O = s.C;
  f.KH = s.KH;
  f.KW = s.KW;
  f.pad_h = s.dil_h * (s.KH - 1) - s.pad_h;
  f.pad_w = s.dil_w * (s.KW - 1) - s.pad_w;
  f.dil_h = s.dil_h;
  f.dil_w = s.dil_w;
  f.groups = s.groups;
  f.vector_width = s.vector_width;
  f.tiling = s.tiling;
  const int64_t og = s.O / s.groups;
  return make_static(emit_conv2d(f), f.name) +
         fill_conv(
             s,
             R"(void @NAME@(const float *restrict gy, const float *restrict w,
    float *restrict gx) {
  /* wt[c][o][kh][kw] = w[o][c][KH-1-kh][KW-1-kw] within each group */
  float *wt = aligned_alloc(64, @BYTES@);
#pragma omp parallel for schedule(static) if (@WN@ > 65536L)
  for (long c = 0; c < @C@; ++c) {
    const float *restrict src = w + (c / @CG@ * @OG@ * @CG@ + c % @CG@) * @KHW@;
    float *restrict dst = wt + c * @OG@ * @KHW@;
    for (long o = 0; o < @OG@; ++o)
      for (long r = 0; r < @KHW@; ++r)
        dst[o * @KHW@ + r] = src[o * @CG@ * @KHW@ + @KHW@ - 1 - r];
  }
  @NAME@_f(gy, wt, gx);
  free(wt);
}
)",
             {{"BYTES", alloc_bytes(s.C * og * s.KH * s.KW)},
              {"WN", str(s.C * og * s.KH * s.KW)}});
}

/// Any stride: cols[c][kh][kw][n*P + oh*OW+ow] = sum over o of
/// w[o][c][kh][kw] * gy[n][o][oh][ow] (one GEMM per group, the images side
/// by side along N), then each gx plane gathers its columns ((image,
/// channel) planes in parallel, no races).
std::string input_grad_col2im(const Conv2dSpec &s, int64_t oh, int64_t ow) {
  const int64_t g = s.groups, og = s.O / g, cg = s.C / g, p = oh * ow,
                khw = s.KH * s.KW;
  Contraction c;
  c.name = s.name + "_c";
  c.params = "const float *restrict w, const float *restrict gy, "
             "float *restrict cols";
  c.batch = g;
  c.M = cg * khw;
  c.N = s.N * p;
  c.K = og;
  c.a_at = [=](const std::string &b, const std::string &m,
               const std::string &k) {
    return "w[((" + b + ") * " + str(og) + " + " + k + ") * " + str(cg * khw) +
           " + " + m + "]";
  };
  c.a_k_unit = false;
  c.b_at = [=](const std::string &b, const std::string &k,
               const std::string &j) {
    return "gy[(" + j + ") / " + str(p) + " * " + str(s.O * p) + " + ((" + b +
           ") * " + str(og) + " + " + k + ") * " + str(p) + " + (" + j +
           ") % " + str(p) + "]";
  };
  c.c_base = [=](const std::string &b) {
    return "cols + (" + b + ") * " + str(c.M * c.N);
  };
  c.ldc = c.N;
  c.vw = s.vector_width ? s.vector_width : host_vector_width();
  c.t = detail::choose_tiling(s.tiling, c.vw, c.M, c.N, c.K);
  return make_static(detail::emit_contraction(c), c.name) +
         fill_conv(
             s,
             R"(void @NAME@(const float *restrict gy, const float *restrict w,
    float *restrict gx) {
  float *cols = aligned_alloc(64, @BYTES@);
  @NAME@_c(w, gy, cols);
#pragma omp parallel for schedule(static)
  for (long t = 0; t < @NI@ * @C@; ++t) {
    long n = t / @C@, c = t % @C@;
    float *restrict plane = gx + t * @HW@;
    for (long i = 0; i < @HW@; ++i)
      plane[i] = 0.0f;
    for (long kh = 0; kh < @KH@; ++kh)
      for (long kw = 0; kw < @KW@; ++kw) {
        const float *restrict col =
            cols + (c * @KHW@ + kh * @KW@ + kw) * @NI@ * @P@ + n * @P@;
        const long a = @PW@ - kw * @DW@, b = @W@ - 1 + a;
        long lo = a <= 0 ? 0 : (a + @SW@ - 1) / @SW@;
        long hi = b < 0 ? -1 : b / @SW@;
        hi = hi < @OW@ - 1 ? hi : @OW@ - 1;
        for (long y = 0; y < @OH@; ++y) {
          long ih = y * @SH@ - @PH@ + kh * @DH@;
          if ((unsigned long)ih >= (unsigned long)@H@)
            continue;
          float *restrict pr = plane + ih * @W@;
          const float *restrict cr = col + y * @OW@;
          for (long x = lo; x <= hi; ++x)
            pr[x * @SW@ - a] += cr[x];
        }
      }
  }
  free(cols);
}
)",
             {{"BYTES", alloc_bytes(s.N * s.C * khw * p)}});
}

/// im2col^T element (k = image*P + position, j = (c, kh, kw)) of group b:
/// the B operand of the weight gradient, for the unpacked path.
std::string weight_grad_element(const Conv2dSpec &s) {
  return fill_conv(
      s, R"(static inline float @NAME@_x(const float *restrict x, long b,
    long k, long j) {
  long img = k / @P@, pos = k % @P@, oh = pos / @OW@, ow = pos % @OW@;
  long c = j / @KHW@, r = j % @KHW@, kh = r / @KW@, kw = r % @KW@;
  long ih = oh * @SH@ - @PH@ + kh * @DH@, iw = ow * @SW@ - @PW@ + kw * @DW@;
  if ((unsigned long)ih >= (unsigned long)@H@ ||
      (unsigned long)iw >= (unsigned long)@W@)
    return 0.0f;
  return x[((img * @C@ + b * @CG@ + c) * @H@ + ih) * @W@ + iw];
}
)",
      {});
}

/// The packing of B for the weight gradient: vw panel columns at a time,
/// each im2col row gathered along k into a scratch block, then the block
/// transposed into the panel.
std::string weight_grad_pack(const Conv2dSpec &s, const Contraction &c) {
  return fill_conv(
      s, R"(  float tmp_[@VW@ * @KC@] __attribute__((aligned(64)));
  for (long n0 = 0; n0 < nr; n0 += @VW@) {
    long nv = @NAME@_min(@VW@, nr - n0);
    for (long i = 0; i < nv; ++i) {
      long j = j0 + n0 + i, c = j / @KHW@, r = j % @KHW@;
      @NAME@_gather(x + (b_ * @CG@ + c) * @HW@, r / @KW@, r % @KW@, pc, kc,
          tmp_ + i * @KC@);
    }
    long kv = nv == @VW@ ? kc / @VW@ * @VW@ : 0;
    for (long k0 = 0; k0 < kv; k0 += @VW@)
      @NAME@_tr(tmp_ + k0, @KC@, p + k0 * @NR@ + n0, @NR@);
    for (long i = 0; i < nv; ++i)
      for (long k = kv; k < kc; ++k)
        p[k * @NR@ + n0 + i] = tmp_[i * @KC@ + k];
  }
)",
      {{"VW", str(c.vw)}, {"KC", str(c.t.kc)}, {"NR", str(c.t.nr)}});
}

} // namespace

std::string emit_conv2d_input_grad(const Conv2dSpec &s) {
  check_no_epilogue(s, "conv2d_input_grad");
  int64_t oh = 0, ow = 0;
  conv2d_output_size(s, oh, ow);
  if (is_flipped_forward(s))
    return input_grad_flipped(s, oh, ow);
  return input_grad_col2im(s, oh, ow);
}

std::string emit_conv2d_weight_grad(const Conv2dSpec &s) {
  check_no_epilogue(s, "conv2d_weight_grad");
  int64_t oh = 0, ow = 0;
  conv2d_output_size(s, oh, ow);
  const int64_t g = s.groups, og = s.O / g, cg = s.C / g, p = oh * ow;
  Contraction c;
  c.name = s.name;
  c.params = "const float *restrict x, const float *restrict gy, "
             "float *restrict out";
  c.batch = g;
  c.M = og;
  c.N = cg * s.KH * s.KW;
  c.K = s.N * p;
  c.a_at = [=](const std::string &b, const std::string &m,
               const std::string &k) {
    return "gy[(" + k + ") / " + str(p) + " * " + str(s.O * p) + " + ((" + b +
           ") * " + str(og) + " + " + m + ") * " + str(p) + " + (" + k +
           ") % " + str(p) + "]";
  };
  c.b_at = [=](const std::string &b, const std::string &k,
               const std::string &j) {
    return s.name + "_x(x, " + b + ", " + k + ", " + j + ")";
  };
  c.c_base = [=](const std::string &b) {
    return "out + (" + b + ") * " + str(og * c.N);
  };
  c.ldc = c.N;
  c.vw = s.vector_width ? s.vector_width : host_vector_width();
  c.t = detail::choose_tiling(s.tiling, c.vw, c.M, c.N, c.K);
  c.helpers = weight_grad_element(s);
  if (!detail::use_direct_path(c)) {
    c.helpers += detail::conv_gather_helper(s);
    c.b_pack_body = weight_grad_pack(s, c);
    c.b_pack_transposes = true;
  }
  return detail::emit_contraction(c);
}

} // namespace kiln::codegen
