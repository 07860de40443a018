/// \file
/// Weight files in the safetensors format (https://github.com/huggingface/
/// safetensors): an 8-byte little-endian header length N, N bytes of JSON
/// `{"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
/// "__metadata__": {"key": "value"}}`, then the data buffer, each tensor
/// row-major and little-endian at [b, e) of the buffer. kiln reads and writes
/// the dtypes F32 F64 F16 BF16 I32 I64 BOOL.
///
/// Reading never trusts the file: every length, offset, shape and name is
/// checked before any data is copied, and a bad file yields a Status naming
/// the file and the tensor, never a crash or a partial result. The Status
/// functions are for tools and the C ABI; load_safetensors/save_safetensors
/// throw kiln::Error for the C++ API (STYLE B5).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Error.h"
#include "ir/HostTensor.h"

#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace kiln {

class Function;

/// Named tensors in a caller-chosen order.
using NamedTensors = std::vector<std::pair<std::string, HostTensor>>;
/// The free-form string map stored under "__metadata__".
using TensorMetadata = std::map<std::string, std::string>;

/// Decodes a whole safetensors file held in memory (\p size bytes at
/// \p data). On success \p out holds every tensor sorted by name (it is
/// cleared first) and \p metadata, when given, the metadata (empty when the
/// file has none). On failure \p out and \p metadata are left empty and the
/// message starts with "<source>: ". Gaps between tensors and bytes after
/// the last one are allowed (some writers pad); overlaps are not. BOOL bytes
/// other than 0 read as true.
Status parse_safetensors(const void *data, size_t size,
                         const std::string &source, NamedTensors &out,
                         TensorMetadata *metadata = nullptr);

/// Reads the file \p path as parse_safetensors does, copying each tensor
/// from the file straight into its HostTensor (the file is not held in
/// memory as a whole).
Status read_safetensors(const std::string &path, NamedTensors &out,
                        TensorMetadata *metadata = nullptr);

/// Encodes \p tensors (none null; names unique, non-empty and not
/// "__metadata__") and \p metadata as the reference implementation does:
/// compact JSON with "__metadata__" first (omitted when empty), the header
/// padded with spaces to a multiple of 8 bytes so that the buffer is 8-byte
/// aligned, and tensors laid out back to back in the reference order (I64,
/// F64, F32, I32, BF16, F16, BOOL, then by name), so that each starts aligned
/// to its element size. Fails on a bad name or non-UTF-8 text.
Status serialize_safetensors(
    const std::vector<std::pair<std::string, const HostTensor *>> &tensors,
    const TensorMetadata &metadata, std::string &out);

/// Writes serialize_safetensors()'s bytes to \p path atomically: to a
/// temporary file in the same directory, then renamed over \p path, so a
/// reader never sees a half-written file and a failure leaves \p path as it
/// was.
Status write_safetensors(
    const std::string &path,
    const std::vector<std::pair<std::string, const HostTensor *>> &tensors,
    const TensorMetadata &metadata = {});

/// read_safetensors for the C++ API: throws kiln::Error on failure.
NamedTensors load_safetensors(const std::string &path,
                              TensorMetadata *metadata = nullptr);
/// write_safetensors for the C++ API: throws kiln::Error on failure.
void save_safetensors(const std::string &path, const NamedTensors &tensors,
                      const TensorMetadata &metadata = {});

/// How bind_by_name matches tensors to parameters.
struct BindOptions {
  /// Every parameter must be found in the tensors; otherwise parameters
  /// without a tensor keep their value in args.
  bool require_all = false;
  /// A tensor that names no parameter is skipped instead of an error.
  bool allow_unused = false;
  /// Names the tensors' origin in messages, e.g. the file.
  std::string source = "tensors";
};

/// Copies each tensor of \p tensors into the argument of the parameter of
/// \p f with the same name (the value's name without '%'). \p args must
/// hold one tensor per parameter already (defaults, e.g. random or zeros).
/// Fails, naming the parameter, on a dtype or shape mismatch, a missing
/// parameter (require_all), an unknown name (unless allow_unused) or a
/// duplicate name; on failure \p args is unchanged. \p num_bound, when
/// given, receives the number of parameters bound.
Status bind_by_name(const Function &f, const NamedTensors &tensors,
                    std::vector<HostTensor> &args,
                    const BindOptions &options = {},
                    size_t *num_bound = nullptr);

} // namespace kiln
