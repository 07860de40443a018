/// \file
/// kiln_bench_distributed: data-parallel training steps of BENCHMARKS.md's
/// mlp_train and gpt_train with the global batch split over the ranks of
/// the run (one OpenMP thread per rank). Run it alone (one rank) and under
/// `mpirun -np 2`; bench/run_distributed.sh does both. Per workload it
/// prints and writes as JSON: the median step time (min, max) over the
/// timed runs, and per step the time the gradient all-reduces took from
/// start to completion (comm), the part of it that compiled code waited
/// for (exposed), and the rest, which overlapped the backward pass.
///   usage: kiln_bench_distributed [--workloads mlp_train,gpt_train]
///          [--runs N] [--reduced] [--bucket-bytes B] [--plain]
///          [--json FILE]
/// --plain compiles the step without data parallelism (one rank only):
/// the baseline for the cost of the collectives themselves.
// SPDX-License-Identifier: Apache-2.0
#include "bench/models/Models.h"
#include "frontend/Compile.h"
#include "frontend/Train.h"
#include "ir/Error.h"
#include "runtime/Comm.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

using namespace kiln;

namespace {

struct Options {
  std::vector<std::string> workloads = {"mlp_train", "gpt_train"};
  int runs = 20;
  bool reduced = false, plain = false;
  int64_t bucket_bytes = 1 << 20;
  std::string json_path;
};

/// The workload with its global batch divided by \p ranks, and the
/// BENCHMARKS.md optimizer.
models::Model build(const std::string &name, int ranks, bool reduced) {
  models::Model m;
  if (name == "mlp_train") {
    models::MlpConfig c =
        reduced ? models::MlpConfig::reduced() : models::MlpConfig{};
    c.batch /= ranks;
    m = models::mlp_train(c);
    train_step(*m.graph, m.loss, m.params, {optim::sgd(0.01, 0.9, 1e-4)});
  } else if (name == "gpt_train") {
    models::GptConfig c =
        reduced ? models::GptConfig::reduced() : models::GptConfig{};
    c.batch /= ranks;
    m = models::gpt_train(c);
    train_step(*m.graph, m.loss, m.params, {optim::adamw(3e-4, 0.01)});
  } else {
    throw Error("kiln_bench_distributed: unknown workload '" + name +
                "' (mlp_train, gpt_train)");
  }
  return m;
}

/// Seeded inputs for this rank: floats N(0,1), integers in [0, bound).
std::vector<HostTensor> inputs(const Function &f, int64_t bound) {
  std::mt19937_64 rng(17 + uint64_t(comm::rank()));
  std::normal_distribution<float> normal;
  std::vector<HostTensor> in;
  for (const auto &p : f.params()) {
    if (p->arg_kind() != ArgKind::Input)
      continue;
    HostTensor t(p->type());
    for (int64_t j = 0; j < t.numel(); ++j) {
      if (is_float(t.dtype()))
        t.set(j, normal(rng));
      else
        t.set_int(j, int64_t(rng() % uint64_t(bound)));
    }
    in.push_back(std::move(t));
  }
  return in;
}

nlohmann::json bench(const std::string &name, const Options &o) {
  int ranks = comm::size();
  models::Model m = build(name, ranks, o.reduced);
  CompileOptions co;
  co.threads = 1;
  co.distributed.data_parallel = !o.plain;
  co.distributed.buckets.bucket_bytes = o.bucket_bytes;
  auto exe = compile(m.graph->function(), co);
  std::vector<HostTensor> init = m.graph->initial_values();
  const Function &f = m.graph->function();
  for (size_t i = 0; i < init.size(); ++i)
    if (f.param(i)->arg_kind() != ArgKind::Input)
      exe->set_state(f.param(i)->name(), init[i]);
  int64_t bound = name == "gpt_train"
                      ? (o.reduced ? models::GptConfig::reduced().vocab
                                   : models::GptConfig{}.vocab)
                      : (o.reduced ? models::MlpConfig::reduced().classes
                                   : models::MlpConfig{}.classes);
  std::vector<HostTensor> in = inputs(f, bound);
  for (int i = 0; i < 2; ++i) // warm up (and the params broadcast)
    exe->run(in);
  comm::reset_stats();
  std::vector<double> ms;
  for (int i = 0; i < o.runs; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    exe->run(in);
    ms.push_back(std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - t0)
                     .count());
  }
  comm::Stats st = comm::stats();
  std::sort(ms.begin(), ms.end());
  double per = 1.0 / o.runs;
  nlohmann::json r = {
      {"workload", name},
      {"ranks", ranks},
      {"data_parallel", !o.plain},
      {"batch_per_rank", in[0].shape()[0]}, // x or tokens: [batch, ...]
      {"runs", o.runs},
      {"step_ms_median", ms[ms.size() / 2]},
      {"step_ms_min", ms.front()},
      {"step_ms_max", ms.back()},
      {"all_reduces_per_step", double(st.all_reduces) * per},
      {"bytes_per_step", double(st.bytes) * per},
      {"comm_ms_per_step", st.comm_ms * per},
      {"exposed_ms_per_step", st.wait_ms * per},
      {"overlapped_ms_per_step", st.overlapped_ms * per},
      {"overlap_fraction", st.comm_ms > 0 ? st.overlapped_ms / st.comm_ms : 0}};
  return r;
}

int parse(int argc, char **argv, Options &o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool more = i + 1 < argc;
    if (a == "--workloads" && more) {
      o.workloads.clear();
      std::stringstream ss(argv[++i]);
      for (std::string w; std::getline(ss, w, ',');)
        o.workloads.push_back(w);
    } else if (a == "--runs" && more) {
      o.runs = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--bucket-bytes" && more) {
      o.bucket_bytes = std::max<int64_t>(1, std::atoll(argv[++i]));
    } else if (a == "--json" && more) {
      o.json_path = argv[++i];
    } else if (a == "--reduced") {
      o.reduced = true;
    } else if (a == "--plain") {
      o.plain = true;
    } else {
      std::fprintf(stderr, "kiln_bench_distributed: unknown option '%s'\n",
                   a.c_str());
      return 2;
    }
  }
  if (o.plain && comm::size() > 1) {
    std::fprintf(stderr, "kiln_bench_distributed: --plain is one rank\n");
    return 2;
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Options o;
  try {
    if (int rc = parse(argc, argv, o))
      return rc;
    nlohmann::json all = nlohmann::json::array();
    if (comm::rank() == 0)
      std::printf("%-10s %5s %4s %9s %9s %9s %8s %8s %8s %7s\n", "workload",
                  "ranks", "dp", "batch/rk", "step ms", "min", "comm ms",
                  "exposed", "overlap", "buckets");
    for (const std::string &w : o.workloads) {
      nlohmann::json r = bench(w, o);
      all.push_back(r);
      if (comm::rank() == 0)
        std::printf("%-10s %5d %4s %9lld %9.2f %9.2f %8.2f %8.2f %7.0f%% "
                    "%7.1f\n",
                    w.c_str(), int(r["ranks"]), o.plain ? "no" : "yes",
                    (long long)r["batch_per_rank"], double(r["step_ms_median"]),
                    double(r["step_ms_min"]), double(r["comm_ms_per_step"]),
                    double(r["exposed_ms_per_step"]),
                    100 * double(r["overlap_fraction"]),
                    double(r["all_reduces_per_step"]));
    }
    if (comm::rank() == 0 && !o.json_path.empty())
      std::ofstream(o.json_path) << all.dump(2) << "\n";
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "rank %d: error: %s\n", comm::rank(), e.what());
    return 1;
  }
}
