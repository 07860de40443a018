/// \file
/// Data-parallel training under mpirun: every rank builds the same
/// training step for its shard of the batch, compiles it with
/// `distributed.data_parallel`, and runs it; the gradients are averaged
/// across ranks inside the step, so every rank ends with the weights that
/// training on the whole batch in one process gives. Run it with
///
///   mpirun -np 2 ./build/examples/distributed_mlp
///
/// (as root add --allow-run-as-root; with fewer cores than ranks add
/// --oversubscribe). Started without mpirun it is one rank.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Compile.h"
#include "frontend/Losses.h"
#include "frontend/Train.h"
#include "frontend/nn/Layers.h"
#include "ir/Error.h"
#include "runtime/Comm.h"

#include <cmath>
#include <cstdio>

using namespace kiln;

int main() {
  try {
    const int64_t batch = 256, features = 32, classes = 4;
    int ranks = kiln::comm::size(), me = kiln::comm::rank();
    int64_t shard = batch / ranks; // this rank's rows of each batch
    Graph g("mlp_step", /*seed=*/1);
    Tensor x = g.input("x", {DType::F32, {shard, features}});
    Tensor y = g.input("y", {DType::I64, {shard}});
    nn::Sequential net(g, "net");
    net.add<nn::Linear>(features, 128);
    net.add<nn::ReLU>();
    net.add<nn::Linear>(128, classes);
    Tensor loss = cross_entropy(net(x), y);
    train_step(g, loss, net.parameters(), {optim::sgd(0.1, 0.9)});

    CompileOptions options;
    options.distributed.data_parallel = true; // all-reduce the gradients
    auto step = compile(g.function(), options);
    // Params start from the graph's seeded initializers; rank 0's values
    // are broadcast to every rank before the first step anyway.
    std::vector<HostTensor> init = g.initial_values();
    for (size_t i = 0; i < init.size(); ++i)
      if (g.function().param(i)->arg_kind() != ArgKind::Input)
        step->set_state(g.function().param(i)->name(), init[i]);

    HostTensor xs({DType::F32, {shard, features}}), ys({DType::I64, {shard}});
    for (int s = 0; s < 20; ++s) {
      for (int64_t r = 0; r < shard; ++r) { // rows me*shard + r of batch s
        int64_t row = me * shard + r, label = (row + s) % classes;
        ys.set_int(r, label);
        for (int64_t c = 0; c < features; ++c)
          xs.set(r * features + c, std::sin(0.1 * double(row * features + c)) +
                                       (c % classes == label ? 1.0 : 0.0));
      }
      double l = step->run({xs, ys})[0].get(0);
      if (s % 5 == 4)
        std::printf("rank %d of %d: step %d: loss on this shard %.4f\n", me,
                    ranks, s + 1, l);
    }
    kiln::comm::Stats st = kiln::comm::stats();
    std::printf("rank %d: %lld bucket all-reduces, %.1f ms communicating, "
                "%.1f ms of it hidden behind compute\n",
                me, (long long)st.all_reduces, st.comm_ms, st.overlapped_ms);
    return 0;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
