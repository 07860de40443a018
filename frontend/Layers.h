/// \file
/// Composite layers built from primitive ops, so autodiff and fusion cover
/// them with no extra rules. Semantics follow PyTorch's functional API
/// unless a comment says otherwise. Every function takes a trailing
/// SourceLoc so shape errors name the user's line.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "frontend/Ops.h"

namespace kiln {

/// exp(x - max) / sum(exp(x - max)) along \p axis (numerically stable).
Tensor softmax(Tensor x, int64_t axis = -1, SL loc = SL::current());
/// x - logsumexp(x) along \p axis (numerically stable).
Tensor log_softmax(Tensor x, int64_t axis = -1, SL loc = SL::current());
/// log(sum(exp(x))) over \p axes, computed as max + log(sum(exp(x - max))).
Tensor logsumexp(Tensor x, std::vector<int64_t> axes, bool keepdims = false,
                 SL loc = SL::current());

/// Normalizes over the last \p normalized_rank axes: (x - mean) /
/// sqrt(var + eps) (biased variance), then * gamma + beta when given (null
/// Tensors skip the affine part).
Tensor layer_norm(Tensor x, Tensor gamma, Tensor beta,
                  int64_t normalized_rank = 1, double eps = 1e-5,
                  SL loc = SL::current());

/// Batch norm over every axis but 1 (channels; NC or NCHW input).
struct BatchNormOut {
  Tensor y;
  /// Training mode: the new running statistics, (1 - momentum) * old +
  /// momentum * batch stat, with the unbiased batch variance, as PyTorch.
  /// Null in inference mode.
  Tensor running_mean, running_var;
};
/// Training mode: normalizes with the batch mean and biased batch variance.
BatchNormOut batch_norm_train(Tensor x, Tensor gamma, Tensor beta,
                              Tensor running_mean, Tensor running_var,
                              double momentum = 0.1, double eps = 1e-5,
                              SL loc = SL::current());
/// Inference mode: normalizes with the running statistics.
Tensor batch_norm_infer(Tensor x, Tensor gamma, Tensor beta,
                        Tensor running_mean, Tensor running_var,
                        double eps = 1e-5, SL loc = SL::current());

enum class GeluForm { Erf, Tanh };
/// x * Phi(x) (Erf), or PyTorch's tanh approximation (Tanh).
Tensor gelu(Tensor x, GeluForm form = GeluForm::Erf, SL loc = SL::current());
/// x for x > 0, slope * x otherwise.
Tensor leaky_relu(Tensor x, double slope = 0.01, SL loc = SL::current());

/// Inverted dropout: keeps each element with probability 1 - p and scales
/// it by 1 / (1 - p). The mask is random_uniform(seed, step) >= p: Philox
/// bits of (seed, step, element), identical on every backend. \p seed and
/// \p step are i64 scalars (inputs of the step function). p = 0 returns x.
Tensor dropout(Tensor x, double p, Tensor seed, Tensor step,
               SL loc = SL::current());

/// Rows of \p table ([V, D]) picked by integer \p ids: ids.shape + [D].
Tensor embedding(Tensor table, Tensor ids, SL loc = SL::current());

/// softmax(q k^T / sqrt(d) [+ mask]) v for q [..., Lq, D], k [..., Lk, D],
/// v [..., Lk, Dv]. \p causal masks keys after the query's position
/// (query i sees keys j <= i + Lk - Lq). \p mask, when given, is a bool
/// tensor broadcastable to [..., Lq, Lk]: true = attend.
Tensor scaled_dot_product_attention(Tensor q, Tensor k, Tensor v,
                                    bool causal = false, Tensor mask = {},
                                    SL loc = SL::current());

/// Weights of multi-head attention, PyTorch layout: each projection weight
/// is [out, in] and applied as x @ w^T + b (biases may be null).
struct AttentionWeights {
  Tensor wq, bq, wk, bk, wv, bv, wo, bo;
  /// When set ("blocks.0.attn"), the scores and the softmax get the value
  /// names NAME.scores and NAME.probs, which probes can ask for
  /// (CompileOptions::probes, docs/debugging.md).
  std::string name;
};
/// Multi-head attention of \p query [B, Lq, E] over \p key/\p value
/// [B, Lk, E] with \p heads heads (E divisible by heads) -> [B, Lq, E].
Tensor multi_head_attention(Tensor query, Tensor key, Tensor value,
                            const AttentionWeights &w, int64_t heads,
                            bool causal = false, SL loc = SL::current());

/// One LSTM step, PyTorch's gate order (input, forget, cell, output):
/// gates = x @ w_ih^T + b_ih + h @ w_hh^T + b_hh, with w_ih [4H, I],
/// w_hh [4H, H]; c' = f*c + i*g, h' = o*tanh(c'). Biases may be null.
struct LstmState {
  Tensor h, c;
};
LstmState lstm_cell(Tensor x, LstmState state, Tensor w_ih, Tensor w_hh,
                    Tensor b_ih, Tensor b_hh, SL loc = SL::current());
/// An LSTM layer unrolled over time: \p x is [T, B, I] (time first), the
/// initial state [B, H] each. Returns the T outputs [B, H] and the final
/// state in \p final_state.
std::vector<Tensor> lstm_layer(Tensor x, LstmState init, Tensor w_ih,
                               Tensor w_hh, Tensor b_ih, Tensor b_hh,
                               LstmState *final_state = nullptr,
                               SL loc = SL::current());

/// 1-D convolution for temporal CNNs: x [N, C, L], w [O, C/groups, K],
/// lowered to conv2d with a unit height. Causal dilated convolutions pad on
/// the left only: pass padding_left = dilation * (K - 1), padding_right = 0.
Tensor conv1d(Tensor x, Tensor w, int64_t stride = 1, int64_t padding_left = 0,
              int64_t padding_right = 0, int64_t dilation = 1,
              int64_t groups = 1, SL loc = SL::current());

} // namespace kiln
