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

codegen::CudaProgram kiln::test::check_emulated(
    const Function &f, const std::vector<HostTensor> &args, bool fuse,
    double tol, const std::string &what, const codegen::CudaEmitOptions &eo) {
  Module m;
  Function *g = m.add_function(f.clone());
  PassContext ctx;
  canonicalize(m, ctx);
  LowerOptions lo;
  lo.fuse = fuse;
  loop::Program p =
      lower(*g, lower_options_for(CompileOptions::Target::Cuda, lo));
  codegen::CudaProgram cp = codegen::emit_cuda(p, "kiln_" + g->name(), eo);
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
  return cp;
}

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

namespace {

/// Emulates the first function of \p kir under \p eo against the
/// interpreter (fused), and returns its CUDA source followed by its launch
/// descriptions.
std::string emulate_kir(const std::string &kir, double tol,
                        const codegen::CudaEmitOptions &eo,
                        const std::string &what) {
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(kir, "mma.kir", diags);
  REQUIRE(m);
  const Function &f = *m->functions()[0];
  codegen::CudaProgram cp =
      check_emulated(f, random_args(f, 3), true, tol, what, eo);
  std::string launches = cp.source;
  for (const codegen::CudaLaunch &l : cp.launches)
    launches += l.what + "\n";
  return launches;
}

} // namespace

TEST_CASE("cuda emulated: tensor-core (mma) matmuls against the interpreter",
          "[cuda-emu][mma]") {
  // f16 and bf16 products are exact in f32: the results differ from the
  // interpreter's (double sum, one rounding) by the f32 summation order,
  // which can move the rounded result by an ulp (f16 2^-11, bf16 2^-8
  // relative). A wrong fragment index gives errors of order one.
  codegen::CudaEmitOptions eo;
  std::string f16 = emulate_kir(tensor_core_programs("f16"), 4e-3, eo, "f16");
  // Every tile load path (tensor_core_programs says which operand takes
  // which): 16-byte loads along K, along the rows (two k per word for
  // 16-bit values), scalar loads along K and along the rows.
  for (const char *path : {"const int rr = e / 4, w = e % 4 * 4;",
                           "const int rr = e / 16 * 8, w = e % 16;",
                           "x[h] = KILN_LD4((const float *)vp);",
                           "const int rr = e / 16, w = e % 16;",
                           "const int w = e / 64, rr = e % 64;"})
    CHECK(f16.find(path) != std::string::npos);
  CHECK(f16.find("gemm 1x70x72x40, tile 64x64, tensor cores (mma f16)") !=
        std::string::npos);
  CHECK(f16.find("gemm 3x20x9x40, tile 64x64, tensor cores (mma f16)") !=
        std::string::npos);
  CHECK(f16.find("gemm 1x24x32x40, tile 64x64, tensor cores (mma f16)") !=
        std::string::npos);
  std::string bf16 =
      emulate_kir(tensor_core_programs("bf16"), 2e-2, eo, "bf16");
  CHECK(bf16.find("gemm 1x33x18x24, tile 64x64, tensor cores (mma bf16)") !=
        std::string::npos);
  // TF32 rounds the f32 operands to 10 mantissa bits (2^-11 relative per
  // operand): an allowed, documented error of ~1e-3 of the result's scale.
  eo.tf32 = true;
  std::string tf32 = emulate_kir(tensor_core_programs("f32"), 5e-3, eo, "tf32");
  CHECK(tf32.find("tensor cores (mma tf32)") != std::string::npos);
  for (const char *path : {"const int rr = e / 4, w = e % 4 * 4;",
                           "const int rr = e / 16 * 4, w = e % 16;",
                           "const int rr = e / 16, w = e % 16;",
                           "const int w = e / 64, rr = e % 64;"})
    CHECK(tf32.find(path) != std::string::npos);
  // Without allow_tf32, f32 stays on the exact SIMT template.
  eo.tf32 = false;
  std::string f32 = emulate_kir(tensor_core_programs("f32"), 1e-4, eo, "f32");
  CHECK(f32.find("tensor cores") == std::string::npos);
  CHECK(f32.find("gemm 1x70x72x40, tile 64x64") != std::string::npos);
}

TEST_CASE("cuda emulated: f16/bf16 matmuls below sm_80 and TF32 convolution",
          "[cuda-emu][mma]") {
  // Below sm_80 (no bf16/TF32 mma): the f32 SIMT template reads the 16-bit
  // operands as floats and rounds the sum before the epilogue.
  codegen::CudaEmitOptions eo;
  eo.sm = 75;
  eo.tf32 = true;
  std::string f16 =
      emulate_kir(tensor_core_programs("f16"), 4e-3, eo, "f16 sm_75");
  CHECK(f16.find("tensor cores") == std::string::npos);
  CHECK(f16.find("gemm 1x70x72x40, tile 64x64") != std::string::npos);
  std::string bf16 =
      emulate_kir(tensor_core_programs("bf16"), 2e-2, eo, "bf16 sm_75");
  CHECK(bf16.find("tensor cores") == std::string::npos);
  // Convolutions (implicit GEMM through the same load statements) on TF32.
  eo.sm = 80;
  std::string conv = emulate_kir(R"(
func @conv(%x: f32[2,3,9,9], %w: f32[8,3,3,3], %b: f32[1,8,1,1]) -> (f32[2,8,9,9]) {
  %c = conv2d(%x, %w) {stride = [1, 1], padding = [1, 1], dilation = [1, 1], groups = 1} : f32[2,8,9,9]
  %y = add(%c, %b) : f32[2,8,9,9]
  return %y
})",
                                 5e-3, eo, "conv tf32");
  CHECK(conv.find("conv2d (implicit gemm) 1x8x162x27, tile 64x64, tensor "
                  "cores (mma tf32)") != std::string::npos);
}

TEST_CASE("cuda emulated: the primitive contractions on TF32",
          "[cuda-emu][mma]") {
  // The matmuls (strided, broadcast) and every convolution kind (forward,
  // input and weight gradients) of the primitive contractions program on
  // tensor cores. (The batched-matmul program takes ~25 s emulated: its
  // many small blocks each cost 128 threads and a barrier per mma.)
  codegen::CudaEmitOptions eo;
  eo.tf32 = true;
  std::string launches = emulate_kir(kContractionsKir, 5e-3, eo, "tf32");
  CHECK(launches.find("gemm 1x6x5x17, tile 64x64, tensor cores (mma tf32)") !=
        std::string::npos);
  for (const char *conv : {"2x3x32x18, tile 64x64, tensor cores",
                           "1x3x338x36, tile 64x64, tensor cores",
                           "2x3x18x32, tile 64x64, tensor cores"}) {
    INFO(launches);
    CHECK(launches.find(conv) != std::string::npos);
  }
}

namespace {

size_t count(const std::string &text, const std::string &what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1))
    ++n;
  return n;
}

} // namespace

TEST_CASE("cuda emulated: the contraction template's paths and tiles",
          "[cuda-emu][cuda-gemm]") {
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(kGemmEdgesKir, "e.kir", diags);
  REQUIRE(m);
  const Function &f = *m->functions()[0];
  std::vector<HostTensor> args = random_args(f, 3);
  // Each larger tile with the split-K choice, then the default choice
  // (64x64x16 for these small products) with 3 slices forced on every
  // contraction (K from 12 to 2048).
  for (const char *tile : {"128x128", "128x64", "64x128", ""}) {
    ScopedEnv env("KILN_CUDA_TILE", tile);
    ScopedEnv split("KILN_CUDA_SPLIT_K", *tile ? "" : "3");
    codegen::CudaProgram cp =
        check_emulated(f, args, true, 1e-4, std::string("tile ") + tile);
    std::string listing;
    for (const codegen::CudaLaunch &l : cp.launches)
      listing += l.what + "\n";
    INFO(listing);
    CHECK(count(listing, *tile ? std::string("tile ") + tile + "x"
                               : "tile 64x64x16") == 12);
    CHECK(count(listing, "split-K sum of") == (*tile ? 3 : 10));
    CHECK(cp.scratch_bytes > 0);
    // float4 loads along K and along M/N, and the scalar gather.
    CHECK(count(cp.source, "v = KILN_LD4(vp);") >= 4);
    CHECK(count(cp.source, "[f + 3][w] = ") >= 1);
    CHECK(count(cp.source, "KILN_ST4(&Bs[cur][w][f]") >= 1);
    CHECK(count(cp.source, "v = p1[38 + i * 37 + k * 1];") == 1);
  }
}

TEST_CASE("cuda emulated: split-K on tensor cores", "[cuda-emu][mma]") {
  // Three slices of K (4 tiles of 32 f16, 7 of 16 TF32 values), plain and
  // batched (the loads read z), with a fused bias + relu and, for f16, the
  // sum rounded before it by the summing kernel.
  ScopedEnv split("KILN_CUDA_SPLIT_K", "3");
  const char *kir = R"(
func @sk(%x: T[40,100], %w: T[100,24], %b: T[24], %p: T[2,20,100], %q: T[2,100,9]) -> (T[40,24], T[2,20,9]) {
  %0 = matmul(%x, %w) : T[40,24]
  %1 = add(%0, %b) : T[40,24]
  %2 = relu(%1) : T[40,24]
  %3 = matmul(%p, %q) : T[2,20,9]
  return %2, %3
})";
  for (const char *t : {"f16", "f32"}) {
    std::string text = with_dtype(kir, t);
    codegen::CudaEmitOptions eo;
    eo.tf32 = true;
    std::string got = emulate_kir(text, std::string(t) == "f16" ? 4e-3 : 5e-3,
                                  eo, std::string(t) + " split-K");
    INFO(got.substr(got.rfind("/* generated")));
    CHECK(got.find(std::string("tensor cores (mma ") +
                   (std::string(t) == "f16" ? "f16" : "tf32") +
                   "), split-K 3") != std::string::npos);
    CHECK(got.find("split-K sum of 3 slices") != std::string::npos);
  }
  // Below sm_80 the f16 product splits on the SIMT template (16-bit loads
  // converted, the sum rounded by the summing kernel).
  codegen::CudaEmitOptions old;
  old.sm = 75;
  std::string got = emulate_kir(with_dtype(kir, "f16"), 4e-3, old, "sm_75");
  CHECK(got.find("gemm 1x40x24x100, tile 64x64x16, split-K 3") !=
        std::string::npos);
  CHECK(got.find("tensor cores") == std::string::npos);
}
