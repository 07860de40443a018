/// \file
/// kiln-run's debugging options (docs/debugging.md): --probe, --dump,
/// --check-numerics, --profile, --time-passes, --emit-c, --emit-cuda. Kept
/// apart from KilnRun.cpp so that the tool's main stays a thin list of steps.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "frontend/Compile.h"

#include <string>
#include <vector>

namespace kiln::tools {

/// The options' lines of kiln-run --help.
extern const char *kDebugUsage;

struct DebugOptions {
  std::vector<std::string> probes;
  std::string dump_dir, profile, emit_c_dir, emit_cuda_dir;
  bool check_numerics = false, time_passes = false;
  /// Milliseconds kiln-run spent parsing, verifying and canonicalizing
  /// before kiln::compile (set by kiln-run).
  mutable double load_ms = 0;

  /// Consumes argv[i] (and its value, advancing \p i) when it is one of
  /// these options: 1 when consumed, 0 when not, 2 after printing an error.
  int parse(int argc, char **argv, int &i);
  /// Puts the load_ms phase before \p exe's compile phases, so profiles
  /// and --time-passes show the whole compile.
  void add_load_phase(Executable &exe) const;
  /// Sets the compile options these options need.
  void apply(CompileOptions &co) const;
  /// Evaluates \p f on \p args with the interpreter, probes included.
  std::vector<HostTensor> interpret(const Function &f,
                                    const std::vector<HostTensor> &args) const;
  /// Moves the probe values off the end of \p results (which holds the
  /// regular results followed by one per probe) and prints each: type,
  /// min/max/mean/std and NaN/Inf counts; with --dump writes DIR/NAME.npy.
  /// False after printing an error.
  bool report_probes(std::vector<HostTensor> &results) const;
  /// After a compiled run: --time-passes and --profile tables and files,
  /// --emit-c. False after printing an error.
  bool report_run(const Executable &exe) const;
  /// --emit-cuda: lowers \p f for the CUDA target as kiln::compile would
  /// with \p co and writes DIR/FUNC.cu (kernels, then their launches as
  /// comments). Needs no GPU. False after printing an error.
  bool write_cuda(const Function &f, const CompileOptions &co) const;
};

/// Writes \p t to \p path as a NumPy .npy file (bf16 is widened to f32,
/// which NumPy lacks). False with \p err set on failure.
bool write_npy(const std::string &path, const HostTensor &t, std::string &err);

} // namespace kiln::tools
