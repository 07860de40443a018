/// \file
/// The shared builder helpers, the MLP workloads (mlp_infer, mlp_train,
/// deep_mlp_memory), lstm_train and the workload registry.
// SPDX-License-Identifier: Apache-2.0
#include "bench/models/Models.h"

#include "bench/models/ModelUtil.h"
#include "frontend/Losses.h"
#include "frontend/nn/Layers.h"
#include "frontend/nn/Sequence.h"
#include "ir/Error.h"

#include <algorithm>
#include <functional>
#include <utility>

namespace kiln::models {

namespace detail {

Model start(const std::string &name, uint64_t seed) {
  Model m;
  m.graph = std::make_unique<Graph>(name, seed);
  return m;
}

Tensor add_input(Model &m, const std::string &name, TensorType type) {
  Tensor t = m.graph->input(name, std::move(type));
  m.inputs.emplace_back(name, t);
  return t;
}

void finish(Model &m, const NamedTensors &leading,
            const std::vector<const nn::Module *> &roots, bool is_loss) {
  Graph &g = *m.graph;
  size_t before = g.function().results().size();
  for (const auto &[name, t] : leading)
    g.output(t, name);
  // Rotate the new results ahead of the updates recorded while building.
  std::vector<Value *> res = g.function().results();
  std::vector<Value *> upd = g.function().result_updates();
  upd.resize(res.size(), nullptr);
  std::rotate(res.begin(), res.begin() + long(before), res.end());
  std::rotate(upd.begin(), upd.begin() + long(before), upd.end());
  g.function().set_results(res, upd);
  m.outputs = leading;
  for (const nn::Module *r : roots) {
    for (auto &p : r->parameters())
      m.params.push_back(p);
    for (auto &b : r->buffers())
      m.buffers.push_back(b);
  }
  if (is_loss && !leading.empty())
    m.loss = leading.front().second;
}

} // namespace detail

using namespace detail;

MlpConfig MlpConfig::reduced() { return {4, 16, 8, 4}; }
DeepMlpConfig DeepMlpConfig::reduced() { return {4, 8, 4}; }
LstmConfig LstmConfig::reduced() { return {4, 8, 2, 5, 2, 3}; }

namespace {

/// The three-layer MLP of BENCHMARKS.md; logits [batch, classes].
struct Mlp {
  Mlp(Graph &g, const MlpConfig &c)
      : fc1(g, "fc1", c.in, c.hidden), fc2(g, "fc2", c.hidden, c.hidden),
        fc3(g, "fc3", c.hidden, c.classes) {}
  Tensor operator()(Tensor x) { return fc3(relu(fc2(relu(fc1(x))))); }
  std::vector<const nn::Module *> roots() const { return {&fc1, &fc2, &fc3}; }
  nn::Linear fc1, fc2, fc3;
};

} // namespace

Model mlp_infer(const MlpConfig &c, uint64_t seed) {
  Model m = start("mlp_infer", seed);
  Mlp net(*m.graph, c);
  Tensor x = add_input(m, "x", f32({c.batch, c.in}));
  finish(m, {{"logits", net(x)}}, net.roots(), /*is_loss=*/false);
  return m;
}

Model mlp_train(const MlpConfig &c, uint64_t seed) {
  Model m = start("mlp_train", seed);
  Mlp net(*m.graph, c);
  Tensor x = add_input(m, "x", f32({c.batch, c.in}));
  Tensor labels = add_input(m, "labels", i64({c.batch}));
  Tensor loss = cross_entropy(net(x), labels);
  finish(m, {{"loss", loss}}, net.roots(), /*is_loss=*/true);
  return m;
}

Model deep_mlp_memory(const DeepMlpConfig &c, uint64_t seed) {
  Model m = start("deep_mlp_memory", seed);
  nn::Sequential blocks(*m.graph, "blocks");
  for (int64_t i = 0; i < c.depth; ++i) {
    blocks.add<nn::Linear>(c.width, c.width);
    blocks.add<nn::ReLU>();
  }
  Tensor x = add_input(m, "x", f32({c.batch, c.width}));
  Tensor target = add_input(m, "target", f32({c.batch, c.width}));
  Tensor loss = mse(blocks(x), target);
  finish(m, {{"loss", loss}}, {&blocks}, /*is_loss=*/true);
  return m;
}

Model lstm_train(const LstmConfig &c, uint64_t seed) {
  Model m = start("lstm_train", seed);
  Graph &g = *m.graph;
  nn::LSTM lstm(g, "lstm", c.input, c.hidden, c.layers);
  nn::Linear head(g, "head", c.hidden, c.classes);
  Tensor x = add_input(m, "x", f32({c.seq, c.batch, c.input}));
  Tensor labels = add_input(m, "labels", i64({c.batch}));
  nn::LstmOutput out = lstm.run(x);
  Tensor loss = cross_entropy(head(out.final_states.back().h), labels);
  finish(m, {{"loss", loss}}, {&lstm, &head}, /*is_loss=*/true);
  return m;
}

const std::vector<std::string> &workload_names() {
  static const std::vector<std::string> names = {
      "mlp_infer", "mlp_train",  "resnet18_infer", "resnet18_train",
      "gpt_train", "lstm_train", "dcgan_step",     "deep_mlp_memory"};
  return names;
}

namespace {
template <class Config, class Fn>
Model build_with(Fn fn, bool reduced, uint64_t seed) {
  return fn(reduced ? Config::reduced() : Config{}, seed);
}
} // namespace

Model build_workload(const std::string &name, bool reduced, uint64_t seed) {
  if (name == "mlp_infer")
    return build_with<MlpConfig>(mlp_infer, reduced, seed);
  if (name == "mlp_train")
    return build_with<MlpConfig>(mlp_train, reduced, seed);
  if (name == "resnet18_infer")
    return build_with<ResNetConfig>(resnet18_infer, reduced, seed);
  if (name == "resnet18_train")
    return build_with<ResNetConfig>(resnet18_train, reduced, seed);
  if (name == "gpt_train")
    return build_with<GptConfig>(gpt_train, reduced, seed);
  if (name == "lstm_train")
    return build_with<LstmConfig>(lstm_train, reduced, seed);
  if (name == "dcgan_step")
    return build_with<DcganConfig>(dcgan_step, reduced, seed);
  if (name == "deep_mlp_memory")
    return build_with<DeepMlpConfig>(deep_mlp_memory, reduced, seed);
  std::string list;
  for (const std::string &n : workload_names())
    list += (list.empty() ? "" : ", ") + n;
  throw Error("build_workload: unknown workload '" + name +
              "' (known: " + list + ")");
}

} // namespace kiln::models
