/// \file
/// Ahead-of-time compilation: canonicalize, lower, emit C, append the
/// initial-state code (embedded blob or side-file loader) and compile to an
/// object for the requested CPU.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Aot.h"
#include "frontend/AotImpl.h"

#include "codegen/CPrinter.h"
#include "codegen/ClangJit.h"
#include "ir/Error.h"
#include "passes/PassManager.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <thread>
#include <unistd.h>

namespace kiln::aot {

namespace {

bool is_c_identifier(const std::string &s) {
  if (s.empty() || std::isdigit((unsigned char)s[0]))
    return false;
  for (char c : s)
    if (!std::isalnum((unsigned char)c) && c != '_')
      return false;
  return true;
}

/// Checks \p init against the {param}/{state} parameters of \p f.
void check_initial_state(const Function &f,
                         const std::vector<HostTensor> &init) {
  std::vector<const Value *> state = state_params(f);
  if (init.empty())
    return;
  if (init.size() != state.size())
    throw Error("aot: " + std::to_string(init.size()) +
                " initial state tensors for " + std::to_string(state.size()) +
                " {param}/{state} parameters of @" + f.name());
  for (size_t i = 0; i < state.size(); ++i)
    if (init[i].type() != state[i]->type())
      throw Error("aot: the initial value of %" + state[i]->name() + " is " +
                  type_str(init[i].type()) + ", the parameter is " +
                  type_str(state[i]->type()));
}

/// \p v joined with commas.
std::string join(const std::vector<std::string> &v) {
  std::string r;
  for (const std::string &s : v)
    r += (r.empty() ? "" : ",") + s;
  return r;
}

long long arena_from_source(const std::string &src, const std::string &name,
                            long long fallback) {
  std::smatch m;
  std::regex re("const long long " + name + "_arena_bytes = ([0-9]+)ll;");
  if (std::regex_search(src, m, re))
    return std::atoll(m[1].str().c_str());
  return fallback;
}

/// The compile options of \p o: the CPU defaults to x86-64-v3 on an x86-64
/// host and "generic" otherwise or for another triple.
codegen::CCompileOptions object_options(const AotOptions &o,
                                        const std::string &name) {
  codegen::CCompileOptions co;
  co.triple = o.triple;
#if defined(__x86_64__)
  const char *host_cpu = "x86-64-v3";
#else
  const char *host_cpu = "generic";
#endif
  co.cpu = !o.cpu.empty() ? o.cpu : o.triple.empty() ? host_cpu : "generic";
  if (co.cpu == "native" && !co.triple.empty())
    throw Error("aot: cpu 'native' needs the host triple, not '" + co.triple +
                "'");
  co.name = name;
  co.use_cache = o.use_cache;
  return co;
}

} // namespace

/// 64-bit FNV-1a of \p s: names the blob file by content so that the object
/// cache (keyed by the C source) never returns stale weights.
static uint64_t fnv1a(const std::string &s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s)
    h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string write_blob(const std::string &blob) {
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)fnv1a(blob));
  namespace fs = std::filesystem;
  fs::path p =
      fs::temp_directory_path() / ("kiln-aot-" + std::string(hex) + "-" +
                                   std::to_string(blob.size()) + ".bin");
  std::error_code ec;
  if (fs::exists(p, ec) && fs::file_size(p, ec) == blob.size())
    return p.string();
  fs::path tmp = p.string() + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(blob.data(), std::streamsize(blob.size()));
    if (!out)
      throw Error("aot: cannot write " + tmp.string());
  }
  fs::rename(tmp, p, ec);
  if (ec)
    throw Error("aot: cannot write " + p.string() + ": " + ec.message());
  return p.string();
}

std::vector<const Value *> state_params(const Function &f) {
  std::vector<const Value *> r;
  for (const auto &p : f.params())
    if (p->arg_kind() != ArgKind::Input)
      r.push_back(p.get());
  return r;
}

AotResult compile(const Function &f, const AotOptions &options) {
  std::string name =
      options.name.empty() ? codegen::c_identifier(f.name()) : options.name;
  if (!is_c_identifier(name))
    throw Error("aot: the name '" + name + "' is not a C identifier");
  bool cuda = options.target == AotTarget::Cuda;
  if (!cuda && !options.arch.empty())
    throw Error("aot: arch '" + options.arch + "' is for the cuda target");
  check_initial_state(f, options.initial_state);
  codegen::CCompileOptions co = object_options(options, name);
  Module m;
  Function *g = m.add_function(f.clone());
  if (options.canonicalize) {
    PassContext ctx;
    canonicalize(m, ctx);
  }
  AotResult r;
  std::vector<std::string> blobs; // .incbin files, removed after compiling
  // The CUDA target's host code copies the initial state from the CPU
  // target's NAME_host_init_state, kept out of the object's symbol table.
  std::string init_name = name;
  std::vector<std::string> units(1); // C translation units; [0]: the entry
  std::string linker;
  if (cuda) {
    units[0] = cuda_host_c(*g, name, options, r, blobs);
    init_name = name + "_host";
    units[0] += "int " + init_name +
                "_init_state(void *const *) "
                "__attribute__((visibility(\"hidden\")));\nvoid " +
                init_name +
                "_set_weights_file(const char *) "
                "__attribute__((visibility(\"hidden\")));\n";
  } else {
    loop::Program program = lower(*g, options.lower);
    r.num_kernels = program.kernels.size();
    // Automatic: the JIT's split (runtime/CpuDevice.cpp), one unit per 24
    // kernels, at most one per hardware thread.
    int parts = options.threads > 0
                    ? options.threads
                    : std::min<int>(std::thread::hardware_concurrency(),
                                    int(r.num_kernels / 24) + 1);
    if (parts > 1 && (linker = relocatable_linker(co.triple)).empty())
      parts = 1;
    // Contraction kernels sized for the object's CPU (x86-64-v3 by
    // default: 256-bit vectors), not for the CPU kilnc runs on.
    codegen::EmitOptions emit;
    emit.vector_width = codegen::target_vector_width(co);
    units = codegen::emit_c_parts(program, name, parts, emit);
    // Kernels that other units call are external functions; keep them out
    // of the object's dynamic symbols.
    std::string hidden;
    for (const loop::Kernel &k : program.kernels)
      hidden += "void " + name + "_" + k.name +
                "(void *const *) __attribute__((visibility(\"hidden\")));\n";
    for (std::string &u : units)
      u = (units.size() > 1 ? hidden : "") + u;
    r.arena_bytes = arena_from_source(units[0], name, program.arena_bytes);
  }
  r.num_units = units.size();
  StateLayout layout = state_layout(*g, options.initial_state);
  if (!options.weights_file.empty()) {
    r.weights_file = side_file(*g, layout, options.initial_state);
    units[0] += side_file_loader_c(init_name, layout, r.weights_file,
                                   options.weights_file);
  } else if (options.initial_state.empty()) {
    units[0] += zero_init_c(init_name, layout);
  } else {
    blobs.push_back(write_blob(embedded_blob(layout, options.initial_state)));
    units[0] += embedded_init_c(init_name, layout, blobs.back());
  }
  if (cuda)
    units[0] += cuda_runtime_c(name, join(r.device_archs),
                               !options.weights_file.empty());
  // Objects with large embedded blobs stay out of the cache.
  long long blob_bytes =
      (long long)join(r.device_images).size() +
      (options.initial_state.empty() ? 0 : layout.blob_bytes);
  co.use_cache = co.use_cache && (blobs.empty() || blob_bytes <= (16ll << 20));
  Status s = compile_units_to_object(units, co, linker, r.object);
  for (const std::string &b : blobs)
    std::remove(b.c_str());
  for (size_t i = 0; i < units.size(); ++i)
    r.c_source +=
        (i ? "\n/* ---- C unit " + std::to_string(i) + " ---- */\n" : "") +
        units[i];
  if (!s)
    throw Error("aot: compiling @" + f.name() + " for cpu '" + co.cpu + "'" +
                (co.triple.empty() ? "" : " of " + co.triple) + " failed:\n" +
                s.message());
  r.header = header(*g, name, r.arena_bytes, options.weights_file,
                    join(r.device_archs));
  return r;
}

} // namespace kiln::aot
