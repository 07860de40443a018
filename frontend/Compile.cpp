/// \file
/// The compile pipeline.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Compile.h"

#include "ir/Error.h"
#include "passes/PassManager.h"

namespace kiln {

std::unique_ptr<Executable> compile(const Function &f,
                                    const CompileOptions &options) {
  Module m;
  Function *g = m.add_function(f.clone());
  if (options.canonicalize) {
    PassContext ctx;
    canonicalize(m, ctx);
  }
  rematerialize(*g, options.remat, options.lower);
  loop::Program program = lower(*g, options.lower);
  CpuCompileOptions co;
  co.threads = options.threads;
  co.use_cache = options.use_cache;
  return compile_cpu(*g, std::move(program), co);
}

} // namespace kiln
