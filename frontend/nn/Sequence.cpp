/// \file
/// LSTM (unrolled through kiln::lstm_layer) and multi-head attention
/// (kiln::multi_head_attention over four Linear projections).
// SPDX-License-Identifier: Apache-2.0
#include "frontend/nn/Sequence.h"

#include "frontend/Init.h"
#include "ir/Error.h"

#include <cmath>

namespace kiln::nn {

namespace {
TensorType f32(Shape s) { return {DType::F32, std::move(s)}; }
} // namespace

LSTM::LSTM(Parent parent, const std::string &name, int64_t input_size,
           int64_t hidden_size, int64_t num_layers, bool has_bias)
    : Module(parent, name), input_size(input_size), hidden_size(hidden_size),
      num_layers(num_layers) {
  if (input_size <= 0 || hidden_size <= 0 || num_layers <= 0)
    throw Error(describe() + ": input_size, hidden_size and num_layers must "
                             "be positive");
  double k = 1.0 / std::sqrt(double(hidden_size));
  Initializer u = init::uniform(-k, k);
  int64_t g4 = 4 * hidden_size;
  for (int64_t l = 0; l < num_layers; ++l) {
    std::string sfx = "_l" + std::to_string(l);
    int64_t in = l == 0 ? input_size : hidden_size;
    weight_ih.push_back(
        register_parameter("weight_ih" + sfx, f32({g4, in}), u));
    weight_hh.push_back(
        register_parameter("weight_hh" + sfx, f32({g4, hidden_size}), u));
    if (has_bias) {
      bias_ih.push_back(register_parameter("bias_ih" + sfx, f32({g4}), u));
      bias_hh.push_back(register_parameter("bias_hh" + sfx, f32({g4}), u));
    } else {
      bias_ih.emplace_back();
      bias_hh.emplace_back();
    }
  }
}

LstmOutput LSTM::run(Tensor x, const std::vector<LstmState> &init) {
  if (!x.valid() || x.rank() != 3 || x.dim(2) != input_size)
    throw Error(describe() + ": expects input [T, B, " +
                std::to_string(input_size) + "], got " +
                (x.valid() ? type_str(x.type()) : std::string("(null)")));
  if (!init.empty() && int64_t(init.size()) != num_layers)
    throw Error(describe() + ": init holds " + std::to_string(init.size()) +
                " states for " + std::to_string(num_layers) + " layers");
  int64_t t_len = x.dim(0), batch = x.dim(1);
  LstmOutput out;
  Tensor layer_in = x;
  for (int64_t l = 0; l < num_layers; ++l) {
    LstmState s0;
    if (init.empty()) {
      Tensor zero = graph().constant(0.0, f32({batch, hidden_size}));
      s0 = {zero, zero};
    } else {
      s0 = init[size_t(l)];
    }
    LstmState fin;
    out.outputs =
        lstm_layer(layer_in, s0, weight_ih[size_t(l)], weight_hh[size_t(l)],
                   bias_ih[size_t(l)], bias_hh[size_t(l)], &fin);
    out.final_states.push_back(fin);
    if (l + 1 == num_layers)
      break;
    std::vector<Tensor> steps;
    for (const Tensor &h : out.outputs)
      steps.push_back(reshape(h, {1, batch, hidden_size}));
    layer_in = t_len == 1 ? steps[0] : concat(steps, 0);
  }
  return out;
}

Tensor LSTM::forward(Tensor x) {
  LstmOutput o = run(x);
  std::vector<Tensor> steps;
  for (const Tensor &h : o.outputs)
    steps.push_back(reshape(h, {1, h.dim(0), h.dim(1)}));
  return steps.size() == 1 ? steps[0] : concat(steps, 0);
}

MultiheadAttention::MultiheadAttention(Parent parent, const std::string &name,
                                       int64_t embed_dim, int64_t num_heads,
                                       bool bias)
    : Module(parent, name), q_proj(*this, "q_proj", embed_dim, embed_dim, bias),
      k_proj(*this, "k_proj", embed_dim, embed_dim, bias),
      v_proj(*this, "v_proj", embed_dim, embed_dim, bias),
      out_proj(*this, "out_proj", embed_dim, embed_dim, bias),
      embed_dim(embed_dim), num_heads(num_heads) {
  if (num_heads <= 0 || embed_dim % num_heads != 0)
    throw Error(describe() + ": embed_dim " + std::to_string(embed_dim) +
                " must be divisible by num_heads " + std::to_string(num_heads));
}

Tensor MultiheadAttention::operator()(Tensor query, Tensor key, Tensor value,
                                      bool causal) {
  AttentionWeights w{q_proj.weight,   q_proj.bias,   k_proj.weight,
                     k_proj.bias,     v_proj.weight, v_proj.bias,
                     out_proj.weight, out_proj.bias, path()};
  return multi_head_attention(query, key, value, w, num_heads, causal);
}

} // namespace kiln::nn
