/// \file
/// Run-time compilation of CUDA C++ with NVRTC: for a named architecture
/// (sm_80, sm_90, ...: a CUBIN), or, when NVRTC does not know the
/// architecture (a device newer than the toolkit), PTX for the newest
/// virtual architecture it does know, which the driver compiles on load.
/// Results are cached on disk (CompileCache.h) under a key of the source,
/// the architecture, the flags and the NVRTC version, written atomically: a
/// warm compile makes no NVRTC call. Built without the CUDA toolkit, every
/// compile returns an error Status that says so.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Error.h"

#include <string>
#include <vector>

namespace kiln::codegen {

struct NvrtcOptions {
  /// "sm_XX" (a CUBIN for that architecture) or "compute_XX" (PTX only).
  std::string arch = "sm_80";
  /// Consult and fill the disk cache (KILN_CACHE=0 turns it off).
  bool use_cache = true;
  /// "": the default cache directory (CompileCache.h).
  std::string cache_dir;
  /// The source's file name in NVRTC's messages.
  std::string name = "kiln.cu";
  /// Extra NVRTC flags after kiln's own.
  std::vector<std::string> extra_flags;
};

struct NvrtcResult {
  /// A CUBIN (is_ptx false) or NUL-terminated PTX text (is_ptx true), ready
  /// for cuModuleLoadData.
  std::string image;
  bool is_ptx = false;
  /// The architecture actually compiled for ("sm_90", or "compute_90" on
  /// the PTX fallback).
  std::string arch;
  /// NVRTC's log (warnings); empty when clean or cached.
  std::string log;
  bool cache_hit = false;
  double compile_ms = 0;
};

/// The number of an arch name: 90 for "sm_90" or "compute_90"; -1 when it
/// has none.
int arch_number(const std::string &arch);

/// True when kiln was built with NVRTC (the CUDA toolkit was found).
bool nvrtc_available();

/// NVRTC's version as "MAJOR.MINOR", or "" without NVRTC.
std::string nvrtc_version();

/// The sm_XX numbers NVRTC can build CUBINs for (e.g. 75, 80, ..., 120).
std::vector<int> nvrtc_supported_archs();

/// Compiles \p source for \p o.arch into \p out. An arch NVRTC does not
/// support falls back to PTX for the newest supported one below it. The
/// error Status carries NVRTC's log.
Status nvrtc_compile(const std::string &source, const NvrtcOptions &o,
                     NvrtcResult &out);

} // namespace kiln::codegen
