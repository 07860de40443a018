/// \file
/// Kernel costs, Chrome traces and phase tables (runtime/Profile.h).
// SPDX-License-Identifier: Apache-2.0
#include "runtime/Profile.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <set>

namespace kiln {

namespace {

using json = nlohmann::json;

/// Float operations in \p e, not descending into load indices.
int64_t expr_flops(const loop::ExprPtr &e) {
  if (!e || e->op == loop::Op::Load)
    return 0;
  int64_t n = 0;
  switch (e->op) {
  case loop::Op::IntImm:
  case loop::Op::FloatImm:
  case loop::Op::Var:
  case loop::Op::Cast:
  case loop::Op::Select:
    break;
  default:
    n = is_float(e->dtype) ? 1 : 0;
  }
  for (const loop::ExprPtr &a : e->args)
    n += expr_flops(a);
  return n;
}

void stmt_cost(const loop::StmtPtr &s, int64_t trips, int64_t &flops) {
  if (!s)
    return;
  if (s->op == loop::StmtOp::Store || s->op == loop::StmtOp::Decl ||
      s->op == loop::StmtOp::Assign)
    flops += trips * expr_flops(s->value);
  if (const auto &g = s->gemm) {
    int64_t outs = trips * g->batch_count() * g->m * g->n;
    flops += 2 * outs * g->k + outs * expr_flops(g->epilogue);
  }
  if (const auto &c = s->conv) {
    int64_t oh =
        (c->H + 2 * c->pad_h - c->dil_h * (c->KH - 1) - 1) / c->stride_h + 1;
    int64_t ow =
        (c->W + 2 * c->pad_w - c->dil_w * (c->KW - 1) - 1) / c->stride_w + 1;
    int64_t outs = trips * c->N * c->O * oh * ow;
    flops += 2 * outs * (c->C / c->groups) * c->KH * c->KW +
             outs * expr_flops(c->epilogue);
  }
  int64_t inner = s->op == loop::StmtOp::For ? trips * s->extent : trips;
  for (const loop::StmtPtr &b : s->body)
    stmt_cost(b, inner, flops);
}

double kernel_ms(const Executable &exe, size_t k) {
  const double *t = exe.debug().kernel_times;
  return (t[2 * k + 1] - t[2 * k]) * 1e3;
}

} // namespace

KernelCost kernel_cost(const loop::Program &p, const loop::Kernel &k) {
  KernelCost c;
  std::set<int> bufs;
  stmt_cost(k.body, 1, c.flops);
  loop::kernel_buffers(k.body, bufs, bufs);
  for (int b : bufs)
    c.bytes += p.buffers[size_t(b)].bytes();
  return c;
}

std::string chrome_trace(const Executable &exe) {
  json events = json::array();
  double compile_end = 0;
  for (const CompilePhase &ph : exe.debug().compile_phases) {
    events.push_back({{"name", ph.name},
                      {"cat", "compile"},
                      {"ph", "X"},
                      {"pid", 1},
                      {"tid", 1 + ph.depth},
                      {"ts", ph.start_ms * 1e3},
                      {"dur", ph.ms * 1e3}});
    compile_end = std::max(compile_end, ph.start_ms + ph.ms);
  }
  const loop::Program &p = exe.program();
  const double *t = exe.debug().kernel_times;
  if (t && !p.kernels.empty() && t[1] > 0) {
    double t0 = t[0];
    for (size_t k = 0; k < p.kernels.size(); ++k) {
      const loop::Kernel &kern = p.kernels[k];
      KernelCost c = kernel_cost(p, kern);
      double ms = kernel_ms(exe, k), s = ms / 1e3;
      // Below a microsecond the clock's resolution makes rates noise.
      bool timed = ms >= 1e-3;
      json ops = json::array();
      for (const loop::SourceOp &o : kern.sources)
        ops.push_back(o.op + (o.value.empty() ? "" : " %" + o.value) +
                      (o.loc.empty() ? "" : " at " + o.loc));
      events.push_back(
          {{"name", kern.name + " " + kern.ops},
           {"cat", "kernel"},
           {"ph", "X"},
           {"pid", 2},
           {"tid", 1},
           {"ts", (compile_end + (t[2 * k] - t0) * 1e3) * 1e3},
           {"dur", ms * 1e3},
           {"args",
            {{"ops", ops},
             {"flops", c.flops},
             {"bytes", c.bytes},
             {"gflop_per_s",
              timed ? json(double(c.flops) / s / 1e9) : json(nullptr)},
             {"gb_per_s",
              timed ? json(double(c.bytes) / s / 1e9) : json(nullptr)}}}});
    }
  }
  auto name = [](int pid, int tid, const std::string &n) {
    return json{{"name", "thread_name"},
                {"ph", "M"},
                {"pid", pid},
                {"tid", tid},
                {"args", {{"name", n}}}};
  };
  events.push_back(name(1, 1, "compile"));
  events.push_back(name(1, 2, "device compile parts"));
  events.push_back(name(2, 1, "kernels (latest run)"));
  json trace = {{"traceEvents", events},
                {"displayTimeUnit", "ms"},
                {"otherData", {{"function", exe.function().name()}}}};
  return trace.dump(1) + "\n";
}

std::string compile_phase_table(const Executable &exe) {
  double total = 0;
  for (const CompilePhase &ph : exe.debug().compile_phases)
    if (ph.depth == 0)
      total += ph.ms;
  std::string s = "compile phases of @" + exe.function().name() + " (ms):\n";
  char buf[256];
  for (const CompilePhase &ph : exe.debug().compile_phases) {
    std::snprintf(buf, sizeof buf, "  %10.3f  %5.1f%%  %s%s\n", ph.ms,
                  total > 0 ? 100.0 * ph.ms / total : 0.0, ph.depth ? "  " : "",
                  ph.name.c_str());
    s += buf;
  }
  std::snprintf(buf, sizeof buf, "  %10.3f  100.0%%  total\n", total);
  return s + buf;
}

std::string kernel_time_table(const Executable &exe) {
  const loop::Program &p = exe.program();
  const double *t = exe.debug().kernel_times;
  if (!t || p.kernels.empty() || t[1] <= 0)
    return "";
  std::vector<size_t> order(p.kernels.size());
  for (size_t k = 0; k < order.size(); ++k)
    order[k] = k;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return kernel_ms(exe, a) > kernel_ms(exe, b);
  });
  std::string s = "kernels of the latest run, slowest first:\n"
                  "          ms   GFLOP/s      GB/s  kernel\n";
  char buf[512];
  for (size_t k : order) {
    KernelCost c = kernel_cost(p, p.kernels[k]);
    double ms = kernel_ms(exe, k), sec = ms / 1e3;
    if (ms >= 1e-3)
      std::snprintf(buf, sizeof buf, "  %10.4f  %8.2f  %8.2f  %s %s\n", ms,
                    double(c.flops) / sec / 1e9, double(c.bytes) / sec / 1e9,
                    p.kernels[k].name.c_str(), p.kernels[k].ops.c_str());
    else // under a microsecond: rates would be clock noise
      std::snprintf(buf, sizeof buf, "  %10.4f  %8s  %8s  %s %s\n", ms, "-",
                    "-", p.kernels[k].name.c_str(), p.kernels[k].ops.c_str());
    s += buf;
  }
  return s;
}

} // namespace kiln
