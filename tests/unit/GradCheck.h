/// \file
/// Gradient checking for the autodiff tests: random f64 data and a
/// comparison of build_gradients against central finite differences on the
/// reference interpreter.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "TestUtil.h"

#include "passes/Autodiff.h"

#include <algorithm>
#include <random>

namespace kiln::test {

/// Deterministic random tensors.
class Rng {
public:
  explicit Rng(unsigned seed) : gen_(seed) {}
  /// Uniform in [lo, hi).
  HostTensor uniform(TensorType t, double lo = -1, double hi = 1) {
    std::uniform_real_distribution<double> d(lo, hi);
    HostTensor r(t);
    for (int64_t i = 0; i < r.numel(); ++i)
      r.set(i, d(gen_));
    return r;
  }
  /// Shuffled values offset + k*spacing for integers k around 0, so that
  /// no two are within spacing of each other (nor of another grid's with an
  /// offset below spacing): no ties or kinks for
  /// max, min, reductions and pooling.
  HostTensor distinct(TensorType t, double offset = 0, double spacing = 0.2) {
    std::vector<double> v(size_t(t.numel()));
    for (size_t i = 0; i < v.size(); ++i)
      v[i] = offset + spacing * double(int64_t(i) - int64_t(v.size() / 2));
    std::shuffle(v.begin(), v.end(), gen_);
    return HostTensor::from(t, v);
  }
  /// Integers uniform in [lo, hi].
  HostTensor ints(TensorType t, int64_t lo, int64_t hi) {
    std::uniform_int_distribution<int64_t> d(lo, hi);
    HostTensor r(t);
    for (int64_t i = 0; i < r.numel(); ++i)
      r.set_int(i, d(gen_));
    return r;
  }

private:
  std::mt19937 gen_;
};

/// Differentiates \p f's first result (a float scalar) with respect to the
/// parameters numbered \p wrt and checks each gradient element against
/// (loss(x+h) - loss(x-h)) / 2h on the interpreter.
inline void check_gradients(Function &f, const std::vector<HostTensor> &args,
                            const std::vector<size_t> &wrt, double h = 1e-6,
                            double rel = 1e-5, double abs = 1e-7) {
  Value *loss = f.result(0);
  f.set_results({loss});
  std::unique_ptr<Function> fwd = f.clone();
  std::vector<Value *> params;
  for (size_t i : wrt)
    params.push_back(f.param(i));
  std::vector<Value *> grads = build_gradients(f, loss, params);
  std::vector<Value *> results = {loss};
  results.insert(results.end(), grads.begin(), grads.end());
  f.set_results(results);
  std::vector<HostTensor> out = interpret(f, args);
  for (size_t k = 0; k < wrt.size(); ++k) {
    const HostTensor &g = out[k + 1];
    REQUIRE(g.type() == args[wrt[k]].type());
    for (int64_t j = 0; j < g.numel(); ++j) {
      std::vector<HostTensor> a = args;
      double x = args[wrt[k]].get(j);
      a[wrt[k]].set(j, x + h);
      double up = interpret(*fwd, a)[0].get(0);
      a[wrt[k]].set(j, x - h);
      double down = interpret(*fwd, a)[0].get(0);
      double fd = (up - down) / (2 * h);
      INFO("parameter " << wrt[k] << " element " << j << ": autodiff "
                        << g.get(j) << ", finite difference " << fd);
      CHECK_THAT(g.get(j), Catch::Matchers::WithinRel(fd, rel) ||
                               Catch::Matchers::WithinAbs(fd, abs));
    }
  }
}

/// Checks the gradient of one op: loss = reduce_sum(op(inputs) * weights)
/// with random weights, so that every output element matters, with respect
/// to every float input.
inline void check_op(OpKind op, const std::vector<HostTensor> &inputs,
                     const Attrs &attrs = {},
                     const std::vector<TensorType> &declared = {},
                     double h = 1e-6, double rel = 1e-5) {
  Function f("grad");
  std::vector<Value *> ops;
  std::vector<size_t> wrt;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ops.push_back(f.add_param("a" + std::to_string(i), inputs[i].type()));
    if (is_float(inputs[i].dtype()))
      wrt.push_back(i);
  }
  Value *y = f.add(op, ops, attrs, declared)->result();
  TensorType wt = y->type();
  Value *w = f.add_param("weights", wt);
  Value *p = f.add(OpKind::Mul, {y, w})->result();
  std::vector<int64_t> axes;
  for (int64_t d = 0; d < p->type().rank(); ++d)
    axes.push_back(d);
  Value *loss = f.add(OpKind::ReduceSum, {p}, {{"axes", Attribute::ints(axes)}})
                    ->result();
  f.set_results({loss});
  std::vector<HostTensor> args = inputs;
  args.push_back(Rng(99).uniform(wt, 0.5, 1.5));
  INFO("op " << op_name(op));
  check_gradients(f, args, wrt, h, rel);
}

} // namespace kiln::test
