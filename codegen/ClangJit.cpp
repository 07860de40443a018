/// \file
/// ClangJit's public entry points: the cc1 flags, source dumps, the object
/// cache around the uncached compile (ClangCompile.cpp), and ORC's LLJIT,
/// which links an object (fresh or cached, the same path either way) into
/// the process and resolves OpenMP and libm symbols against it.
// SPDX-License-Identifier: Apache-2.0
#include "codegen/ClangJit.h"

#include "codegen/ClangCompile.h"
#include "codegen/CompileCache.h"
#include "codegen/Gemm.h"

#include <llvm/Config/llvm-config.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/Object/ObjectFile.h>
#include <llvm/Support/Error.h>
#include <llvm/Support/MemoryBuffer.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

// Referenced below so that libomp stays a dependency of the process even
// under --as-needed: JIT-compiled OpenMP code calls its __kmpc_* entry points.
extern "C" int omp_get_max_threads(void);

namespace kiln::codegen {

struct JitModule::Impl {
  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::mutex errors_mutex;
  std::string errors; ///< what ORC reported while linking
};

namespace {
std::mutex host_symbols_mutex;
std::vector<std::pair<std::string, void *>> &host_symbols() {
  static std::vector<std::pair<std::string, void *>> symbols;
  return symbols;
}
} // namespace

int default_opt_level() {
  if (const char *env = std::getenv("KILN_OPT_LEVEL"))
    if (env[0] >= '0' && env[0] <= '3' && env[1] == '\0')
      return env[0] - '0';
  return 2;
}

int target_vector_width(const CCompileOptions &opts) {
  if (opts.cpu == "native" && opts.triple.empty())
    return host_vector_width();
  return detail::vector_width(detail::target_spec(opts.cpu, opts.triple));
}

void register_host_symbol(const std::string &name, void *address) {
  std::lock_guard<std::mutex> lock(host_symbols_mutex);
  for (auto &[n, a] : host_symbols())
    if (n == name) {
      a = address;
      return;
    }
  host_symbols().emplace_back(name, address);
}

JitModule::JitModule(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JitModule::~JitModule() = default;

void *JitModule::lookup(const std::string &symbol) const {
  auto sym = impl_->jit->lookup(symbol);
  if (!sym) {
    llvm::consumeError(sym.takeError());
    return nullptr;
  }
  return reinterpret_cast<void *>(static_cast<uintptr_t>(sym->getAddress()));
}

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

std::string join(const std::vector<std::string> &v) {
  std::string out;
  for (const std::string &s : v)
    out += s + "\n";
  return out;
}

/// Writes \p source to DIR/NAME.c when a dump directory is set; a failed
/// dump is silent (it is a debugging aid, not part of the compile).
void dump_source(const CCompileOptions &opts, const std::string &source) {
  std::string dir = opts.dump_dir;
  if (dir.empty())
    if (const char *env = std::getenv("KILN_DUMP_C"))
      dir = env;
  if (dir.empty())
    return;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::ofstream(std::filesystem::path(dir) / (opts.name + ".c")) << source;
}

/// The name of one global symbol that \p object defines ("" if none), or
/// false when \p object is not a readable object file.
bool first_defined_symbol(const std::string &object, std::string &name) {
  auto file = llvm::object::ObjectFile::createObjectFile(
      llvm::MemoryBufferRef(object, "kiln-object"));
  if (!file) {
    llvm::consumeError(file.takeError());
    return false;
  }
  name.clear();
  for (const llvm::object::SymbolRef &sym : (*file)->symbols()) {
    auto flags = sym.getFlags();
    auto sym_name = sym.getName();
    if (!flags || !sym_name) {
      llvm::consumeError(flags ? sym_name.takeError() : flags.takeError());
      continue;
    }
    if ((*flags & llvm::object::SymbolRef::SF_Global) &&
        !(*flags & llvm::object::SymbolRef::SF_Undefined) &&
        !sym_name->empty()) {
      name = sym_name->str();
      return true;
    }
  }
  return true;
}

/// Looks up the object in the cache entry \p path; a hit must also parse as
/// an object file (a bad entry is a miss and gets rewritten).
bool load_cached(const std::string &path, std::string &object) {
  std::string unused;
  return detail::cache_load(path, object) &&
         first_defined_symbol(object, unused);
}

/// Links \p objects into one fresh LLJIT and materializes each at once, so
/// that unresolved symbols are reported here and not on the first lookup.
Status load_objects(const std::vector<std::string> &objects,
                    const std::string &name,
                    std::unique_ptr<JitModule::Impl> &out) {
  volatile auto keep_libomp = &omp_get_max_threads;
  (void)keep_libomp;
  auto jit = llvm::orc::LLJITBuilder().create();
  if (!jit)
    return Status::error("jit: " + llvm::toString(jit.takeError()));
  auto impl = std::make_unique<JitModule::Impl>();
  impl->jit = std::move(*jit);
  JitModule::Impl *raw = impl.get();
  impl->jit->getExecutionSession().setErrorReporter([raw](llvm::Error e) {
    std::lock_guard<std::mutex> lock(raw->errors_mutex);
    raw->errors += llvm::toString(std::move(e)) + "\n";
  });
  auto gen = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      impl->jit->getDataLayout().getGlobalPrefix());
  if (!gen)
    return Status::error("jit: " + llvm::toString(gen.takeError()));
  impl->jit->getMainJITDylib().addGenerator(std::move(*gen));
  {
    std::lock_guard<std::mutex> lock(host_symbols_mutex);
    llvm::orc::SymbolMap symbols;
    for (const auto &[n, a] : host_symbols())
      symbols[impl->jit->mangleAndIntern(n)] = llvm::JITEvaluatedSymbol(
          llvm::pointerToJITTargetAddress(a), llvm::JITSymbolFlags::Exported);
    if (!symbols.empty())
      if (llvm::Error e = impl->jit->getMainJITDylib().define(
              llvm::orc::absoluteSymbols(std::move(symbols))))
        return Status::error("jit: " + llvm::toString(std::move(e)));
  }
  std::vector<std::string> probes;
  for (size_t i = 0; i < objects.size(); ++i) {
    std::string file = name + (i ? "_" + std::to_string(i) : "") + ".o";
    if (llvm::Error e = impl->jit->addObjectFile(
            llvm::MemoryBuffer::getMemBufferCopy(objects[i], file)))
      return Status::error("jit: " + llvm::toString(std::move(e)));
    std::string probe;
    if (!first_defined_symbol(objects[i], probe))
      return Status::error("jit: " + file + " is not an object file");
    probes.push_back(probe);
  }
  for (const std::string &probe : probes) {
    if (probe.empty())
      continue;
    auto sym = impl->jit->lookupLinkerMangled(probe);
    if (!sym)
      return Status::error("jit: cannot link " + name + ": " +
                           llvm::toString(sym.takeError()) + "\n" +
                           impl->errors);
  }
  out = std::move(impl);
  return Status::ok();
}

/// The object for \p source: from the cache, or compiled and then cached.
Status compile_object(const std::string &source, const CCompileOptions &opts,
                      std::string &object, CompileStats &stats) {
  dump_source(opts, source);
  std::vector<std::string> flags = c_compile_flags(opts);
  std::string file = opts.name + ".c";
  std::string path;
  if (opts.use_cache && detail::cache_enabled_by_env()) {
    std::string dir = resolved_cache_dir(opts);
    const std::string parts[] = {source, join(flags), file, LLVM_VERSION_STRING,
                                 "kiln-clangjit-1"};
    if (!dir.empty())
      path = detail::cache_entry_path(
          dir, detail::cache_key(parts, std::size(parts)));
  }
  if (!path.empty() && load_cached(path, object)) {
    stats.cache_hit = true;
    return Status::ok();
  }
  Status s = detail::compile_c_uncached(
      source, file, flags, detail::target_spec(opts.cpu, opts.triple),
      opts.opt_level, object, stats);
  if (s && !path.empty())
    detail::cache_store(path, object);
  return s;
}

} // namespace

std::vector<std::string> c_compile_flags(const CCompileOptions &opts) {
  detail::TargetSpec target = detail::target_spec(opts.cpu, opts.triple);
  std::vector<std::string> flags = {"-triple", target.triple, "-target-cpu",
                                    target.cpu};
  for (const std::string &f : target.features) {
    flags.push_back("-target-feature");
    flags.push_back(f);
  }
  flags.push_back("-O" + std::to_string(std::clamp(opts.opt_level, 0, 3)));
  for (const char *f :
       {"-vectorize-loops", "-vectorize-slp", "-fopenmp", "-mrelocation-model",
        "pic", "-pic-level", "2", "-ffp-contract=on", "-nostdsysteminc",
        "-nobuiltininc", "-disable-llvm-passes", "-x", "c", "-std=gnu17"})
    flags.push_back(f);
  flags.insert(flags.end(), opts.extra_flags.begin(), opts.extra_flags.end());
  return flags;
}

std::string resolved_cache_dir(const CCompileOptions &opts) {
  return opts.cache_dir.empty() ? detail::default_cache_dir() : opts.cache_dir;
}

Status jit_compile_c(const std::string &source, const CCompileOptions &opts,
                     std::unique_ptr<JitModule> &out, CompileStats *stats) {
  return jit_compile_c_parts({source}, opts, out, stats);
}

Status jit_compile_c_parts(const std::vector<std::string> &sources,
                           const CCompileOptions &opts,
                           std::unique_ptr<JitModule> &out,
                           CompileStats *stats) {
  auto t0 = Clock::now();
  detail::init_llvm_once();
  size_t n = sources.size();
  std::vector<std::string> objects(n);
  std::vector<CompileStats> part_stats(n);
  std::vector<Status> status(n);
  auto part = [&](size_t i) {
    CCompileOptions o = opts;
    o.name = opts.name + (i ? "_" + std::to_string(i) : "");
    status[i] = compile_object(sources[i], o, objects[i], part_stats[i]);
  };
  if (n == 1) {
    part(0); // one unit: no thread
  } else {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < n; ++i)
      threads.emplace_back(part, i);
    for (std::thread &t : threads)
      t.join();
  }
  CompileStats local;
  local.cache_hit = true;
  for (size_t i = 0; i < n; ++i) {
    local.cache_hit &= part_stats[i].cache_hit;
    local.frontend_ms += part_stats[i].frontend_ms;
    local.optimize_ms += part_stats[i].optimize_ms;
    local.codegen_ms += part_stats[i].codegen_ms;
  }
  Status s;
  for (const Status &st : status)
    if (!st) {
      s = st;
      break;
    }
  std::unique_ptr<JitModule::Impl> impl;
  if (s) {
    auto t1 = Clock::now();
    s = load_objects(objects, opts.name, impl);
    local.load_ms = ms_since(t1);
  }
  local.total_ms = ms_since(t0);
  if (stats)
    *stats = local;
  if (s)
    out.reset(new JitModule(std::move(impl)));
  return s;
}

Status compile_c_to_object(const std::string &source,
                           const CCompileOptions &opts,
                           std::string &object_bytes, CompileStats *stats) {
  auto t0 = Clock::now();
  detail::init_llvm_once(); // a cache hit needs the target for LLJIT too
  CompileStats local;
  std::string object;
  Status s = compile_object(source, opts, object, local);
  local.total_ms = ms_since(t0);
  if (stats)
    *stats = local;
  if (s)
    object_bytes = std::move(object);
  return s;
}

} // namespace kiln::codegen
