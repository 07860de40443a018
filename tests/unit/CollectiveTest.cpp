/// \file
/// The collective ops (all_reduce_start / all_reduce_wait): shape rules,
/// their one-process meaning in the interpreter, the data-parallel pass on
/// a train_step, and a data-parallel step compiled and run as one rank
/// (the Loop IR call into runtime/Comm.h, the JIT's host symbols), which
/// must equal the plain step. Several ranks: tests/mpi/ under mpirun.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include "frontend/Compile.h"
#include "frontend/Init.h"
#include "frontend/Losses.h"
#include "frontend/Ops.h"
#include "frontend/Train.h"
#include "ir/Interpreter.h"
#include "ir/Printer.h"
#include "passes/DataParallel.h"
#include "runtime/Comm.h"

using namespace kiln;
using namespace kiln::test;
using Catch::Contains;

namespace {

std::unique_ptr<Graph> small_step() {
  auto g = std::make_unique<Graph>("step", /*seed=*/2);
  Tensor x = g->input("x", f32({6, 5}));
  Tensor y = g->input("y", i64({6}));
  Tensor w1 = g->param("w1", f32({5, 7}), init::kaiming_uniform());
  Tensor w2 = g->param("w2", f32({7, 3}), init::xavier_uniform());
  Tensor b2 = g->param("b2", f32({3}), init::normal(0.1));
  Tensor loss = cross_entropy(matmul(relu(matmul(x, w1)), w2) + b2, y);
  train_step(*g, loss, {{"w1", w1}, {"w2", w2}, {"b2", b2}},
             {optim::sgd(0.1, 0.9)});
  return g;
}

std::vector<HostTensor> step_args(const Graph &g) {
  std::vector<HostTensor> args = g.initial_values();
  for (int64_t i = 0; i < args[0].numel(); ++i)
    args[0].set(i, std::cos(0.7 * double(i)));
  for (int64_t i = 0; i < 6; ++i)
    args[1].set_int(i, i % 3);
  return args;
}

size_t position(const Function &f, const Value *v) {
  size_t i = 0;
  for (const auto &n : f.body()) {
    if (n.get() == v->def())
      return i;
    ++i;
  }
  return i;
}

} // namespace

TEST_CASE("collectives: shape rules", "[collective]") {
  CHECK(infer(OpKind::AllReduceStart, {f32({4, 2}), f32({3})},
              {{"bucket", Attribute(0)}}) == std::vector{i32({})});
  CHECK(infer(OpKind::AllReduceWait, {i32({}), f64({5})}) ==
        std::vector{f64({5})});
  CHECK_THAT(infer_error(OpKind::AllReduceStart, {i64({4})},
                         {{"bucket", Attribute(0)}}),
             Contains("operand 0 must be f32 or f64, got i64[4]"));
  CHECK_THAT(infer_error(OpKind::AllReduceStart, {f32({4}), f64({4})},
                         {{"bucket", Attribute(0)}}),
             Contains("operand dtypes differ"));
  CHECK_THAT(infer_error(OpKind::AllReduceStart, {f32({4})},
                         {{"bucket", Attribute(-1)}}),
             Contains("'bucket' must be at least 0"));
  CHECK_THAT(infer_error(OpKind::AllReduceStart, {f32({4})}),
             Contains("bucket"));
  CHECK_THAT(infer_error(OpKind::AllReduceWait, {f32({}), f32({4})}),
             Contains("operand 0 must be the i32[] token"));
}

TEST_CASE("collectives: one process reduces to the value itself",
          "[collective]") {
  HostTensor g = HostTensor::from(f32({3}), {1.5, -2, 4});
  HostTensor tok =
      eval(OpKind::AllReduceStart, {g}, {{"bucket", Attribute(7)}})[0];
  CHECK(tok.get_int(0) == 7);
  check_values(eval(OpKind::AllReduceWait, {tok, g})[0], {1.5, -2, 4});
}

TEST_CASE("data-parallel: buckets after the gradients, waits before the "
          "updates",
          "[collective]") {
  auto g = small_step();
  Function &f = g->function();
  std::vector<Value *> grads = find_gradients(f);
  REQUIRE(grads.size() == 3);
  std::vector<HostTensor> args = step_args(*g);
  std::vector<HostTensor> before = interpret(f, args);
  DataParallelOptions o;
  o.bucket_bytes = 64; // b2 (12 bytes) then w2 (84) fill one; w1 alone
  CHECK(make_data_parallel(f, grads, o) == 2);
  std::string text = to_string(f);
  INFO(text);
  CHECK_THAT(text, Contains("%bucket0 = all_reduce_start(%grad.b2, "
                            "%grad.w2) {bucket = 0, average = true}"));
  CHECK_THAT(text, Contains("%bucket1 = all_reduce_start(%grad.w1) {bucket "
                            "= 1, average = true}"));
  for (const Value *gr : grads) {
    const Value *r = f.find_value(gr->name() + ".reduced");
    REQUIRE(r);
    const Node *start = r->def()->operand(0)->def();
    // The start follows the bucket's last gradient; every other use of
    // the gradient now reads the wait, which precedes it.
    CHECK(position(f, gr) < position(f, start->result()));
    CHECK(position(f, start->result()) < position(f, r));
    for (const Use &u : gr->uses())
      CHECK((u.user == start || u.user == r->def()));
    CHECK(r->has_uses());
  }
  std::vector<HostTensor> after = interpret(f, args);
  REQUIRE(after.size() == before.size());
  for (size_t i = 0; i < after.size(); ++i)
    CHECK(after[i].bit_equal(before[i]));
  CHECK_THROWS_WITH(make_data_parallel(f, grads, o),
                    Contains("already has collectives"));
}

TEST_CASE("data-parallel: a compiled one-rank step equals the plain step",
          "[collective]") {
  auto g = small_step();
  std::vector<HostTensor> args = step_args(*g);
  CompileOptions dist;
  dist.distributed.data_parallel = true;
  dist.distributed.buckets.bucket_bytes = 64;
  auto plain = compile(g->function());
  auto dp = compile(g->function(), dist);
  CHECK_THAT(loop::to_string(dp->program()),
             Contains("call kiln_comm_all_reduce_start"));
  comm::reset_stats();
  std::vector<HostTensor> a = args, b = args;
  for (int s = 0; s < 3; ++s) {
    std::vector<HostTensor> ra = plain->run_all(a), rb = dp->run_all(b);
    // Fusion differs (gradients are materialized for the call): equal to
    // rounding.
    for (size_t i = 0; i < ra.size(); ++i)
      check_values(rb[i], values(ra[i]), 1e-5, 1e-7);
  }
  CHECK(comm::stats().all_reduces == 6); // 2 buckets x 3 steps
  Graph fwd("fwd");
  Tensor x = fwd.input("x", f32({2}));
  Tensor w = fwd.param("w", f32({2}), init::zeros());
  fwd.output(x * w, "y");
  CHECK_THROWS_WITH(compile(fwd.function(), dist),
                    Contains("has no gradient values named grad.<param>"));
}
