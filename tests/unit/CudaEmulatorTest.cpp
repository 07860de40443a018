/// \file
/// The CUDA printer's kernels executed without a GPU (CudaEmulator.h: the
/// CUDA source compiled as host C++, a std::thread per CUDA thread of a
/// block) against the reference interpreter: every primitive program, fused
/// and unfused, and reduced workloads' training steps. This checks the grid
/// mapping, the block reductions and the tiled contractions; the driver
/// runtime needs a GPU ([cuda] tests).
// SPDX-License-Identifier: Apache-2.0
#include "CudaEmulator.h"
#include "CompileCheck.h"

#include "frontend/Train.h"
#include "passes/PassManager.h"

using namespace kiln;
using namespace kiln::test;

namespace {

/// Lowers \p f for Cuda, emulates it on \p args (one per parameter) and
/// compares every result, and every updated param and state, with the
/// interpreter's.
void check_emulated(const Function &f, const std::vector<HostTensor> &args,
                    bool fuse, double tol, const std::string &what) {
  Module m;
  Function *g = m.add_function(f.clone());
  PassContext ctx;
  canonicalize(m, ctx);
  LowerOptions lo;
  lo.fuse = fuse;
  loop::Program p =
      lower(*g, lower_options_for(CompileOptions::Target::Cuda, lo));
  codegen::CudaProgram cp = codegen::emit_cuda(p, "kiln_" + g->name());
  std::vector<HostTensor> inputs, state, outputs;
  for (size_t i = 0; i < f.params().size(); ++i)
    (f.param(i)->arg_kind() == ArgKind::Input ? inputs : state)
        .push_back(args[i]);
  for (size_t i = 0; i < f.results().size(); ++i)
    if (!f.result_updates()[i])
      outputs.emplace_back(f.result(i)->type());
  std::string error;
  REQUIRE(emulate_cuda(p, cp, inputs, state, outputs, error));
  INFO(error);
  std::vector<HostTensor> want_args = args;
  std::vector<HostTensor> want = interpret(f, want_args);
  apply_updates(f, want, want_args);
  size_t out = 0, st = 0;
  for (size_t i = 0; i < f.results().size(); ++i)
    if (!f.result_updates()[i])
      check_normwise(outputs[out++], want[i],
                     what + " result " + std::to_string(i), tol);
  for (size_t i = 0; i < f.params().size(); ++i)
    if (f.param(i)->arg_kind() != ArgKind::Input)
      check_normwise(state[st++], want_args[i],
                     what + " state " + f.param(i)->name(), tol);
}

} // namespace

TEST_CASE("cuda emulated: every primitive program against the interpreter",
          "[cuda-emu]") {
  for (const auto &[name, kir] : primitive_programs()) {
    Diagnostics diags;
    std::unique_ptr<Module> m = parse_and_verify(kir, "p.kir", diags);
    REQUIRE(m);
    const Function &f = *m->functions()[0];
    for (bool fuse : {true, false})
      check_emulated(f, random_args(f, 1), fuse, 1e-4,
                     std::string(name) + (fuse ? "" : " unfused"));
  }
}

TEST_CASE("cuda emulated: reduced training steps against the interpreter",
          "[cuda-emu][models]") {
  for (const char *name : {"mlp_train", "gpt_train"}) {
    models::Model m = models::build_workload(name, /*reduced=*/true, 5);
    train_step(*m.graph, m.loss, m.params, {optim::sgd(0.05, 0.9)});
    check_emulated(m.graph->function(), model_args(m), true, 1e-4, name);
  }
}

TEST_CASE("cuda emulated: every reduced workload", "[.cuda-emu-full]") {
  for (const std::string &name : models::workload_names()) {
    models::Model m = models::build_workload(name, /*reduced=*/true, 5);
    check_emulated(m.graph->function(), model_args(m), true, 1e-4,
                   name + " forward");
    if (!m.loss.valid())
      continue;
    train_step(*m.graph, m.loss, m.params, {optim::sgd(0.05, 0.9)});
    check_emulated(m.graph->function(), model_args(m), true,
                   name == "resnet18_train" ? 5e-3 : 1e-4, name + " step");
  }
}
