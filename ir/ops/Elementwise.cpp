/// \file
/// Elementwise ops: unary math, binary arithmetic and comparisons with NumPy
/// broadcasting, select and cast. The interpreter computes floats in double
/// and rounds once to the result dtype; integers in int64, wrapping to i32.
// SPDX-License-Identifier: Apache-2.0
#include "ir/ops/OpDefs.h"

#include <cmath>
#include <cstdint>
#include <limits>

namespace kiln::ops {

namespace {

// ---- Unary ---------------------------------------------------------------

enum class Accepts { Float, Numeric, Bool };

template <Accepts kAccepts> bool shape_unary(ShapeCtx &c) {
  DType t = c.in[0].dtype;
  bool ok = kAccepts == Accepts::Float     ? is_float(t)
            : kAccepts == Accepts::Numeric ? !is_bool(t)
                                           : is_bool(t);
  if (!ok) {
    c.fail() << "operand must be "
             << (kAccepts == Accepts::Float     ? "a float tensor"
                 : kAccepts == Accepts::Numeric ? "a numeric tensor"
                                                : "a bool tensor")
             << ", got " << type_str(c.in[0]);
    return false;
  }
  c.out.push_back(c.in[0]);
  return true;
}

bool shape_is_finite(ShapeCtx &c) {
  if (!want_float(c, 0))
    return false;
  c.out.push_back({DType::Bool, c.in[0].shape});
  return true;
}

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double sign(double x) {
  return x > 0 ? 1.0 : x < 0 ? -1.0 : x; // keeps -0.0 and NaN
}

/// A unary kernel: \p F on doubles, \p I on integers (nullptr: float only).
template <double (*F)(double), int64_t (*I)(int64_t)>
void interp_unary(const Node &n, const std::vector<const HostTensor *> &in,
                  std::vector<HostTensor> &out) {
  const HostTensor &x = *in[0];
  HostTensor r(n.type());
  bool ints = is_integer(x.dtype());
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (ints && I)
      r.set_int(i, I(x.get_int(i)));
    else
      r.set(i, F(x.get(i)));
  }
  out.push_back(std::move(r));
}

double f_neg(double x) { return -x; }
int64_t i_neg(int64_t x) { return int64_t(0 - uint64_t(x)); }
double f_abs(double x) { return std::fabs(x); }
int64_t i_abs(int64_t x) { return x < 0 ? i_neg(x) : x; }
int64_t i_sign(int64_t x) { return x > 0 ? 1 : x < 0 ? -1 : 0; }
double f_exp(double x) { return std::exp(x); }
double f_log(double x) { return std::log(x); }
double f_sqrt(double x) { return std::sqrt(x); }
double f_rsqrt(double x) { return 1.0 / std::sqrt(x); }
double f_tanh(double x) { return std::tanh(x); }
double f_relu(double x) { return x > 0 ? x : (std::isnan(x) ? x : 0.0); }
int64_t i_relu(int64_t x) { return x > 0 ? x : 0; }
double f_sin(double x) { return std::sin(x); }
double f_cos(double x) { return std::cos(x); }
double f_erf(double x) { return std::erf(x); }
double f_floor(double x) { return std::floor(x); }
double f_ceil(double x) { return std::ceil(x); }
double f_round(double x) { return std::nearbyint(x); } // half to even
double f_not(double x) { return x == 0.0 ? 1.0 : 0.0; }
double f_is_finite(double x) { return std::isfinite(x) ? 1.0 : 0.0; }
constexpr int64_t (*kNoInt)(int64_t) = nullptr;

#define KILN_UNARY(name, accepts, summary, F, I)                               \
  const OpDef kOpDef_##name = {#name,                                          \
                               summary,                                        \
                               Accepts::accepts == Accepts::Bool               \
                                   ? "%y = " #name "(%x) : bool[4]"            \
                                   : "%y = " #name "(%x) : f32[4]",            \
                               1,                                              \
                               1,                                              \
                               {},                                             \
                               shape_unary<Accepts::accepts>,                  \
                               interp_unary<F, I>};

// ---- Binary --------------------------------------------------------------

enum class BinKind { Arith, Logic, Compare };

template <BinKind kKind> bool shape_binary(ShapeCtx &c) {
  if (!same_dtypes(c))
    return false;
  DType t = c.in[0].dtype;
  if (kKind == BinKind::Arith && is_bool(t)) {
    c.fail() << "operands must be numeric, got " << type_str(c.in[0])
             << "; use and/or for bool tensors";
    return false;
  }
  if (kKind == BinKind::Logic && !is_bool(t)) {
    c.fail() << "operands must be bool tensors, got " << type_str(c.in[0]);
    return false;
  }
  Shape s;
  if (!broadcast_shapes(c.in[0].shape, c.in[1].shape, s)) {
    c.fail() << "shapes " << shape_str(c.in[0].shape) << " and "
             << shape_str(c.in[1].shape)
             << " do not broadcast; reshape or broadcast_to one of them";
    return false;
  }
  c.out.push_back({kKind == BinKind::Compare ? DType::Bool : t, s});
  return true;
}

int64_t i_div(int64_t a, int64_t b) {
  if (b == 0)
    return 0; // defined, so that no input can trap the oracle
  if (b == -1)
    return i_neg(a);
  return a / b;
}

int64_t i_pow(int64_t a, int64_t b) {
  if (b < 0)
    return a == 1 ? 1 : a == -1 ? (b % 2 ? -1 : 1) : 0;
  uint64_t r = 1, base = uint64_t(a);
  for (; b; b >>= 1, base *= base)
    if (b & 1)
      r *= base;
  return int64_t(r);
}

double nan_max(double a, double b) {
  return std::isnan(a) || std::isnan(b) ? std::nan("") : std::max(a, b);
}
double nan_min(double a, double b) {
  return std::isnan(a) || std::isnan(b) ? std::nan("") : std::min(a, b);
}

/// A broadcasting binary kernel: \p F on doubles, \p I on integers.
template <double (*F)(double, double), int64_t (*I)(int64_t, int64_t)>
void interp_binary(const Node &n, const std::vector<const HostTensor *> &in,
                   std::vector<HostTensor> &out) {
  const HostTensor &a = *in[0], &b = *in[1];
  HostTensor r(n.type());
  bool ints = is_integer(a.dtype());
  for_each_index(r.shape(), [&](const std::vector<int64_t> &idx, int64_t i) {
    int64_t ia = broadcast_offset(idx, a.shape());
    int64_t ib = broadcast_offset(idx, b.shape());
    if (ints)
      r.set_int(i, I(a.get_int(ia), b.get_int(ib)));
    else
      r.set(i, F(a.get(ia), b.get(ib)));
  });
  out.push_back(std::move(r));
}

double f_add(double a, double b) { return a + b; }
int64_t i_add(int64_t a, int64_t b) {
  return int64_t(uint64_t(a) + uint64_t(b));
}
double f_sub(double a, double b) { return a - b; }
int64_t i_sub(int64_t a, int64_t b) {
  return int64_t(uint64_t(a) - uint64_t(b));
}
double f_mul(double a, double b) { return a * b; }
int64_t i_mul(int64_t a, int64_t b) {
  return int64_t(uint64_t(a) * uint64_t(b));
}
double f_div(double a, double b) { return a / b; }
double f_pow(double a, double b) { return std::pow(a, b); }
int64_t i_max(int64_t a, int64_t b) { return std::max(a, b); }
int64_t i_min(int64_t a, int64_t b) { return std::min(a, b); }
double f_and(double a, double b) { return a != 0 && b != 0; }
double f_or(double a, double b) { return a != 0 || b != 0; }
int64_t i_and(int64_t a, int64_t b) { return a && b; }
int64_t i_or(int64_t a, int64_t b) { return a || b; }
// Comparisons: NaN compares unequal to everything, as in IEEE and C.
double f_eq(double a, double b) { return a == b; }
double f_ne(double a, double b) { return a != b; }
double f_lt(double a, double b) { return a < b; }
double f_le(double a, double b) { return a <= b; }
double f_gt(double a, double b) { return a > b; }
double f_ge(double a, double b) { return a >= b; }
int64_t i_eq(int64_t a, int64_t b) { return a == b; }
int64_t i_ne(int64_t a, int64_t b) { return a != b; }
int64_t i_lt(int64_t a, int64_t b) { return a < b; }
int64_t i_le(int64_t a, int64_t b) { return a <= b; }
int64_t i_gt(int64_t a, int64_t b) { return a > b; }
int64_t i_ge(int64_t a, int64_t b) { return a >= b; }

#define KILN_BINARY(name, kind, summary, F, I)                                 \
  const OpDef kOpDef_##name = {#name,                                          \
                               summary,                                        \
                               BinKind::kind == BinKind::Arith                 \
                                   ? "%c = " #name "(%a, %b) : f32[4,3]"       \
                                   : "%c = " #name "(%a, %b) : bool[4,3]",     \
                               2,                                              \
                               2,                                              \
                               {},                                             \
                               shape_binary<BinKind::kind>,                    \
                               interp_binary<F, I>};

// ---- Select and cast -----------------------------------------------------

bool shape_select(ShapeCtx &c) {
  if (!is_bool(c.in[0].dtype)) {
    c.fail() << "condition must be a bool tensor, got " << type_str(c.in[0]);
    return false;
  }
  if (c.in[1].dtype != c.in[2].dtype) {
    c.fail() << "value dtypes differ (" << type_str(c.in[1]) << " vs "
             << type_str(c.in[2]) << "); insert a cast";
    return false;
  }
  Shape s;
  if (!broadcast_shapes(c.in[0].shape, c.in[1].shape, s) ||
      !broadcast_shapes(s, c.in[2].shape, s)) {
    c.fail() << "shapes " << shape_str(c.in[0].shape) << ", "
             << shape_str(c.in[1].shape) << " and " << shape_str(c.in[2].shape)
             << " do not broadcast";
    return false;
  }
  c.out.push_back({c.in[1].dtype, s});
  return true;
}

void interp_select(const Node &n, const std::vector<const HostTensor *> &in,
                   std::vector<HostTensor> &out) {
  HostTensor r(n.type());
  bool ints = is_integer(r.dtype());
  for_each_index(r.shape(), [&](const std::vector<int64_t> &idx, int64_t i) {
    bool cond = in[0]->get_int(broadcast_offset(idx, in[0]->shape())) != 0;
    const HostTensor &src = cond ? *in[1] : *in[2];
    int64_t j = broadcast_offset(idx, src.shape());
    if (ints)
      r.set_int(i, src.get_int(j));
    else
      r.set(i, src.get(j));
  });
  out.push_back(std::move(r));
}

bool shape_cast(ShapeCtx &c) {
  TensorType t;
  if (!declared_type(c, t))
    return false;
  if (t.shape != c.in[0].shape) {
    c.fail() << "cast keeps the shape: operand " << type_str(c.in[0])
             << ", result " << type_str(t) << "; reshape separately";
    return false;
  }
  c.out.push_back(t);
  return true;
}

void interp_cast(const Node &n, const std::vector<const HostTensor *> &in,
                 std::vector<HostTensor> &out) {
  const HostTensor &x = *in[0];
  HostTensor r(n.type());
  // Integers and bool convert exactly (i64 -> i32 wraps); float -> int
  // truncates toward zero and saturates to the result dtype (set); everything
  // else rounds once (set).
  bool int_to_int = is_integer(r.dtype()) && !is_float(x.dtype());
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (int_to_int)
      r.set_int(i, x.get_int(i));
    else
      r.set(i, x.get(i));
  }
  out.push_back(std::move(r));
}

} // namespace

// clang-format off
KILN_UNARY(neg, Numeric, "negation: -x", f_neg, i_neg)
KILN_UNARY(abs, Numeric, "absolute value", f_abs, i_abs)
KILN_UNARY(sign, Numeric, "-1, 0 or 1 by the sign of x (NaN stays NaN)", sign, i_sign)
KILN_UNARY(exp, Float, "e^x", f_exp, kNoInt)
KILN_UNARY(log, Float, "natural logarithm", f_log, kNoInt)
KILN_UNARY(sqrt, Float, "square root", f_sqrt, kNoInt)
KILN_UNARY(rsqrt, Float, "1 / sqrt(x)", f_rsqrt, kNoInt)
KILN_UNARY(tanh, Float, "hyperbolic tangent", f_tanh, kNoInt)
KILN_UNARY(sigmoid, Float, "1 / (1 + e^-x)", sigmoid, kNoInt)
KILN_UNARY(relu, Numeric, "max(x, 0); NaN stays NaN", f_relu, i_relu)
KILN_UNARY(sin, Float, "sine", f_sin, kNoInt)
KILN_UNARY(cos, Float, "cosine", f_cos, kNoInt)
KILN_UNARY(erf, Float, "the error function", f_erf, kNoInt)
KILN_UNARY(floor, Float, "round toward -inf", f_floor, kNoInt)
KILN_UNARY(ceil, Float, "round toward +inf", f_ceil, kNoInt)
KILN_UNARY(round, Float, "round to nearest, ties to even", f_round, kNoInt)
KILN_UNARY(not, Bool, "logical not of a bool tensor", f_not, kNoInt)

KILN_BINARY(add, Arith, "a + b", f_add, i_add)
KILN_BINARY(sub, Arith, "a - b", f_sub, i_sub)
KILN_BINARY(mul, Arith, "a * b", f_mul, i_mul)
KILN_BINARY(div, Arith, "a / b; integers truncate toward zero, x/0 = 0", f_div, i_div)
KILN_BINARY(pow, Arith, "a ^ b", f_pow, i_pow)
KILN_BINARY(max, Arith, "elementwise maximum; NaN if either is NaN", nan_max, i_max)
KILN_BINARY(min, Arith, "elementwise minimum; NaN if either is NaN", nan_min, i_min)
KILN_BINARY(and, Logic, "logical and of bool tensors", f_and, i_and)
KILN_BINARY(or, Logic, "logical or of bool tensors", f_or, i_or)
KILN_BINARY(eq, Compare, "a == b, as bool", f_eq, i_eq)
KILN_BINARY(ne, Compare, "a != b, as bool (true for NaN)", f_ne, i_ne)
KILN_BINARY(lt, Compare, "a < b, as bool", f_lt, i_lt)
KILN_BINARY(le, Compare, "a <= b, as bool", f_le, i_le)
KILN_BINARY(gt, Compare, "a > b, as bool", f_gt, i_gt)
KILN_BINARY(ge, Compare, "a >= b, as bool", f_ge, i_ge)
// clang-format on

const OpDef kOpDef_is_finite = {"is_finite",
                                "true where x is neither NaN nor infinite",
                                "%ok = is_finite(%x) : bool[4]",
                                1,
                                1,
                                {},
                                shape_is_finite,
                                interp_unary<f_is_finite, kNoInt>};

const OpDef kOpDef_select = {
    "select",
    "c ? a : b elementwise, with broadcasting of all three",
    "%y = select(%c, %a, %b) : f32[4]",
    3,
    3,
    {},
    shape_select,
    interp_select};

const OpDef kOpDef_cast = {
    "cast",
    "converts to the dtype of the written result type: floats round to "
    "nearest even, float to int truncates toward zero and saturates (NaN -> "
    "0), nonzero to bool is true",
    "%y = cast(%x) : i32[4]",
    1,
    1,
    {},
    shape_cast,
    interp_cast,
    /*needs_result_type=*/true};

} // namespace kiln::ops
