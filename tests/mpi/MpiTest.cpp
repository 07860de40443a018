/// \file
/// Distributed tests, run by ctest under mpirun (tests/CMakeLists.txt):
///   kiln_mpi_test dp-mlp      2-rank data-parallel MLP training equals
///                             full-batch training in one process
///   kiln_mpi_test early-exit  rank 1 leaves; rank 0 fails with a message
///   kiln_mpi_test mismatch    the ranks compile different steps
///   kiln_mpi_test pipeline    a 2-stage GPipe step (one stage per rank)
///                             equals the unpartitioned step
/// Each prints what it checked and exits 0 on success.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Compile.h"
#include "frontend/Graph.h"
#include "frontend/Init.h"
#include "frontend/Losses.h"
#include "frontend/Ops.h"
#include "frontend/Pipeline.h"
#include "frontend/Train.h"
#include "ir/Error.h"
#include "runtime/Comm.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

using namespace kiln;

namespace {

constexpr int64_t kBatch = 32, kIn = 12, kHidden = 24, kClasses = 4;

/// An MLP training step (SGD with momentum) on \p batch rows.
std::unique_ptr<Graph> mlp_step(int64_t batch, int64_t hidden = kHidden) {
  auto g = std::make_unique<Graph>("mlp_step", /*seed=*/5);
  Tensor x = g->input("x", {DType::F32, {batch, kIn}});
  Tensor y = g->input("y", {DType::I64, {batch}});
  Tensor w1 = g->param("fc1.weight", {DType::F32, {hidden, kIn}},
                       init::kaiming_uniform());
  Tensor b1 = g->param("fc1.bias", {DType::F32, {hidden}}, init::normal(0.1));
  Tensor w2 = g->param("fc2.weight", {DType::F32, {kClasses, hidden}},
                       init::xavier_uniform());
  Tensor b2 = g->param("fc2.bias", {DType::F32, {kClasses}}, init::zeros());
  Tensor h = relu(matmul(x, transpose_last2(w1)) + b1);
  Tensor loss = cross_entropy(matmul(h, transpose_last2(w2)) + b2, y);
  train_step(*g, loss,
             {{"fc1.weight", w1},
              {"fc1.bias", b1},
              {"fc2.weight", w2},
              {"fc2.bias", b2}},
             {optim::sgd(0.2, 0.9)});
  return g;
}

/// Rows [first, first + n) of the full batch of step \p step.
std::vector<HostTensor> batch(int step, int64_t first, int64_t n) {
  HostTensor x({DType::F32, {n, kIn}}), y({DType::I64, {n}});
  for (int64_t r = 0; r < n; ++r) {
    int64_t row = first + r;
    y.set_int(r, (row * 7 + step) % kClasses);
    for (int64_t c = 0; c < kIn; ++c)
      x.set(r * kIn + c, std::sin(0.37 * double(row * kIn + c) + step) +
                             0.5 * double(y.get_int(r) == c % kClasses));
  }
  return {x, y};
}

/// Sets \p exe's params and state from \p g's initial values.
void init_state(Executable &exe, const Graph &g) {
  std::vector<HostTensor> init = g.initial_values();
  const auto &params = g.function().params();
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i]->arg_kind() != ArgKind::Input)
      exe.set_state(params[i]->name(), init[i]);
}

/// max |a - b| / max |b|.
double relative_difference(const HostTensor &a, const HostTensor &b) {
  double diff = 0, scale = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    diff = std::max(diff, std::fabs(a.get(i) - b.get(i)));
    scale = std::max(scale, std::fabs(b.get(i)));
  }
  return diff / scale;
}

int fail(const std::string &msg) {
  std::fprintf(stderr, "rank %d: FAIL: %s\n", comm::rank(), msg.c_str());
  return 1;
}

int dp_mlp() {
  const int steps = 5, ranks = comm::size(), me = comm::rank();
  if (kBatch % ranks != 0)
    return fail("the batch does not split over the ranks");
  int64_t shard = kBatch / ranks;
  auto g = mlp_step(shard);
  CompileOptions dist;
  dist.distributed.data_parallel = true;
  dist.distributed.buckets.bucket_bytes = 256; // fc2's, then fc1's
  dist.distributed.timeout_s = 20;
  auto exe = compile(g->function(), dist);
  init_state(*exe, *g);
  if (me != 0) // rank 0's params must win (broadcast before the first run)
    for (const std::string &name : exe->state_names())
      exe->set_state(name, HostTensor(exe->get_state(name).type()));
  for (int s = 0; s < steps; ++s)
    exe->run(batch(s, me * shard, shard));

  auto full = mlp_step(kBatch);
  auto ref = compile(full->function());
  init_state(*ref, *full);
  for (int s = 0; s < steps; ++s)
    ref->run(batch(s, 0, kBatch));

  double worst = 0;
  for (std::string name :
       {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}) {
    double rel =
        relative_difference(exe->get_state(name), ref->get_state(name));
    worst = std::max(worst, rel);
    if (!(rel <= 1e-5))
      return fail(name + ": relative difference " + std::to_string(rel) +
                  " to full-batch training exceeds 1e-5");
  }
  comm::Stats st = comm::stats();
  std::printf("rank %d of %d: dp-mlp: %d steps, params equal full-batch "
              "training (worst relative difference %.2e); %lld bucket "
              "all-reduces\n",
              me, ranks, steps, worst, (long long)st.all_reduces);
  if (st.all_reduces < 2 * steps && ranks > 1)
    return fail("expected at least 2 buckets per step");
  return 0;
}

int early_exit() {
  comm::set_timeout(3);
  auto g = mlp_step(kBatch / 2);
  CompileOptions dist;
  dist.distributed.data_parallel = true;
  auto exe = compile(g->function(), dist);
  init_state(*exe, *g);
  exe->run(batch(0, comm::rank() * kBatch / 2, kBatch / 2));
  if (comm::rank() == 1) {
    std::printf("rank 1: leaving after the first step\n");
    return 0;
  }
  try {
    exe->run(batch(1, 0, kBatch / 2));
  } catch (const Error &e) {
    std::printf("rank 0 failed as expected: %s\n", e.what());
    std::fflush(stdout);
    return 3;
  }
  return fail("rank 0 ran a step without rank 1");
}

int mismatch() {
  auto g = mlp_step(kBatch / 2, comm::rank() == 0 ? kHidden : kHidden + 1);
  CompileOptions dist;
  dist.distributed.data_parallel = true;
  dist.distributed.timeout_s = 10;
  try {
    compile(g->function(), dist);
  } catch (const Error &e) {
    std::printf("rank %d refused as expected: %s\n", comm::rank(), e.what());
    return 3;
  }
  return fail("different programs were not detected");
}

/// The MLP's forward graph and loss at \p batch rows.
std::unique_ptr<Graph> mlp_forward(int64_t batch, Tensor &loss,
                                   NamedParams &params) {
  auto g = std::make_unique<Graph>("mlp", /*seed=*/5);
  Tensor x = g->input("x", {DType::F32, {batch, kIn}});
  Tensor y = g->input("y", {DType::I64, {batch}});
  Tensor w1 = g->param("fc1.weight", {DType::F32, {kHidden, kIn}},
                       init::kaiming_uniform());
  Tensor w2 = g->param("fc2.weight", {DType::F32, {kClasses, kHidden}},
                       init::xavier_uniform());
  Tensor h = relu(matmul(x, transpose_last2(w1))).named("h");
  loss = cross_entropy(matmul(h, transpose_last2(w2)), y);
  g->output(loss, "loss");
  params = {{"fc1.weight", w1}, {"fc2.weight", w2}};
  return g;
}

int pipeline() {
  const int micro = 4, steps = 3;
  const int64_t mb = kBatch / micro;
  Tensor loss;
  NamedParams params;
  auto g = mlp_forward(mb, loss, params);
  PipelineOptions o;
  o.micro_batches = micro;
  o.cuts = {"h"};
  o.train.optimizer = optim::sgd(0.2, 0.9);
  comm::set_timeout(20);
  Pipeline p(*g, loss, params, o);
  Tensor full_loss;
  NamedParams full_params;
  auto full = mlp_forward(kBatch, full_loss, full_params);
  train_step(*full, full_loss, full_params, o.train);
  auto ref = compile(full->function());
  init_state(*ref, *full);
  for (int s = 0; s < steps; ++s) {
    std::vector<std::vector<HostTensor>> batches;
    for (int m = 0; m < micro; ++m)
      batches.push_back(batch(s, m * mb, mb));
    double l = p.step(batches);
    double want = ref->run(batch(s, 0, kBatch))[0].get(0);
    if (!(std::fabs(l - want) <= 1e-5 * std::fabs(want)))
      return fail("step " + std::to_string(s) + ": pipeline loss " +
                  std::to_string(l) + ", unpartitioned " +
                  std::to_string(want));
  }
  for (std::string name : {"fc1.weight", "fc2.weight"}) {
    if (p.stage_of(name) != comm::rank())
      continue;
    double rel = relative_difference(p.get_param(name), ref->get_state(name));
    if (!(rel <= 1e-5))
      return fail(name + ": relative difference " + std::to_string(rel) +
                  " to the unpartitioned step");
    std::printf("rank %d: pipeline: stage %d: %s equals the unpartitioned "
                "step after %d steps (relative difference %.2e)\n",
                comm::rank(), comm::rank(), name.c_str(), steps, rel);
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  std::string what = argc > 1 ? argv[1] : "";
  try {
    if (what == "dp-mlp")
      return dp_mlp();
    if (what == "early-exit")
      return early_exit();
    if (what == "mismatch")
      return mismatch();
    if (what == "pipeline")
      return pipeline();
  } catch (const std::exception &e) {
    return fail(e.what());
  }
  std::fprintf(stderr,
               "usage: kiln_mpi_test dp-mlp|early-exit|mismatch|pipeline\n");
  return 2;
}
