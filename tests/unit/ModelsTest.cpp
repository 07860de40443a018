/// \file
/// The benchmark workloads (bench/models): each, at reduced size, prints to
/// .kir and parses back to the identical text, and runs on the interpreter
/// with finite outputs of the right shapes; at full size, each has the
/// parameter count of its BENCHMARKS.md definition.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include "bench/models/Models.h"
#include "ir/Parser.h"
#include "ir/Printer.h"

#include <chrono>
#include <cmath>
#include <map>

using namespace kiln;
using namespace kiln::test;
using namespace kiln::models;

namespace {

/// The output types each reduced workload must produce, in order (state
/// updates excluded).
const std::map<std::string, std::vector<TensorType>> &reduced_outputs() {
  static const std::map<std::string, std::vector<TensorType>> m = {
      {"mlp_infer", {f32({4, 4})}},
      {"mlp_train", {f32({})}},
      {"resnet18_infer", {f32({2, 10})}},
      {"resnet18_train", {f32({})}},
      {"gpt_train", {f32({})}},
      {"lstm_train", {f32({})}},
      {"dcgan_step", {f32({}), f32({}), f32({2, 3, 32, 32})}},
      {"deep_mlp_memory", {f32({})}},
  };
  return m;
}

/// Arguments for \p m: the initial values, with data inputs filled
/// deterministically (floats in [-1, 1], integers 0, 1, 2, ...).
std::vector<HostTensor> arguments(const Model &m) {
  std::vector<HostTensor> args = m.graph->initial_values();
  const Function &f = m.graph->function();
  for (size_t i = 0; i < f.params().size(); ++i) {
    if (f.param(i)->arg_kind() != ArgKind::Input)
      continue;
    HostTensor &a = args[i];
    bool is_int = a.dtype() == DType::I64 || a.dtype() == DType::I32;
    for (int64_t e = 0; e < a.numel(); ++e)
      a.set(e, is_int ? double(e % 3) : std::sin(0.7 * double(e + i)));
  }
  return args;
}

bool all_finite(const HostTensor &t) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(t.get(i)))
      return false;
  return true;
}

int64_t param_count(const Model &m) {
  int64_t n = 0;
  for (const auto &p : m.params)
    n += p.second.numel();
  return n;
}

} // namespace

TEST_CASE("models: every workload at reduced size round-trips and runs",
          "[models]") {
  for (const std::string &name : workload_names()) {
    DYNAMIC_SECTION(name) {
      auto t0 = std::chrono::steady_clock::now();
      Model m = build_workload(name, /*reduced=*/true);
      const Function &f = m.graph->function();
      CHECK(f.name() == name);

      std::string text = m.graph->to_kir();
      Diagnostics diags;
      std::unique_ptr<Module> parsed =
          parse_and_verify(text, name + ".kir", diags);
      REQUIRE(parsed);
      CHECK(to_string(*parsed) == text);

      const std::vector<TensorType> &want = reduced_outputs().at(name);
      REQUIRE(m.outputs.size() == want.size());
      // Plain results first, then (training) one update per state buffer.
      size_t updates = m.loss.valid() ? m.buffers.size() : 0;
      REQUIRE(f.results().size() == want.size() + updates);
      for (size_t i = 0; i < want.size(); ++i) {
        CHECK(f.results()[i]->type() == want[i]);
        CHECK(f.result_updates()[i] == nullptr);
      }
      CHECK(m.loss.valid() ==
            (name != "mlp_infer" && name != "resnet18_infer"));
      if (m.loss.valid())
        CHECK(m.loss.same(m.outputs.front().second));

      std::vector<HostTensor> out = interpret(f, arguments(m));
      REQUIRE(out.size() == f.results().size());
      for (size_t i = 0; i < out.size(); ++i) {
        INFO("result " << i);
        CHECK(all_finite(out[i]));
      }
      if (m.loss.valid())
        CHECK(out[0].get(0) > 0.0);
      double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
              .count();
      INFO(name << " took " << secs << " s");
      CHECK(secs < 2.0);
    }
  }
}

TEST_CASE("models: training workloads list params and state updates",
          "[models]") {
  Model r = resnet18_train(ResNetConfig::reduced());
  // A stem BN, two per block, one per downsampling shortcut: 1 + 16 + 3.
  CHECK(r.buffers.size() == 2 * 20);
  CHECK(r.params.front().first == "conv1.weight");
  CHECK(r.params.back().first == "fc.bias");
  CHECK(r.buffers.front().first == "bn1.running_mean");
  // The stem's running mean is updated by the result right after the loss.
  CHECK(r.graph->function().result_updates()[1] ==
        r.buffers.front().second.value());
  bool has_downsample = false;
  for (const auto &[n, t] : r.params)
    has_downsample |= n == "layer2.0.downsample.0.weight";
  CHECK(has_downsample);

  Model gpt = gpt_train(GptConfig::reduced());
  CHECK(gpt.params.front().first == "tok_emb.weight");
  CHECK(gpt.params[2].first == "blocks.0.ln_1.weight");
  CHECK(gpt.params[4].first == "blocks.0.attn.q_proj.weight");
  CHECK(gpt.params.back().first == "lm_head.weight");
  CHECK(gpt.inputs.size() == 2);

  DcganModel gan = dcgan_step(DcganConfig::reduced());
  CHECK(gan.d_loss.same(gan.loss));
  CHECK(gan.gen_params.size() + gan.disc_params.size() == gan.params.size());
  CHECK(gan.gen_params.front().first == "gen.0.weight");
  CHECK(gan.disc_params.front().first == "disc.0.weight");
  // Discriminator BN statistics update once, chained over real then fake.
  CHECK(gan.buffers.size() == 2 * 5);
  CHECK_THROWS_WITH(build_workload("vgg", true),
                    Catch::Contains("known: mlp_infer, mlp_train"));
}

TEST_CASE("models: full-size workloads have BENCHMARKS.md's parameter counts",
          "[models]") {
  CHECK(param_count(mlp_train()) == 1863690);
  CHECK(param_count(resnet18_infer()) == 11173962);
  CHECK(param_count(gpt_train()) == 3716608);
  CHECK(param_count(lstm_train()) == 924170);
  DcganModel gan = dcgan_step();
  int64_t gen = 0, disc = 0;
  for (const auto &p : gan.gen_params)
    gen += p.second.numel();
  for (const auto &p : gan.disc_params)
    disc += p.second.numel();
  CHECK(gen == 1068928);
  CHECK(disc == 663296);
  Model deep = deep_mlp_memory();
  CHECK(param_count(deep) == 16 * (256 * 256 + 256));
  CHECK(deep.graph->function().results()[0]->type() == f32({}));
}
