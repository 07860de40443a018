/// \file
/// kiln_bench_conv: the convolutions of resnet18 (BENCHMARKS.md's CIFAR
/// variant, batch 16) one layer shape at a time, each product timed
/// separately: forward (emit_conv2d, no epilogue), input gradient
/// (emit_conv2d_input_grad) and weight gradient (emit_conv2d_weight_grad),
/// compiled in process and timed on all OpenMP threads (median of >= 20
/// runs). Prints ms, GFLOP/s and the fraction of the FMA peak measured in
/// the same process, and each product's total over the network (a shape
/// times its number of layers); writes JSON.
///   usage: kiln_bench_conv [out.json] [--batch N]
// SPDX-License-Identifier: Apache-2.0
#include "bench/Peak.h"
#include "bench/Timing.h"
#include "codegen/ClangJit.h"
#include "codegen/Gemm.h"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

using namespace kiln;
using namespace kiln::codegen;
using kiln::bench::Buffer;
using kiln::bench::time_runs;

namespace {

struct Layer {
  const char *name;
  int count; ///< layers of this shape in resnet18
  int64_t c, hw, o, k, stride;
};

/// resnet18, CIFAR variant: the stem, 2 BasicBlocks per stage, a 1x1
/// stride-2 shortcut at the first block of stages 2-4.
const Layer kLayers[] = {
    {"stem 3-64 3x3 @32", 1, 3, 32, 64, 3, 1},
    {"s1 64-64 3x3 @32", 4, 64, 32, 64, 3, 1},
    {"s2 64-128 3x3/2 @32", 1, 64, 32, 128, 3, 2},
    {"s2 128-128 3x3 @16", 3, 128, 16, 128, 3, 1},
    {"s2 64-128 1x1/2 @32", 1, 64, 32, 128, 1, 2},
    {"s3 128-256 3x3/2 @16", 1, 128, 16, 256, 3, 2},
    {"s3 256-256 3x3 @8", 3, 256, 8, 256, 3, 1},
    {"s3 128-256 1x1/2 @16", 1, 128, 16, 256, 1, 2},
    {"s4 256-512 3x3/2 @8", 1, 256, 8, 512, 3, 2},
    {"s4 512-512 3x3 @4", 3, 512, 4, 512, 3, 1},
    {"s4 256-512 1x1/2 @8", 1, 256, 8, 512, 1, 2},
};

using Fn = void(const float *, const float *, float *);

Fn *compile_fn(const std::string &src, const std::string &name,
               std::vector<std::unique_ptr<JitModule>> &keep) {
  CCompileOptions opts;
  opts.name = name;
  opts.use_cache = false;
  std::unique_ptr<JitModule> mod;
  Status st = jit_compile_c(src, opts, mod);
  if (!st.is_ok()) {
    std::fprintf(stderr, "compile failed: %s\n", st.message().c_str());
    std::exit(1);
  }
  Fn *fn = mod->lookup_fn<Fn>(name);
  keep.push_back(std::move(mod));
  return fn;
}

} // namespace

int main(int argc, char **argv) {
  std::string out = "bench/results/conv.json";
  int64_t batch = 16;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--batch" && i + 1 < argc)
      batch = std::atoll(argv[++i]);
    else
      out = a;
  }
  bench::PeakResult peak = bench::measure_peak(5);
  std::printf("fp32 FMA peak: %.1f GFLOP/s on %d threads; batch %lld\n",
              peak.all_gflops, peak.threads, (long long)batch);
  std::printf("%-22s %3s | %-21s | %-21s | %-21s\n", "layer", "n",
              "forward ms GF/s %pk", "input grad", "weight grad");
  const char *kinds[] = {"forward", "input_grad", "weight_grad"};
  double total_ms[3] = {0, 0, 0}, total_gflop = 0;
  nlohmann::json rows = nlohmann::json::array();
  std::vector<std::unique_ptr<JitModule>> keep;
  for (const Layer &l : kLayers) {
    Conv2dSpec s;
    s.N = batch;
    s.C = l.c;
    s.H = s.W = l.hw;
    s.O = l.o;
    s.KH = s.KW = l.k;
    s.stride_h = s.stride_w = l.stride;
    s.pad_h = s.pad_w = l.k / 2;
    int64_t oh = 0, ow = 0;
    conv2d_output_size(s, oh, ow);
    const double gflop = 2e-9 * batch * l.o * oh * ow * l.c * l.k * l.k;
    Buffer x(batch * l.c * l.hw * l.hw, 1), w(l.o * l.c * l.k * l.k, 2),
        y(batch * l.o * oh * ow, 3), gx(batch * l.c * l.hw * l.hw, 4),
        gw(l.o * l.c * l.k * l.k, 5);
    nlohmann::json row = {
        {"layer", l.name}, {"count", l.count}, {"gflop", gflop}};
    std::printf("%-22s %3d |", l.name, l.count);
    for (int kind = 0; kind < 3; ++kind) {
      s.name = std::string("bench_") + kinds[kind];
      std::string src = kind == 0   ? emit_conv2d(s)
                        : kind == 1 ? emit_conv2d_input_grad(s)
                                    : emit_conv2d_weight_grad(s);
      Fn *fn = compile_fn(src, s.name, keep);
      bench::Timing t = time_runs([&] {
        if (kind == 0)
          fn(x.data, w.data, y.data);
        else if (kind == 1)
          fn(y.data, w.data, gx.data);
        else
          fn(x.data, y.data, gw.data);
      });
      double gf = gflop / t.median_s;
      total_ms[kind] += l.count * t.median_s * 1e3;
      row[kinds[kind]] = {{"median_ms", t.median_s * 1e3},
                          {"min_ms", t.min_s * 1e3},
                          {"max_ms", t.max_s * 1e3},
                          {"gflops", gf},
                          {"fraction_of_peak", gf / peak.all_gflops}};
      std::printf(" %7.3f %6.1f %5.1f%% |", t.median_s * 1e3, gf,
                  100 * gf / peak.all_gflops);
      std::fflush(stdout);
    }
    std::printf("\n");
    total_gflop += l.count * gflop;
    rows.push_back(row);
  }
  std::printf("%-26s |", "network total (ms, %pk)");
  for (double ms : total_ms)
    std::printf(" %7.2f        %5.1f%% |", ms,
                100 * total_gflop / (ms * 1e-3) / peak.all_gflops);
  std::printf("\n");
  nlohmann::json doc = {{"workload", "resnet18_convolutions"},
                        {"batch", batch},
                        {"threads", peak.threads},
                        {"peak_gflops", peak.all_gflops},
                        {"total_ms",
                         {{"forward", total_ms[0]},
                          {"input_grad", total_ms[1]},
                          {"weight_grad", total_ms[2]}}},
                        {"results", rows}};
  bench::write_json(out, doc);
  return 0;
}
