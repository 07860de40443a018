/// \file
/// The CPU device: Loop IR -> C (codegen/CPrinter) -> machine code in
/// process (codegen/ClangJit) -> Executable.
// SPDX-License-Identifier: Apache-2.0
#include "codegen/CPrinter.h"
#include "codegen/ClangJit.h"
#include "ir/Error.h"
#include "runtime/Executable.h"

extern "C" void omp_set_num_threads(int);

namespace kiln {

std::unique_ptr<Executable> compile_cpu(const Function &f,
                                        loop::Program program,
                                        const CpuCompileOptions &options) {
  std::string entry = codegen::c_identifier("kiln_" + f.name());
  std::string source = codegen::emit_c(program, entry);
  codegen::CCompileOptions co;
  co.use_cache = options.use_cache;
  co.name = entry;
  std::unique_ptr<codegen::JitModule> jit;
  Status st = codegen::jit_compile_c(source, co, jit);
  if (!st)
    throw Error("compiling @" + f.name() +
                ": the generated C does not compile (a bug in kiln):\n" +
                st.message());
  auto *fn = jit->lookup_fn<EntryFn>(entry + "_run");
  KILN_CHECK(fn) << "entry " << entry << "_run not found";
  if (options.threads > 0)
    omp_set_num_threads(options.threads);
  return std::make_unique<Executable>(f, std::move(program), std::move(source),
                                      std::move(jit), fn);
}

} // namespace kiln
