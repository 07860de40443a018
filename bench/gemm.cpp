/// \file
/// The BENCHMARKS.md gemm workload: C = A @ B (f32, row-major) for each
/// (M, N, K), kiln's generated kernel compiled in process, timed on all
/// OpenMP threads: median of >= 20 runs (5 for runs over 1 s), min and max,
/// GFLOP/s = 2MNK / median and the fraction of the FMA peak measured in the
/// same process (bench/peak.cpp). With OpenBLAS found at configure time a
/// peer column (cblas_sgemm, same data, same process) is added. Prints a
/// table and writes JSON (default bench/results/gemm.json).
///   usage: [OPENBLAS_CORETYPE=SkylakeX] kiln_bench_gemm [out.json] [M N K ...]
// SPDX-License-Identifier: Apache-2.0
#include "codegen/Gemm.h"
#include "bench/Peak.h"
#include "bench/Timing.h"
#include "codegen/ClangJit.h"

#include <nlohmann/json.hpp>
#include <omp.h>

#ifdef KILN_HAVE_OPENBLAS
#include <cblas.h>
#endif

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <thread>
#include <time.h>
#include <vector>

using namespace kiln;
using namespace kiln::codegen;
using kiln::bench::Buffer;
using kiln::bench::time_runs;
using kiln::bench::Timing;

namespace {

/// Largest |C - A@B| / (1 + |A|@|B|) over a sample of entries.
double sample_error(const float *a, const float *b, const float *c, int64_t m,
                    int64_t n, int64_t k) {
  std::mt19937 gen(7);
  double worst = 0;
  for (int t = 0; t < 64; ++t) {
    int64_t i = gen() % m, j = gen() % n;
    double ref = 0, mag = 0;
    for (int64_t p = 0; p < k; ++p) {
      ref += double(a[i * k + p]) * b[p * n + j];
      mag += std::fabs(double(a[i * k + p]) * b[p * n + j]);
    }
    worst = std::max(worst, std::fabs(c[i * n + j] - ref) / (1 + mag));
  }
  return worst;
}

using Json = nlohmann::json;

/// Benchmarks one shape; returns its JSON row and prints its table line.
Json bench_shape(int64_t m, int64_t n, int64_t k, double peak,
                 double core_peak) {
  GemmSpec spec;
  spec.name = "kiln_gemm";
  spec.M = m;
  spec.N = n;
  spec.K = k;
  CCompileOptions opts;
  opts.name = "bench_gemm";
  std::unique_ptr<JitModule> mod;
  Status st = jit_compile_c(emit_gemm(spec), opts, mod);
  if (!st.is_ok()) {
    std::fprintf(stderr, "compile failed: %s\n", st.message().c_str());
    std::exit(1);
  }
  auto *fn =
      mod->lookup_fn<void(const float *, const float *, float *)>("kiln_gemm");
  Buffer a(m * k, 1), b(k * n, 2), c(m * n, 3);
  const double flop = 2.0 * m * n * k;
  Timing t = time_runs([&] { fn(a.data, b.data, c.data); });
  double gf = flop / t.median_s / 1e9;
  // Per second of CPU time the process got (barrier spinning included):
  // robust when other processes share the cores, against one core's peak.
  double cpu_gf = flop * t.runs / t.cpu_s / 1e9;
  Json row = {{"M", m},
              {"N", n},
              {"K", k},
              {"runs", t.runs},
              {"median_ms", t.median_s * 1e3},
              {"min_ms", t.min_s * 1e3},
              {"max_ms", t.max_s * 1e3},
              {"gflops", gf},
              {"fraction_of_peak", gf / peak},
              {"gflops_per_cpu_second", cpu_gf},
              {"cpu_fraction_of_core_peak", cpu_gf / core_peak},
              {"cores_used", t.cpu_s / t.total_s},
              {"max_rel_error", sample_error(a.data, b.data, c.data, m, n, k)}};
  std::printf("%5lld %5lld %5lld | %9.3f %9.3f %9.3f | %7.1f  %5.1f%% | "
              "%5.1f%% %4.2f",
              (long long)m, (long long)n, (long long)k, t.median_s * 1e3,
              t.min_s * 1e3, t.max_s * 1e3, gf, 100 * gf / peak,
              100 * cpu_gf / core_peak, t.cpu_s / t.total_s);
#ifdef KILN_HAVE_OPENBLAS
  // libomp's workers spin for KMP_BLOCKTIME (200 ms) after a region: let
  // them sleep before OpenBLAS's own threads start.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  Timing o = time_runs([&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f,
                a.data, k, b.data, n, 0.0f, c.data, n);
  });
  double ogf = flop / o.median_s / 1e9;
  row["openblas_gflops"] = ogf;
  row["openblas_median_ms"] = o.median_s * 1e3;
  std::printf(" | %7.1f  %5.1f%%", ogf, 100 * ogf / peak);
#endif
  std::printf("\n");
  return row;
}

} // namespace

int main(int argc, char **argv) {
  std::string out = argc > 1 ? argv[1] : "bench/results/gemm.json";
  std::vector<std::array<int64_t, 3>> shapes = {{256, 256, 256},
                                                {1024, 1024, 1024},
                                                {2048, 2048, 2048},
                                                {128, 4096, 1024}};
  if (argc > 4) {
    shapes.clear();
    for (int i = 2; i + 2 < argc; i += 3)
      shapes.push_back({std::atoll(argv[i]), std::atoll(argv[i + 1]),
                        std::atoll(argv[i + 2])});
  }
  bench::PeakResult peak = bench::measure_peak(5);
  std::printf("fp32 FMA peak: %.1f GFLOP/s on %d threads (%.1f on 1; %.1f "
              "per CPU-second of one core)\n",
              peak.all_gflops, peak.threads, peak.single_gflops,
              peak.single_cpu_gflops);
  std::printf("    M     N     K | median ms    min ms    max ms | GFLOP/s  "
              "%%peak | cpu%% cores");
#ifdef KILN_HAVE_OPENBLAS
  std::printf(" | OpenBLAS %%peak");
#endif
  std::printf("\n");
#ifdef KILN_HAVE_OPENBLAS
  // Debian's OpenBLAS 0.3.21 takes CPUs newer than it for Prescott (SSE3):
  // run with OPENBLAS_CORETYPE=SkylakeX for its AVX-512 kernels.
  std::printf("(OpenBLAS core: %s)", openblas_get_corename());
#endif
  std::printf("\n");
  Json rows = Json::array();
  for (auto [m, n, k] : shapes)
    rows.push_back(
        bench_shape(m, n, k, peak.all_gflops, peak.single_cpu_gflops));
  Json doc = {{"workload", "gemm"},
              {"threads", peak.threads},
              {"peak_gflops", peak.all_gflops},
              {"peak_gflops_1thread", peak.single_gflops},
              {"peak_gflops_per_cpu_second", peak.single_cpu_gflops},
              {"vector_width", host_vector_width()},
#ifdef KILN_HAVE_OPENBLAS
              {"openblas_core", openblas_get_corename()},
#endif
              {"results", rows}};
  bench::write_json(out, doc);
  return 0;
}
