/// \file
/// kiln_bench_remat: the rematerialization rows of ../shared/BENCHMARKS.md
/// (deep_mlp_memory) plus resnet18_train and gpt_train. For each workload
/// and policy (none, sqrt_n, budgets of half the sqrt_n arena and of a
/// third of the arena without remat, or budget=BYTES): the
/// planned arena (plan_memory's arena_bytes: every activation, gradient and
/// scratch byte; parameters and optimizer state are outside it), the plan
/// remat chose and its recompute FLOPs, and with --time the step time
/// (median of 5 runs after a warm-up, min and max; the policies' runs
/// interleaved). Writes JSON; with
/// $KILN_REMAT_MEMORY_REPORT=DIR also each plan's memory_report.
///   usage: kiln_bench_remat [--workloads a,b] [--depths 16,64,256]
///                           [--policies none,sqrt_n,half,third,budget=B]
///                           [--time] [--runs N] [--reduced] [--json FILE]
// SPDX-License-Identifier: Apache-2.0
#include "bench/Args.h"
#include "bench/models/Models.h"
#include "frontend/Compile.h"
#include "frontend/Train.h"
#include "ir/Printer.h"
#include "passes/PassManager.h"
#include "passes/PlanMemory.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

using namespace kiln;
using json = nlohmann::json;

namespace {

struct Options {
  std::vector<std::string> workloads = {"deep_mlp_memory", "resnet18_train",
                                        "gpt_train"};
  std::vector<int64_t> depths = {16, 64, 256};
  std::vector<std::string> policies = {"none", "sqrt_n", "half", "third"};
  bool time = false, reduced = false;
  int runs = 5;
  std::string json_path = "bench/results/remat.json";
};

/// The workload's training step with its BENCHMARKS.md optimizer.
models::Model build(const std::string &name, int64_t depth, bool reduced) {
  models::Model m;
  Optimizer opt = optim::sgd(0.01);
  if (name == "deep_mlp_memory") {
    models::DeepMlpConfig c =
        reduced ? models::DeepMlpConfig::reduced() : models::DeepMlpConfig{};
    c.depth = depth;
    m = models::deep_mlp_memory(c);
  } else {
    m = models::build_workload(name, reduced);
    opt = name == "gpt_train" ? optim::adamw(3e-4, 0.01) : optim::sgd(0.1, 0.9);
  }
  train_step(*m.graph, m.loss, m.params, {opt});
  return m;
}

struct Row {
  std::string workload, policy, plan;
  int64_t depth = 0, budget = 0, arena = 0, lower_bound = 0;
  double recompute_gflop = 0, plan_s = 0;
  int boundaries = 0, updates_moved = 0;
  double median_s = 0, min_s = 0, max_s = 0;
  std::string error;
};

/// canonicalize, remat, lower: the planned arena without compiling C.
void plan(const Function &f, const RematPolicy &policy, Row &row) {
  Module m;
  Function *g = m.add_function(f.clone());
  PassContext ctx;
  canonicalize(m, ctx);
  auto t0 = std::chrono::steady_clock::now();
  RematReport r = rematerialize(*g, policy);
  row.plan_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  loop::Program p = lower(*g);
  row.arena = p.arena_bytes;
  row.lower_bound = memory_summary(p).lower_bound;
  if (const char *dir = std::getenv("KILN_REMAT_MEMORY_REPORT")) {
    std::string base = std::string(dir) + "/" + row.workload + "-" +
                       std::to_string(row.depth) + "-" + row.policy;
    std::ofstream(base + ".txt") << memory_report(p);
    std::ofstream(base + ".kir") << to_string(m);
  }
  row.plan = r.applied ? r.plan : "none";
  row.boundaries = r.boundaries;
  row.updates_moved = r.updates_moved;
  row.recompute_gflop = r.recompute_flops * 1e-9;
}

std::vector<HostTensor> inputs_of(const Function &f, const Graph &g,
                                  Executable &exe) {
  std::vector<HostTensor> args = g.initial_values(), inputs;
  std::mt19937_64 rng(42);
  std::normal_distribution<float> normal;
  for (size_t i = 0; i < args.size(); ++i) {
    if (f.param(i)->arg_kind() != ArgKind::Input) {
      exe.set_state(f.param(i)->name(), args[i]);
      continue;
    }
    for (int64_t j = 0; j < args[i].numel(); ++j) {
      if (is_float(args[i].dtype()))
        args[i].set(j, normal(rng));
      else
        args[i].set_int(j, int64_t(rng() % 10));
    }
    inputs.push_back(args[i]);
  }
  return inputs;
}

/// Compiles \p m once per policy in \p rows (those planned without
/// error), then times them interleaved, round-robin, so that a busy machine
/// slows them alike: median, min and max of \p runs each.
void time_steps(const models::Model &m,
                const std::vector<std::pair<RematPolicy, Row *>> &rows,
                int runs) {
  const Function &f = m.graph->function();
  std::vector<std::unique_ptr<Executable>> exes;
  std::vector<std::vector<HostTensor>> ins;
  for (const auto &[policy, row] : rows) {
    CompileOptions o;
    o.remat = policy;
    exes.push_back(compile(f, o));
    ins.push_back(inputs_of(f, *m.graph, *exes.back()));
    exes.back()->run(ins.back()); // warm-up
  }
  std::vector<std::vector<double>> ts(rows.size());
  for (int r = 0; r < runs; ++r)
    for (size_t i = 0; i < rows.size(); ++i) {
      auto t0 = std::chrono::steady_clock::now();
      exes[i]->run(ins[i]);
      ts[i].push_back(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
              .count());
    }
  for (size_t i = 0; i < rows.size(); ++i) {
    std::sort(ts[i].begin(), ts[i].end());
    rows[i].second->median_s = ts[i][ts[i].size() / 2];
    rows[i].second->min_s = ts[i].front();
    rows[i].second->max_s = ts[i].back();
  }
}

json to_json(const Row &r) {
  json j = {{"workload", r.workload},
            {"depth", r.depth},
            {"policy", r.policy},
            {"budget_bytes", r.budget},
            {"plan", r.plan},
            {"arena_bytes", r.arena},
            {"lower_bound_bytes", r.lower_bound},
            {"boundaries", r.boundaries},
            {"updates_moved", r.updates_moved},
            {"recompute_gflop", r.recompute_gflop},
            {"remat_seconds", r.plan_s}};
  if (r.median_s > 0) {
    j["median_s"] = r.median_s;
    j["min_s"] = r.min_s;
    j["max_s"] = r.max_s;
  }
  if (!r.error.empty())
    j["error"] = r.error;
  return j;
}

void print(const Row &r, int64_t none_arena, double none_s) {
  std::printf("%-16s %4lld %-10s %-16s %10.1f %6.1f%% %5d %8.2f",
              r.workload.c_str(), (long long)r.depth, r.policy.c_str(),
              r.plan.c_str(), r.arena / 1048576.0,
              100.0 * r.arena / std::max<int64_t>(1, none_arena), r.boundaries,
              r.recompute_gflop);
  if (r.median_s > 0)
    std::printf(" %9.1f %+6.1f%%", r.median_s * 1e3,
                none_s > 0 ? 100 * (r.median_s / none_s - 1) : 0.0);
  if (!r.error.empty())
    std::printf("  %s", r.error.c_str());
  std::printf("\n");
  std::fflush(stdout);
}

Options parse_args(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&] { return bench::next_arg(argc, argv, i); };
    if (a == "--workloads")
      o.workloads = bench::split_list(value());
    else if (a == "--depths") {
      o.depths.clear();
      for (const std::string &d : bench::split_list(value()))
        o.depths.push_back(std::stoll(d));
    } else if (a == "--policies")
      o.policies = bench::split_list(value());
    else if (a == "--time")
      o.time = true;
    else if (a == "--reduced")
      o.reduced = true;
    else if (a == "--runs")
      o.runs = std::stoi(value());
    else if (a == "--json")
      o.json_path = value();
    else
      throw std::runtime_error("unknown argument " + a);
  }
  return o;
}

/// The policy named \p spec: none, sqrt_n, half (a budget of half the
/// sqrt_n arena), third (a third of the arena without remat) or
/// budget=BYTES.
RematPolicy policy_of(const std::string &spec, int64_t none_arena,
                      int64_t sqrt_arena) {
  if (spec == "none")
    return RematPolicy::none();
  if (spec == "sqrt_n")
    return RematPolicy::sqrt_n();
  if (spec == "half")
    return RematPolicy::budget(sqrt_arena / 2);
  if (spec == "third")
    return RematPolicy::budget(none_arena / 3);
  RematPolicy p;
  std::string err;
  if (spec.rfind("budget=", 0) != 0 ||
      !parse_remat_policy({{"budget", spec.substr(7)}}, p, err))
    throw std::runtime_error("bad policy '" + spec +
                             "' (none, sqrt_n, half, third, budget=BYTES)");
  return p;
}

/// Each policy of opt.policies on one workload; none and sqrt_n go first
/// (the relative budgets need their arenas).
void bench_workload(const Options &opt, const std::string &name, int64_t depth,
                    json &rows) {
  models::Model m = build(name, depth, opt.reduced);
  int64_t none_arena = 0, sqrt_arena = 0;
  std::vector<Row> done(opt.policies.size());
  std::vector<std::pair<RematPolicy, Row *>> timed;
  for (size_t i = 0; i < opt.policies.size(); ++i) {
    Row &row = done[i];
    row.workload = name;
    row.depth = name == "deep_mlp_memory" ? depth : 0;
    row.policy = opt.policies[i];
    try {
      RematPolicy p = policy_of(row.policy, none_arena, sqrt_arena);
      row.budget = p.budget_bytes;
      plan(m.graph->function(), p, row);
      timed.push_back({p, &row});
    } catch (const std::exception &e) {
      row.error = e.what();
    }
    if (row.policy == "none")
      none_arena = row.arena;
    if (row.policy == "sqrt_n")
      sqrt_arena = row.arena;
  }
  if (opt.time)
    time_steps(m, timed, opt.runs);
  double none_s = done.front().policy == "none" ? done.front().median_s : 0;
  for (const Row &row : done) {
    print(row, none_arena, none_s);
    rows.push_back(to_json(row));
  }
}

} // namespace

int main(int argc, char **argv) try {
  Options opt = parse_args(argc, argv);
  std::printf("%-16s %4s %-10s %-16s %10s %7s %5s %8s %9s %7s\n", "workload",
              "N", "policy", "plan", "arena MiB", "of none", "cuts", "re GFLOP",
              "median ms", "extra");
  json rows = json::array();
  for (const std::string &name : opt.workloads) {
    if (name != "deep_mlp_memory") {
      bench_workload(opt, name, 0, rows);
      continue;
    }
    for (int64_t depth : opt.depths)
      bench_workload(opt, name, depth, rows);
  }
  std::ofstream(opt.json_path) << json{{"tool", "kiln_bench_remat"},
                                       {"reduced", opt.reduced},
                                       {"rows", rows}}
                                      .dump(2)
                               << "\n";
  std::printf("wrote %s\n", opt.json_path.c_str());
  return 0;
} catch (const std::exception &e) {
  std::fprintf(stderr, "kiln_bench_remat: error: %s\n", e.what());
  return 1;
}
