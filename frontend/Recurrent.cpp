/// \file
/// The LSTM cell and an LSTM layer unrolled over time, PyTorch's gate order
/// and weight layout. The layer multiplies every time step's input by w_ih
/// in one matmul up front; only the recurrent h @ w_hh^T stays per step.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Layers.h"

#include "ir/Error.h"

namespace kiln {

namespace {

/// Throws unless the weights fit an LSTM of hidden size \p hidden and
/// input size \p input.
void check_lstm(const Tensor &w_ih, const Tensor &w_hh, const Tensor &b_ih,
                const Tensor &b_hh, int64_t input, int64_t hidden, SL loc) {
  auto shaped = [](const Tensor &t, Shape s) {
    return !t.valid() || t.shape() == s;
  };
  if (!w_ih.valid() || !w_hh.valid() || !shaped(w_ih, {4 * hidden, input}) ||
      !shaped(w_hh, {4 * hidden, hidden}) || !shaped(b_ih, {4 * hidden}) ||
      !shaped(b_hh, {4 * hidden}))
    throw Error(loc.prefix() + "lstm: for input size " + std::to_string(input) +
                " and hidden size " + std::to_string(hidden) +
                " need w_ih [4H, I], w_hh [4H, H] and "
                "biases [4H], got w_ih " +
                (w_ih.valid() ? type_str(w_ih.type()) : "null") + ", w_hh " +
                (w_hh.valid() ? type_str(w_hh.type()) : "null"));
}

void check_state(const LstmState &s, int64_t batch, SL loc) {
  if (!s.h.valid() || !s.c.valid() || s.h.rank() != 2 ||
      s.h.shape() != s.c.shape() || s.h.dim(0) != batch)
    throw Error(loc.prefix() +
                "lstm: the state h and c must both be [B, H] "
                "with B = " +
                std::to_string(batch));
}

/// One step given the input part of the gates, \p gx = x @ w_ih^T (+ b_ih):
/// adds the recurrent part and applies the gates.
LstmState step(Tensor gx, LstmState s, Tensor w_hh_t, Tensor b_hh, SL loc) {
  Tensor gates = add(gx, matmul(s.h, w_hh_t, loc), loc);
  if (b_hh.valid())
    gates = add(gates, b_hh, loc);
  int64_t h = s.h.dim(1);
  Tensor i = sigmoid(slice_axis(gates, 1, 0, h, loc), loc);
  Tensor f = sigmoid(slice_axis(gates, 1, h, 2 * h, loc), loc);
  Tensor g = tanh(slice_axis(gates, 1, 2 * h, 3 * h, loc), loc);
  Tensor o = sigmoid(slice_axis(gates, 1, 3 * h, 4 * h, loc), loc);
  Tensor c = add(mul(f, s.c, loc), mul(i, g, loc), loc);
  return {mul(o, tanh(c, loc), loc), c};
}

} // namespace

LstmState lstm_cell(Tensor x, LstmState state, Tensor w_ih, Tensor w_hh,
                    Tensor b_ih, Tensor b_hh, SL loc) {
  if (x.rank() != 2)
    throw Error(loc.prefix() + "lstm_cell: x must be [B, I], got " +
                type_str(x.type()));
  check_state(state, x.dim(0), loc);
  check_lstm(w_ih, w_hh, b_ih, b_hh, x.dim(1), state.h.dim(1), loc);
  Tensor gx = matmul(x, transpose_last2(w_ih, loc), loc);
  if (b_ih.valid())
    gx = add(gx, b_ih, loc);
  return step(gx, state, transpose_last2(w_hh, loc), b_hh, loc);
}

std::vector<Tensor> lstm_layer(Tensor x, LstmState init, Tensor w_ih,
                               Tensor w_hh, Tensor b_ih, Tensor b_hh,
                               LstmState *final_state, SL loc) {
  if (x.rank() != 3)
    throw Error(loc.prefix() +
                "lstm_layer: x must be [T, B, I] (time "
                "first), got " +
                type_str(x.type()));
  int64_t steps = x.dim(0), batch = x.dim(1), input = x.dim(2);
  check_state(init, batch, loc);
  int64_t hidden = init.h.dim(1);
  check_lstm(w_ih, w_hh, b_ih, b_hh, input, hidden, loc);
  // All steps' input gates at once: [T*B, I] @ [I, 4H] -> [T, B, 4H].
  Tensor gx = matmul(reshape(x, {steps * batch, input}, loc),
                     transpose_last2(w_ih, loc), loc);
  if (b_ih.valid())
    gx = add(gx, b_ih, loc);
  gx = reshape(gx, {steps, batch, 4 * hidden}, loc);
  Tensor w_hh_t = transpose_last2(w_hh, loc);
  std::vector<Tensor> outputs;
  LstmState s = init;
  for (int64_t t = 0; t < steps; ++t) {
    Tensor gx_t =
        reshape(slice_axis(gx, 0, t, t + 1, loc), {batch, 4 * hidden}, loc);
    s = step(gx_t, s, w_hh_t, b_hh, loc);
    outputs.push_back(s.h);
  }
  if (final_state)
    *final_state = s;
  return outputs;
}

} // namespace kiln
