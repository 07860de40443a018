/// \file
/// The training steps that the golden references cover, built once here so
/// that the exporter (which writes their starting point) and GoldenStepTest
/// (which checks one interpreted step against make_golden.py's result) run
/// the very same graph: a bench/models workload at its reduced size, wrapped
/// by kiln::train_step with the optimizer of its BENCHMARKS.md row.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "bench/models/Models.h"
#include "frontend/Train.h"
#include "ir/Error.h"
#include "ir/HostTensor.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace kiln::golden {

/// The workloads with golden files (tests/golden/data/<name>.init, .golden).
inline const std::vector<std::string> &golden_workloads() {
  static const std::vector<std::string> names = {"mlp_train", "resnet18_train",
                                                 "gpt_train"};
  return names;
}

/// A workload's training step: the model, then train_step applied to it.
struct GoldenStep {
  models::Model model;
  TrainStepInfo info;
  /// `@key value` metadata lines describing the config and optimizer, for
  /// make_golden.py to check its own hard-coded copy of BENCHMARKS.md.
  std::vector<std::string> meta;
};

/// The optimizer of \p workload's BENCHMARKS.md row.
inline Optimizer golden_optimizer(const std::string &workload) {
  if (workload == "mlp_train")
    return optim::sgd(0.01, /*momentum=*/0.9, /*weight_decay=*/1e-4);
  if (workload == "resnet18_train")
    return optim::sgd(0.1, /*momentum=*/0.9);
  if (workload == "gpt_train")
    return optim::adamw(3e-4, /*weight_decay=*/0.01);
  throw Error("golden: no golden step for workload '" + workload + "'");
}

/// Builds \p workload at reduced size (model seed 0) and appends its
/// training step.
inline GoldenStep build_golden_step(const std::string &workload) {
  GoldenStep s;
  auto num = [](const char *k, int64_t v) {
    return std::string("@") + k + " " + std::to_string(v);
  };
  s.meta.push_back("@workload " + workload);
  if (workload == "mlp_train") {
    models::MlpConfig c = models::MlpConfig::reduced();
    s.model = models::mlp_train(c);
    s.meta.push_back(num("batch", c.batch));
  } else if (workload == "resnet18_train") {
    // reduced() but 16x16 images: at 8x8, layer4 runs at 1x1, so its
    // training-mode BN normalizes 2 values per channel, where the output
    // barely depends on the input and the gradient is dominated by eps
    // (parameters move by ~10 in one step). At 16x16 every BN sees >= 8.
    models::ResNetConfig c = models::ResNetConfig::reduced();
    c.image = 16;
    s.model = models::resnet18_train(c);
    s.meta.push_back(num("batch", c.batch));
    s.meta.push_back(num("image", c.image));
    s.meta.push_back(num("blocks_per_stage", c.blocks_per_stage));
  } else if (workload == "gpt_train") {
    models::GptConfig c = models::GptConfig::reduced();
    s.model = models::gpt_train(c);
    s.meta.push_back(num("batch", c.batch));
    s.meta.push_back(num("heads", c.heads));
    s.meta.push_back(num("layers", c.layers));
  }
  Optimizer o = golden_optimizer(workload);
  const char *kinds[] = {"sgd", "adam", "adamw"};
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "@optimizer %s lr=%.12g momentum=%.12g weight_decay=%.12g "
                "beta1=%.12g beta2=%.12g eps=%.12g",
                kinds[int(o.kind)], o.lr, o.momentum, o.weight_decay, o.beta1,
                o.beta2, o.eps);
  s.meta.push_back(buf);
  s.info = train_step(*s.model.graph, s.model.loss, s.model.params, {o});
  return s;
}

/// A small portable generator (splitmix64), so the exported inputs do not
/// depend on the standard library's distributions.
class SplitMix {
  static constexpr double kPi = 3.14159265358979323846;

public:
  explicit SplitMix(uint64_t seed) : x_(seed) {}
  uint64_t next() {
    uint64_t z = (x_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1) with 53 bits.
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }
  /// Standard normal (Box-Muller, cosine branch).
  double normal() {
    double u1 = 1.0 - uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2 * kPi * u2);
  }
  /// Uniform integer in [0, n).
  int64_t below(int64_t n) { return int64_t(next() % uint64_t(n)); }

private:
  uint64_t x_;
};

/// The data inputs of \p s, by name in model order, drawn from \p seed:
/// images and features N(0, 1); labels uniform over the classes; GPT
/// tokens uniform over the vocabulary with targets the tokens shifted by
/// one (each row a stream of seq + 1 tokens).
inline std::vector<std::pair<std::string, HostTensor>>
golden_inputs(const GoldenStep &s, uint64_t seed = 1234) {
  SplitMix rng(seed);
  std::vector<std::pair<std::string, HostTensor>> out;
  // The class count (vocabulary): dim 0 of the last parameter, the head's
  // fc3.bias, fc.bias or lm_head.weight.
  int64_t classes = s.model.params.back().second.dim(0);
  for (const auto &[name, t] : s.model.inputs) {
    HostTensor h(t.type());
    if (name == "tokens" || name == "targets")
      continue;
    for (int64_t i = 0; i < h.numel(); ++i) {
      if (h.dtype() == DType::I64)
        h.set_int(i, rng.below(classes));
      else
        h.set(i, rng.normal());
    }
    out.emplace_back(name, std::move(h));
  }
  if (s.model.inputs.front().first != "tokens")
    return out;
  TensorType type = s.model.inputs.front().second.type();
  HostTensor tokens(type), targets(type);
  int64_t batch = type.shape.at(0), seq = type.shape.at(1);
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<int64_t> stream;
    for (int64_t i = 0; i <= seq; ++i)
      stream.push_back(rng.below(classes));
    for (int64_t i = 0; i < seq; ++i) {
      tokens.set_int(b * seq + i, stream[size_t(i)]);
      targets.set_int(b * seq + i, stream[size_t(i + 1)]);
    }
  }
  out.emplace_back("tokens", std::move(tokens));
  out.emplace_back("targets", std::move(targets));
  return out;
}

} // namespace kiln::golden
