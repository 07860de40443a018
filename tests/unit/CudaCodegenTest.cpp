/// \file
/// The CUDA backend without a GPU: the grid mapping the CUDA printer picks
/// for each kind of kernel, and every BENCHMARKS.md workload at reduced
/// size, forward and training step, lowered for CUDA, printed as CUDA C++
/// (one translation unit per program) and compiled by NVRTC for sm_80 and
/// sm_90 with no error and no warning.
// SPDX-License-Identifier: Apache-2.0
#include "CompileCheck.h"
#include "CudaEmulator.h"

#include "bench/models/Models.h"
#include "codegen/CudaPrinter.h"
#include "codegen/Nvrtc.h"
#include "frontend/Compile.h"
#include "frontend/Train.h"
#include "ir/Parser.h"
#include "passes/PassManager.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <unistd.h>

using namespace kiln;
using kiln::test::nvrtc_verdict;

namespace {

/// The CUDA program of \p f as kiln::compile makes it for Cuda.
codegen::CudaProgram cuda_program(const Function &f,
                                  const codegen::CudaEmitOptions &eo = {}) {
  Module m;
  Function *g = m.add_function(f.clone());
  PassContext ctx;
  canonicalize(m, ctx);
  loop::Program p = lower(
      *g, lower_options_for(CompileOptions::Target::Cuda, LowerOptions()));
  return codegen::emit_cuda(p, "kiln_" + g->name(), eo);
}

codegen::CudaProgram cuda_program(const std::string &kir,
                                  const codegen::CudaEmitOptions &eo = {}) {
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(kir, "t.kir", diags);
  REQUIRE(m);
  return cuda_program(*m->functions()[0], eo);
}

} // namespace

std::string kiln::test::nvrtc_verdict(const std::string &source,
                                      const std::string &arch,
                                      const std::vector<std::string> &flags) {
  codegen::NvrtcOptions o;
  o.arch = arch;
  o.use_cache = false;
  o.extra_flags = flags;
  codegen::NvrtcResult r;
  Status st = codegen::nvrtc_compile(source, o, r);
  if (!st)
    return st.message();
  if (r.is_ptx || r.image.empty())
    return "no CUBIN for " + arch;
  return r.log;
}

namespace {

/// The launches whose description contains \p what.
size_t count_launches(const codegen::CudaProgram &p, const std::string &what) {
  size_t n = 0;
  for (const codegen::CudaLaunch &l : p.launches)
    n += l.what.find(what) != std::string::npos;
  return n;
}

} // namespace

TEST_CASE("cuda codegen: grid mapping per kind of kernel", "[cuda-codegen]") {
  // Elementwise: four consecutive elements per thread of the flattened
  // nest, read and written as float4.
  codegen::CudaProgram ew = cuda_program(R"(
func @ew(%x: f32[64,128], %b: f32[128]) -> (f32[64,128]) {
  %0 = add(%x, %b) : f32[64,128]
  %1 = tanh(%0) : f32[64,128]
  return %1
})");
  REQUIRE(ew.launches.size() == 1);
  CHECK(ew.launches[0].what.find(
            "thread per row, 8192 rows, 4 per thread, vectorized") !=
        std::string::npos);
  CHECK(ew.launches[0].block == 256);
  CHECK(ew.launches[0].grid == 8);
  CHECK(ew.source.find("kiln_vload<4>(p0 + ") != std::string::npos);
  CHECK(ew.source.find("extern \"C\" __global__") != std::string::npos);

  // Softmax rows: one block per row, max and sum combined across the block,
  // the row read once into registers.
  codegen::CudaProgram sm = cuda_program(R"(
func @softmax(%x: f32[32,1000]) -> (f32[32,1000]) {
  %m = reduce_max(%x) {axes = [1], keepdims = true} : f32[32,1]
  %d = sub(%x, %m) : f32[32,1000]
  %e = exp(%d) : f32[32,1000]
  %s = reduce_sum(%e) {axes = [1], keepdims = true} : f32[32,1]
  %y = div(%e, %s) : f32[32,1000]
  return %y
})");
  REQUIRE(sm.launches.size() == 1);
  CHECK(sm.launches[0].what.find("block per row, 32 rows, one pass") !=
        std::string::npos);
  CHECK(sm.launches[0].block == 256);
  CHECK(sm.source.find("kiln_block_reduce(v") != std::string::npos);
  CHECK(sm.source.find("kiln_maxop()") != std::string::npos);
  CHECK(sm.source.find("kiln_sum()") != std::string::npos);

  // A short reduction to a scalar: one block of up to 1024 threads.
  codegen::CudaProgram sum = cuda_program(R"(
func @total(%x: f32[4096]) -> (f32[]) {
  %s = reduce_sum(%x) {axes = [0], keepdims = false} : f32[]
  return %s
})");
  REQUIRE(sum.launches.size() == 1);
  CHECK(sum.launches[0].what.find("block per row, 1 rows") !=
        std::string::npos);
  CHECK(sum.launches[0].block == 1024);
  // A longer one: slices of 1024 over blocks, then one thread combines
  // them (two launches through the scratch area).
  codegen::CudaProgram total = cuda_program(R"(
func @total(%x: f32[262144]) -> (f32[]) {
  %s = reduce_sum(%x) {axes = [0], keepdims = false} : f32[]
  return %s
})");
  REQUIRE(total.launches.size() == 2);
  CHECK(total.launches[0].what.find("1 rows x 256 slices of 1024") !=
        std::string::npos);
  CHECK(total.launches[0].grid == 256);
  CHECK(total.launches[1].what.find("combines 256 slices") !=
        std::string::npos);
  CHECK(total.scratch_bytes == 1024);

  // Matmul + bias + relu: a tiled contraction with the epilogue fused, the
  // 128x128 tile (256 blocks), float4 loads of both operands.
  codegen::CudaProgram mm = cuda_program(R"(
func @mlp(%x: f32[2048,512], %w: f32[512,2048], %b: f32[2048]) -> (f32[2048,2048]) {
  %0 = matmul(%x, %w) : f32[2048,2048]
  %1 = add(%0, %b) : f32[2048,2048]
  %2 = relu(%1) : f32[2048,2048]
  return %2
})");
  REQUIRE(mm.launches.size() == 1);
  CHECK(mm.launches[0].what.find("gemm 1x2048x2048x512, tile 128x128x8") !=
        std::string::npos);
  CHECK(mm.launches[0].grid == 16);
  CHECK(mm.launches[0].grid_y == 16);
  CHECK(mm.scratch_bytes == 0);
  CHECK(mm.source.find("kiln_reluf(") != std::string::npos);
  CHECK(mm.source.find("__shared__ __align__(16) float As[2][8][132]") !=
        std::string::npos);
  CHECK(mm.source.find("v = KILN_LD4(vp);") != std::string::npos);

  // A weight-gradient-shaped product (few output tiles, deep K): 64x64
  // tiles, K split 16 ways into the scratch, then a sum launch.
  codegen::CudaProgram wg = cuda_program(R"(
func @wgrad(%x: f32[256,8192], %g: f32[8192,256]) -> (f32[256,256]) {
  %0 = matmul(%x, %g) : f32[256,256]
  return %0
})");
  REQUIRE(wg.launches.size() == 2);
  CHECK(wg.launches[0].what.find("tile 64x64x16, split-K 16") !=
        std::string::npos);
  CHECK(wg.launches[0].grid_z == 16);
  CHECK(wg.launches[1].what.find("split-K sum of 16 slices") !=
        std::string::npos);
  CHECK(wg.scratch_bytes == 16 * 256 * 256 * 4);

  // Identical kernels (two equal elementwise chains) are emitted once.
  codegen::CudaProgram twice = cuda_program(R"(
func @twice(%x: f32[256], %y: f32[256]) -> (f32[256], f32[256]) {
  %a = exp(%x) : f32[256]
  %b = exp(%y) : f32[256]
  return %a, %b
})");
  REQUIRE(twice.launches.size() == 2);
  CHECK(twice.launches[0].kernel == twice.launches[1].kernel);
  CHECK(twice.launches[0].buffers != twice.launches[1].buffers);

  if (!codegen::nvrtc_available())
    return;
  for (const codegen::CudaProgram *p :
       {&ew, &sm, &sum, &total, &mm, &wg, &twice})
    CHECK(nvrtc_verdict(p->source, "sm_90", {}) == "");
}

TEST_CASE("cuda codegen: every reduced workload compiles with NVRTC",
          "[cuda-codegen][models]") {
  if (!codegen::nvrtc_available()) {
    WARN("built without the CUDA toolkit: NVRTC checks skipped");
    return;
  }
  // Forward programs, then training steps (as the golden tests make them).
  std::vector<std::pair<std::string, codegen::CudaProgram>> programs;
  for (const std::string &name : models::workload_names()) {
    models::Model m = models::build_workload(name, /*reduced=*/true, 5);
    programs.emplace_back(name, cuda_program(m.graph->function()));
    if (!m.loss.valid())
      continue;
    train_step(*m.graph, m.loss, m.params, {optim::sgd(0.05, 0.9)});
    programs.emplace_back(name + " step", cuda_program(m.graph->function()));
  }
  // NVRTC's optimizer takes ~20 ms per kernel and ~0.3 s per tiled
  // contraction at -O3: the whole matrix compiles with --Ofast-compile=max
  // (the same front end and ptxas checks, a fraction of the time), one
  // step at the production flags; bench/gpu.sh runs "[.cuda-codegen-full]".
  std::vector<std::future<std::string>> verdicts;
  for (const auto &[name, p] : programs)
    for (const char *arch : {"sm_80", "sm_90"})
      verdicts.push_back(std::async(std::launch::async, [&, arch] {
        return nvrtc_verdict(p.source, arch, {"--Ofast-compile=max"});
      }));
  size_t i = 0;
  for (const auto &[name, p] : programs)
    for (const char *arch : {"sm_80", "sm_90"}) {
      INFO(name << " for " << arch << " (" << p.launches.size()
                << " launches)");
      CHECK(verdicts[i++].get() == "");
      CHECK(count_launches(p, "one thread") == 0);
    }
  const auto &mlp_step = programs[2];
  REQUIRE(mlp_step.first == "mlp_train step");
  CHECK(nvrtc_verdict(mlp_step.second.source, "sm_90", {}) == "");
}

TEST_CASE("cuda codegen: every workload at production flags",
          "[.cuda-codegen-full]") {
  REQUIRE(codegen::nvrtc_available());
  for (const std::string &name : models::workload_names()) {
    models::Model m = models::build_workload(name, /*reduced=*/true, 5);
    if (m.loss.valid())
      train_step(*m.graph, m.loss, m.params, {optim::sgd(0.05, 0.9)});
    codegen::CudaProgram p = cuda_program(m.graph->function());
    for (const char *arch : {"sm_80", "sm_90"}) {
      INFO(name << " for " << arch);
      CHECK(nvrtc_verdict(p.source, arch, {}) == "");
    }
  }
}

// Hidden: prints the CUDA source and launches of $KILN_KIR's first function
// (for reading generated kernels): kiln_unit_tests "[.print-cuda]";
// $KILN_CUDA_SM sets the arch it is printed for (default 80), $KILN_TF32=1
// allows TF32.
TEST_CASE("print cuda", "[.print-cuda]") {
  const char *path = std::getenv("KILN_KIR");
  REQUIRE(path);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  codegen::CudaEmitOptions eo;
  if (const char *sm = std::getenv("KILN_CUDA_SM"))
    eo.sm = std::atoi(sm);
  eo.tf32 =
      std::getenv("KILN_TF32") && std::string(std::getenv("KILN_TF32")) == "1";
  codegen::CudaProgram p = cuda_program(text, eo);
  std::cout << p.source;
  for (const codegen::CudaLaunch &l : p.launches)
    std::cout << "// launch " << l.kernel << " grid " << l.grid << "x"
              << l.grid_y << "x" << l.grid_z << " block " << l.block << ": "
              << l.what << "\n";
}

TEST_CASE("cuda codegen: NVRTC cache, PTX fallback and bad archs",
          "[cuda-codegen]") {
  if (!codegen::nvrtc_available())
    return;
  codegen::CudaProgram p = cuda_program(R"(
func @e(%x: f32[100]) -> (f32[100]) {
  %y = exp(%x) : f32[100]
  return %y
})");
  std::string dir = "/tmp/kiln_nvrtc_cache_test_" + std::to_string(::getpid());
  codegen::NvrtcOptions o;
  o.arch = "sm_90";
  o.cache_dir = dir;
  codegen::NvrtcResult cold, warm;
  REQUIRE(codegen::nvrtc_compile(p.source, o, cold).is_ok());
  REQUIRE(codegen::nvrtc_compile(p.source, o, warm).is_ok());
  if (std::getenv("KILN_CACHE") == nullptr) {
    CHECK_FALSE(cold.cache_hit);
    CHECK(warm.cache_hit);
    CHECK(warm.image == cold.image);
  }
  // A newer arch than NVRTC knows: PTX for the newest one it supports.
  std::vector<int> archs = codegen::nvrtc_supported_archs();
  REQUIRE(!archs.empty());
  int newest = *std::max_element(archs.begin(), archs.end());
  codegen::NvrtcResult ptx;
  o.arch = "sm_" + std::to_string(newest + 100);
  o.use_cache = false;
  REQUIRE(codegen::nvrtc_compile(p.source, o, ptx).is_ok());
  CHECK(ptx.is_ptx);
  CHECK(ptx.arch == "compute_" + std::to_string(newest));
  CHECK(ptx.image.find(".entry kiln_e_k0_0") != std::string::npos);
  CHECK(ptx.image.back() == '\0');
  o.arch = "sm90";
  Status bad = codegen::nvrtc_compile(p.source, o, ptx);
  CHECK(bad.message().find("bad CUDA architecture 'sm90'") == 0);
  o.arch = "sm_10";
  bad = codegen::nvrtc_compile(p.source, o, ptx);
  CHECK(bad.message().find("older than NVRTC") != std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST_CASE("cuda codegen: tensor-core (mma) contractions compile with NVRTC",
          "[cuda-codegen][mma]") {
  // Both tiles (64x64 with 4 warps, 128x128 with 8) of each kind, with a
  // fused epilogue, and a TF32 convolution.
  const char *kir = R"(
func @mm(%x: T[2048,512], %w: T[512,2048], %b: T[2048], %p: T[4,100,64], %q: T[4,64,48]) -> (T[2048,2048], T[4,100,48]) {
  %0 = matmul(%x, %w) : T[2048,2048]
  %1 = add(%0, %b) : T[2048,2048]
  %2 = relu(%1) : T[2048,2048]
  %3 = matmul(%p, %q) : T[4,100,48]
  return %2, %3
})";
  codegen::CudaEmitOptions tf32;
  tf32.tf32 = true;
  std::vector<std::pair<std::string, codegen::CudaProgram>> programs;
  for (const char *t : {"f16", "bf16", "f32"})
    programs.emplace_back(t, cuda_program(test::with_dtype(kir, t), tf32));
  programs.emplace_back("conv", cuda_program(R"(
func @conv(%x: f32[8,64,28,28], %w: f32[64,64,3,3]) -> (f32[8,64,28,28]) {
  %c = conv2d(%x, %w) {stride = [1, 1], padding = [1, 1], dilation = [1, 1], groups = 1} : f32[8,64,28,28]
  %y = relu(%c) : f32[8,64,28,28]
  return %y
})",
                                             tf32));
  // Split-K (one 64x64 block, 4096 deep: 8 slices) for f16 and TF32.
  for (const char *t : {"f16", "f32"})
    programs.emplace_back(std::string("split ") + t,
                          cuda_program(test::with_dtype(R"(
func @sk(%x: T[64,4096], %w: T[4096,64]) -> (T[64,64]) {
  %0 = matmul(%x, %w) : T[64,64]
  return %0
})",
                                                        t),
                                       tf32));
  for (const auto &[name, p] : programs) {
    INFO(name);
    if (name.rfind("split", 0) == 0) {
      CHECK(count_launches(p, "tensor cores (mma ") == 1);
      CHECK(count_launches(p, "split-K 8") == 1);
      continue;
    }
    CHECK(count_launches(p, "tensor cores (mma ") == p.launches.size());
    CHECK(p.source.find("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32") !=
          std::string::npos);
  }
  CHECK(count_launches(programs[0].second, "tile 128x128, tensor cores (mma "
                                           "f16)") == 1);
  CHECK(count_launches(programs[1].second, "tile 64x64, tensor cores (mma "
                                           "bf16)") == 1);
  CHECK(count_launches(programs[2].second, "(mma tf32)") == 2);
  // Below sm_80: the SIMT template, and no mma instruction in the source.
  codegen::CudaEmitOptions old = tf32;
  old.sm = 75;
  codegen::CudaProgram simt = cuda_program(
      R"(
func @mm(%x: bf16[256,128], %w: bf16[128,64]) -> (bf16[256,64]) {
  %0 = matmul(%x, %w) : bf16[256,64]
  return %0
})",
      old);
  CHECK(count_launches(simt, "gemm 1x256x64x128, tile 64x64") == 1);
  CHECK(count_launches(simt, "tensor cores") == 0);
  CHECK(simt.source.find("mma.sync") == std::string::npos);
  if (!codegen::nvrtc_available())
    return;
  // --Ofast-compile=max as in the models test (the same front end and
  // ptxas checks), the f16 program at production flags too (the [cuda][mma]
  // device test and kiln_bench_gpu compile them all at production flags).
  for (const auto &[name, p] : programs)
    for (const char *arch : {"sm_80", "sm_90"}) {
      INFO(name << " for " << arch);
      CHECK(nvrtc_verdict(p.source, arch, {"--Ofast-compile=max"}) == "");
    }
  CHECK(nvrtc_verdict(programs[0].second.source, "sm_90", {}) == "");
  std::vector<int> archs = codegen::nvrtc_supported_archs();
  if (std::find(archs.begin(), archs.end(), 75) != archs.end())
    CHECK(nvrtc_verdict(simt.source, "sm_75", {}) == "");
}

TEST_CASE("cuda codegen: the tile and split-K overrides",
          "[cuda-codegen][cuda-gemm]") {
  const char *kir = R"(
func @wg(%x: f32[64,8192], %g: f32[8192,64]) -> (f32[64,64]) {
  %0 = matmul(%x, %g) : f32[64,64]
  return %0
})";
  {
    test::ScopedEnv t("KILN_CUDA_TILE", "128x64"), s("KILN_CUDA_SPLIT_K", "5");
    codegen::CudaProgram p = cuda_program(kir);
    REQUIRE(p.launches.size() == 2);
    CHECK(p.launches[0].what.find("tile 128x64x16, split-K 5") !=
          std::string::npos);
    CHECK(p.scratch_bytes == 5 * 64 * 64 * 4);
  }
  {
    test::ScopedEnv s("KILN_CUDA_SPLIT_K", "1");
    CHECK(cuda_program(kir).launches.size() == 1);
  }
  // 64-bit indices (a 2^30-element operand) and a K of 2^24 split 32
  // ways print and compile NVRTC-clean.
  codegen::CudaProgram big = cuda_program(R"(
func @bigk(%a: f32[64,16777216], %b: f32[16777216,64]) -> (f32[64,64]) {
  %c = matmul(%a, %b) : f32[64,64]
  return %c
})");
  CHECK(big.source.find("typedef long long kiln_ix;") != std::string::npos);
  REQUIRE(big.launches.size() == 2);
  CHECK(big.launches[0].what.find("split-K 32") != std::string::npos);
  if (codegen::nvrtc_available())
    CHECK(nvrtc_verdict(big.source, "sm_90", {}) == "");
  {
    test::ScopedEnv t("KILN_CUDA_TILE", "96x96");
    CHECK_THROWS_WITH(cuda_program(kir),
                      Catch::Contains("KILN_CUDA_TILE=96x96: expected "
                                      "128x128, 128x64, 64x128 or 64x64"));
  }
  {
    test::ScopedEnv s("KILN_CUDA_SPLIT_K", "0");
    CHECK_THROWS_WITH(cuda_program(kir),
                      Catch::Contains("KILN_CUDA_SPLIT_K=0: expected a slice "
                                      "count from 1 to 64"));
  }
}

// The contraction launches of every full-size BENCHMARKS.md workload,
// forward and training step, with their sizes, tiles, split-K and block
// counts (docs/cuda.md "Tile choice"): kiln_unit_tests
// "[.cuda-gemm-launches]".
TEST_CASE("print the full-size workloads' contraction launches",
          "[.cuda-gemm-launches]") {
  for (const std::string &name : models::workload_names()) {
    models::Model m = models::build_workload(name, /*reduced=*/false, 5);
    if (m.loss.valid())
      train_step(*m.graph, m.loss, m.params, {optim::sgd(0.05, 0.9)});
    codegen::CudaProgram p = cuda_program(m.graph->function());
    std::cout << "== " << name << " (scratch " << p.scratch_bytes
              << " bytes)\n";
    for (const codegen::CudaLaunch &l : p.launches)
      if (l.what.find("gemm") != std::string::npos ||
          l.what.find("split-K") != std::string::npos)
        std::cout << "  " << l.grid * l.grid_y * l.grid_z
                  << " blocks: " << l.what << "\n";
  }
}
