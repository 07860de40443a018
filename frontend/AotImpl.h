/// \file
/// Internals of ahead-of-time compilation (frontend/Aot.cpp): the layout of
/// the initial parameters and state, and the C code appended to the
/// generated program that copies them into the caller's buffers.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"
#include "ir/HostTensor.h"

#include <string>
#include <vector>

namespace kiln::aot {

/// The {param}/{state} parameters of \p f, in order.
std::vector<const Value *> state_params(const Function &f);

/// Where each state tensor lies: in the embedded blob (64-byte aligned) and
/// in the data buffer of the side file (back to back).
struct StateLayout {
  std::vector<std::string> names;
  std::vector<TensorType> types;
  std::vector<long long> bytes, blob_offsets, file_offsets;
  long long blob_bytes = 0;
};

StateLayout state_layout(const Function &f,
                         const std::vector<HostTensor> &init);

/// The embedded blob: each tensor at its blob offset, zero padding between.
std::string embedded_blob(const StateLayout &l,
                          const std::vector<HostTensor> &init);
/// The side file: a safetensors file of the state in order (zeros when
/// \p init is empty).
std::string side_file(const Function &f, const StateLayout &l,
                      const std::vector<HostTensor> &init);

/// NAME_init_state that zero-fills the buffers.
std::string zero_init_c(const std::string &name, const StateLayout &l);
/// NAME_init_state that copies from the blob in \p blob_path (.incbin).
std::string embedded_init_c(const std::string &name, const StateLayout &l,
                            const std::string &blob_path);
/// NAME_init_state that reads the side file \p file (whose bytes are
/// \p file_bytes), and NAME_set_weights_file.
std::string side_file_loader_c(const std::string &name, const StateLayout &l,
                               const std::string &file_bytes,
                               const std::string &path);

/// \p s as a C string literal.
std::string c_string(const std::string &s);

} // namespace kiln::aot
