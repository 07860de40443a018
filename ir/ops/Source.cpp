/// \file
/// Source ops, which make a tensor from attributes alone: constant, iota,
/// and the counter-based random ops random_uniform and random_normal
/// (Philox4x32-10, ir/Philox.h, so that every backend draws the same bits).
/// All four take their result type from the written annotation.
// SPDX-License-Identifier: Apache-2.0
#include "ir/ops/OpDefs.h"

#include "ir/Philox.h"

#include <cmath>
#include <cstdint>
#include <limits>

namespace kiln::ops {

namespace {

// ---- constant ------------------------------------------------------------

/// Whether \p a is a valid element of a constant of dtype \p t; else says
/// why in \p c.
bool check_element(ShapeCtx &c, const Attribute &a, DType t) {
  bool is_b = a.kind() == Attribute::Kind::Bool;
  if (is_bool(t)) {
    if (is_b || (a.is_int() && (a.as_int() == 0 || a.as_int() == 1)))
      return true;
    c.fail() << "a bool constant takes true, false, 0 or 1, got "
             << attr_str(a);
    return false;
  }
  if (is_float(t)) {
    if (a.is_number())
      return true;
    c.fail() << "a " << dtype_name(t) << " constant takes numbers, got "
             << attr_str(a) << "; write 1.0 or 0.0";
    return false;
  }
  // Integer dtypes: integers (or bools), in range.
  if (a.is_float()) {
    c.fail() << "an " << dtype_name(t) << " constant takes integers, got "
             << attr_str(a) << "; use a float dtype or an integer value";
    return false;
  }
  if (a.is_int() && t == DType::I32 &&
      (a.as_int() < std::numeric_limits<int32_t>::min() ||
       a.as_int() > std::numeric_limits<int32_t>::max())) {
    c.fail() << "value " << a.as_int() << " does not fit in i32; use i64";
    return false;
  }
  return true;
}

bool shape_constant(ShapeCtx &c) {
  TensorType t;
  if (!declared_type(c, t))
    return false;
  const Attribute &v = c.attr("value");
  if (v.is_list()) {
    const AttrList &l = v.as_list();
    if (int64_t(l.size()) != t.numel()) {
      c.fail() << "'value' has " << l.size() << " elements but " << type_str(t)
               << " has " << t.numel()
               << "; give one value (a splat) or exactly " << t.numel();
      return false;
    }
    for (const Attribute &e : l)
      if (!check_element(c, e, t.dtype))
        return false;
  } else if (!check_element(c, v, t.dtype)) {
    return false;
  }
  c.out.push_back(t);
  return true;
}

void store_attr(HostTensor &r, int64_t i, const Attribute &a) {
  if (a.is_int())
    r.set_int(i, a.as_int());
  else if (a.is_float())
    r.set(i, a.as_number());
  else
    r.set(i, a.as_bool() ? 1.0 : 0.0);
}

void interp_constant(const Node &n, const std::vector<const HostTensor *> &,
                     std::vector<HostTensor> &out) {
  HostTensor r(n.type());
  const Attribute &v = *n.attr("value");
  for (int64_t i = 0; i < r.numel(); ++i)
    store_attr(r, i, v.is_list() ? v.as_list()[size_t(i)] : v);
  out.push_back(std::move(r));
}

// ---- iota ----------------------------------------------------------------

bool shape_iota(ShapeCtx &c) {
  TensorType t;
  if (!declared_type(c, t))
    return false;
  if (is_bool(t.dtype)) {
    c.fail() << "result must be numeric, got " << type_str(t);
    return false;
  }
  if (normalize_axis(c.int_attr("axis"), t.rank()) < 0) {
    c.fail() << "axis " << c.int_attr("axis") << " is out of range for "
             << type_str(t);
    return false;
  }
  c.out.push_back(t);
  return true;
}

void interp_iota(const Node &n, const std::vector<const HostTensor *> &,
                 std::vector<HostTensor> &out) {
  HostTensor r(n.type());
  size_t axis = size_t(normalize_axis(n.int_attr("axis"), r.type().rank()));
  for_each_index(r.shape(), [&](const std::vector<int64_t> &idx, int64_t i) {
    r.set_int(i, idx[axis]);
  });
  out.push_back(std::move(r));
}

// ---- random --------------------------------------------------------------

bool shape_random(ShapeCtx &c) {
  for (size_t i = 0; i < 2; ++i)
    if (c.in[i] != TensorType{DType::I64, {}}) {
      c.fail() << (i == 0 ? "seed" : "offset") << " must be an i64[] scalar, "
               << "got " << type_str(c.in[i]);
      return false;
    }
  TensorType t;
  if (!declared_type(c, t))
    return false;
  if (!is_float(t.dtype)) {
    c.fail() << "result must be a float tensor, got " << type_str(t)
             << "; cast the samples afterwards";
    return false;
  }
  c.out.push_back(t);
  return true;
}

void interp_random_uniform(const Node &n,
                           const std::vector<const HostTensor *> &in,
                           std::vector<HostTensor> &out) {
  HostTensor r(n.type());
  uint64_t seed = uint64_t(in[0]->get_int(0));
  uint64_t offset = uint64_t(in[1]->get_int(0));
  philox::Counter bits{};
  for (int64_t i = 0; i < r.numel(); ++i) {
    if (i % 4 == 0)
      bits = philox::bits(seed, uint64_t(i / 4), offset);
    r.set(i, philox::uniform01(bits[size_t(i % 4)]));
  }
  out.push_back(std::move(r));
}

void interp_random_normal(const Node &n,
                          const std::vector<const HostTensor *> &in,
                          std::vector<HostTensor> &out) {
  const double kTwoPi = 6.283185307179586476925;
  HostTensor r(n.type());
  uint64_t seed = uint64_t(in[0]->get_int(0));
  uint64_t offset = uint64_t(in[1]->get_int(0));
  philox::Counter bits{};
  for (int64_t i = 0; i < r.numel(); ++i) {
    if (i % 2 == 0)
      bits = philox::bits(seed, uint64_t(i / 2), offset);
    size_t lane = size_t(2 * (i % 2));
    double u1 = philox::uniform01_open0(bits[lane]);
    double u2 = philox::uniform01(bits[lane + 1]);
    r.set(i, std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2));
  }
  out.push_back(std::move(r));
}

} // namespace

const OpDef kOpDef_constant = {
    "constant",
    "a tensor of the written type from 'value': one number (a splat) or "
    "every element in row-major order",
    "%c = constant() {value = [1.0, 2.0, 3.0]} : f32[3]",
    0,
    0,
    {{"value", AttrKind::Value, std::nullopt}},
    shape_constant,
    interp_constant,
    /*needs_result_type=*/true};

const OpDef kOpDef_iota = {"iota",
                           "each element is its index along 'axis'",
                           "%i = iota() {axis = 1} : i64[2,3]",
                           0,
                           0,
                           {{"axis", AttrKind::Int, Attribute(0)}},
                           shape_iota,
                           interp_iota,
                           /*needs_result_type=*/true};

const OpDef kOpDef_random_uniform = {
    "random_uniform",
    "uniform samples in [0, 1) from Philox4x32-10 keyed by the i64 seed; "
    "element i reads lane i%4 of block i/4 at the i64 offset",
    "%u = random_uniform(%seed, %offset) : f32[128]",
    2,
    2,
    {},
    shape_random,
    interp_random_uniform,
    /*needs_result_type=*/true};

const OpDef kOpDef_random_normal = {
    "random_normal",
    "standard normal samples by Box-Muller from Philox4x32-10; element i "
    "reads lanes 2*(i%2) and 2*(i%2)+1 of block i/2",
    "%z = random_normal(%seed, %offset) : f32[128]",
    2,
    2,
    {},
    shape_random,
    interp_random_normal,
    /*needs_result_type=*/true};

} // namespace kiln::ops
