/// \file
/// The compile pipeline.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Compile.h"

#include "frontend/PhaseClock.h"
#include "ir/Error.h"
#include "ir/Printer.h"
#include "passes/PassManager.h"
#include "passes/Probes.h"
#include "runtime/Comm.h"
#include "runtime/CudaDevice.h"

namespace kiln {

LowerOptions lower_options_for(CompileOptions::Target target,
                               LowerOptions base) {
  if (target == CompileOptions::Target::Cuda) {
    base.parallel_threshold = 1;
    base.gemm_min_work = 0;
    base.half_gemm = true;
    base.conv_min_work = 0;
    base.hoist_invariants = false;
    base.column_reductions = false;
    base.lane_reductions = false;
  }
  return base;
}

namespace {

/// Inserts the gradient all-reduces (passes/DataParallel.h).
void make_distributed(Function &g, const DistributedOptions &dist) {
  comm::init();
  if (dist.timeout_s > 0)
    comm::set_timeout(dist.timeout_s);
  std::vector<Value *> grads = find_gradients(g);
  if (grads.empty())
    throw Error("compile: distributed.data_parallel needs a training step, "
                "but @" +
                g.name() +
                " has no gradient values named grad.<param>; build it with "
                "train_step (or the autodiff pass)");
  make_data_parallel(g, grads, dist.buckets);
}

} // namespace

std::unique_ptr<Executable> compile(const Function &f,
                                    const CompileOptions &options) {
  PhaseClock clock(f.name(), options.progress);
  Module m;
  Function *g = m.add_function(f.clone());
  add_probes(*g, options.probes);
  const DistributedOptions &dist = options.distributed;
  if (dist.data_parallel)
    make_distributed(*g, dist);
  if (options.canonicalize) {
    clock.begin("canonicalize");
    PassContext ctx;
    canonicalize(m, ctx);
  }
  if (options.target == CompileOptions::Target::Cuda &&
      (options.check_numerics || options.profile))
    throw Error("compile: check_numerics and profile are CPU-only for now; "
                "compile for the CPU target to use them");
  LowerOptions lo = lower_options_for(options.target, options.lower);
  lo.probe_results = int(options.probes.size());
  clock.begin("remat");
  rematerialize(*g, options.remat, lo);
  clock.begin("lower (fusion, memory plan)");
  loop::Program program = lower(*g, lo);
  if (options.target == CompileOptions::Target::Cuda) {
    CudaCompileOptions cu;
    cu.device = options.device;
    cu.allow_tf32 = options.allow_tf32;
    cu.use_cache = options.use_cache;
    clock.begin("CUDA compile (emit, NVRTC, load)");
    std::unique_ptr<Executable> exe = compile_cuda(*g, std::move(program), cu);
    clock.end();
    exe->debug().compile_phases = clock.phases();
    exe->debug().probes = options.probes;
    return exe;
  }
  clock.begin("C compile");
  CpuCompileOptions co;
  co.threads = options.threads;
  co.use_cache = options.use_cache;
  co.check_numerics = options.check_numerics;
  co.profile = options.profile;
  std::unique_ptr<Executable> exe = compile_cpu(*g, std::move(program), co);
  clock.append_parts(exe->debug().compile_phases);
  exe->debug().compile_phases = clock.phases();
  exe->debug().probes = options.probes;
  if (dist.data_parallel) {
    comm::check_same_program(to_string(*g), "@" + g->name());
    exe->before_first_run([](Executable &e) { broadcast_params(e); });
  }
  return exe;
}

void broadcast_params(Executable &exe) {
  for (const auto &p : exe.function().params()) {
    if (p->arg_kind() != ArgKind::Param)
      continue;
    HostTensor t = exe.get_state(p->name());
    comm::broadcast(t.bytes(), t.type().bytes(), 0);
    exe.set_state(p->name(), t);
  }
}

} // namespace kiln
