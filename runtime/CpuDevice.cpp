/// \file
/// The CPU device: Loop IR -> C (codegen/CPrinter) -> machine code in
/// process (codegen/ClangJit) -> Executable.
// SPDX-License-Identifier: Apache-2.0
#include "codegen/CPrinter.h"
#include "codegen/ClangJit.h"
#include "ir/Error.h"
#include "runtime/Comm.h"
#include "runtime/Executable.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

extern "C" void omp_set_num_threads(int);

namespace kiln {

namespace {
/// The device's phases, laid end to end from 0. With several units the
/// clang and LLVM times are summed over units that ran in parallel.
std::vector<CompilePhase>
compile_phases(double emit_ms, const codegen::CompileStats &s, int parts) {
  std::string units =
      parts > 1 ? " (" + std::to_string(parts) + " units, summed)" : "";
  std::vector<CompilePhase> r = {{"emit C", 0, emit_ms}};
  auto add = [&](const std::string &name, double ms) {
    r.push_back({name, r.back().start_ms + r.back().ms, ms});
  };
  if (s.cache_hit) {
    add("compile cache hit", s.total_ms - s.load_ms);
  } else {
    add("clang frontend" + units, s.frontend_ms);
    add("LLVM optimization" + units, s.optimize_ms);
    add("LLVM codegen" + units, s.codegen_ms);
  }
  add("JIT link", s.load_ms);
  return r;
}
} // namespace

std::unique_ptr<Executable> compile_cpu(const Function &f,
                                        loop::Program program,
                                        const CpuCompileOptions &options) {
  std::string entry = codegen::c_identifier("kiln_" + f.name());
  // Large programs compile as several units on several threads.
  int threads = int(std::max(1u, std::thread::hardware_concurrency()));
  int parts = std::min<int>(threads, int(program.kernels.size() / 24) + 1);
  codegen::EmitOptions emit;
  emit.check_numerics = options.check_numerics;
  emit.profile = options.profile;
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> sources =
      codegen::emit_c_parts(program, entry, parts, emit);
  double emit_ms = std::chrono::duration<double, std::milli>(
                       std::chrono::steady_clock::now() - t0)
                       .count();
  comm::register_jit_symbols(); // collectives call into runtime/Comm.h
  codegen::CCompileOptions co;
  co.use_cache = options.use_cache;
  co.name = entry;
  std::unique_ptr<codegen::JitModule> jit;
  codegen::CompileStats stats;
  Status st = codegen::jit_compile_c_parts(sources, co, jit, &stats);
  if (!st)
    throw Error("compiling @" + f.name() +
                ": the generated C does not compile (a bug in kiln):\n" +
                st.message());
  auto *fn = jit->lookup_fn<EntryFn>(entry + "_run");
  KILN_CHECK(fn) << "entry " << entry << "_run not found";
  if (options.threads > 0)
    omp_set_num_threads(options.threads);
  std::string source;
  for (const std::string &part : sources)
    source += part;
  const void *times =
      options.profile ? jit->lookup(entry + "_profile") : nullptr;
  KILN_CHECK(!options.profile || times) << entry << "_profile not found";
  auto exe = std::make_unique<Executable>(
      f, std::move(program), std::move(source), std::move(jit), fn);
  exe->debug().check_numerics = options.check_numerics;
  exe->debug().kernel_times = static_cast<const double *>(times);
  exe->debug().compile_phases = compile_phases(emit_ms, stats, parts);
  return exe;
}

} // namespace kiln
