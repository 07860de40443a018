/// \file
/// Sequence modules: a multi-layer LSTM unrolled over time, and multi-head
/// attention. Parameter names follow PyTorch: `weight_ih_l0`, `bias_hh_l1`
/// for nn.LSTM; `q_proj`, `k_proj`, `v_proj`, `out_proj` Linear children
/// for attention (as fairseq / Hugging Face name them; PyTorch's own
/// nn.MultiheadAttention packs q, k, v into one in_proj_weight).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "frontend/nn/Layers.h"

namespace kiln::nn {

/// What LSTM::run returns.
struct LstmOutput {
  /// The last layer's hidden state at each time step, [B, H] each.
  std::vector<Tensor> outputs;
  /// Each layer's final (h, c), [B, H] each (PyTorch's h_n, c_n, unstacked).
  std::vector<LstmState> final_states;
};

/// PyTorch's nn.LSTM (time first, no projections, unidirectional), unrolled
/// in the static graph: layer l has weight_ih_l{l} [4H, I or H],
/// weight_hh_l{l} [4H, H], bias_ih_l{l} and bias_hh_l{l} [4H], gate order
/// (input, forget, cell, output), every parameter U(+-1/sqrt(H)).
class LSTM : public Module {
public:
  LSTM(Parent parent, const std::string &name, int64_t input_size,
       int64_t hidden_size, int64_t num_layers = 1, bool bias = true);
  const char *kind() const override { return "LSTM"; }

  /// Runs \p x [T, B, input_size]. \p init holds one (h, c) per layer, or
  /// is empty for zero initial states.
  LstmOutput run(Tensor x, const std::vector<LstmState> &init = {});
  /// PyTorch's output: the last layer's hidden states stacked, [T, B, H].
  Tensor forward(Tensor x) override;

  /// Per layer; the biases are null without bias.
  std::vector<Tensor> weight_ih, weight_hh, bias_ih, bias_hh;
  int64_t input_size, hidden_size, num_layers;
};

/// Multi-head attention over batch-first tensors ([B, L, E]; PyTorch's
/// batch_first=True): out_proj(sdpa(q_proj(q), k_proj(k), v_proj(v))) with
/// num_heads heads of E / num_heads each. The projections are Linear
/// modules with Linear's default initialization.
class MultiheadAttention : public Module {
public:
  MultiheadAttention(Parent parent, const std::string &name, int64_t embed_dim,
                     int64_t num_heads, bool bias = true);
  const char *kind() const override { return "MultiheadAttention"; }

  /// Attention of \p query [B, Lq, E] over \p key, \p value [B, Lk, E];
  /// \p causal masks keys after each query position.
  Tensor operator()(Tensor query, Tensor key, Tensor value,
                    bool causal = false);
  using Module::operator();
  /// Self-attention without a mask: (*this)(x, x, x).
  Tensor forward(Tensor x) override { return (*this)(x, x, x); }

  Linear q_proj, k_proj, v_proj, out_proj;
  int64_t embed_dim, num_heads;
};

} // namespace kiln::nn
