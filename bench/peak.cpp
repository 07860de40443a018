/// \file
/// FMA-throughput microbenchmark: the fp32 peak that bench/gemm quotes its
/// fractions against. Each thread runs a loop of independent vector FMAs
/// (enough accumulators to cover latency x ports) at the widest vector width
/// the build targets; prints GFLOP/s on one core and on all cores.
// SPDX-License-Identifier: Apache-2.0
#include "bench/Peak.h"

#include <omp.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

namespace kiln::bench {

namespace {

#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
typedef float VecF __attribute__((vector_size(kLanes * 4)));

/// 24 accumulators: 4-cycle latency x 2 FMA ports needs 8; more hides
/// scheduling noise. Returns a sum so the work is not optimized out.
__attribute__((noinline)) float fma_loop(long iters, float seed) {
  constexpr int kAcc = 24;
  VecF acc[kAcc];
  VecF x = VecF{} + seed, y = VecF{} + 0.999999f;
  for (int a = 0; a < kAcc; ++a)
    acc[a] = VecF{} + (float)a * seed;
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 24
    for (int a = 0; a < kAcc; ++a)
      acc[a] = acc[a] * y + x;
  }
  VecF s = VecF{};
  for (int a = 0; a < kAcc; ++a)
    s += acc[a];
  float out = 0;
  for (int l = 0; l < kLanes; ++l)
    out += s[l];
  return out;
}

constexpr long kIters = 20'000'000;
constexpr double kFlopsPerIter = 24.0 * kLanes * 2;

double thread_cpu_seconds() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/// GFLOP per second of one thread's CPU time; best of \p reps.
double measure_cpu(int reps) {
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    double t0 = thread_cpu_seconds();
    volatile float v = fma_loop(kIters, 1e-3f);
    (void)v;
    best = std::max(best,
                    kIters * kFlopsPerIter / (thread_cpu_seconds() - t0) / 1e9);
  }
  return best;
}

/// GFLOP/s of \p threads threads each running fma_loop; best of \p reps.
double measure(int threads, int reps) {
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    volatile float sink = 0;
    auto t0 = std::chrono::steady_clock::now();
#pragma omp parallel num_threads(threads)
    {
      float v = fma_loop(kIters, 1e-3f * (omp_get_thread_num() + 1));
#pragma omp atomic
      sink += v;
    }
    double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
            .count();
    best = std::max(best, threads * kIters * kFlopsPerIter / s / 1e9);
  }
  return best;
}

} // namespace

PeakResult measure_peak(int reps) {
  PeakResult p;
  p.lanes = kLanes;
  p.threads = omp_get_max_threads();
  p.single_gflops = measure(1, reps);
  p.single_cpu_gflops = measure_cpu(reps);
  p.all_gflops = measure(p.threads, reps);
  return p;
}

} // namespace kiln::bench

#ifndef KILN_PEAK_NO_MAIN
int main() {
  kiln::bench::PeakResult p = kiln::bench::measure_peak(5);
  std::printf("fp32 FMA peak (%d lanes, best of 5)\n", p.lanes);
  std::printf("  1 thread : %8.1f GFLOP/s (%.1f per CPU-second)\n",
              p.single_gflops, p.single_cpu_gflops);
  std::printf("  %d threads: %8.1f GFLOP/s\n", p.threads, p.all_gflops);
  return 0;
}
#endif
