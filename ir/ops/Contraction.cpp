/// \file
/// Contractions: matmul with broadcast batch dimensions, conv2d (NCHW input,
/// OIHW weight) and conv2d_transpose (NCHW input, IOHW weight, as PyTorch).
/// The interpreter uses the textbook loops, accumulating in double (floats)
/// or wrapping int64 (integers), and rounds once to the result dtype.
// SPDX-License-Identifier: Apache-2.0
#include "ir/ops/OpDefs.h"

#include <cstdint>

namespace kiln::ops {

namespace {

bool want_numeric_pair(ShapeCtx &c) {
  if (!same_dtypes(c))
    return false;
  if (is_bool(c.in[0].dtype)) {
    c.fail() << "operands must be numeric, got " << type_str(c.in[0]);
    return false;
  }
  return true;
}

/// An accumulator that sums in double for floats and in wrapping int64 for
/// integers, reading and writing through HostTensor.
struct Acc {
  bool ints;
  double f = 0;
  uint64_t i = 0;
  void add_mul(const HostTensor &a, int64_t ia, const HostTensor &b,
               int64_t ib) {
    if (ints)
      i += uint64_t(a.get_int(ia)) * uint64_t(b.get_int(ib));
    else
      f += a.get(ia) * b.get(ib);
  }
  void store(HostTensor &r, int64_t j) const {
    if (ints)
      r.set_int(j, int64_t(i));
    else
      r.set(j, f);
  }
};

// ---- matmul --------------------------------------------------------------

bool shape_matmul(ShapeCtx &c) {
  const TensorType &a = c.in[0], &b = c.in[1];
  if (!want_numeric_pair(c))
    return false;
  if (a.rank() < 2 || b.rank() < 2) {
    c.fail() << "operands must have rank >= 2, got " << type_str(a) << " and "
             << type_str(b) << "; reshape a vector to [1,K] or [K,1]";
    return false;
  }
  int64_t m = a.shape[size_t(a.rank() - 2)], k = a.shape.back();
  int64_t k2 = b.shape[size_t(b.rank() - 2)], n = b.shape.back();
  if (k != k2) {
    c.fail() << "inner dimensions differ (" << k << " vs " << k2 << ") in "
             << type_str(a) << " x " << type_str(b);
    return false;
  }
  Shape ba(a.shape.begin(), a.shape.end() - 2);
  Shape bb(b.shape.begin(), b.shape.end() - 2), s;
  if (!broadcast_shapes(ba, bb, s)) {
    c.fail() << "batch dimensions " << shape_str(ba) << " and " << shape_str(bb)
             << " do not broadcast";
    return false;
  }
  s.push_back(m);
  s.push_back(n);
  return push_result(c, {a.dtype, s});
}

void interp_matmul(const Node &nd, const std::vector<const HostTensor *> &in,
                   std::vector<HostTensor> &out) {
  const HostTensor &a = *in[0], &b = *in[1];
  HostTensor r(nd.type());
  const Shape &rs = r.shape();
  size_t rb = rs.size() - 2;
  int64_t m = rs[rb], n = rs[rb + 1], k = a.shape().back();
  Shape batch(rs.begin(), rs.end() - 2);
  Shape ab(a.shape().begin(), a.shape().end() - 2);
  Shape bb(b.shape().begin(), b.shape().end() - 2);
  bool ints = is_integer(r.dtype());
  for_each_index(batch, [&](const std::vector<int64_t> &idx, int64_t bi) {
    int64_t oa = broadcast_offset(idx, ab) * m * k;
    int64_t ob = broadcast_offset(idx, bb) * k * n;
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        Acc acc{ints};
        for (int64_t p = 0; p < k; ++p)
          acc.add_mul(a, oa + i * k + p, b, ob + p * n + j);
        acc.store(r, (bi * m + i) * n + j);
      }
  });
  out.push_back(std::move(r));
}

// ---- conv2d and conv2d_transpose: shared checks ---------------------------

constexpr int64_t kCap = int64_t(1) << 60;

/// a * b for non-negative a, b (a may be -1), saturating at kCap.
int64_t mul_cap(int64_t a, int64_t b) {
  if (a > 0 && b > 0 && a > kCap / b)
    return kCap;
  return a * b;
}

/// The 2-D window attributes, read after the schema and want_list checks.
struct Window {
  std::vector<int64_t> stride, padding, dilation;
  int64_t groups;
};

bool conv_operands(ShapeCtx &c, Window &w) {
  if (!want_numeric_pair(c) || !want_rank(c, 0, 4, "NCHW input") ||
      !want_rank(c, 1, 4, "weight") || !want_list(c, "stride", 2, 1) ||
      !want_list(c, "padding", 2, 0) || !want_list(c, "dilation", 2, 1))
    return false;
  w.stride = c.ints_attr("stride");
  w.padding = c.ints_attr("padding");
  w.dilation = c.ints_attr("dilation");
  w.groups = c.int_attr("groups");
  if (w.groups < 1 || w.groups > kMaxElements) {
    c.fail() << "'groups' must be at least 1, got " << w.groups;
    return false;
  }
  return true;
}

/// floor((in + 2p - d*(k-1) - 1) / s) + 1, or 0 when the window does not fit.
int64_t conv_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  int64_t span = k == 0 ? 0 : mul_cap(d, k - 1) + 1;
  int64_t num = in + 2 * p - span;
  return num < 0 ? 0 : num / s + 1;
}

bool want_spatial(ShapeCtx &c, const Shape &out, const char *how) {
  if (out[2] >= 1 && out[3] >= 1 && out[2] <= kMaxElements &&
      out[3] <= kMaxElements)
    return true;
  c.fail() << "output spatial size " << out[2] << "x" << out[3]
           << " is not positive for input " << type_str(c.in[0])
           << " and weight " << type_str(c.in[1]) << "; " << how;
  return false;
}

bool shape_conv2d(ShapeCtx &c) {
  Window w;
  if (!conv_operands(c, w))
    return false;
  const Shape &x = c.in[0].shape, &k = c.in[1].shape;
  if (x[1] != mul_cap(k[1], w.groups) || k[0] % w.groups != 0) {
    c.fail() << "channels do not match: input " << type_str(c.in[0])
             << " has C=" << x[1] << ", weight " << type_str(c.in[1])
             << " (OIHW) needs C == I*groups = " << k[1] << "*" << w.groups
             << " and O divisible by groups";
    return false;
  }
  Shape out = {x[0], k[0], 0, 0};
  for (size_t i = 0; i < 2; ++i)
    out[2 + i] =
        conv_out(x[2 + i], k[2 + i], w.stride[i], w.padding[i], w.dilation[i]);
  if (!want_spatial(c, out,
                    "the (dilated) kernel is larger than the padded "
                    "input; add padding or shrink the kernel"))
    return false;
  return push_result(c, {c.in[0].dtype, out});
}

struct ConvDims {
  int64_t n, ci, h, w, co, kh, kw, oh, ow, groups;
};

ConvDims conv_dims(const Shape &x, const Shape &k, const Shape &r,
                   int64_t groups) {
  return {x[0], x[1], x[2], x[3], r[1], k[2], k[3], r[2], r[3], groups};
}

void interp_conv2d(const Node &nd, const std::vector<const HostTensor *> &in,
                   std::vector<HostTensor> &out) {
  const HostTensor &x = *in[0], &w = *in[1];
  HostTensor r(nd.type());
  std::vector<int64_t> st = nd.ints_attr("stride"),
                       pd = nd.ints_attr("padding"),
                       dl = nd.ints_attr("dilation");
  ConvDims d =
      conv_dims(x.shape(), w.shape(), r.shape(), nd.int_attr("groups"));
  int64_t cig = d.ci / d.groups, cog = d.co / d.groups;
  bool ints = is_integer(r.dtype());
  for_each_index(r.shape(), [&](const std::vector<int64_t> &o, int64_t j) {
    int64_t g = o[1] / cog;
    Acc acc{ints};
    for (int64_t c = 0; c < cig; ++c)
      for (int64_t a = 0; a < d.kh; ++a)
        for (int64_t b = 0; b < d.kw; ++b) {
          int64_t ih = o[2] * st[0] - pd[0] + a * dl[0];
          int64_t iw = o[3] * st[1] - pd[1] + b * dl[1];
          if (ih < 0 || ih >= d.h || iw < 0 || iw >= d.w)
            continue;
          int64_t xi = ((o[0] * d.ci + g * cig + c) * d.h + ih) * d.w + iw;
          int64_t wi = ((o[1] * cig + c) * d.kh + a) * d.kw + b;
          acc.add_mul(x, xi, w, wi);
        }
    acc.store(r, j);
  });
  out.push_back(std::move(r));
}

// ---- conv2d_transpose ----------------------------------------------------

/// (in-1)*s - 2p + d*(k-1) + op + 1, saturating for huge attributes.
int64_t deconv_out(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d,
                   int64_t op) {
  int64_t span = k == 0 ? 0 : mul_cap(d, k - 1) + 1;
  return mul_cap(in - 1, s) - 2 * p + span + op;
}

bool shape_conv2d_transpose(ShapeCtx &c) {
  Window w;
  if (!conv_operands(c, w) || !want_list(c, "output_padding", 2, 0))
    return false;
  std::vector<int64_t> op = c.ints_attr("output_padding");
  const Shape &x = c.in[0].shape, &k = c.in[1].shape;
  if (x[1] != k[0] || k[0] % w.groups != 0) {
    c.fail() << "channels do not match: input " << type_str(c.in[0])
             << " has C=" << x[1] << ", weight " << type_str(c.in[1])
             << " (IOHW) needs I == C and I divisible by groups (" << w.groups
             << ")";
    return false;
  }
  for (size_t i = 0; i < 2; ++i)
    if (op[i] >= w.stride[i] && op[i] >= w.dilation[i]) {
      c.fail() << "'output_padding' " << op[i]
               << " must be smaller than the stride (" << w.stride[i]
               << ") or the dilation (" << w.dilation[i] << ")";
      return false;
    }
  Shape out = {x[0], mul_cap(k[1], w.groups), 0, 0};
  for (size_t i = 0; i < 2; ++i)
    out[2 + i] = deconv_out(x[2 + i], k[2 + i], w.stride[i], w.padding[i],
                            w.dilation[i], op[i]);
  if (!want_spatial(c, out, "reduce the padding"))
    return false;
  return push_result(c, {c.in[0].dtype, out});
}

void interp_conv2d_transpose(const Node &nd,
                             const std::vector<const HostTensor *> &in,
                             std::vector<HostTensor> &out) {
  const HostTensor &x = *in[0], &w = *in[1];
  HostTensor r(nd.type());
  std::vector<int64_t> st = nd.ints_attr("stride"),
                       pd = nd.ints_attr("padding"),
                       dl = nd.ints_attr("dilation");
  ConvDims d =
      conv_dims(x.shape(), w.shape(), r.shape(), nd.int_attr("groups"));
  int64_t cig = d.ci / d.groups, cog = d.co / d.groups;
  bool ints = is_integer(r.dtype());
  std::vector<Acc> acc(size_t(r.numel()), Acc{ints});
  // Each input element scatters its products over the output window it
  // would have been computed from in conv2d.
  for_each_index(x.shape(), [&](const std::vector<int64_t> &i, int64_t xi) {
    int64_t g = i[1] / cig;
    for (int64_t c = 0; c < cog; ++c)
      for (int64_t a = 0; a < d.kh; ++a)
        for (int64_t b = 0; b < d.kw; ++b) {
          int64_t oh = i[2] * st[0] - pd[0] + a * dl[0];
          int64_t ow = i[3] * st[1] - pd[1] + b * dl[1];
          if (oh < 0 || oh >= d.oh || ow < 0 || ow >= d.ow)
            continue;
          int64_t oc = g * cog + c;
          int64_t ri = ((i[0] * d.co + oc) * d.oh + oh) * d.ow + ow;
          int64_t wi = ((i[1] * cog + c) * d.kh + a) * d.kw + b;
          acc[size_t(ri)].add_mul(x, xi, w, wi);
        }
  });
  for (int64_t j = 0; j < r.numel(); ++j)
    acc[size_t(j)].store(r, j);
  out.push_back(std::move(r));
}

const std::vector<AttrSpec> kConvAttrs = {
    {"stride", AttrKind::Ints, Attribute::ints({1, 1})},
    {"padding", AttrKind::Ints, Attribute::ints({0, 0})},
    {"dilation", AttrKind::Ints, Attribute::ints({1, 1})},
    {"groups", AttrKind::Int, Attribute(1)}};

} // namespace

const OpDef kOpDef_matmul = {
    "matmul",
    "[..., M, K] x [..., K, N] -> [..., M, N], batch dimensions broadcast",
    "%y = matmul(%a, %b) : f32[2,4]",
    2,
    2,
    {},
    shape_matmul,
    interp_matmul};

const OpDef kOpDef_conv2d = {
    "conv2d",
    "2-D cross-correlation of an NCHW input with an OIHW weight, with "
    "stride, symmetric zero padding, dilation and groups",
    "%y = conv2d(%x, %w) {stride = [1, 1], padding = [1, 1], dilation = "
    "[1, 1], groups = 1} : f32[8,16,32,32]",
    2,
    2,
    kConvAttrs,
    shape_conv2d,
    interp_conv2d};

const OpDef kOpDef_conv2d_transpose = {
    "conv2d_transpose",
    "the adjoint of conv2d w.r.t. its input: an NCHW input and an IOHW "
    "weight [C_in, C_out/groups, kh, kw], as PyTorch",
    "%y = conv2d_transpose(%x, %w) {stride = [2, 2], padding = [1, 1], "
    "output_padding = [1, 1], dilation = [1, 1], groups = 1} : "
    "f32[8,16,64,64]",
    2,
    2,
    {{"stride", AttrKind::Ints, Attribute::ints({1, 1})},
     {"padding", AttrKind::Ints, Attribute::ints({0, 0})},
     {"output_padding", AttrKind::Ints, Attribute::ints({0, 0})},
     {"dilation", AttrKind::Ints, Attribute::ints({1, 1})},
     {"groups", AttrKind::Int, Attribute(1)}},
    shape_conv2d_transpose,
    interp_conv2d_transpose};

} // namespace kiln::ops
