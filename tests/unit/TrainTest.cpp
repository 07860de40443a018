/// \file
/// train_step: optimizer updates against hand-computed references, gradient
/// clipping, diagnostics, and an MLP that learns a synthetic task on the
/// interpreter.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include "frontend/Init.h"
#include "frontend/Losses.h"
#include "frontend/Ops.h"
#include "frontend/Train.h"

#include <random>

using namespace kiln;
using namespace kiln::test;
using Catch::Contains;

namespace {

/// Runs \p steps steps of \p g's function from \p args, applying updates;
/// returns the results of the last step.
std::vector<HostTensor> run_steps(Graph &g, std::vector<HostTensor> &args,
                                  int steps) {
  std::vector<HostTensor> r;
  for (int i = 0; i < steps; ++i) {
    r = interpret(g.function(), args);
    apply_updates(g.function(), r, args);
  }
  return r;
}

/// loss = sum(w * x): its gradient with respect to w is x.
struct LinearLoss {
  Graph g{"step"};
  Tensor x = g.input("x", f32({3}));
  Tensor w = g.param("w", f32({3}), init::constant(1.0));
  Tensor loss = reduce_sum(w * x, {0});
};

const std::vector<double> kX = {3, -4, 0.5};

std::vector<HostTensor> args_with_x(Graph &g) {
  std::vector<HostTensor> args = g.initial_values();
  args[0] = HostTensor::from(f32({3}), kX);
  return args;
}

} // namespace

TEST_CASE("train_step: SGD with momentum and weight decay", "[train]") {
  for (bool nesterov : {false, true}) {
    LinearLoss m;
    train_step(m.g, m.loss, {{"w", m.w}},
               {optim::sgd(0.1, 0.9, 0.1, nesterov)});
    std::vector<HostTensor> args = args_with_x(m.g);
    run_steps(m.g, args, 2);
    // Reference, as torch.optim.SGD computes it.
    for (size_t i = 0; i < 3; ++i) {
      double w = 1, buf = 0;
      for (int s = 0; s < 2; ++s) {
        double g = kX[i] + 0.1 * w;
        buf = 0.9 * buf + g;
        w -= 0.1 * (nesterov ? g + 0.9 * buf : buf);
      }
      CHECK_THAT(args[1].get(int64_t(i)), Catch::Matchers::WithinRel(w, 1e-6));
    }
  }
}

TEST_CASE("train_step: Adam and AdamW match the reference", "[train]") {
  for (bool decoupled : {false, true}) {
    LinearLoss m;
    Optimizer o = decoupled ? optim::adamw(0.01, 0.1) : optim::adam(0.01);
    if (!decoupled)
      o.weight_decay = 0.05;
    TrainStepInfo info = train_step(m.g, m.loss, {{"w", m.w}}, {o});
    REQUIRE(info.state.size() == 3); // step, exp_avg, exp_avg_sq
    std::vector<HostTensor> args = args_with_x(m.g);
    run_steps(m.g, args, 3);
    for (size_t i = 0; i < 3; ++i) {
      double w = 1, mo = 0, v = 0;
      for (int t = 1; t <= 3; ++t) {
        double g = kX[i] + (decoupled ? 0 : o.weight_decay * w);
        mo = 0.9 * mo + 0.1 * g;
        v = 0.999 * v + 0.001 * g * g;
        double mh = mo / (1 - std::pow(0.9, t)),
               vh = v / (1 - std::pow(0.999, t));
        if (decoupled)
          w -= o.lr * o.weight_decay * w;
        w -= o.lr * mh / (std::sqrt(vh) + o.eps);
      }
      CHECK_THAT(args[1].get(int64_t(i)), Catch::Matchers::WithinRel(w, 1e-5));
    }
  }
}

TEST_CASE("train_step: global-norm clipping and diagnostics", "[train]") {
  Graph g("step");
  Tensor x = g.input("x", f32({2}));
  Tensor w = g.param("w", f32({2}), init::constant(2.0));
  Tensor loss = reduce_sum(w * x, {0});
  TrainStepOptions opts{optim::sgd(1.0)};
  opts.clip_grad_norm = 1.0;
  opts.diagnostics = true;
  train_step(g, loss, {{"w", w}}, opts);
  std::vector<HostTensor> args = g.initial_values();
  args[0] = HostTensor::from(f32({2}), {3, 4}); // gradient norm 5
  std::vector<HostTensor> r = interpret(g.function(), args);
  CHECK(g.function().result(1)->name() == "norm.w");
  CHECK(g.function().result(2)->name() == "grad_norm.w");
  check_values(r[0], {14});
  check_values(r[1], {std::sqrt(8.0)});
  check_values(r[2], {5});
  apply_updates(g.function(), r, args);
  double s = 1 / (5 + 1e-6);
  check_values(args[1], {2 - 3 * s, 2 - 4 * s}, 1e-6);
}

TEST_CASE("train_step: rejects a non-scalar loss and foreign params",
          "[train]") {
  Graph g("step"), other("other");
  Tensor x = g.input("x", f32({2}));
  Tensor w = g.param("w", f32({2}), init::zeros());
  Tensor v = other.param("v", f32({2}), init::zeros());
  CHECK_THROWS_WITH(train_step(g, w * x, {{"w", w}}, {}),
                    Contains("the loss must be a scalar float"));
  CHECK_THROWS_WITH(train_step(g, reduce_sum(w * x, {0}), {{"v", v}}, {}),
                    Contains("'v' is not a {param} of graph 'step'"));
  CHECK_THROWS_WITH(train_step(g, reduce_sum(w * x, {0}), {{"x", x}}, {}),
                    Contains("'x' is not a {param}"));
}

TEST_CASE("train_step: an MLP learns three Gaussian blobs", "[train]") {
  const int n = 150, classes = 3, hidden = 16;
  Graph g("mlp_train", /*seed=*/3);
  Tensor x = g.input("x", f32({n, 2}));
  Tensor y = g.input("y", i64({n}));
  Tensor w1 = g.param("fc1.weight", f32({hidden, 2}), init::kaiming_uniform());
  Tensor b1 = g.param("fc1.bias", f32({hidden}), init::zeros());
  Tensor w2 =
      g.param("fc2.weight", f32({classes, hidden}), init::xavier_uniform());
  Tensor b2 = g.param("fc2.bias", f32({classes}), init::zeros());
  Tensor h = relu(matmul(x, transpose_last2(w1)) + b1);
  Tensor logits = matmul(h, transpose_last2(w2)) + b2;
  Tensor loss = cross_entropy(logits, y);
  g.output(loss, "loss");
  g.output(logits, "logits");
  train_step(g, loss,
             {{"fc1.weight", w1},
              {"fc1.bias", b1},
              {"fc2.weight", w2},
              {"fc2.bias", b2}},
             {optim::sgd(0.1, 0.9)});

  std::mt19937 rng(11);
  std::normal_distribution<double> noise(0.0, 0.5);
  const double centers[classes][2] = {{0, 2}, {-2, -1}, {2, -1}};
  std::vector<double> xs;
  std::vector<int64_t> ys;
  for (int i = 0; i < n; ++i) {
    int c = i % classes;
    xs.push_back(centers[c][0] + noise(rng));
    xs.push_back(centers[c][1] + noise(rng));
    ys.push_back(c);
  }
  std::vector<HostTensor> args = g.initial_values();
  args[0] = HostTensor::from(f32({n, 2}), xs);
  args[1] = HostTensor::from_ints(i64({n}), ys);
  double first_loss = interpret(g.function(), args)[0].get(0);
  std::vector<HostTensor> r = run_steps(g, args, 60);
  int correct = 0;
  for (int i = 0; i < n; ++i) {
    int best = 0;
    for (int c = 1; c < classes; ++c)
      if (r[1].get(i * classes + c) > r[1].get(i * classes + best))
        best = c;
    correct += best == ys[size_t(i)];
  }
  INFO("loss " << first_loss << " -> " << r[0].get(0) << ", accuracy "
               << correct << "/" << n);
  CHECK(r[0].get(0) < 0.25 * first_loss);
  CHECK(correct >= int(0.95 * n));
}

TEST_CASE("train_step: Adam's bias corrections are exact in f32 and bf16",
          "[train]") {
  // Step 1 from w = 0 with gradient 3 and lr 1: w' = -3 / (3 + eps). The
  // corrections 1 - beta^t must not be formed from beta rounded to the
  // param's dtype: in f32 that made the step 6.4e-6 short, and in bf16
  // (0.999 rounds to 1) v-hat infinite and the step 0.
  for (DType dt : {DType::F32, DType::BF16}) {
    Graph g("step");
    Tensor x = g.input("x", {dt, {1}});
    Tensor w = g.param("w", {dt, {1}}, init::zeros());
    train_step(g, reduce_sum(w * x, {0}), {{"w", w}}, {optim::adam(1.0)});
    std::vector<HostTensor> args = g.initial_values();
    args[0] = HostTensor::from({dt, {1}}, {3});
    run_steps(g, args, 1);
    double want = -3 / (3 + 1e-8);
    CHECK_THAT(args[1].get(0), Catch::Matchers::WithinRel(
                                   want, dt == DType::F32 ? 1e-7 : 1e-2));
  }
}
