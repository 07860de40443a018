/// \file
/// The compile pipeline.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Compile.h"

#include "ir/Error.h"
#include "passes/PassManager.h"
#include "runtime/CudaDevice.h"

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
  rematerialize(*g, options.remat, options.lower);
  LowerOptions lo = lower_options_for(options.target, options.lower);
  loop::Program program = lower(*g, lo);
  if (options.target == CompileOptions::Target::Cuda) {
    CudaCompileOptions cu;
    cu.device = options.device;
    cu.use_cache = options.use_cache;
    return compile_cuda(*g, std::move(program), cu);
  }
  CpuCompileOptions co;
  co.threads = options.threads;
  co.use_cache = options.use_cache;
  return compile_cpu(*g, std::move(program), co);
}

} // namespace kiln
