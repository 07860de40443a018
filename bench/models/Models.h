/// \file
/// The workloads of ../shared/BENCHMARKS.md as graph builders: each function
/// builds one workload's graph at the size its config gives (the full size
/// by default, `Config::reduced()` for tests) out of nn modules, so its
/// parameters carry PyTorch's names.
///
/// Training workloads build the forward pass and the loss: the scalar loss
/// is output 0, followed by the batch-norm running-statistics updates
/// (`{updates = %...running_mean}`) that training-mode BatchNorm2d records.
/// The training step (autodiff and the optimizer of the BENCHMARKS row)
/// wraps these graphs later, from `params`. Inference workloads return the
/// logits as output 0.
///
/// Initial values follow PyTorch's module defaults (Linear/conv biases are
/// U(+-1/sqrt(fan_in)) where BENCHMARKS.md says zeros); they change no
/// shape and no work per step.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "frontend/nn/Module.h"

#include <memory>
#include <string>
#include <vector>

namespace kiln::models {

using nn::NamedTensors;

/// A built workload. The Graph owns every Tensor below.
struct Model {
  std::unique_ptr<Graph> graph;
  /// The scalar loss (output 0) of a training workload; null for inference.
  Tensor loss;
  /// The function's plain results in order (loss or logits first), by name;
  /// the state updates that follow them are not listed.
  NamedTensors outputs;
  /// The data inputs (images, tokens, labels, noise), by name.
  NamedTensors inputs;
  /// Every trainable parameter by full name, in module order.
  NamedTensors params;
  /// Every state buffer (BN running statistics) by full name.
  NamedTensors buffers;
};

/// mlp_infer / mlp_train: in -> hidden -> ReLU -> hidden -> ReLU -> classes.
struct MlpConfig {
  int64_t batch = 256, in = 784, hidden = 1024, classes = 10;
  /// Batch 4, 16 -> 8 -> 8 -> 4.
  static MlpConfig reduced();
};
/// Input "x" [batch, in]; output 0 "logits" [batch, classes]. Parameters
/// fc1, fc2, fc3 (`fc1.weight` ...).
Model mlp_infer(const MlpConfig &c = {}, uint64_t seed = 0);
/// Inputs "x", "labels" (i64 [batch]); output 0 the mean softmax
/// cross-entropy.
Model mlp_train(const MlpConfig &c = {}, uint64_t seed = 0);

/// resnet18_infer / resnet18_train (CIFAR variant: 3x3 stem, no max-pool).
struct ResNetConfig {
  int64_t batch = 16, image = 32, in_channels = 3, classes = 10;
  /// Channels of the four stages; each stage has blocks_per_stage
  /// BasicBlocks, stride 2 at the first block of stages 2-4.
  std::vector<int64_t> widths = {64, 128, 256, 512};
  int64_t blocks_per_stage = 2;
  /// Batch 2, 8x8 images, widths 4, 8, 8, 8: the same 20 convolutions.
  static ResNetConfig reduced();
};
/// Input "x" [batch, in_channels, image, image]; output 0 "logits". BN in
/// inference mode. torchvision's names: conv1, bn1, layer1.0.conv1,
/// layer2.0.downsample.0, ..., fc.
Model resnet18_infer(const ResNetConfig &c = {}, uint64_t seed = 0);
/// Inputs "x", "labels"; BN in training mode (running-stat updates after
/// the loss); output 0 the mean cross-entropy.
Model resnet18_train(const ResNetConfig &c = {}, uint64_t seed = 0);

/// gpt_train: a decoder-only transformer with pre-LayerNorm blocks.
struct GptConfig {
  int64_t vocab = 1024, d_model = 256, heads = 4, layers = 4, mlp_hidden = 1024;
  int64_t batch = 8, seq = 128;
  /// Vocab 32, d_model 16, 2 heads, 2 layers, MLP 32, batch 2, sequence 8.
  static GptConfig reduced();
};
/// Inputs "tokens" and "targets" (i64 [batch, seq]; targets are the tokens
/// shifted by one, supplied by the data loader); output 0 the mean
/// next-token cross-entropy over batch * seq positions. Names: tok_emb,
/// pos_emb, blocks.N.{ln_1, attn.{q,k,v,out}_proj, ln_2, mlp.fc,
/// mlp.proj}, ln_f, lm_head (no bias).
Model gpt_train(const GptConfig &c = {}, uint64_t seed = 0);

/// lstm_train: a stacked LSTM classifying a sequence by its last state.
struct LstmConfig {
  int64_t input = 128, hidden = 256, layers = 2, seq = 64, batch = 32;
  int64_t classes = 10;
  /// Input 4, hidden 8, 2 layers, sequence 5, batch 2, 3 classes.
  static LstmConfig reduced();
};
/// Inputs "x" [seq, batch, input] (time first) and "labels"; output 0 the
/// mean cross-entropy of head(h_T of the last layer). Names: lstm.weight_ih_l0
/// ..., head.
Model lstm_train(const LstmConfig &c = {}, uint64_t seed = 0);

/// dcgan_step: the DCGAN generator and discriminator of BENCHMARKS.md.
struct DcganConfig {
  /// Latent size, generator / discriminator base widths, image channels.
  int64_t nz = 100, ngf = 64, ndf = 64, channels = 3, batch = 64;
  /// nz 8, ngf 4, ndf 4, batch 2 (the images stay 32x32).
  static DcganConfig reduced();
};
/// Both players of one GAN step. Model::loss is the discriminator's loss.
struct DcganModel : Model {
  /// BCE(D(real), 1) + BCE(D(G(z)), 0): output 0, to train `disc_params`.
  Tensor d_loss;
  /// BCE(D(G(z)), 1): output 1, to train `gen_params` (the same D(G(z))
  /// logits: a step differentiates d_loss for D and g_loss for G only).
  Tensor g_loss;
  /// The generated images [batch, channels, 32, 32]: output 2.
  Tensor fake;
  NamedTensors gen_params, disc_params;
};
/// Inputs "z" [batch, nz, 1, 1] and "real" [batch, channels, 32, 32].
/// Parameters gen.N.weight and disc.N.weight (Sequential indices, as the
/// PyTorch DCGAN example); BN in training mode, so D's running statistics
/// update once for the real and once for the fake batch.
DcganModel dcgan_step(const DcganConfig &c = {}, uint64_t seed = 0);

/// deep_mlp_memory: depth blocks of Linear(width -> width) + ReLU.
struct DeepMlpConfig {
  int64_t depth = 16, width = 256, batch = 4096;
  /// Depth 4, width 8, batch 4.
  static DeepMlpConfig reduced();
};
/// Inputs "x" and "target" [batch, width]; output 0 the MSE loss. Names
/// blocks.N.weight (a Sequential of Linear and ReLU: blocks.0, blocks.2...).
Model deep_mlp_memory(const DeepMlpConfig &c = {}, uint64_t seed = 0);

/// The workload ids of BENCHMARKS.md, in its order.
const std::vector<std::string> &workload_names();
/// Builds the workload \p name at full or reduced size (dcgan_step as its
/// Model part); throws kiln::Error for an unknown name, listing the ids.
Model build_workload(const std::string &name, bool reduced, uint64_t seed = 0);

} // namespace kiln::models
