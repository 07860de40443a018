/// \file
/// Reductions: reduce_sum, reduce_max, reduce_min and reduce_mean over a set
/// of axes (with keepdims), and argmax/argmin along one axis. The
/// interpreter accumulates floats in double and integers in int64
/// (wrapping), and rounds once to the result dtype.
// SPDX-License-Identifier: Apache-2.0
#include "ir/ops/OpDefs.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

namespace kiln::ops {

namespace {

enum class Red { Sum, Max, Min, Mean };

/// The reduced axes of \p c's 'axes' as a mask over the operand's axes, or
/// false (and an error) when one is out of range or repeated.
bool reduced_mask(ShapeCtx &c, std::vector<bool> &mask) {
  int64_t rank = c.in[0].rank();
  mask.assign(size_t(rank), false);
  for (int64_t a : c.ints_attr("axes")) {
    int64_t ax = normalize_axis(a, rank);
    if (ax < 0) {
      c.fail() << "axis " << a << " is out of range for " << type_str(c.in[0])
               << " (valid: " << -rank << " to " << rank - 1 << ")";
      return false;
    }
    if (mask[size_t(ax)]) {
      c.fail() << "axis " << a << " is listed twice in 'axes'";
      return false;
    }
    mask[size_t(ax)] = true;
  }
  return true;
}

Shape reduced_shape(const Shape &s, const std::vector<bool> &mask,
                    bool keepdims) {
  Shape r;
  for (size_t d = 0; d < s.size(); ++d) {
    if (!mask[d])
      r.push_back(s[d]);
    else if (keepdims)
      r.push_back(1);
  }
  return r;
}

template <Red kRed> bool shape_reduce(ShapeCtx &c) {
  DType t = c.in[0].dtype;
  if (kRed == Red::Mean ? !is_float(t) : is_bool(t)) {
    c.fail() << "operand must be "
             << (kRed == Red::Mean ? "a float tensor" : "a numeric tensor")
             << ", got " << type_str(c.in[0]) << "; cast it first";
    return false;
  }
  std::vector<bool> mask;
  if (!reduced_mask(c, mask))
    return false;
  c.out.push_back(
      {t, reduced_shape(c.in[0].shape, mask, c.bool_attr("keepdims"))});
  return true;
}

/// For each element of the operand, the flat index of the output element it
/// reduces into.
std::vector<int64_t> output_slots(const Shape &in,
                                  const std::vector<bool> &mask) {
  Shape out = reduced_shape(in, mask, /*keepdims=*/true);
  std::vector<int64_t> slots(size_t(numel(in)));
  for_each_index(in, [&](const std::vector<int64_t> &idx, int64_t i) {
    std::vector<int64_t> o = idx;
    for (size_t d = 0; d < o.size(); ++d)
      if (mask[d])
        o[d] = 0;
    slots[size_t(i)] = flat_offset(o, out);
  });
  return slots;
}

std::vector<bool> node_mask(const Node &n, int64_t rank) {
  std::vector<bool> mask(size_t(rank), false);
  for (int64_t a : n.ints_attr("axes"))
    mask[size_t(normalize_axis(a, rank))] = true;
  return mask;
}

int64_t int_extreme(DType t, bool max) {
  if (t == DType::I32)
    return max ? std::numeric_limits<int32_t>::max()
               : std::numeric_limits<int32_t>::min();
  return max ? std::numeric_limits<int64_t>::max()
             : std::numeric_limits<int64_t>::min();
}

template <Red kRed>
void reduce_ints(const HostTensor &x, const std::vector<int64_t> &slots,
                 HostTensor &r) {
  int64_t init = kRed == Red::Max   ? int_extreme(x.dtype(), false)
                 : kRed == Red::Min ? int_extreme(x.dtype(), true)
                                    : 0;
  std::vector<int64_t> acc(size_t(r.numel()), init);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t v = x.get_int(i), &a = acc[size_t(slots[size_t(i)])];
    if (kRed == Red::Max)
      a = std::max(a, v);
    else if (kRed == Red::Min)
      a = std::min(a, v);
    else
      a = int64_t(uint64_t(a) + uint64_t(v));
  }
  for (int64_t j = 0; j < r.numel(); ++j)
    r.set_int(j, acc[size_t(j)]);
}

template <Red kRed>
void reduce_floats(const HostTensor &x, const std::vector<int64_t> &slots,
                   HostTensor &r) {
  const double kInf = std::numeric_limits<double>::infinity();
  double init = kRed == Red::Max ? -kInf : kRed == Red::Min ? kInf : 0.0;
  std::vector<double> acc(size_t(r.numel()), init);
  std::vector<int64_t> count(size_t(r.numel()), 0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    size_t s = size_t(slots[size_t(i)]);
    double v = x.get(i), &a = acc[s];
    ++count[s];
    if (kRed == Red::Sum || kRed == Red::Mean)
      a += v;
    else if (std::isnan(v) || std::isnan(a))
      a = std::nan("");
    else
      a = kRed == Red::Max ? std::max(a, v) : std::min(a, v);
  }
  for (int64_t j = 0; j < r.numel(); ++j) {
    double a = acc[size_t(j)];
    // Mean of an empty extent is 0/0 = NaN, as NumPy.
    r.set(j, kRed == Red::Mean ? a / double(count[size_t(j)]) : a);
  }
}

template <Red kRed>
void interp_reduce(const Node &n, const std::vector<const HostTensor *> &in,
                   std::vector<HostTensor> &out) {
  const HostTensor &x = *in[0];
  HostTensor r(n.type());
  std::vector<int64_t> slots =
      output_slots(x.shape(), node_mask(n, x.type().rank()));
  if (is_integer(x.dtype()))
    reduce_ints<kRed>(x, slots, r);
  else
    reduce_floats<kRed>(x, slots, r);
  out.push_back(std::move(r));
}

// ---- argmax / argmin -----------------------------------------------------

bool shape_arg(ShapeCtx &c) {
  const TensorType &x = c.in[0];
  int64_t a = c.int_attr("axis");
  int64_t ax = normalize_axis(a, x.rank());
  if (ax < 0) {
    c.fail() << "axis " << a << " is out of range for " << type_str(x)
             << " (valid: " << -x.rank() << " to " << x.rank() - 1 << ")";
    return false;
  }
  if (x.shape[size_t(ax)] == 0) {
    c.fail() << "axis " << a << " of " << type_str(x)
             << " is empty; there is no extreme to index";
    return false;
  }
  std::vector<bool> mask(size_t(x.rank()), false);
  mask[size_t(ax)] = true;
  c.out.push_back(
      {DType::I64, reduced_shape(x.shape, mask, c.bool_attr("keepdims"))});
  return true;
}

/// Whether \p v at a later index replaces the current extreme \p best: a
/// strictly greater (argmax) value, or the first NaN, which then stays.
template <bool kMax, typename T> bool better(T v, T best) {
  if constexpr (std::is_floating_point<T>::value) {
    if (std::isnan(best))
      return false;
    if (std::isnan(v))
      return true;
  }
  return kMax ? v > best : v < best;
}

template <bool kMax, typename T, typename Get>
void arg_loop(const Shape &s, int64_t axis, HostTensor &r, Get get) {
  int64_t outer = 1, inner = 1, len = s[size_t(axis)];
  for (int64_t d = 0; d < axis; ++d)
    outer *= s[size_t(d)];
  for (size_t d = size_t(axis) + 1; d < s.size(); ++d)
    inner *= s[d];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      int64_t base = o * len * inner + i, best = 0;
      T bv = get(base);
      for (int64_t k = 1; k < len; ++k) {
        T v = get(base + k * inner);
        if (better<kMax>(v, bv)) {
          bv = v;
          best = k;
        }
      }
      r.set_int(o * inner + i, best);
    }
}

template <bool kMax>
void interp_arg(const Node &n, const std::vector<const HostTensor *> &in,
                std::vector<HostTensor> &out) {
  const HostTensor &x = *in[0];
  HostTensor r(n.type());
  int64_t axis = normalize_axis(n.int_attr("axis"), x.type().rank());
  if (is_float(x.dtype()))
    arg_loop<kMax, double>(x.shape(), axis, r,
                           [&](int64_t i) { return x.get(i); });
  else
    arg_loop<kMax, int64_t>(x.shape(), axis, r,
                            [&](int64_t i) { return x.get_int(i); });
  out.push_back(std::move(r));
}

#define KILN_REDUCE(name, kind, summary)                                       \
  const OpDef kOpDef_##name = {                                                \
      #name,                                                                   \
      summary,                                                                 \
      "%s = " #name "(%x) {axes = [1], keepdims = false} : f32[4]",            \
      1,                                                                       \
      1,                                                                       \
      {{"axes", AttrKind::Ints, std::nullopt},                                 \
       {"keepdims", AttrKind::Bool, Attribute(false)}},                        \
      shape_reduce<Red::kind>,                                                 \
      interp_reduce<Red::kind>};

#define KILN_ARG(name, is_max, summary)                                        \
  const OpDef kOpDef_##name = {                                                \
      #name,                                                                   \
      summary,                                                                 \
      "%i = " #name "(%x) {axis = 1, keepdims = false} : i64[4]",              \
      1,                                                                       \
      1,                                                                       \
      {{"axis", AttrKind::Int, std::nullopt},                                  \
       {"keepdims", AttrKind::Bool, Attribute(false)}},                        \
      shape_arg,                                                               \
      interp_arg<is_max>};

} // namespace

// clang-format off
KILN_REDUCE(reduce_sum, Sum, "sum over 'axes' (0 for an empty extent)")
KILN_REDUCE(reduce_max, Max, "maximum over 'axes'; NaN propagates; -inf (integers: the dtype's minimum) for an empty extent")
KILN_REDUCE(reduce_min, Min, "minimum over 'axes'; NaN propagates; +inf (integers: the dtype's maximum) for an empty extent")
KILN_REDUCE(reduce_mean, Mean, "mean over 'axes' of a float tensor (NaN for an empty extent)")
KILN_ARG(argmax, true, "i64 index of the first maximum along 'axis'; the first NaN counts as the maximum")
KILN_ARG(argmin, false, "i64 index of the first minimum along 'axis'; the first NaN counts as the minimum")
// clang-format on

} // namespace kiln::ops
