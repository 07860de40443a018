/// \file
/// emit_conv2d: a grouped, strided, padded, dilated NCHW x OIHW convolution
/// as an implicit GEMM per (image, group): A is the group's weight rows
/// (O/groups x C/groups*KH*KW, read in place), B the im2col matrix, never
/// materialized: the packing step gathers it from x with zero padding.
// SPDX-License-Identifier: Apache-2.0
#include "codegen/Gemm.h"

#include "codegen/GemmContraction.h"
#include "ir/Error.h"

#include <sstream>
#include <tuple>
#include <utility>

namespace kiln::codegen {

using detail::Contraction;
using detail::fill;
using detail::fill_conv;

void conv2d_output_size(const Conv2dSpec &s, int64_t &oh, int64_t &ow) {
  if (s.N <= 0 || s.C <= 0 || s.H <= 0 || s.W <= 0 || s.O <= 0 || s.KH <= 0 ||
      s.KW <= 0 || s.stride_h <= 0 || s.stride_w <= 0 || s.dil_h <= 0 ||
      s.dil_w <= 0 || s.pad_h < 0 || s.pad_w < 0 || s.groups <= 0)
    throw Error("conv2d: sizes, strides and dilations must be positive and "
                "paddings non-negative");
  if (s.C % s.groups != 0 || s.O % s.groups != 0)
    throw Error("conv2d: groups (" + std::to_string(s.groups) +
                ") must divide input channels (" + std::to_string(s.C) +
                ") and output channels (" + std::to_string(s.O) + ")");
  oh = (s.H + 2 * s.pad_h - s.dil_h * (s.KH - 1) - 1) / s.stride_h + 1;
  ow = (s.W + 2 * s.pad_w - s.dil_w * (s.KW - 1) - 1) / s.stride_w + 1;
  if (oh <= 0 || ow <= 0)
    throw Error("conv2d: the kernel (" + std::to_string(s.KH) + "x" +
                std::to_string(s.KW) +
                " dilated) is larger than the padded input");
}

namespace {

std::string str(int64_t v) { return std::to_string(v) + "L"; }

bool is_pointwise(const Conv2dSpec &s) {
  return s.KH == 1 && s.KW == 1 && s.stride_h == 1 && s.stride_w == 1 &&
         s.pad_h == 0 && s.pad_w == 0;
}

/// The gather of im2col element (k, p) of batch b = n*groups + g.
std::string gather_helper(const Conv2dSpec &s) {
  return fill_conv(
      s, R"(static inline float @NAME@_x(const float *restrict x, long b,
    long k, long p) {
  long n = b / @G@, g = b % @G@;
  long c = k / @KHW@, r = k % @KHW@, kh = r / @KW@, kw = r % @KW@;
  long ih = p / @OW@ * @SH@ - @PH@ + kh * @DH@;
  long iw = p % @OW@ * @SW@ - @PW@ + kw * @DW@;
  if ((unsigned long)ih >= (unsigned long)@H@ ||
      (unsigned long)iw >= (unsigned long)@W@)
    return 0.0f;
  return x[((n * @C@ + g * @CG@ + c) * @H@ + ih) * @W@ + iw];
}
)",
      {});
}

/// The packing loop of the im2col panel: per k (channel, kh, kw), one
/// gather of the panel's nr output positions.
std::string gather_pack(const Conv2dSpec &s) {
  return fill_conv(s, R"(  long n_ = b_ / @G@, g_ = b_ % @G@;
  const float *restrict xg = x + (n_ * @C@ + g_ * @CG@) * @HW@;
  for (long k = 0; k < kc; ++k) {
    long kk = pc + k, c = kk / @KHW@, r = kk % @KHW@;
    @NAME@_gather(xg + c * @HW@, r / @KW@, r % @KW@, j0, nr, p + k * @NR@);
  }
)",
                   {});
}

/// The offset of kw's window within the phase-(phase) lanes of an input
/// row: input column stride*ow + kw*dil_w - pad_w is lane ow + shift of the
/// columns phase, phase + stride, ... (phase in [0, stride)).
void window_of(const Conv2dSpec &s, int64_t kw, int64_t &phase,
               int64_t &shift) {
  const int64_t d = kw * s.dil_w - s.pad_w, st = s.stride_w;
  phase = (d % st + st) % st;
  shift = (d - phase) / st;
}

/// The vector width of the row-wise im2col packing of \p s: the widest power
/// of two up to \p vw that divides OW, when whole input rows can be loaded
/// as vectors and each im2col row is a window of them (stride_w 1 with OW ==
/// W, or stride_w 2 with W == 2*OW, every window within a vector of its
/// output position), else 0.
int64_t row_vector(const Conv2dSpec &s, int vw) {
  int64_t oh = 0, ow = 0;
  conv2d_output_size(s, oh, ow);
  if ((s.stride_w != 1 && s.stride_w != 2) || s.W != s.stride_w * ow)
    return 0;
  int64_t u = vw;
  while (u >= 4 && ow % u != 0)
    u /= 2;
  if (u < 4)
    return 0;
  for (int64_t kw = 0; kw < s.KW; ++kw) {
    int64_t phase = 0, shift = 0;
    window_of(s, kw, phase, shift);
    if (shift <= -u || shift >= u)
      return 0;
  }
  return u;
}

/// The vector of im2col row (kh, kw) covering output columns m*u .. m*u+u-1
/// of an output row, from the vectors P0.. (prefix P) of the input row's
/// lanes of kw's phase: a window at offset \p d, zeros beyond the row.
std::string row_window(int64_t m, int64_t d, int64_t u, int64_t nv,
                       const std::string &prefix) {
  auto x = [&](int64_t i) {
    return i < 0 || i >= nv ? std::string("Z") : prefix + std::to_string(i);
  };
  if (d == 0)
    return x(m);
  const int64_t lo = d > 0 ? m : m - 1, first = d > 0 ? d : u + d;
  std::string r = "__builtin_shufflevector(" + x(lo) + ", " + x(lo + 1);
  for (int64_t i = 0; i < u; ++i)
    r += ", " + std::to_string(first + i);
  return r + ")";
}

/// The packing loop of the im2col panel when each tile is whole output rows
/// of one image (row_vector(s) = u > 0, NR a multiple of OW dividing OH*OW,
/// KC and so every block start a multiple of KW): per (channel, kh) and
/// output row, the input row is loaded once as W/u vectors X0.. (with
/// stride 2 split into its even and odd lanes E0.., O0.. by two-source
/// shuffles) and each kw's im2col row stored as shifted windows of them, a
/// row in the padding as zeros. No per-element index arithmetic, no calls.
std::string row_pack(const Conv2dSpec &s, int64_t u, int64_t nr) {
  int64_t oh = 0, ow = 0;
  conv2d_output_size(s, oh, ow);
  const int64_t nv = ow / u, st = s.stride_w;
  std::ostringstream loads, stores, zeros;
  loads << "        const @NAME@_rv Z = {0}";
  for (int64_t m = 0; m < st * nv; ++m)
    loads << ", X" << m << " = *(const @NAME@_ru *)(xr + " << m * u << ")";
  for (int64_t m = 0; st == 2 && m < nv; ++m)
    for (int64_t phase = 0; phase < 2; ++phase) {
      loads << ", " << (phase ? "O" : "E") << m
            << " = __builtin_shufflevector(X" << 2 * m << ", X" << 2 * m + 1;
      for (int64_t i = 0; i < u; ++i)
        loads << ", " << 2 * i + phase;
      loads << ")";
    }
  loads << ";\n";
  for (int64_t kw = 0; kw < s.KW; ++kw)
    for (int64_t m = 0; m < nv; ++m) {
      int64_t phase = 0, shift = 0;
      window_of(s, kw, phase, shift);
      std::string at = "(q + " + std::to_string(kw * nr + m * u) + ")";
      stores << "        *(@NAME@_ru *)" << at << " = "
             << row_window(m, shift, u, nv,
                           st == 1 ? "X"
                           : phase ? "O"
                                   : "E")
             << ";\n";
      zeros << "        *(@NAME@_ru *)" << at << " = Z;\n";
    }
  return fill_conv(
      s,
      R"(  long img_ = b_ / @G@ + j0 / @P@, g_ = b_ % @G@, oh0_ = j0 % @P@ / @OW@;
  const float *restrict xg = x + (img_ * @C@ + g_ * @CG@) * @HW@;
  for (long k = 0; k < kc; k += @KW@) {
    long kk = pc + k, kh = kk % @KHW@ / @KW@;
    const float *restrict xc = xg + kk / @KHW@ * @HW@;
    for (long r = 0; r < @R@; ++r) {
      long ih = (oh0_ + r) * @SH@ - @PH@ + kh * @DH@;
      float *restrict q = p + k * @NRL@ + r * @OW@;
      if ((unsigned long)ih >= (unsigned long)@H@) {
        const @NAME@_rv Z = {0};
@ZEROS@      } else {
        const float *restrict xr = xc + ih * @W@;
@LOADS@@STORES@      }
    }
  }
)",
      {{"LOADS", loads.str()},
       {"STORES", stores.str()},
       {"ZEROS", zeros.str()},
       {"R", str(nr / ow)},
       {"NRL", str(nr)}});
}

/// The vector types row_pack uses.
std::string row_types(const Conv2dSpec &s, int64_t u) {
  return fill_conv(
      s, R"(typedef float @NAME@_rv __attribute__((vector_size(@UB@)));
typedef float @NAME@_ru __attribute__((vector_size(@UB@), aligned(4)));
)",
      {{"UB", std::to_string(4 * u)}});
}

/// The epilogue of one tile row, run by run along output rows: n, o and oh
/// are fixed within a run and ow counts up, so the epilogue's loads (a
/// residual, say) are contiguous and vectorize.
std::string epilogue_row(const Conv2dSpec &s, const std::string &o,
                         int64_t whole_rows) {
  const std::string expr = s.epilogue("n_", o, "oh_", "ow_", "acc");
  // Tiles of whole rows (every tile full, within one image): constant trip
  // counts, so LLVM hoists the per-channel part of the epilogue (BN's
  // rsqrt, say) out of the loops; it does not out of a loop that may run
  // zero times.
  if (whole_rows > 0)
    return fill_conv(
        s,
        R"(                const long n_ = b_ / @G@ + j0 / @P@, oh0_ = j0 % @P@ / @OW@;
                for (long r_ = 0; r_ < @R@; ++r_) {
                  const long oh_ = oh0_ + r_;
                  float *restrict cq_ = cr + r_ * @OW@;
#pragma omp simd
                  for (long ow_ = 0; ow_ < @OW@; ++ow_) {
                    float acc = cq_[ow_];
                    cq_[ow_] = @EXPR@;
                  }
                }
)",
        {{"EXPR", expr}, {"R", str(whole_rows)}});
  return fill_conv(
      s,
      R"(                long t_ = 0, n_ = b_ / @G@ + j0 / @P@, q_ = j0 % @P@;
                long oh_ = q_ / @OW@, w0_ = q_ % @OW@;
                while (t_ < nr) {
                  long run_ = @OW@ - w0_ < nr - t_ ? @OW@ - w0_ : nr - t_;
                  float *restrict cq_ = cr + t_;
#pragma omp simd
                  for (long u_ = 0; u_ < run_; ++u_) {
                    long ow_ = w0_ + u_;
                    float acc = cq_[u_];
                    cq_[u_] = @EXPR@;
                  }
                  t_ += run_;
                  w0_ = 0;
                  if (++oh_ == @OH@) {
                    oh_ = 0;
                    ++n_;
                  }
                }
)",
      {{"EXPR", expr}});
}

} // namespace

namespace detail {

std::string
fill_conv(const Conv2dSpec &s, std::string tmpl,
          std::initializer_list<std::pair<const char *, std::string>> more) {
  int64_t oh = 0, ow = 0;
  conv2d_output_size(s, oh, ow);
  const int64_t g = s.groups, p = oh * ow;
  return fill(fill(std::move(tmpl), more),
              {{"NAME", s.name},          {"NI", str(s.N)},
               {"C", str(s.C)},           {"CG", str(s.C / g)},
               {"H", str(s.H)},           {"W", str(s.W)},
               {"HW", str(s.H * s.W)},    {"CHW", str(s.C * s.H * s.W)},
               {"O", str(s.O)},           {"OG", str(s.O / g)},
               {"OP", str(s.O * p)},      {"G", str(g)},
               {"KH", str(s.KH)},         {"KW", str(s.KW)},
               {"KHW", str(s.KH * s.KW)}, {"SH", str(s.stride_h)},
               {"SW", str(s.stride_w)},   {"PH", str(s.pad_h)},
               {"PW", str(s.pad_w)},      {"DH", str(s.dil_h)},
               {"DW", str(s.dil_w)},      {"OH", str(oh)},
               {"OW", str(ow)},           {"P", str(p)}});
}

std::string conv_gather_helper(const Conv2dSpec &s) {
  return fill_conv(
      s, R"(/* q[0..len) = im2col row (kh, kw) of the channel plane xc at the
   output positions p0.. (flattened over image, oh, ow; images @CHW@ floats
   apart), zero where the window is in the padding. */
static void @NAME@_gather(const float *restrict xc, long kh, long kw, long p0,
    long len, float *restrict q) {
  long img = p0 / @P@, pos = p0 % @P@, oh = pos / @OW@, ow = pos % @OW@;
  const long a = @PW@ - kw * @DW@, b = @W@ - 1 + a;
  const long lo = a <= 0 ? 0 : (a + @SW@ - 1) / @SW@, hi = b < 0 ? -1 : b / @SW@;
  for (long t = 0; t < len;) {
    long run = @OW@ - ow < len - t ? @OW@ - ow : len - t;
    long ih = oh * @SH@ - @PH@ + kh * @DH@;
    float *restrict r = q + t;
    if ((unsigned long)ih >= (unsigned long)@H@) {
      for (long i = 0; i < run; ++i)
        r[i] = 0.0f;
    } else {
      const float *restrict xr = xc + img * @CHW@ + ih * @W@;
      long t0 = lo - ow, t1 = hi + 1 - ow;
      t0 = t0 < 0 ? 0 : t0 > run ? run : t0;
      t1 = t1 < t0 ? t0 : t1 > run ? run : t1;
      for (long i = 0; i < t0; ++i)
        r[i] = 0.0f;
      for (long i = t0; i < t1; ++i)
        r[i] = xr[(ow + i) * @SW@ - a];
      for (long i = t1; i < run; ++i)
        r[i] = 0.0f;
    }
    t += run;
    ow = 0;
    if (++oh == @OH@) {
      oh = 0;
      ++img;
    }
  }
}
)");
}

namespace {

/// The register tile of a convolution whose images lie side by side along
/// N: the widest NR (with its MR) that divides the P output positions of an
/// image, so that no tile straddles two images; {0, 0} when none does.
std::pair<int, int> merged_tile(const Conv2dSpec &s, int vw, int64_t p) {
  if (s.tiling.nr > 0)
    return {p % s.tiling.nr == 0 ? s.tiling.mr : 0,
            p % s.tiling.nr == 0 ? s.tiling.nr : 0};
  // MR x NR/vw accumulators fit the register file with the B vectors.
  const std::pair<int, int> wide[] = {{6, 64}, {14, 32}, {24, 16}};
  const std::pair<int, int> narrow[] = {{6, 2 * vw}, {12, vw}};
  if (vw == 16) {
    for (auto [mr, nr] : wide)
      if (p % nr == 0)
        return {mr, nr};
  } else {
    for (auto [mr, nr] : narrow)
      if (p % nr == 0)
        return {mr, nr};
  }
  return {0, 0};
}

} // namespace

Contraction conv2d_contraction(const Conv2dSpec &s, bool merge) {
  int64_t oh = 0, ow = 0;
  conv2d_output_size(s, oh, ow);
  const int64_t g = s.groups, og = s.O / g, cg = s.C / g, p = oh * ow;
  Contraction c;
  c.name = s.name;
  c.params = "const float *restrict x, const float *restrict w, "
             "float *restrict out";
  if (!s.extra_params.empty())
    c.params += ", " + s.extra_params;
  c.vw = s.vector_width ? s.vector_width : host_vector_width();
  GemmTiling t = s.tiling;
  if (merge) {
    std::tie(t.mr, t.nr) = merged_tile(s, c.vw, p);
    merge = t.nr > 0 && s.N > 1;
    if (!merge)
      t = s.tiling;
  }
  // Batch b = image * groups + group, or with merged images b = group and
  // column j = image * P + position. The index expressions below hold for
  // both (unmerged, j < P).
  c.batch = merge ? g : s.N * g;
  c.M = og;
  c.N = merge ? s.N * p : p;
  c.K = cg * s.KH * s.KW;
  const int64_t k = c.K;
  c.a_at = [=](const std::string &b, const std::string &m,
               const std::string &kk) {
    return "w[((" + b + ") % " + str(g) + " * " + str(og) + " + " + m + ") * " +
           str(k) + " + " + kk + "]";
  };
  c.a_row_stride = k;
  if (is_pointwise(s)) {
    const int64_t chw = s.C * p;
    c.b_at = [=](const std::string &b, const std::string &kk,
                 const std::string &n) {
      return "x[((" + b + ") / " + str(g) + " + (" + n + ") / " + str(p) +
             ") * " + str(chw) + " + ((" + b + ") % " + str(g) + " * " +
             str(cg) + " + " + kk + ") * " + str(p) + " + (" + n + ") % " +
             str(p) + "]";
    };
  } else {
    c.helpers = gather_helper(s) + conv_gather_helper(s);
    c.b_pack_body = gather_pack(s);
    c.b_at = [=](const std::string &b, const std::string &kk,
                 const std::string &n) {
      return s.name + "_x(x, " + b + ", " + kk + ", " + n + ")";
    };
    // KC: whole input channels (every block starts at kw = kh = 0), as
    // few blocks as keep a block within 576 (the C tile is re-read once per
    // block), split evenly.
    if (t.kc == 0) {
      const int64_t khw = s.KH * s.KW, blocks = (cg * khw + 575) / 576;
      t.kc = int((cg + blocks - 1) / blocks * khw);
    }
  }
  c.c_base = [=](const std::string &b) {
    return "out + (" + b + ") / " + str(g) + " * " + str(s.O * p) + " + (" + b +
           ") % " + str(g) + " * " + str(og * p);
  };
  c.c_col = [=](const std::string &j) {
    return "((" + j + ") / " + str(p) + " * " + str(s.O * p) + " + (" + j +
           ") % " + str(p) + ")";
  };
  c.ldc = p;
  if (s.epilogue)
    c.epilogue = [=](const std::string &b, const std::string &i,
                     const std::string &j, const std::string &acc) {
      return s.epilogue(
          "((" + b + ") / " + str(g) + " + (" + j + ") / " + str(p) + ")",
          "((" + b + ") % " + str(g) + " * " + str(og) + " + " + i + ")",
          "((" + j + ") % " + str(p) + " / " + str(ow) + ")",
          "((" + j + ") % " + str(ow) + ")", acc);
    };
  c.t = choose_tiling(t, c.vw, c.M, c.N, c.K);
  const int64_t whole_rows =
      c.t.nr % ow == 0 && p % c.t.nr == 0 ? c.t.nr / ow : 0;
  if (s.epilogue)
    c.epilogue_row = [=](const std::string &i) {
      return epilogue_row(
          s, "((b_) % " + str(g) + " * " + str(og) + " + " + i + ")",
          whole_rows);
    };
  if (merge && use_direct_path(c))
    return conv2d_contraction(s, false);
  const int64_t u = is_pointwise(s) ? 0 : row_vector(s, c.vw);
  if (u > 0 && whole_rows > 0 && c.t.kc % s.KW == 0) {
    c.helpers += row_types(s, u);
    c.b_pack_body = row_pack(s, u, c.t.nr);
  }
  return c;
}

std::string emit_contraction(const Contraction &c) {
  if (use_direct_path(c))
    return emit_direct(c);
  return emit_packed(c);
}

} // namespace detail

std::string emit_conv2d(const Conv2dSpec &s) {
  return detail::emit_contraction(detail::conv2d_contraction(s));
}

} // namespace kiln::codegen
