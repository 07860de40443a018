/// \file
/// Internals of ahead-of-time compilation (frontend/Aot.cpp): the layout of
/// the initial parameters and state, and the C code appended to the
/// generated program that copies them into the caller's buffers.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "codegen/ClangJit.h"
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

/// Writes \p blob to a content-named file in the temp directory (the same
/// bytes name the same file, so the object cache stays valid) for an
/// .incbin, and returns its path; the caller removes it after compiling.
std::string write_blob(const std::string &blob);

struct AotOptions;
struct AotResult;

/// The linker that merges relocatable objects for \p triple ("": the
/// host): ld.lld, else GNU ld (`TRIPLE-ld` for another triple); "" when
/// there is none.
std::string relocatable_linker(const std::string &triple);

/// Compiles \p units (one C program split by emit_c_parts) into one
/// relocatable object: one unit directly, several on threads and merged
/// with `linker -r`.
Status compile_units_to_object(const std::vector<std::string> &units,
                               const codegen::CCompileOptions &co,
                               const std::string &linker, std::string &object);

/// The CUDA target (AotCuda.cpp): lowers \p g for the GPU, compiles its
/// kernels with NVRTC (the image goes to a blob file appended to \p blobs)
/// and returns the host C: tables, driver loading, NAME_init, NAME_run...
/// It calls NAME_host_init_state, which the caller appends. Fills \p r's
/// kernel, launch, arena and device image fields.
std::string cuda_host_c(const Function &g, const std::string &name,
                        const AotOptions &o, AotResult &r,
                        std::vector<std::string> &blobs);

/// The rest of the host C, after NAME_host_init_state: NAME_init, NAME_run,
/// NAME_enqueue, NAME_free... (and NAME_set_weights_file for a side file).
std::string cuda_runtime_c(const std::string &name, const std::string &arch,
                           bool side_file);

/// The CUDA target's entry points in NAME.h.
std::string cuda_entry_points(const std::string &name,
                              const std::string &weights_file,
                              const std::string &arch);

} // namespace kiln::aot
