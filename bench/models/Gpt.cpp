/// \file
/// gpt_train: a decoder-only transformer (token + learned position
/// embeddings, pre-LayerNorm blocks with causal multi-head attention and a
/// GELU(tanh) MLP, final LayerNorm, untied LM head) and its next-token loss.
// SPDX-License-Identifier: Apache-2.0
#include "bench/models/Models.h"

#include "bench/models/ModelUtil.h"
#include "frontend/Losses.h"
#include "frontend/nn/Sequence.h"

namespace kiln::models {

using namespace detail;

GptConfig GptConfig::reduced() {
  GptConfig c;
  c.vocab = 32;
  c.d_model = 16;
  c.heads = 2;
  c.layers = 2;
  c.mlp_hidden = 32;
  c.batch = 2;
  c.seq = 8;
  return c;
}

namespace {

/// x + attn(ln_1(x)), then + mlp(ln_2(x)); attention is causal.
class Block : public nn::Module {
public:
  Block(nn::Parent parent, const std::string &name, const GptConfig &c)
      : Module(parent, name), ln_1(*this, "ln_1", {c.d_model}),
        attn(*this, "attn", c.d_model, c.heads),
        ln_2(*this, "ln_2", {c.d_model}), mlp(*this, "mlp") {
    mlp.add_named<nn::Linear>("fc", c.d_model, c.mlp_hidden);
    mlp.add_named<nn::GELU>("gelu", GeluForm::Tanh);
    mlp.add_named<nn::Linear>("proj", c.mlp_hidden, c.d_model);
  }
  const char *kind() const override { return "Block"; }
  Tensor forward(Tensor x) override {
    Tensor h = ln_1(x);
    x = x + attn(h, h, h, /*causal=*/true);
    return x + mlp(ln_2(x));
  }

  nn::LayerNorm ln_1;
  nn::MultiheadAttention attn;
  nn::LayerNorm ln_2;
  nn::Sequential mlp;
};

/// The model root: tokens [B, T] -> logits [B, T, vocab].
class Gpt : public nn::Module {
public:
  Gpt(Graph &g, const GptConfig &c)
      : Module(g, ""), tok_emb(*this, "tok_emb", c.vocab, c.d_model),
        pos_emb(*this, "pos_emb", c.seq, c.d_model), blocks(*this, "blocks"),
        ln_f(*this, "ln_f", {c.d_model}),
        lm_head(*this, "lm_head", c.d_model, c.vocab, /*bias=*/false) {
    for (int64_t i = 0; i < c.layers; ++i)
      blocks.add<Block>(c);
  }
  const char *kind() const override { return "Gpt"; }
  Tensor forward(Tensor tokens) override {
    int64_t t = tokens.dim(1);
    Tensor pos = iota(graph(), {DType::I64, {t}});
    Tensor x = tok_emb(tokens) + pos_emb(pos);
    return lm_head(ln_f(blocks(x)));
  }

  nn::Embedding tok_emb, pos_emb;
  nn::Sequential blocks;
  nn::LayerNorm ln_f;
  nn::Linear lm_head;
};

} // namespace

Model gpt_train(const GptConfig &c, uint64_t seed) {
  Model m = start("gpt_train", seed);
  Gpt net(*m.graph, c);
  Tensor tokens = add_input(m, "tokens", i64({c.batch, c.seq}));
  Tensor targets = add_input(m, "targets", i64({c.batch, c.seq}));
  Tensor logits = net(tokens);
  Tensor loss = cross_entropy(reshape(logits, {c.batch * c.seq, c.vocab}),
                              reshape(targets, {c.batch * c.seq}));
  finish(m, {{"loss", loss}}, {&net}, /*is_loss=*/true);
  return m;
}

} // namespace kiln::models
