/// \file
/// Private to Safetensors*.cpp: the dtype table and limits of the
/// safetensors format shared by the reader and the writer.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/DType.h"
#include "ir/Error.h"

#include <cstdint>

namespace kiln::safetensors {

/// The reference implementation rejects headers above 100 MB.
constexpr uint64_t kMaxHeaderBytes = 100'000'000;
/// The reserved key of the header's string map.
constexpr const char *kMetadataKey = "__metadata__";

struct DTypeInfo {
  DType dtype;
  const char *name; ///< as in the header: "F32"
  int ref_rank;     ///< position in the reference `Dtype` enum (write order)
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F32, "F32", 4},   {DType::F64, "F64", 5}, {DType::F16, "F16", 1},
    {DType::BF16, "BF16", 2}, {DType::I32, "I32", 3}, {DType::I64, "I64", 6},
    {DType::Bool, "BOOL", 0}};

inline const DTypeInfo &dtype_info(DType t) {
  for (const DTypeInfo &d : kDTypes)
    if (d.dtype == t)
      return d;
  KILN_UNREACHABLE("dtype missing from kDTypes");
}

} // namespace kiln::safetensors
