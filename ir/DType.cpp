/// \file
/// Names and sizes of element types.
// SPDX-License-Identifier: Apache-2.0
#include "ir/DType.h"

namespace kiln {

namespace {
struct DTypeInfo {
  DType type;
  std::string_view name;
  size_t size;
};
constexpr DTypeInfo kDTypes[kNumDTypes] = {
    {DType::F32, "f32", 4},   {DType::F64, "f64", 8}, {DType::F16, "f16", 2},
    {DType::BF16, "bf16", 2}, {DType::I32, "i32", 4}, {DType::I64, "i64", 8},
    {DType::Bool, "bool", 1},
};
} // namespace

std::string_view dtype_name(DType t) { return kDTypes[int(t)].name; }

std::optional<DType> parse_dtype(std::string_view s) {
  for (const DTypeInfo &d : kDTypes)
    if (d.name == s)
      return d.type;
  return std::nullopt;
}

size_t dtype_size(DType t) { return kDTypes[int(t)].size; }

bool is_float(DType t) {
  return t == DType::F32 || t == DType::F64 || t == DType::F16 ||
         t == DType::BF16;
}

bool is_integer(DType t) { return t == DType::I32 || t == DType::I64; }

} // namespace kiln
