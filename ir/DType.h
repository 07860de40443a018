/// \file
/// Element types of kiln tensors and their properties.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace kiln {

/// The element types of DESIGN.md, spelled in .kir as f32 f64 f16 bf16 i32 i64
/// bool.
enum class DType { F32, F64, F16, BF16, I32, I64, Bool };

constexpr int kNumDTypes = 7;

/// The .kir spelling: "f32", "bool", ...
std::string_view dtype_name(DType t);
/// Parses a .kir spelling; nullopt for anything else.
std::optional<DType> parse_dtype(std::string_view s);
/// Bytes per element (bool takes one byte).
size_t dtype_size(DType t);
bool is_float(DType t);
bool is_integer(DType t);
inline bool is_bool(DType t) { return t == DType::Bool; }

} // namespace kiln
