/// \file
/// The CPU device: Loop IR -> C (codegen/CPrinter) -> machine code in
/// process (codegen/ClangJit) -> Executable.
// SPDX-License-Identifier: Apache-2.0
#include "codegen/CPrinter.h"
#include "codegen/ClangJit.h"
#include "ir/Error.h"
#include "runtime/Executable.h"

#include <algorithm>
#include <thread>

extern "C" void omp_set_num_threads(int);

namespace kiln {

std::unique_ptr<Executable> compile_cpu(const Function &f,
                                        loop::Program program,
                                        const CpuCompileOptions &options) {
  std::string entry = codegen::c_identifier("kiln_" + f.name());
  // Large programs compile as several units on several threads.
  int threads = int(std::max(1u, std::thread::hardware_concurrency()));
  int parts = std::min<int>(threads, int(program.kernels.size() / 24) + 1);
  std::vector<std::string> sources =
      codegen::emit_c_parts(program, entry, parts);
  codegen::CCompileOptions co;
  co.use_cache = options.use_cache;
  co.name = entry;
  std::unique_ptr<codegen::JitModule> jit;
  Status st = codegen::jit_compile_c_parts(sources, co, jit);
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
  return std::make_unique<Executable>(f, std::move(program), std::move(source),
                                      std::move(jit), fn);
}

} // namespace kiln
