/// \file
/// kiln_bench: the model workloads of ../shared/BENCHMARKS.md compiled for
/// the CPU and timed by its rules. For each workload: build the graph at
/// full size (or --reduced), wrap training rows with train_step and the
/// row's optimizer, compile cold (no cache) and warm (from a fresh on-disk
/// cache in a temporary KILN_CACHE_DIR), load the graph's initial parameter
/// values, draw seeded random inputs (labels and tokens in range), warm up,
/// then time Executable::run: median of >= 20 runs (5 for runs over 1 s),
/// min and max. GFLOP/s use BENCHMARKS.md's GFLOP-per-step table; the
/// fraction of peak uses the FMA peak measured in this process
/// (bench/peak.cpp) or --peak. Prints a table and writes JSON.
///   usage: kiln_bench [--workloads a,b,...] [--reduced] [--runs N]
///                     [--json FILE] [--threads T] [--peak GFLOPS]
///                     [--check] [--max-step-s S] [--profile RUNS]
/// --profile prints each kernel's time per step (bench/Profile.h).
// SPDX-License-Identifier: Apache-2.0
#include "bench/Args.h"
#include "bench/Peak.h"
#include "bench/Profile.h"
#include "bench/models/Models.h"
#include "frontend/Compile.h"
#include "frontend/Train.h"
#include "ir/Interpreter.h"
#include "runtime/Profile.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

using namespace kiln;
using json = nlohmann::json;

namespace {

struct Options {
  std::vector<std::string> workloads = {
      "mlp_infer",      "mlp_infer_b1",   "mlp_train",
      "resnet18_infer", "resnet18_train", "gpt_train",
      "lstm_train",     "dcgan_step",     "deep_mlp_memory"};
  bool reduced = false, check = false;
  int runs = 0, threads = 0;
  int profile = 0; ///< > 0: per-kernel times over this many runs
  double peak = 0, max_step_s = 30;
  std::string json_path = "bench/results/kiln.json";
};

/// One row of the table: what was built and what was measured.
struct Row {
  std::string name, note;
  double gflop = 0; ///< per step (BENCHMARKS.md); 0 at reduced size
  double cold_s = 0, warm_s = 0, first_s = 0;
  double median_s = 0, min_s = 0, max_s = 0;
  int runs = 0;
  double out0 = NAN, check_err = NAN;
  size_t arena_bytes = 0;
  bool skipped = false;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

/// BENCHMARKS.md "GFLOP per step".
double gflop_per_step(const std::string &name) {
  static const std::vector<std::pair<std::string, double>> table = {
      {"mlp_infer", 0.953},     {"mlp_infer_b1", 0.0037},
      {"mlp_train", 2.86},      {"resnet18_infer", 17.8},
      {"resnet18_train", 53.3}, {"gpt_train", 22.5},
      {"lstm_train", 11.3},     {"dcgan_step", 27.1},
      {"deep_mlp_memory", 25.8}};
  for (const auto &[n, g] : table)
    if (n == name)
      return g;
  return 0;
}

/// Builds \p name as one function: the forward graph, and for training rows
/// the whole step with BENCHMARKS.md's optimizer. dcgan_step is a D update
/// (d_loss w.r.t. D) and a G update (g_loss w.r.t. G) from one forward pass.
models::Model build(const std::string &name, bool reduced) {
  if (name == "mlp_infer_b1") {
    models::MlpConfig c =
        reduced ? models::MlpConfig::reduced() : models::MlpConfig{};
    c.batch = 1;
    return models::mlp_infer(c);
  }
  if (name == "dcgan_step") {
    models::DcganModel m = models::dcgan_step(
        reduced ? models::DcganConfig::reduced() : models::DcganConfig{});
    Optimizer adam = optim::adam(2e-4, 0.5, 0.999);
    {
      NameScope s(*m.graph, "disc"); // optimizer state disc.optim.*
      train_step(*m.graph, m.d_loss, m.disc_params, {adam});
    }
    NameScope s(*m.graph, "gen");
    train_step(*m.graph, m.g_loss, m.gen_params, {adam});
    return std::move(static_cast<models::Model &>(m));
  }
  models::Model m = models::build_workload(name, reduced);
  Optimizer opt;
  if (name == "mlp_train")
    opt = optim::sgd(0.01, 0.9, 1e-4);
  else if (name == "resnet18_train")
    opt = optim::sgd(0.1, 0.9);
  else if (name == "gpt_train")
    opt = optim::adamw(3e-4, 0.01);
  else if (name == "lstm_train")
    opt = optim::sgd(0.1);
  else if (name == "deep_mlp_memory")
    opt = optim::sgd(0.01);
  else
    return m; // inference
  train_step(*m.graph, m.loss, m.params, {opt});
  return m;
}

/// Exclusive bound of the integer inputs: the vocabulary for gpt tokens,
/// the class count for labels.
int64_t int_bound(const std::string &name, bool reduced) {
  if (name == "gpt_train")
    return reduced ? models::GptConfig::reduced().vocab
                   : models::GptConfig{}.vocab;
  if (name == "lstm_train" && reduced)
    return models::LstmConfig::reduced().classes;
  if (name == "mlp_train" && reduced)
    return models::MlpConfig::reduced().classes;
  return 10;
}

/// The graph's initial values with every plain input replaced by seeded
/// random data: floats ~ N(0, 1), integers uniform in [0, bound).
std::vector<HostTensor> make_args(const Function &f, const Graph &g,
                                  int64_t bound, uint64_t seed) {
  std::vector<HostTensor> args = g.initial_values();
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  for (size_t i = 0; i < args.size(); ++i) {
    if (f.param(i)->arg_kind() != ArgKind::Input)
      continue;
    HostTensor &t = args[i];
    for (int64_t j = 0; j < t.numel(); ++j) {
      if (is_float(t.dtype()))
        t.set(j, normal(rng));
      else
        t.set_int(j, int64_t(rng() % uint64_t(bound)));
    }
  }
  return args;
}

/// ||got - want|| / ||want|| over every element.
double normwise_error(const HostTensor &got, const HostTensor &want) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    double d = got.get(i) - want.get(i);
    num += d * d;
    den += want.get(i) * want.get(i);
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

/// Times \p fn (already warmed up; \p first_s is the warm-up's time): \p
/// min_runs runs or more, 20 (5 when a run takes over 1 s) by default.
void time_runs(const std::function<void()> &fn, double first_s, int min_runs,
               Row &row) {
  int runs = first_s > 1.0 ? 5 : 20;
  runs = std::max(runs, min_runs);
  std::vector<double> ts;
  for (int r = 0; r < runs; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    fn();
    ts.push_back(seconds_since(t0));
  }
  std::sort(ts.begin(), ts.end());
  row.median_s = ts[runs / 2];
  row.min_s = ts.front();
  row.max_s = ts.back();
  row.runs = runs;
}

/// Compiles \p f twice with the cache off (cold, then again to check) and
/// twice with it on (the first fills the empty cache, the second is warm).
/// With \p phases, prints the cold compile's phases.
std::unique_ptr<Executable> compile_timed(const Function &f, int threads,
                                          Row &row, bool phases) {
  CompileOptions o;
  o.threads = threads;
  o.use_cache = false;
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Executable> exe = compile(f, o);
  row.cold_s = seconds_since(t0);
  if (phases)
    std::printf("compile phases of the cold build:\n%s",
                compile_phase_table(*exe).c_str());
  o.use_cache = true;
  compile(f, o); // fills the cache
  t0 = std::chrono::steady_clock::now();
  exe = compile(f, o);
  row.warm_s = seconds_since(t0);
  return exe;
}

/// Builds, compiles, checks and times one workload.
Row bench_one(const std::string &name, const Options &opt) {
  Row row;
  row.name = name;
  row.gflop = opt.reduced ? 0 : gflop_per_step(name);
  models::Model m = build(name, opt.reduced);
  const Function &f = m.graph->function();
  std::unique_ptr<Executable> exe =
      compile_timed(f, opt.threads, row, opt.profile > 0);
  row.arena_bytes = exe->arena_bytes();
  std::vector<HostTensor> args =
      make_args(f, *m.graph, int_bound(name, opt.reduced), 42);
  std::vector<HostTensor> inputs = exe->bind(args);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<HostTensor> first = exe->run(inputs);
  row.first_s = seconds_since(t0);
  row.out0 = first.at(0).numel() == 1 ? first[0].get(0) : NAN;
  if (opt.check) {
    std::vector<HostTensor> want = interpret(f, args);
    row.check_err = normwise_error(first[0], want.at(0));
  }
  if (row.first_s > opt.max_step_s) {
    row.skipped = true;
    std::ostringstream os;
    os << "one step took " << row.first_s << " s > --max-step-s "
       << opt.max_step_s << "; not timed";
    row.note = os.str();
    return row;
  }
  time_runs([&] { exe->run(inputs); }, row.first_s, opt.runs, row);
  if (opt.profile > 0)
    bench::profile_kernels(f, args, opt.threads, opt.profile);
  return row;
}

Options parse_args(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&] { return bench::next_arg(argc, argv, i); };
    if (a == "--workloads")
      o.workloads = bench::split_list(value());
    else if (a == "--reduced")
      o.reduced = true;
    else if (a == "--check")
      o.check = true;
    else if (a == "--profile")
      o.profile = std::stoi(value());
    else if (a == "--runs")
      o.runs = std::stoi(value());
    else if (a == "--threads")
      o.threads = std::stoi(value());
    else if (a == "--peak")
      o.peak = std::stod(value());
    else if (a == "--max-step-s")
      o.max_step_s = std::stod(value());
    else if (a == "--json")
      o.json_path = value();
    else
      throw std::runtime_error("unknown argument " + a);
  }
  return o;
}

json row_json(const Row &r, double peak) {
  json j = {{"workload", r.name},         {"gflop_per_step", r.gflop},
            {"compile_cold_s", r.cold_s}, {"compile_warm_s", r.warm_s},
            {"first_run_s", r.first_s},   {"arena_bytes", r.arena_bytes},
            {"skipped", r.skipped},       {"note", r.note}};
  if (!std::isnan(r.out0))
    j["first_output"] = r.out0;
  if (!std::isnan(r.check_err))
    j["interpreter_rel_error"] = r.check_err;
  if (r.skipped)
    return j;
  j["runs"] = r.runs;
  j["median_s"] = r.median_s;
  j["min_s"] = r.min_s;
  j["max_s"] = r.max_s;
  if (r.gflop > 0) {
    j["gflops"] = r.gflop / r.median_s;
    j["fraction_of_peak"] = r.gflop / r.median_s / peak;
  }
  return j;
}

void print_row(const Row &r, double peak) {
  std::printf("%-16s %8.3f %8.3f", r.name.c_str(), r.cold_s, r.warm_s);
  if (r.skipped) {
    std::printf("  skipped: %s\n", r.note.c_str());
    return;
  }
  std::printf(" %10.3f %10.3f %10.3f %4d", r.median_s * 1e3, r.min_s * 1e3,
              r.max_s * 1e3, r.runs);
  if (r.gflop > 0)
    std::printf(" %8.2f %6.1f%%", r.gflop / r.median_s,
                100 * r.gflop / r.median_s / peak);
  if (!std::isnan(r.check_err))
    std::printf("  vs interp %.1e", r.check_err);
  std::printf("\n");
  std::fflush(stdout);
}

void write_json(const Options &opt, const json &rows) {
  json out = {{"tool", "kiln"},
              {"reduced", opt.reduced},
              {"threads", opt.threads},
              {"peak_gflops", opt.peak},
              {"rows", rows}};
  std::filesystem::path path(opt.json_path);
  if (path.has_parent_path())
    std::filesystem::create_directories(path.parent_path());
  std::ofstream(path) << out.dump(2) << "\n";
}

/// A fresh, empty compile cache for this process.
std::string fresh_cache_dir() {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() /
                 ("kiln-bench-cache-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  ::setenv("KILN_CACHE_DIR", dir.c_str(), 1);
  return dir.string();
}

} // namespace

int main(int argc, char **argv) try {
  Options opt = parse_args(argc, argv);
  std::string cache = fresh_cache_dir();
  bench::PeakResult peak;
  if (opt.peak <= 0) {
    peak = bench::measure_peak(3);
    opt.peak = peak.all_gflops;
  }
  std::printf("kiln_bench: peak %.1f GFLOP/s fp32 (%s), cache %s\n", opt.peak,
              peak.threads ? "measured" : "--peak", cache.c_str());
  std::printf("%-16s %8s %8s %10s %10s %10s %4s %8s %7s\n", "workload",
              "cold s", "warm s", "median ms", "min ms", "max ms", "runs",
              "GFLOP/s", "peak");
  json rows = json::array();
  for (const std::string &name : opt.workloads) {
    Row r;
    try {
      r = bench_one(name, opt);
    } catch (const std::exception &e) {
      r.name = name;
      r.skipped = true;
      r.note = std::string("failed: ") + e.what();
    }
    print_row(r, opt.peak);
    rows.push_back(row_json(r, opt.peak));
    write_json(opt, rows); // after each row: a timeout keeps the rest
  }
  std::filesystem::remove_all(cache);
  std::printf("wrote %s\n", opt.json_path.c_str());
  return 0;
} catch (const std::exception &e) {
  std::fprintf(stderr, "kiln_bench: error: %s\n", e.what());
  return 1;
}
