/// \file
/// export_model: writes a model as .kir text and its initial parameters and
/// state as a safetensors file, the two inputs of kilnc (docs/aot.md).
///
///   export_model mlp_train OUT.kir OUT.safetensors
///     one whole SGD training step (forward, cross-entropy, backward,
///     momentum update) of a small MLP, built with nn modules and
///     kiln::train_step: what examples/aot/mlp_train.c runs
///   export_model mlp_infer|resnet18_infer OUT.kir OUT.safetensors
///     the benchmark workloads of bench/models (full size)
// SPDX-License-Identifier: Apache-2.0
#include "bench/models/Models.h"
#include "frontend/Losses.h"
#include "frontend/Train.h"
#include "frontend/nn/Layers.h"
#include "runtime/Safetensors.h"

#include <fstream>
#include <iostream>

using namespace kiln;

namespace {

/// The training step of examples/aot/mlp_train.c: batch 16 of 8 features,
/// 8 -> 32 -> ReLU -> 4 classes, SGD lr 0.1 momentum 0.9.
std::unique_ptr<Graph> small_mlp_train() {
  auto g = std::make_unique<Graph>("mlp_train", /*seed=*/1);
  Tensor x = g->input("x", {DType::F32, {16, 8}});
  Tensor labels = g->input("labels", {DType::I32, {16}});
  nn::Sequential net(*g, "net");
  net.add<nn::Linear>(8, 32);
  net.add<nn::ReLU>();
  net.add<nn::Linear>(32, 4);
  Tensor loss = cross_entropy(net(x), labels);
  g->output(loss, "loss");
  NamedParams params;
  for (const auto &[name, t] : net.parameters())
    params.emplace_back(name, t);
  train_step(*g, loss, params, {optim::sgd(0.1, 0.9)});
  return g;
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 4) {
    std::cerr << "usage: export_model mlp_train|mlp_infer|resnet18_infer "
                 "OUT.kir OUT.safetensors\n";
    return 2;
  }
  std::string what = argv[1];
  std::unique_ptr<Graph> g;
  if (what == "mlp_train")
    g = small_mlp_train();
  else if (what == "mlp_infer" || what == "resnet18_infer")
    g = std::move(models::build_workload(what, /*reduced=*/false).graph);
  else {
    std::cerr << "export_model: unknown model '" << what << "'\n";
    return 2;
  }
  std::ofstream(argv[2]) << "// " << what
                         << ", written by examples/aot/export_model.\n"
                         << g->to_kir();
  NamedTensors init;
  std::vector<HostTensor> values = g->initial_values();
  const Function &f = g->function();
  for (size_t i = 0; i < values.size(); ++i)
    if (f.param(i)->arg_kind() != ArgKind::Input)
      init.emplace_back(f.param(i)->name(), values[i]);
  save_safetensors(argv[3], init);
  std::cout << "wrote " << argv[2] << " and " << argv[3] << "\n";
  return 0;
}
