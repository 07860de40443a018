/// \file
/// profile_kernels (bench/Profile.h).
// SPDX-License-Identifier: Apache-2.0
#include "bench/Profile.h"

#include "frontend/Compile.h"
#include "runtime/Profile.h"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

namespace kiln::bench {

namespace {

/// " [batch=8x4, m=128, n=128, k=64]" for each Gemm of \p k, else "".
std::string contraction_shape(const loop::Kernel &k) {
  std::string r;
  for (const loop::StmtPtr &s : k.body->body) {
    if (!s->gemm)
      continue;
    const loop::GemmDesc &g = *s->gemm;
    r += " [";
    if (!g.batch.empty()) {
      r += "batch=";
      for (size_t d = 0; d < g.batch.size(); ++d)
        r += (d ? "x" : "") + std::to_string(g.batch[d].extent);
      r += ", ";
    }
    r += "m=" + std::to_string(g.m) + ", n=" + std::to_string(g.n) +
         ", k=" + std::to_string(g.k) + "]";
  }
  return r;
}

} // namespace

void profile_kernels(const Function &f, const std::vector<HostTensor> &args,
                     int threads, int runs) {
  CompileOptions o;
  o.threads = threads;
  o.profile = true;
  std::unique_ptr<Executable> exe = compile(f, o);
  std::printf("compile phases of the profiled build:\n%s",
              compile_phase_table(*exe).c_str());
  std::vector<HostTensor> inputs = exe->bind(args);
  const std::vector<loop::Kernel> &ks = exe->program().kernels;
  std::vector<double> sum(ks.size(), 0.0);
  exe->run(inputs);
  for (int r = 0; r < runs; ++r) {
    exe->run(inputs);
    const double *t = exe->debug().kernel_times;
    for (size_t k = 0; t && k < ks.size(); ++k)
      sum[k] += t[2 * k + 1] - t[2 * k];
  }
  double total = 0;
  for (double s : sum)
    total += s;
  std::vector<size_t> order(ks.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return sum[a] > sum[b]; });
  std::printf("per-kernel time of @%s (mean of %d runs): %.3f ms in %zu "
              "kernels\n",
              f.name().c_str(), runs, total / runs * 1e3, ks.size());
  std::printf("         ms  share  GFLOP/s  kernel   ops [contraction]\n");
  for (size_t i : order) {
    double s = sum[i] / runs;
    double gflops = double(kernel_cost(exe->program(), ks[i]).flops) /
                    std::max(s, 1e-12) * 1e-9;
    std::printf("  %9.3f ms %5.1f%% %8.1f  %-8s %s%s\n", s * 1e3,
                100 * sum[i] / std::max(total, 1e-12), gflops,
                ks[i].name.c_str(), ks[i].ops.c_str(),
                contraction_shape(ks[i]).c_str());
  }
}

} // namespace kiln::bench
