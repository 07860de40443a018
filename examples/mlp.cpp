/// \file
/// A first kiln program: build a small MLP classifier with nn modules, print
/// its graph as IR text (.kir), and evaluate it with the reference
/// interpreter. Copy it as a starting point; tests/lit/tools/example-mlp.kir
/// runs it.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Layers.h"
#include "frontend/nn/Layers.h"
#include "ir/Interpreter.h"

#include <cstdio>
#include <iostream>

using namespace kiln;

int main() {
  // A Graph holds one function under construction. The seed makes every
  // parameter's initial value deterministic (it depends on the seed and the
  // parameter's name only).
  Graph g("mlp", /*seed=*/1);
  // The function's first parameter: a batch of 2 rows of 8 features.
  Tensor x = g.input("x", {DType::F32, {2, 8}});

  // nn modules own named parameters, as in PyTorch. A Sequential names its
  // children by index: net.0.weight, net.0.bias, net.2.weight, ...
  nn::Sequential net(g, "net");
  net.add<nn::Linear>(8, 16); // weight [16, 8] (PyTorch's [out, in])
  net.add<nn::ReLU>();
  net.add<nn::Linear>(16, 4);

  // Calling a module adds ops to the graph; shapes are checked right away.
  Tensor probs = softmax(net(x), /*axis=*/-1);
  g.output(probs, "probs");

  std::cout << "parameters:\n";
  for (const auto &[name, t] : net.parameters())
    std::cout << "  " << name << ": " << type_str(t.type()) << "\n";
  std::cout << g.to_kir();

  // The interpreter takes one value per function parameter, in order: the
  // input x (zeros in initial_values(); fill it with 0.1 * i) and the
  // parameters' initial values.
  std::vector<HostTensor> args = g.initial_values();
  for (int64_t i = 0; i < args[0].numel(); ++i)
    args[0].set(i, 0.1 * double(i));
  HostTensor out = interpret(g.function(), args)[0];
  std::cout << "probs: " << type_str(out.type()) << "\n";
  for (int64_t row = 0; row < 2; ++row) {
    double sum = 0;
    for (int64_t col = 0; col < 4; ++col)
      sum += out.get(row * 4 + col);
    std::printf("row %lld sums to %.4f\n", (long long)row, sum);
  }
  return 0;
}
