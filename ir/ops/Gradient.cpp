/// \file
/// Gradient primitives: ops that reverse-mode autodiff (passes/Autodiff.cpp)
/// emits where no clean composition of other primitives exists.
/// conv2d_weight_grad is the adjoint of conv2d with respect to its weight
/// (with groups, a composition of transposes, convolutions and slices would
/// take a dozen nodes); max_pool2d_grad routes each output gradient to the
/// maximum of its window (a composition would take kh*kw slices). Both
/// check their operands by running the shape rule of the forward op.
// SPDX-License-Identifier: Apache-2.0
#include "ir/ops/OpDefs.h"

#include <cmath>
#include <limits>

namespace kiln::ops {

namespace {

/// Runs the shape rule of the forward op \p op on \p in with \p attrs (less
/// any attribute named \p drop) and checks that its result is \p want, the
/// type of the incoming gradient.
bool want_forward(ShapeCtx &c, OpKind op, const std::vector<TensorType> &in,
                  const char *drop, const TensorType &want) {
  Attrs fwd, norm;
  for (const NamedAttr &a : c.attrs)
    if (a.first != drop)
      fwd.push_back(a);
  std::vector<TensorType> out;
  std::string err;
  if (!infer_types(op, in, fwd, nullptr, norm, out, err)) {
    c.fail() << "the forward " << err;
    return false;
  }
  if (out[0] != want) {
    c.fail() << "the gradient " << type_str(want) << " must have the type of "
             << op_name(op) << "'s result, " << type_str(out[0]);
    return false;
  }
  return true;
}

// ---- conv2d_weight_grad --------------------------------------------------

bool shape_conv2d_weight_grad(ShapeCtx &c) {
  if (!same_dtypes(c) || !want_rank(c, 0, 4, "NCHW input") ||
      !want_rank(c, 1, 4, "NCHW gradient") || !want_list(c, "kernel", 2, 1))
    return false;
  const TensorType &x = c.in[0], &g = c.in[1];
  int64_t groups = c.int_attr("groups");
  if (groups < 1 || x.shape[1] % groups != 0) {
    c.fail() << "'groups' (" << groups << ") must divide the input channels of "
             << type_str(x);
    return false;
  }
  std::vector<int64_t> k = c.ints_attr("kernel");
  TensorType w{x.dtype, {g.shape[1], x.shape[1] / groups, k[0], k[1]}};
  if (!want_forward(c, OpKind::Conv2d, {x, w}, "kernel", g))
    return false;
  return push_result(c, w);
}

void interp_conv2d_weight_grad(const Node &nd,
                               const std::vector<const HostTensor *> &in,
                               std::vector<HostTensor> &out) {
  const HostTensor &x = *in[0], &g = *in[1];
  HostTensor r(nd.type());
  std::vector<int64_t> st = nd.ints_attr("stride"),
                       pd = nd.ints_attr("padding"),
                       dl = nd.ints_attr("dilation");
  const Shape &xs = x.shape(), &gs = g.shape();
  int64_t cig = r.shape()[1], cog = gs[1] / nd.int_attr("groups");
  bool ints = is_integer(r.dtype());
  // dL/dw[o,c,a,b] = sum over n, oh, ow of g[n,o,oh,ow] * x[n, group(o)*cig
  // + c, oh*s - p + a*d, ow*s - p + b*d], the input element that conv2d
  // multiplied by w[o,c,a,b].
  for_each_index(r.shape(), [&](const std::vector<int64_t> &w, int64_t j) {
    int64_t xc = (w[0] / cog) * cig + w[1];
    double f = 0;
    uint64_t i = 0;
    for (int64_t n = 0; n < gs[0]; ++n)
      for (int64_t oh = 0; oh < gs[2]; ++oh)
        for (int64_t ow = 0; ow < gs[3]; ++ow) {
          int64_t ih = oh * st[0] - pd[0] + w[2] * dl[0];
          int64_t iw = ow * st[1] - pd[1] + w[3] * dl[1];
          if (ih < 0 || ih >= xs[2] || iw < 0 || iw >= xs[3])
            continue;
          int64_t xi = ((n * xs[1] + xc) * xs[2] + ih) * xs[3] + iw;
          int64_t gi = ((n * gs[1] + w[0]) * gs[2] + oh) * gs[3] + ow;
          if (ints)
            i += uint64_t(x.get_int(xi)) * uint64_t(g.get_int(gi));
          else
            f += x.get(xi) * g.get(gi);
        }
    if (ints)
      r.set_int(j, int64_t(i));
    else
      r.set(j, f);
  });
  out.push_back(std::move(r));
}

// ---- max_pool2d_grad -----------------------------------------------------

bool shape_max_pool2d_grad(ShapeCtx &c) {
  if (!same_dtypes(c) || !want_float(c, 0) ||
      !want_forward(c, OpKind::MaxPool2d, {c.in[0]}, "", c.in[1]))
    return false;
  c.out.push_back(c.in[0]);
  return true;
}

/// The flat index of the maximum of one pooling window of plane \p plane at
/// output position (oh, ow): the first maximum in row-major order, or the
/// first NaN. Floor mode keeps at least one element of every window in
/// bounds.
int64_t window_argmax(const HostTensor &x, const std::vector<int64_t> &k,
                      const std::vector<int64_t> &s,
                      const std::vector<int64_t> &p, int64_t plane, int64_t oh,
                      int64_t ow) {
  int64_t h = x.shape()[2], w = x.shape()[3], best = -1;
  double m = -std::numeric_limits<double>::infinity();
  for (int64_t a = 0; a < k[0]; ++a)
    for (int64_t b = 0; b < k[1]; ++b) {
      int64_t ih = oh * s[0] - p[0] + a, iw = ow * s[1] - p[1] + b;
      if (ih < 0 || ih >= h || iw < 0 || iw >= w)
        continue;
      int64_t i = (plane * h + ih) * w + iw;
      double v = x.get(i);
      if (best >= 0 && std::isnan(m))
        continue;
      if (best < 0 || v > m || std::isnan(v)) {
        best = i;
        m = v;
      }
    }
  return best;
}

void interp_max_pool2d_grad(const Node &nd,
                            const std::vector<const HostTensor *> &in,
                            std::vector<HostTensor> &out) {
  const HostTensor &x = *in[0], &g = *in[1];
  HostTensor r(nd.type());
  std::vector<int64_t> k = nd.ints_attr("kernel"), s = nd.ints_attr("stride"),
                       p = nd.ints_attr("padding");
  std::vector<double> acc(size_t(r.numel()), 0.0);
  for_each_index(g.shape(), [&](const std::vector<int64_t> &o, int64_t j) {
    int64_t plane = o[0] * x.shape()[1] + o[1];
    int64_t i = window_argmax(x, k, s, p, plane, o[2], o[3]);
    if (i >= 0)
      acc[size_t(i)] += g.get(j);
  });
  for (int64_t i = 0; i < r.numel(); ++i)
    r.set(i, acc[size_t(i)]);
  out.push_back(std::move(r));
}

} // namespace

const OpDef kOpDef_conv2d_weight_grad = {
    "conv2d_weight_grad",
    "the gradient of conv2d w.r.t. its OIHW weight, from the NCHW input x and "
    "the output gradient g: result [O, C/groups, kernel[0], kernel[1]]",
    "%dw = conv2d_weight_grad(%x, %g) {kernel = [3, 3], stride = [1, 1], "
    "padding = [1, 1], dilation = [1, 1], groups = 1} : f32[16,3,3,3]",
    2,
    2,
    {{"kernel", AttrKind::Ints, std::nullopt},
     {"stride", AttrKind::Ints, Attribute::ints({1, 1})},
     {"padding", AttrKind::Ints, Attribute::ints({0, 0})},
     {"dilation", AttrKind::Ints, Attribute::ints({1, 1})},
     {"groups", AttrKind::Int, Attribute(1)}},
    shape_conv2d_weight_grad,
    interp_conv2d_weight_grad};

const OpDef kOpDef_max_pool2d_grad = {
    "max_pool2d_grad",
    "the gradient of max_pool2d w.r.t. its input x: each element of g is "
    "added at the first maximum (or first NaN) of its window, as PyTorch",
    "%dx = max_pool2d_grad(%x, %g) {kernel = [2, 2], stride = [2, 2], "
    "padding = [0, 0]} : f32[8,16,32,32]",
    2,
    2,
    {{"kernel", AttrKind::Ints, std::nullopt},
     {"stride", AttrKind::Ints, std::nullopt},
     {"padding", AttrKind::Ints, Attribute::ints({0, 0})}},
    shape_max_pool2d_grad,
    interp_max_pool2d_grad};

} // namespace kiln::ops
