/// \file
/// 2-D pooling over NCHW tensors: max_pool2d and avg_pool2d, with PyTorch's
/// rules (floor mode, padding at most half the kernel; max pooling pads with
/// -inf, average pooling counts the padding unless count_include_pad is
/// false).
// SPDX-License-Identifier: Apache-2.0
#include "ir/ops/OpDefs.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::ops {

namespace {

struct Pool {
  std::vector<int64_t> kernel, stride, padding;
};

template <bool kAvg> bool shape_pool(ShapeCtx &c) {
  const TensorType &x = c.in[0];
  if (!want_rank(c, 0, 4, "NCHW input") || !want_list(c, "kernel", 2, 1) ||
      !want_list(c, "stride", 2, 1) || !want_list(c, "padding", 2, 0))
    return false;
  if (kAvg ? !is_float(x.dtype) : is_bool(x.dtype)) {
    c.fail() << "operand must be " << (kAvg ? "a float" : "a numeric")
             << " tensor, got " << type_str(x);
    return false;
  }
  Pool p{c.ints_attr("kernel"), c.ints_attr("stride"), c.ints_attr("padding")};
  Shape out = {x.shape[0], x.shape[1], 0, 0};
  for (size_t i = 0; i < 2; ++i) {
    if (p.padding[i] > p.kernel[i] / 2) {
      c.fail() << "padding " << p.padding[i]
               << " is more than half the kernel (" << p.kernel[i]
               << "); use at most " << p.kernel[i] / 2;
      return false;
    }
    int64_t num = x.shape[2 + i] + 2 * p.padding[i] - p.kernel[i];
    if (num < 0) {
      c.fail() << "kernel " << shape_str(p.kernel)
               << " is larger than the padded input " << type_str(x)
               << "; the output would be empty";
      return false;
    }
    out[2 + i] = num / p.stride[i] + 1;
  }
  c.out.push_back({x.dtype, out});
  return true;
}

/// Calls \p f(flat input index) for each in-bounds element of the window of
/// output position (oh, ow) in plane \p plane; returns the window's count of
/// in-bounds elements.
template <typename F>
int64_t for_window(const Pool &p, const Shape &s, int64_t plane, int64_t oh,
                   int64_t ow, F f) {
  int64_t h = s[2], w = s[3], count = 0;
  for (int64_t a = 0; a < p.kernel[0]; ++a)
    for (int64_t b = 0; b < p.kernel[1]; ++b) {
      int64_t ih = oh * p.stride[0] - p.padding[0] + a;
      int64_t iw = ow * p.stride[1] - p.padding[1] + b;
      if (ih < 0 || ih >= h || iw < 0 || iw >= w)
        continue;
      f((plane * h + ih) * w + iw);
      ++count;
    }
  return count;
}

Pool node_pool(const Node &n) {
  return {n.ints_attr("kernel"), n.ints_attr("stride"), n.ints_attr("padding")};
}

void interp_max_pool2d(const Node &n, const std::vector<const HostTensor *> &in,
                       std::vector<HostTensor> &out) {
  const HostTensor &x = *in[0];
  HostTensor r(n.type());
  Pool p = node_pool(n);
  bool ints = is_integer(x.dtype());
  for_each_index(r.shape(), [&](const std::vector<int64_t> &o, int64_t j) {
    int64_t plane = o[0] * x.shape()[1] + o[1];
    double m = -std::numeric_limits<double>::infinity();
    int64_t mi = x.dtype() == DType::I32 ? std::numeric_limits<int32_t>::min()
                                         : std::numeric_limits<int64_t>::min();
    for_window(p, x.shape(), plane, o[2], o[3], [&](int64_t i) {
      if (ints)
        mi = std::max(mi, x.get_int(i));
      else if (std::isnan(x.get(i)) || std::isnan(m))
        m = std::nan("");
      else
        m = std::max(m, x.get(i));
    });
    if (ints)
      r.set_int(j, mi);
    else
      r.set(j, m);
  });
  out.push_back(std::move(r));
}

void interp_avg_pool2d(const Node &n, const std::vector<const HostTensor *> &in,
                       std::vector<HostTensor> &out) {
  const HostTensor &x = *in[0];
  HostTensor r(n.type());
  Pool p = node_pool(n);
  bool include_pad = n.bool_attr("count_include_pad");
  for_each_index(r.shape(), [&](const std::vector<int64_t> &o, int64_t j) {
    int64_t plane = o[0] * x.shape()[1] + o[1];
    double sum = 0;
    int64_t count = for_window(p, x.shape(), plane, o[2], o[3],
                               [&](int64_t i) { sum += x.get(i); });
    // Floor mode keeps every window inside the padded input, so the divisor
    // with padding counted is the whole kernel.
    int64_t div = include_pad ? p.kernel[0] * p.kernel[1] : count;
    r.set(j, sum / double(div));
  });
  out.push_back(std::move(r));
}

} // namespace

const OpDef kOpDef_max_pool2d = {
    "max_pool2d",
    "maximum over each kernel window of an NCHW tensor; padding counts as "
    "-inf and NaN propagates",
    "%y = max_pool2d(%x) {kernel = [2, 2], stride = [2, 2], padding = [0, "
    "0]} : f32[8,16,16,16]",
    1,
    1,
    {{"kernel", AttrKind::Ints, std::nullopt},
     {"stride", AttrKind::Ints, std::nullopt},
     {"padding", AttrKind::Ints, Attribute::ints({0, 0})}},
    shape_pool<false>,
    interp_max_pool2d};

const OpDef kOpDef_avg_pool2d = {
    "avg_pool2d",
    "mean over each kernel window of an NCHW float tensor; the divisor counts "
    "padding unless count_include_pad is false",
    "%y = avg_pool2d(%x) {kernel = [2, 2], stride = [2, 2], padding = [0, 0], "
    "count_include_pad = true} : f32[8,16,16,16]",
    1,
    1,
    {{"kernel", AttrKind::Ints, std::nullopt},
     {"stride", AttrKind::Ints, std::nullopt},
     {"padding", AttrKind::Ints, Attribute::ints({0, 0})},
     {"count_include_pad", AttrKind::Bool, Attribute(true)}},
    shape_pool<true>,
    interp_avg_pool2d};

} // namespace kiln::ops
