/// \file
/// NVRTC compilation with the disk cache and the PTX fallback (Nvrtc.h).
// SPDX-License-Identifier: Apache-2.0
#include "codegen/Nvrtc.h"

#include "codegen/CompileCache.h"

#include <algorithm>
#include <chrono>

#ifdef KILN_HAVE_NVRTC
#include <nvrtc.h>
#endif

namespace kiln::codegen {

int arch_number(const std::string &arch) {
  size_t us = arch.find('_');
  if (us == std::string::npos)
    return -1;
  try {
    return std::stoi(arch.substr(us + 1));
  } catch (...) {
    return -1;
  }
}

#ifndef KILN_HAVE_NVRTC

bool nvrtc_available() { return false; }
std::string nvrtc_version() { return ""; }
std::vector<int> nvrtc_supported_archs() { return {}; }
Status nvrtc_compile(const std::string &, const NvrtcOptions &, NvrtcResult &) {
  return Status::error("kiln was built without the CUDA toolkit (NVRTC): "
                       "install it in /usr/local/cuda and reconfigure");
}

#else

namespace {

std::string nvrtc_error(const std::string &what, nvrtcResult r) {
  return what + ": " + nvrtcGetErrorString(r);
}

/// Owns an nvrtcProgram.
struct Program {
  nvrtcProgram p = nullptr;
  ~Program() {
    if (p)
      nvrtcDestroyProgram(&p);
  }
};

Status run_nvrtc(const std::string &source, const NvrtcOptions &o,
                 const std::string &arch, bool ptx, NvrtcResult &out) {
  Program prog;
  nvrtcResult r = nvrtcCreateProgram(&prog.p, source.c_str(), o.name.c_str(), 0,
                                     nullptr, nullptr);
  if (r != NVRTC_SUCCESS)
    return Status::error(nvrtc_error("nvrtcCreateProgram", r));
  std::vector<std::string> flags = {"-arch=" + arch, "--std=c++17"};
  flags.insert(flags.end(), o.extra_flags.begin(), o.extra_flags.end());
  std::vector<const char *> argv;
  for (const std::string &f : flags)
    argv.push_back(f.c_str());
  nvrtcResult cr = nvrtcCompileProgram(prog.p, int(argv.size()), argv.data());
  size_t log_size = 0;
  nvrtcGetProgramLogSize(prog.p, &log_size);
  std::string log(log_size, '\0');
  if (log_size > 0)
    nvrtcGetProgramLog(prog.p, &log[0]);
  while (!log.empty() && (log.back() == '\0' || log.back() == '\n'))
    log.pop_back();
  out.log = log;
  if (cr != NVRTC_SUCCESS)
    return Status::error(nvrtc_error("NVRTC failed for " + arch, cr) + "\n" +
                         log);
  size_t size = 0;
  r = ptx ? nvrtcGetPTXSize(prog.p, &size) : nvrtcGetCUBINSize(prog.p, &size);
  if (r != NVRTC_SUCCESS)
    return Status::error(nvrtc_error("nvrtcGet*Size", r));
  out.image.assign(size, '\0');
  r = ptx ? nvrtcGetPTX(prog.p, &out.image[0])
          : nvrtcGetCUBIN(prog.p, &out.image[0]);
  if (r != NVRTC_SUCCESS)
    return Status::error(nvrtc_error("nvrtcGetPTX/CUBIN", r));
  return Status::ok();
}

} // namespace

bool nvrtc_available() { return true; }

std::string nvrtc_version() {
  int major = 0, minor = 0;
  if (nvrtcVersion(&major, &minor) != NVRTC_SUCCESS)
    return "";
  return std::to_string(major) + "." + std::to_string(minor);
}

std::vector<int> nvrtc_supported_archs() {
  int n = 0;
  if (nvrtcGetNumSupportedArchs(&n) != NVRTC_SUCCESS || n <= 0)
    return {};
  std::vector<int> archs(size_t(n), 0);
  if (nvrtcGetSupportedArchs(archs.data()) != NVRTC_SUCCESS)
    return {};
  return archs;
}

Status nvrtc_compile(const std::string &source, const NvrtcOptions &o,
                     NvrtcResult &out) {
  auto t0 = std::chrono::steady_clock::now();
  out = NvrtcResult();
  int want = arch_number(o.arch);
  if (want <= 0)
    return Status::error("bad CUDA architecture '" + o.arch +
                         "': use sm_XX or compute_XX (e.g. sm_90)");
  bool ptx = o.arch.rfind("compute_", 0) == 0;
  std::string arch = o.arch;
  std::vector<int> known = nvrtc_supported_archs();
  if (!known.empty() &&
      std::find(known.begin(), known.end(), want) == known.end()) {
    // Newer than this NVRTC: PTX for the newest older one; the driver
    // JIT-compiles it for the device.
    int best = -1;
    for (int a : known)
      if (a < want)
        best = std::max(best, a);
    if (best < 0)
      return Status::error(
          "CUDA architecture " + o.arch + " is older than NVRTC " +
          nvrtc_version() + " supports (oldest: sm_" +
          std::to_string(*std::min_element(known.begin(), known.end())) + ")");
    arch = "compute_" + std::to_string(best);
    ptx = true;
  }
  out.arch = arch;
  out.is_ptx = ptx;
  bool cached = o.use_cache && detail::cache_enabled_by_env();
  std::string dir =
      o.cache_dir.empty() ? detail::default_cache_dir() : o.cache_dir;
  std::string path;
  if (cached && !dir.empty()) {
    std::string flags;
    for (const std::string &f : o.extra_flags)
      flags += f + "\n";
    std::string parts[] = {"nvrtc", source, arch, flags, nvrtc_version()};
    path = detail::cache_entry_path(dir, detail::cache_key(parts, 5));
    if (detail::cache_load(path, out.image)) {
      out.cache_hit = true;
      return Status::ok();
    }
  }
  Status st = run_nvrtc(source, o, arch, ptx, out);
  if (st && !path.empty())
    detail::cache_store(path, out.image);
  out.compile_ms = std::chrono::duration<double, std::milli>(
                       std::chrono::steady_clock::now() - t0)
                       .count();
  return st;
}

#endif

} // namespace kiln::codegen
