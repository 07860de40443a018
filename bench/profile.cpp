/// \file
/// profile_kernels (bench/Profile.h).
// SPDX-License-Identifier: Apache-2.0
#include "bench/Profile.h"

#include "codegen/CPrinter.h"
#include "codegen/ClangJit.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

namespace kiln::bench {

namespace {

const char *const kTimer = R"(struct kiln_prof_ts { long s, ns; };
int clock_gettime(int, struct kiln_prof_ts *);
long long kiln_prof_ns[@N@];
long long *kiln_prof_counters(void) { return kiln_prof_ns; }
static long long kiln_prof_now(void) {
  struct kiln_prof_ts t;
  clock_gettime(1, &t); /* CLOCK_MONOTONIC */
  return t.s * 1000000000LL + t.ns;
}
)";

/// emit_c of \p p with every kernel call of the entry timed into
/// kiln_prof_ns[kernel index].
std::string instrumented_c(const loop::Program &p) {
  std::string src = codegen::emit_c(p, "kiln_prof");
  size_t at = src.find("int kiln_prof_run(");
  for (size_t i = 0; i < p.kernels.size() && at != std::string::npos; ++i) {
    const std::string call = "  " + p.kernels[i].name + "(B);\n";
    at = src.find(call, at);
    if (at == std::string::npos)
      break;
    std::string timed = "  { long long t0_ = kiln_prof_now(); " +
                        p.kernels[i].name + "(B); kiln_prof_ns[" +
                        std::to_string(i) + "] += kiln_prof_now() - t0_; }\n";
    src.replace(at, call.size(), timed);
    at += timed.size();
  }
  std::string timer = kTimer;
  timer.replace(timer.find("@N@"), 3,
                std::to_string(std::max<size_t>(p.kernels.size(), 1)));
  return timer + src;
}

struct Aligned {
  void *p;
  explicit Aligned(int64_t bytes)
      : p(std::aligned_alloc(
            64, size_t((std::max<int64_t>(bytes, 1) + 63) / 64 * 64))) {}
  ~Aligned() { std::free(p); }
  Aligned(const Aligned &) = delete;
  Aligned &operator=(const Aligned &) = delete;
};

} // namespace

void profile_kernels(const Executable &exe,
                     const std::vector<HostTensor> &inputs,
                     const std::vector<HostTensor> &state, int runs) {
  const loop::Program &p = exe.program();
  codegen::CCompileOptions opts;
  opts.name = "kiln_prof";
  std::unique_ptr<codegen::JitModule> mod;
  Status st = codegen::jit_compile_c(instrumented_c(p), opts, mod);
  if (!st.is_ok()) {
    std::fprintf(stderr, "profile: compile failed: %s\n", st.message().c_str());
    return;
  }
  using Entry = int(const void *const *, void *const *, void *, void *const *);
  Entry *entry = mod->lookup_fn<Entry>("kiln_prof_run");
  long long *ns = mod->lookup_fn<long long *()>("kiln_prof_counters")();
  std::vector<std::unique_ptr<Aligned>> owned;
  std::vector<const void *> in;
  for (const HostTensor &t : inputs)
    in.push_back(t.bytes());
  std::vector<void *> out, sts;
  for (const HostTensor &t : state) {
    owned.push_back(std::make_unique<Aligned>(t.type().bytes()));
    std::memcpy(owned.back()->p, t.bytes(), size_t(t.type().bytes()));
    sts.push_back(owned.back()->p);
  }
  for (const loop::Buffer &b : p.buffers)
    if (b.kind == loop::BufferKind::Output) {
      if (out.size() <= size_t(b.arg_index))
        out.resize(size_t(b.arg_index) + 1, nullptr);
      owned.push_back(std::make_unique<Aligned>(b.bytes()));
      out[size_t(b.arg_index)] = owned.back()->p;
    }
  Aligned arena(p.arena_bytes);
  entry(in.data(), out.data(), arena.p, sts.data());
  std::fill(ns, ns + p.kernels.size(), 0LL);
  for (int r = 0; r < runs; ++r)
    entry(in.data(), out.data(), arena.p, sts.data());
  double total = 0;
  std::vector<size_t> order(p.kernels.size());
  for (size_t i = 0; i < order.size(); ++i) {
    order[i] = i;
    total += double(ns[i]);
  }
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return ns[a] > ns[b]; });
  std::printf("per-kernel time of @%s (mean of %d runs): %.3f ms in %zu "
              "kernels\n",
              p.name.c_str(), runs, total / runs * 1e-6, p.kernels.size());
  for (size_t i : order)
    std::printf("  %9.3f ms %5.1f%%  %-8s %s\n", double(ns[i]) / runs * 1e-6,
                100 * double(ns[i]) / std::max(total, 1.0),
                p.kernels[i].name.c_str(), p.kernels[i].ops.c_str());
}

} // namespace kiln::bench
