/// \file
/// The compile pipeline.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Compile.h"

#include "ir/Error.h"
#include "passes/PassManager.h"

namespace kiln {

LowerOptions lower_options_for(CompileOptions::Target target,
                               LowerOptions base) {
  if (target == CompileOptions::Target::Cuda) {
    base.parallel_threshold = 1;
    base.gemm_min_work = 0;
    base.conv_min_work = 0;
  }
  return base;
}

std::unique_ptr<Executable> compile(const Function &f,
                                    const CompileOptions &options) {
  Module m;
  Function *g = m.add_function(f.clone());
  if (options.canonicalize) {
    PassContext ctx;
    canonicalize(m, ctx);
  }
  if (options.target == CompileOptions::Target::Cuda)
    throw Error("compile: target cuda has no runtime yet (issue #7): the "
                "CUDA printer and NVRTC are in codegen/");
  rematerialize(*g, options.remat, options.lower);
  loop::Program program = lower(*g, options.lower);
  CpuCompileOptions co;
  co.threads = options.threads;
  co.use_cache = options.use_cache;
  return compile_cpu(*g, std::move(program), co);
}

} // namespace kiln
