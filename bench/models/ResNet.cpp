/// \file
/// ResNet-18, CIFAR variant (resnet18_infer, resnet18_train): a 3x3 stem
/// without max-pool, four stages of BasicBlocks, global average pool and a
/// Linear head, with torchvision's parameter names.
// SPDX-License-Identifier: Apache-2.0
#include "bench/models/Models.h"

#include "bench/models/ModelUtil.h"
#include "frontend/Losses.h"
#include "frontend/nn/Layers.h"
#include "ir/Error.h"

namespace kiln::models {

using namespace detail;

ResNetConfig ResNetConfig::reduced() {
  ResNetConfig c;
  c.batch = 2;
  c.image = 8;
  c.widths = {4, 8, 8, 8};
  return c;
}

namespace {

/// conv3x3-BN-ReLU-conv3x3-BN plus the shortcut (a 1x1 conv + BN
/// "downsample" where the shape changes), then ReLU.
class BasicBlock : public nn::Module {
public:
  BasicBlock(nn::Parent parent, const std::string &name, int64_t in,
             int64_t out, int64_t stride)
      : Module(parent, name),
        conv1(*this, "conv1", in, out, 3, stride, 1, 1, 1, /*bias=*/false),
        bn1(*this, "bn1", out),
        conv2(*this, "conv2", out, out, 3, 1, 1, 1, 1, /*bias=*/false),
        bn2(*this, "bn2", out) {
    if (stride == 1 && in == out)
      return;
    downsample = std::make_unique<nn::Sequential>(*this, "downsample");
    downsample->add<nn::Conv2d>(in, out, 1, stride, 0, 1, 1, /*bias=*/false);
    downsample->add<nn::BatchNorm2d>(out);
  }
  const char *kind() const override { return "BasicBlock"; }
  Tensor forward(Tensor x) override {
    Tensor y = bn2(conv2(relu(bn1(conv1(x)))));
    return relu(y + (downsample ? (*downsample)(x) : x));
  }

  nn::Conv2d conv1;
  nn::BatchNorm2d bn1;
  nn::Conv2d conv2;
  nn::BatchNorm2d bn2;
  std::unique_ptr<nn::Sequential> downsample;
};

/// The network: a model root (named ""), so its parameters are named
/// conv1.weight, layer1.0.bn1.running_mean, ..., fc.bias.
class ResNet : public nn::Module {
public:
  ResNet(Graph &g, const ResNetConfig &c)
      : Module(g, ""), conv1(*this, "conv1", c.in_channels, c.widths.at(0), 3,
                             1, 1, 1, 1, /*bias=*/false),
        bn1(*this, "bn1", c.widths.at(0)) {
    if (c.widths.size() != 4)
      throw Error("resnet18: widths must hold 4 stage widths");
    int64_t in = c.widths[0];
    for (size_t s = 0; s < 4; ++s) {
      auto &stage = *stages.emplace_back(std::make_unique<nn::Sequential>(
          *this, "layer" + std::to_string(s + 1)));
      for (int64_t b = 0; b < c.blocks_per_stage; ++b) {
        int64_t stride = (s > 0 && b == 0) ? 2 : 1;
        stage.add<BasicBlock>(in, c.widths[s], stride);
        in = c.widths[s];
      }
    }
    fc = std::make_unique<nn::Linear>(*this, "fc", in, c.classes);
  }
  const char *kind() const override { return "ResNet"; }
  Tensor forward(Tensor x) override {
    x = relu(bn1(conv1(x)));
    for (auto &stage : stages)
      x = (*stage)(x);
    return (*fc)(reduce_mean(x, {2, 3}));
  }

  nn::Conv2d conv1;
  nn::BatchNorm2d bn1;
  std::vector<std::unique_ptr<nn::Sequential>> stages;
  std::unique_ptr<nn::Linear> fc;
};

Model resnet18(const ResNetConfig &c, uint64_t seed, bool training) {
  Model m = start(training ? "resnet18_train" : "resnet18_infer", seed);
  ResNet net(*m.graph, c);
  net.train(training);
  Tensor x = add_input(m, "x", f32({c.batch, c.in_channels, c.image, c.image}));
  if (!training) {
    finish(m, {{"logits", net(x)}}, {&net}, /*is_loss=*/false);
    return m;
  }
  Tensor labels = add_input(m, "labels", i64({c.batch}));
  Tensor loss = cross_entropy(net(x), labels);
  finish(m, {{"loss", loss}}, {&net}, /*is_loss=*/true);
  return m;
}

} // namespace

Model resnet18_infer(const ResNetConfig &c, uint64_t seed) {
  return resnet18(c, seed, /*training=*/false);
}

Model resnet18_train(const ResNetConfig &c, uint64_t seed) {
  return resnet18(c, seed, /*training=*/true);
}

} // namespace kiln::models
