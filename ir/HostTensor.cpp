/// \file
/// Element access with dtype conversion, and 16-bit float conversions.
// SPDX-License-Identifier: Apache-2.0
#include "ir/HostTensor.h"

#include "ir/Error.h"

#include <cmath>
#include <limits>

namespace kiln {

HostTensor::HostTensor(TensorType t) : type_(std::move(t)) {
  KILN_CHECK(checked_numel(type_.shape) >= 0)
      << "tensor too large: " << type_str(type_);
  data_.assign(type_.bytes(), 0);
}

HostTensor HostTensor::from(TensorType t, const std::vector<double> &values) {
  HostTensor r(std::move(t));
  KILN_CHECK(int64_t(values.size()) == r.numel())
      << values.size() << " values for " << type_str(r.type());
  for (int64_t i = 0; i < r.numel(); ++i)
    r.set(i, values[i]);
  return r;
}

HostTensor HostTensor::from_ints(TensorType t,
                                 const std::vector<int64_t> &values) {
  HostTensor r(std::move(t));
  KILN_CHECK(int64_t(values.size()) == r.numel())
      << values.size() << " values for " << type_str(r.type());
  for (int64_t i = 0; i < r.numel(); ++i)
    r.set_int(i, values[i]);
  return r;
}

HostTensor HostTensor::splat(TensorType t, double v) {
  HostTensor r(std::move(t));
  for (int64_t i = 0; i < r.numel(); ++i)
    r.set(i, v);
  return r;
}

double HostTensor::get(int64_t i) const {
  switch (type_.dtype) {
  case DType::F32:
    return data<float>()[i];
  case DType::F64:
    return data<double>()[i];
  case DType::F16:
    return half_to_float(data<uint16_t>()[i]);
  case DType::BF16:
    return bf16_to_float(data<uint16_t>()[i]);
  case DType::I32:
    return data<int32_t>()[i];
  case DType::I64:
    return double(data<int64_t>()[i]);
  case DType::Bool:
    return data<uint8_t>()[i] ? 1.0 : 0.0;
  }
  KILN_UNREACHABLE("bad dtype");
}

int64_t HostTensor::get_int(int64_t i) const {
  switch (type_.dtype) {
  case DType::I32:
    return data<int32_t>()[i];
  case DType::I64:
    return data<int64_t>()[i];
  case DType::Bool:
    return data<uint8_t>()[i];
  default: {
    double v = get(i);
    if (std::isnan(v))
      return 0;
    if (v >= 9.2233720368547758e18)
      return std::numeric_limits<int64_t>::max();
    if (v <= -9.2233720368547758e18)
      return std::numeric_limits<int64_t>::min();
    return int64_t(v);
  }
  }
}

namespace {
template <typename T> T saturate(double v) {
  if (std::isnan(v))
    return 0;
  if (v >= double(std::numeric_limits<T>::max()))
    return std::numeric_limits<T>::max();
  if (v <= double(std::numeric_limits<T>::min()))
    return std::numeric_limits<T>::min();
  return T(v);
}
} // namespace

void HostTensor::set(int64_t i, double v) {
  switch (type_.dtype) {
  case DType::F32:
    data<float>()[i] = float(v);
    return;
  case DType::F64:
    data<double>()[i] = v;
    return;
  case DType::F16:
    data<uint16_t>()[i] = float_to_half(float(v));
    return;
  case DType::BF16:
    data<uint16_t>()[i] = float_to_bf16(float(v));
    return;
  case DType::I32:
    data<int32_t>()[i] = saturate<int32_t>(v);
    return;
  case DType::I64:
    data<int64_t>()[i] = saturate<int64_t>(v);
    return;
  case DType::Bool:
    data<uint8_t>()[i] = v != 0.0;
    return;
  }
}

void HostTensor::set_int(int64_t i, int64_t v) {
  switch (type_.dtype) {
  case DType::I32:
    data<int32_t>()[i] = int32_t(uint32_t(uint64_t(v)));
    return;
  case DType::I64:
    data<int64_t>()[i] = v;
    return;
  default:
    set(i, double(v));
  }
}

uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) // NaN: keep it quiet
    return uint16_t(sign | 0x7e00u);
  if (absx >= 0x477ff000u) // rounds to >= 65520: infinity
    return uint16_t(sign | 0x7c00u);
  if (absx < 0x38800000u) { // subnormal or zero in half
    float a;
    std::memcpy(&a, &absx, 4);
    // Scale so that the half subnormal unit (2^-24) is 1, round to nearest
    // even.
    float scaled = a * 16777216.0f;
    uint32_t m = uint32_t(std::nearbyint(scaled));
    return uint16_t(sign | m);
  }
  uint32_t mant = absx & 0x7fffffu;
  uint32_t exp = (absx >> 23) - 127 + 15;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
    ++h;
  return uint16_t(sign | h);
}

float half_to_float(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  float r;
  if (exp == 0) {
    r = std::ldexp(float(mant), -24);
  } else if (exp == 31) {
    r = mant ? std::numeric_limits<float>::quiet_NaN()
             : std::numeric_limits<float>::infinity();
  } else {
    uint32_t x = ((exp - 15 + 127) << 23) | (mant << 13);
    std::memcpy(&r, &x, 4);
  }
  return sign ? -r : r;
}

uint16_t float_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return uint16_t((x >> 16) | 0x40u);
  uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return uint16_t(x >> 16);
}

float bf16_to_float(uint16_t b) {
  uint32_t x = uint32_t(b) << 16;
  float r;
  std::memcpy(&r, &x, 4);
  return r;
}

} // namespace kiln
