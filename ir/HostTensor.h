/// \file
/// A dense, row-major tensor in host memory: constant data in the IR, and the
/// values the reference interpreter computes with. Elements are stored in
/// their dtype (f16/bf16 as their 16-bit patterns, bool as one byte) and read
/// or written through double (floats, bool) or int64 (integers).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Type.h"

#include <cstdint>
#include <cstring>
#include <vector>

namespace kiln {

class HostTensor {
public:
  HostTensor() = default;
  /// A zero-filled tensor of type \p t.
  explicit HostTensor(TensorType t);
  /// A tensor of \p t filled from \p values (row-major), each rounded to the
  /// dtype as by set(). \p values must hold t.numel() elements.
  static HostTensor from(TensorType t, const std::vector<double> &values);
  static HostTensor from_ints(TensorType t, const std::vector<int64_t> &values);
  /// A tensor of \p t with every element \p v.
  static HostTensor splat(TensorType t, double v);

  const TensorType &type() const { return type_; }
  DType dtype() const { return type_.dtype; }
  const Shape &shape() const { return type_.shape; }
  int64_t numel() const { return type_.numel(); }

  /// Element \p i as a double (integers convert, bool is 0 or 1).
  double get(int64_t i) const;
  /// Element \p i as an integer (floats truncate toward zero).
  int64_t get_int(int64_t i) const;
  /// Stores \p v rounded to the dtype: to nearest even for f32/f16/bf16;
  /// toward zero and saturated (NaN -> 0) for integers; v != 0 for bool.
  void set(int64_t i, double v);
  /// Stores an integer exactly for integer dtypes (wrapping for i32), else
  /// as set(i, double(v)).
  void set_int(int64_t i, int64_t v);

  /// Raw storage: numel() * dtype_size() bytes.
  unsigned char *bytes() { return data_.data(); }
  const unsigned char *bytes() const { return data_.data(); }
  template <typename T> T *data() {
    return reinterpret_cast<T *>(data_.data());
  }
  template <typename T> const T *data() const {
    return reinterpret_cast<const T *>(data_.data());
  }

  /// Same type and the same bytes (so NaNs with equal bits compare equal).
  bool bit_equal(const HostTensor &o) const {
    return type_ == o.type_ && data_ == o.data_;
  }

private:
  TensorType type_;
  std::vector<unsigned char> data_;
};

/// IEEE binary16 and bfloat16 conversions, rounding to nearest even.
uint16_t float_to_half(float f);
float half_to_float(uint16_t h);
uint16_t float_to_bf16(float f);
float bf16_to_float(uint16_t b);

} // namespace kiln
