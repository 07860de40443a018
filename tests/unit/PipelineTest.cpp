/// \file
/// Pipeline parallelism in one process: the stages of a forward graph
/// (passes/PipelineSplit.h) run in turn, sending to themselves; a GPipe
/// step over M micro-batches must equal one train_step on the whole batch.
/// Two ranks: tests/mpi/ (kiln_mpi_test pipeline) under mpirun.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include "frontend/Compile.h"
#include "frontend/Init.h"
#include "frontend/Losses.h"
#include "frontend/Ops.h"
#include "frontend/Pipeline.h"
#include "ir/Interpreter.h"
#include "ir/Printer.h"
#include "passes/PipelineSplit.h"

#include <cmath>

using namespace kiln;
using namespace kiln::test;
using Catch::Contains;

namespace {

struct Net {
  std::unique_ptr<Graph> g;
  Tensor loss;
  NamedParams params;
};

/// x -> fc1 -> relu (named h) -> fc2 -> relu -> fc3 -> cross-entropy.
Net mlp(int64_t batch) {
  Net n;
  n.g = std::make_unique<Graph>("mlp", /*seed=*/9);
  Graph &g = *n.g;
  Tensor x = g.input("x", f32({batch, 6}));
  Tensor y = g.input("y", i64({batch}));
  Tensor w1 = g.param("w1", f32({6, 10}), init::kaiming_uniform());
  Tensor b1 = g.param("b1", f32({10}), init::normal(0.1));
  Tensor w2 = g.param("w2", f32({10, 8}), init::kaiming_uniform());
  Tensor w3 = g.param("w3", f32({8, 3}), init::xavier_uniform());
  Tensor h = relu(matmul(x, w1) + b1).named("h");
  Tensor h2 = relu(matmul(h, w2)).named("h2");
  n.loss = cross_entropy(matmul(h2, w3), y);
  g.output(n.loss, "loss");
  n.params = {{"w1", w1}, {"b1", b1}, {"w2", w2}, {"w3", w3}};
  return n;
}

HostTensor rows_x(int64_t first, int64_t n, int step) {
  HostTensor x(f32({n, 6}));
  for (int64_t i = 0; i < n * 6; ++i)
    x.set(i, std::sin(0.3 * double(first * 6 + i) + step));
  return x;
}

HostTensor rows_y(int64_t first, int64_t n, int step) {
  HostTensor y(i64({n}));
  for (int64_t i = 0; i < n; ++i)
    y.set_int(i, (first + i + step) % 3);
  return y;
}

} // namespace

TEST_CASE("pipeline: stages and their send/recv", "[pipeline]") {
  Net n = mlp(4);
  Function &f = n.g->function();
  StagePlan plan = plan_stages(f, n.loss.value(), {f.find_value("h")});
  REQUIRE(plan.stages == 2);
  REQUIRE(plan.boundary[0].size() == 1);
  CHECK(plan.boundary[0][0]->name() == "h");
  std::string fwd0 = to_string(*stage_forward(f, plan, 0));
  std::string fwd1 = to_string(*stage_forward(f, plan, 1));
  std::string bwd1 = to_string(*stage_backward(f, plan, 1, 0.5));
  INFO(fwd0 << fwd1 << bwd1);
  CHECK_THAT(fwd0, Contains("= send(%h) {peer = 1, tag = 0} : i32[]"));
  CHECK_THAT(fwd1, Contains("%h = recv() {peer = 0, tag = 0} : f32[4,10]"));
  CHECK_THAT(bwd1, Contains("= send(") && Contains("{peer = 0, tag = 1}"));
  CHECK(balanced_cuts(f, n.loss.value(), 2).size() == 1);
  CHECK(plan_stages(f, n.loss.value(), {f.find_value("h"), f.find_value("h2")})
            .stages == 3);
  CHECK_THROWS_WITH(
      plan_stages(f, n.loss.value(), {f.find_value("h2"), f.find_value("h")}),
      Contains("list cuts in body order"));
  CHECK_THROWS_WITH(plan_stages(f, n.loss.value(), {n.loss.value()}),
                    Contains("before the loss"));
}

TEST_CASE("pipeline: a 2-stage GPipe step equals the unpartitioned step",
          "[pipeline]") {
  const int micro = 3, steps = 2;
  const int64_t mb = 4;
  Net n = mlp(mb);
  PipelineOptions o;
  o.stages = 2;
  o.micro_batches = micro;
  o.cuts = {"h"};
  o.train.optimizer = optim::sgd(0.1, 0.9, 1e-3);
  Pipeline p(*n.g, n.loss, n.params, o);
  CHECK(p.local_stages() == std::vector<int>{0, 1});
  CHECK(p.stage_of("w1") == 0);
  CHECK(p.stage_of("w3") == 1);

  Net full = mlp(mb * micro);
  train_step(*full.g, full.loss, full.params, o.train);
  auto ref = compile(full.g->function());
  std::vector<HostTensor> init = full.g->initial_values();
  for (size_t i = 0; i < init.size(); ++i)
    if (full.g->function().param(i)->arg_kind() != ArgKind::Input)
      ref->set_state(full.g->function().param(i)->name(), init[i]);
  for (int s = 0; s < steps; ++s) {
    std::vector<std::vector<HostTensor>> batches;
    for (int m = 0; m < micro; ++m)
      batches.push_back({rows_x(m * mb, mb, s), rows_y(m * mb, mb, s)});
    double loss = p.step(batches);
    double want =
        ref->run({rows_x(0, mb * micro, s), rows_y(0, mb * micro, s)})[0].get(
            0);
    CHECK_THAT(loss, Catch::Matchers::WithinRel(want, 1e-5));
  }
  for (const char *name : {"w1", "b1", "w2", "w3"}) {
    INFO(name);
    check_values(p.get_param(name), values(ref->get_state(name)), 1e-5, 1e-7);
  }
  Net other = mlp(mb);
  o.cuts = {};
  Pipeline balanced(*other.g, other.loss, other.params, o); // by FLOPs
  CHECK(balanced.stages() == 2);
}
