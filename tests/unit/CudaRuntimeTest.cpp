/// \file
/// The CUDA runtime. Without a driver (CI): asking for the GPU fails with a
/// clear kiln::Error. Tagged [cuda], on a GPU: every primitive program and
/// every reduced workload, forward and training step, run on the device
/// against the reference interpreter; params and state round-trip through
/// device memory. The [cuda] tests skip with a message where no device
/// exists.
// SPDX-License-Identifier: Apache-2.0
#include "CompileCheck.h"

#include "frontend/Train.h"
#include "runtime/CudaDevice.h"

using namespace kiln;
using namespace kiln::test;

namespace {

/// True when a GPU can run the test; else prints why (Catch2 v2 has no
/// SKIP: the caller returns).
bool have_gpu() {
  std::string why;
  if (cuda_device_available(&why))
    return true;
  WARN("[cuda] test skipped: " << why);
  return false;
}

CompileOptions cuda_options() {
  CompileOptions o;
  o.target = CompileOptions::Target::Cuda;
  return o;
}

const char *kTiny = R"(
func @tiny(%x: f32[8], %w: f32[8] {param}) -> (f32[8], f32[8] {updates = %w}) {
  %y = mul(%x, %w) : f32[8]
  %n = add(%w, %x) : f32[8]
  return %y, %n
})";

} // namespace

TEST_CASE("cuda: without a device, target cuda fails with a clear error",
          "[cuda-runtime]") {
  std::string why;
  if (cuda_device_available(&why)) {
    SUCCEED("a GPU is present: the error path is not reachable here");
    return;
  }
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(kTiny, "tiny.kir", diags);
  REQUIRE(m);
  CHECK_FALSE(why.empty());
  try {
    compile(*m->functions()[0], cuda_options());
    FAIL("compile for cuda succeeded without a device");
  } catch (const Error &e) {
    std::string msg = e.what();
    INFO(msg);
    CHECK((msg.find("no CUDA driver: libcuda.so.1 not found") == 0 ||
           msg.find("no CUDA device") != std::string::npos ||
           msg.find("built without the CUDA toolkit") != std::string::npos ||
           msg.find("cuInit") == 0));
    CHECK((msg == why.substr(0, msg.size()) ||
           msg.find("built without") != std::string::npos));
  }
}

TEST_CASE("cuda: params and state live on the device", "[cuda]") {
  if (!have_gpu())
    return;
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(kTiny, "tiny.kir", diags);
  REQUIRE(m);
  std::unique_ptr<Executable> exe = compile(*m->functions()[0], cuda_options());
  REQUIRE(exe->device() != nullptr);
  HostTensor w(f32({8})), x(f32({8}));
  for (int i = 0; i < 8; ++i) {
    w.set(i, i);
    x.set(i, 0.5);
  }
  exe->set_state("w", w);
  std::vector<HostTensor> y = exe->run({x});
  REQUIRE(y.size() == 1);
  for (int i = 0; i < 8; ++i)
    CHECK(y[0].get(i) == 0.5 * i);
  y = exe->run({x});
  HostTensor w2 = exe->get_state("w");
  for (int i = 0; i < 8; ++i) {
    CHECK(y[0].get(i) == 0.5 * (i + 0.5));
    CHECK(w2.get(i) == i + 1.0);
  }
}

TEST_CASE("cuda: every primitive program against the interpreter", "[cuda]") {
  if (!have_gpu())
    return;
  for (const auto &[name, kir] : primitive_programs())
    for (bool fuse : {true, false}) {
      INFO(name << (fuse ? " fused" : " unfused"));
      check_kir(kir, fuse, 1, CompileOptions::Target::Cuda);
    }
}

TEST_CASE("cuda: every reduced workload, forward and training step",
          "[cuda][models]") {
  if (!have_gpu())
    return;
  for (const std::string &name : models::workload_names()) {
    for (bool step : {false, true}) {
      models::Model m = models::build_workload(name, /*reduced=*/true, 5);
      if (step && !m.loss.valid())
        continue;
      if (step)
        train_step(*m.graph, m.loss, m.params, {optim::sgd(0.05, 0.9)});
      const Function &f = m.graph->function();
      INFO(name << (step ? " training step" : " forward"));
      std::vector<HostTensor> args = model_args(m), want_args = args;
      std::unique_ptr<Executable> exe = compile(f, cuda_options());
      for (int run = 0; run < (step ? 2 : 1); ++run) {
        std::vector<HostTensor> want = interpret(f, want_args);
        apply_updates(f, want, want_args);
        std::vector<HostTensor> got = exe->run_all(args);
        REQUIRE(got.size() == want.size());
        for (size_t i = 0; i < want.size(); ++i)
          check_normwise(got[i], want[i],
                         name + " run " + std::to_string(run) + " result " +
                             std::to_string(i),
                         name == "resnet18_train" ? 5e-3 : 1e-4);
      }
    }
  }
}

TEST_CASE("cuda: the SIMT contraction template's tiles and split-K",
          "[cuda][cuda-gemm]") {
  if (!have_gpu())
    return;
  // The emulated edge program ([cuda-emu][cuda-gemm]) with kiln's choice
  // and with each tile, each with 3 slices of K forced on every product;
  // one product large enough for the 128x128 tile by choice; a deep one
  // split by choice.
  const char *big = R"(
func @big(%x: f32[1100,300], %w: f32[300,1030], %a: f32[8192,200], %g: f32[8192,136]) -> (f32[1100,1030], f32[200,136]) {
  %0 = matmul(%x, %w) : f32[1100,1030]
  %at = transpose(%a) {perm = [1, 0]} : f32[200,8192]
  %1 = matmul(%at, %g) : f32[200,136]
  return %0, %1
})";
  for (const char *kir : {kGemmEdgesKir, big}) {
    Diagnostics diags;
    std::unique_ptr<Module> m = parse_and_verify(kir, "gemm.kir", diags);
    REQUIRE(m);
    const Function &f = *m->functions()[0];
    std::vector<HostTensor> args = random_args(f, 3);
    std::vector<HostTensor> want = interpret(f, args);
    for (const char *tile : {"", "128x128", "128x64", "64x128", "64x64"})
      for (const char *split : {"", "3"}) {
        ScopedEnv t("KILN_CUDA_TILE", tile), s("KILN_CUDA_SPLIT_K", split);
        std::unique_ptr<Executable> exe = compile(f, cuda_options());
        std::vector<HostTensor> got = exe->run_all(args);
        REQUIRE(got.size() == want.size());
        for (size_t i = 0; i < want.size(); ++i)
          check_normwise(got[i], want[i],
                         "@" + f.name() + " tile '" + tile + "' split '" +
                             split + "' result " + std::to_string(i),
                         1e-4);
      }
  }
}

TEST_CASE("cuda: tensor-core (mma) matmuls against the interpreter",
          "[cuda][mma]") {
  if (!have_gpu())
    return;
  // The emulated programs ([cuda-emu][mma]) and one product large enough
  // for the 128x128 tile (17x9 blocks), on the device: f16/bf16 always on
  // tensor cores (sm_80+), f32 with allow_tf32. Tolerances as in the emulator
  // test.
  const char *big = R"(
func @big(%x: T[2100,100], %w: T[100,1030]) -> (T[2100,1030]) {
  %0 = matmul(%x, %w) : T[2100,1030]
  return %0
})";
  for (const char *t : {"f16", "bf16", "f32"}) {
    std::string bigt = with_dtype(big, t);
    for (const std::string &kir : {tensor_core_programs(t), bigt}) {
      Diagnostics diags;
      std::unique_ptr<Module> m = parse_and_verify(kir, "mma.kir", diags);
      REQUIRE(m);
      const Function &f = *m->functions()[0];
      CompileOptions o = cuda_options();
      o.allow_tf32 = true;
      std::unique_ptr<Executable> exe = compile(f, o);
      INFO(t << " @" << f.name());
      std::vector<HostTensor> args = random_args(f, 3);
      std::vector<HostTensor> want = interpret(f, args);
      std::vector<HostTensor> got = exe->run_all(args);
      REQUIRE(got.size() == want.size());
      std::string dt = t;
      double tol = dt == "bf16" ? 2e-2 : dt == "f16" ? 4e-3 : 5e-3;
      for (size_t i = 0; i < want.size(); ++i)
        check_normwise(got[i], want[i], "result " + std::to_string(i), tol);
      if (exe->c_source().find("kiln_mma_") == std::string::npos)
        WARN("no tensor cores on this GPU (below sm_80): SIMT kernels ran");
    }
  }
}
