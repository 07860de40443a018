/// \file
/// Tests of the remat pass (passes/Remat.h): results never change, budget
/// mode never exceeds its budget, and bad options and impossible budgets
/// are clear errors.
// SPDX-License-Identifier: Apache-2.0
#include "passes/Remat.h"
#include "bench/models/Models.h"
#include "frontend/Compile.h"
#include "frontend/Train.h"
#include "ir/Error.h"
#include "ir/Interpreter.h"
#include "passes/PassManager.h"
#include "passes/RematImpl.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <random>

using namespace kiln;

namespace {

/// A reduced training step of \p name with its BENCHMARKS.md optimizer
/// (deep_mlp_memory 16 blocks deep, so that sqrt_n has segments to form,
/// and with \p width and \p batch).
models::Model training_step(const std::string &name, int64_t width = 8,
                            int64_t batch = 4) {
  models::Model m;
  Optimizer opt = optim::sgd(0.1, 0.9);
  if (name == "deep_mlp_memory") {
    models::DeepMlpConfig c = models::DeepMlpConfig::reduced();
    c.depth = 16;
    c.width = width;
    c.batch = batch;
    m = models::deep_mlp_memory(c, 3);
    opt = optim::sgd(0.01);
  } else {
    m = models::build_workload(name, /*reduced=*/true, 3);
    if (name == "gpt_train")
      opt = optim::adamw(3e-4, 0.01);
  }
  train_step(*m.graph, m.loss, m.params, {opt});
  return m;
}

/// Initial params and state, seeded random inputs (integers in [0, 3)).
std::vector<HostTensor> step_args(const models::Model &m) {
  const Function &f = m.graph->function();
  std::vector<HostTensor> args = m.graph->initial_values();
  std::mt19937_64 rng(11);
  std::normal_distribution<float> normal;
  for (size_t i = 0; i < args.size(); ++i) {
    if (f.param(i)->arg_kind() != ArgKind::Input)
      continue;
    for (int64_t j = 0; j < args[i].numel(); ++j) {
      if (is_float(args[i].dtype()))
        args[i].set(j, normal(rng));
      else
        args[i].set_int(j, int64_t(rng() % 3));
    }
  }
  return args;
}

/// Every element of \p got within \p rel of \p want (relative to the
/// tensor's largest magnitude for elements near zero).
void check_same(const HostTensor &got, const HostTensor &want,
                const std::string &what, double rel) {
  REQUIRE(got.type() == want.type());
  double scale = 1e-30;
  for (int64_t i = 0; i < want.numel(); ++i)
    scale = std::max(scale, std::fabs(want.get(i)));
  for (int64_t i = 0; i < want.numel(); ++i) {
    double err = std::fabs(got.get(i) - want.get(i)) /
                 std::max(std::fabs(want.get(i)), 1e-3 * scale);
    INFO(what << " element " << i << ": got " << got.get(i) << ", want "
              << want.get(i));
    REQUIRE(err <= rel);
  }
}

const std::vector<std::string> kWorkloads = {
    "deep_mlp_memory", "resnet18_train", "gpt_train", "lstm_train"};

/// The planned arena of \p f after canonicalize and \p policy.
int64_t planned_arena(const Function &f, const RematPolicy &policy,
                      RematReport *report = nullptr) {
  Module m;
  Function *g = m.add_function(f.clone());
  PassContext ctx;
  canonicalize(m, ctx);
  RematReport r = rematerialize(*g, policy);
  if (report)
    *report = r;
  return lower(*g).arena_bytes;
}

} // namespace

TEST_CASE("remat: sqrt_n and budget plans leave every result bit-identical "
          "in the interpreter",
          "[remat]") {
  for (const std::string &name : kWorkloads) {
    INFO("workload " << name);
    models::Model m = training_step(name, 32, 64);
    const Function &f = m.graph->function();
    std::vector<HostTensor> args = step_args(m);
    std::vector<HostTensor> want = interpret(f, args);
    // The sqrt_n plan is one of budget mode's candidates: its arena fits.
    int64_t none = planned_arena(f, RematPolicy::none());
    int64_t sqrt_n = planned_arena(f, RematPolicy::sqrt_n());
    INFO("arena " << none << " without remat, " << sqrt_n << " with sqrt_n");
    for (RematPolicy policy :
         {RematPolicy::sqrt_n(), RematPolicy::budget(sqrt_n)}) {
      std::unique_ptr<Function> g = f.clone();
      RematReport r = rematerialize(*g, policy);
      REQUIRE(r.applied);
      if (policy.mode == RematPolicy::Mode::SqrtN || sqrt_n < none)
        CHECK(r.recomputed_nodes > 0);
      CHECK(g->num_nodes() == f.num_nodes() + size_t(r.recomputed_nodes));
      std::vector<HostTensor> got = interpret(*g, args);
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < want.size(); ++i)
        check_same(got[i], want[i], name + " result " + std::to_string(i), 0);
    }
  }
}

TEST_CASE("remat: two-level plans recompute pieces twice and change no "
          "result",
          "[remat]") {
  using namespace remat_detail;
  models::Model m = training_step("deep_mlp_memory", 16, 8);
  const Function &f = m.graph->function();
  std::vector<HostTensor> args = step_args(m);
  std::vector<HostTensor> want = interpret(f, args);
  std::unique_ptr<Function> one = f.clone(), two = f.clone();
  Analysis a1 = analyze(*one), a2 = analyze(*two);
  // One split half-way: the first half is recomputed, in 4 pieces.
  Segmenting s;
  s.splits = {int(a1.forward.size()) / 2};
  KeepSet keep = segment_keep(a1, s.splits, true);
  Applied single = apply_keep_set(*one, a1, keep);
  Applied nested =
      apply_keep_set(*two, a2, keep, nested_groups(a2, s.splits, 4));
  // Pieces are recomputed once for their checkpoints, again for their
  // gradients.
  CHECK(nested.recomputed_nodes > single.recomputed_nodes);
  std::vector<HostTensor> got = interpret(*two, args);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i)
    check_same(got[i], want[i], "result " + std::to_string(i), 0);
}

TEST_CASE("remat: compiled steps with and without sqrt_n agree", "[remat]") {
  for (std::string name : {"deep_mlp_memory"}) {
    INFO("workload " << name);
    models::Model m = training_step(name);
    const Function &f = m.graph->function();
    std::vector<HostTensor> args = step_args(m);
    CompileOptions plain, remat;
    remat.remat = RematPolicy::sqrt_n();
    std::vector<HostTensor> want_args = args; // run_all applies updates
    std::vector<HostTensor> want = compile(f, plain)->run_all(want_args);
    std::vector<HostTensor> got = compile(f, remat)->run_all(args);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i)
      check_same(got[i], want[i], name + " result " + std::to_string(i), 1e-6);
  }
}

TEST_CASE("remat: sqrt_n shrinks the planned arena of a deep chain",
          "[remat]") {
  models::Model m = training_step("deep_mlp_memory", 64, 256);
  const Function &f = m.graph->function();
  RematReport r;
  int64_t none = planned_arena(f, RematPolicy::none());
  int64_t sqrt_n = planned_arena(f, RematPolicy::sqrt_n(), &r);
  CHECK(sqrt_n * 2 < none);
  // 16 blocks: about sqrt(16) segment boundaries, about one forward pass
  // recomputed.
  CHECK(r.boundaries >= 2);
  CHECK(r.boundaries <= 8);
}

TEST_CASE("remat: budget mode never exceeds its budget and prefers the "
          "plan with the least recompute",
          "[remat]") {
  for (const std::string &name : kWorkloads) {
    INFO("workload " << name);
    models::Model m = training_step(name);
    const Function &f = m.graph->function();
    int64_t none = planned_arena(f, RematPolicy::none());
    RematReport r;
    // A budget the unchanged step fits: nothing costly is recomputed (a
    // plan that recomputes only views, 0 FLOPs, may win with less memory).
    CHECK(planned_arena(f, RematPolicy::budget(none), &r) <= none);
    CHECK(r.recompute_flops == 0);
    CHECK(r.arena_bytes_none == none);
    for (double frac : {0.6}) {
      int64_t budget = int64_t(double(none) * frac);
      INFO("budget " << budget << " of " << none);
      try {
        int64_t arena = planned_arena(f, RematPolicy::budget(budget), &r);
        CHECK(arena <= budget);
        CHECK(arena == r.arena_bytes);
      } catch (const Error &e) {
        CHECK_THAT(e.what(), Catch::Contains("smallest arena found is"));
      }
    }
    // Never worse than sqrt_n at sqrt_n's memory.
    RematReport sq;
    int64_t sqrt_n = planned_arena(f, RematPolicy::sqrt_n(), &sq);
    CHECK(planned_arena(f, RematPolicy::budget(sqrt_n), &r) <= sqrt_n);
    CHECK(r.recompute_flops <= sq.recompute_flops);
  }
}

TEST_CASE("remat: an impossible budget names the smallest arena", "[remat]") {
  models::Model m = training_step("deep_mlp_memory");
  std::unique_ptr<Function> g = m.graph->function().clone();
  size_t nodes = g->num_nodes();
  CHECK_THROWS_WITH(rematerialize(*g, RematPolicy::budget(64)),
                    Catch::StartsWith("remat: no plan fits the budget of 64 "
                                      "bytes; the smallest arena found is"));
  CHECK(g->num_nodes() == nodes);
}

TEST_CASE("remat: a function that is not a training step is unchanged",
          "[remat]") {
  models::Model m = models::build_workload("mlp_infer", /*reduced=*/true);
  std::unique_ptr<Function> g = m.graph->function().clone();
  size_t nodes = g->num_nodes();
  CHECK_FALSE(rematerialize(*g, RematPolicy::sqrt_n()).applied);
  CHECK(g->num_nodes() == nodes);
}

TEST_CASE("remat: pass options", "[remat]") {
  RematPolicy p;
  std::string err;
  REQUIRE(parse_remat_policy({}, p, err));
  CHECK(p.mode == RematPolicy::Mode::SqrtN);
  REQUIRE(parse_remat_policy({{"none", "true"}}, p, err));
  CHECK(p.mode == RematPolicy::Mode::None);
  REQUIRE(parse_remat_policy({{"budget", "1.5M"}}, p, err));
  CHECK(p.mode == RematPolicy::Mode::Budget);
  CHECK(p.budget_bytes == 1572864);
  REQUIRE(parse_remat_policy({{"mode", "budget"}, {"budget-bytes", "4096"}}, p,
                             err));
  CHECK(p.budget_bytes == 4096);
  CHECK_FALSE(parse_remat_policy({{"mode", "budget"}}, p, err));
  CHECK(err == "remat: budget mode needs budget-bytes=BYTES");
  CHECK_FALSE(parse_remat_policy({{"mode", "fast"}}, p, err));
  CHECK(err == "remat: unknown mode 'fast' (none, sqrt_n or budget)");
  CHECK_FALSE(parse_remat_policy({{"budget", "-3"}}, p, err));
  std::vector<PassStep> steps;
  REQUIRE(parse_pipeline("remat{budget=64k}", steps, err));
  CHECK(steps.at(0).pass->name == std::string("remat"));
}
