/// \file
/// Scaled dot-product attention and multi-head attention from matmul,
/// softmax and select. Masked scores become -inf before the softmax, so a
/// masked key gets exactly zero weight; a query with every key masked gets
/// NaN, as PyTorch's math attention does.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Layers.h"

#include "ir/Error.h"

#include <cmath>
#include <limits>

namespace kiln {

namespace {

void check_sdpa(const Tensor &q, const Tensor &k, const Tensor &v, SL loc) {
  auto fail = [&](const std::string &why) {
    throw Error(loc.prefix() + "scaled_dot_product_attention: " + why + " (q " +
                type_str(q.type()) + ", k " + type_str(k.type()) + ", v " +
                type_str(v.type()) + ")");
  };
  if (q.rank() < 2 || k.rank() < 2 || v.rank() < 2)
    fail("q, k and v need rank >= 2 ([..., L, D])");
  if (!is_float(q.dtype()))
    fail("needs floating-point tensors");
  if (q.dim(-1) != k.dim(-1))
    fail("q and k must have the same last dimension");
  if (k.dim(-2) != v.dim(-2))
    fail("k and v must have the same sequence length");
}

/// The bool [Lq, Lk] mask of causal attention: query i sees key j when
/// j <= i + Lk - Lq.
Tensor causal_mask(Graph &g, int64_t lq, int64_t lk, SL loc) {
  TensorType t{DType::I64, {lq, lk}};
  Tensor row = iota(g, t, 0, loc), col = iota(g, t, 1, loc);
  return le(col, add(row, scalar_like(row, double(lk - lq), loc), loc), loc);
}

/// x @ w^T + b for a PyTorch [out, in] weight; \p b may be null.
Tensor project(Tensor x, Tensor w, Tensor b, const char *what, SL loc) {
  if (!w.valid() || w.rank() != 2)
    throw Error(loc.prefix() + "multi_head_attention: " + what +
                " must be an [out, in] matrix");
  Tensor y = matmul(x, transpose_last2(w, loc), loc);
  return b.valid() ? add(y, b, loc) : y;
}

/// [B, L, E] -> [B, heads, L, E / heads].
Tensor split_heads(Tensor x, int64_t heads, SL loc) {
  Tensor r = reshape(x, {x.dim(0), x.dim(1), heads, x.dim(2) / heads}, loc);
  return transpose(r, {0, 2, 1, 3}, loc);
}

/// [B, heads, L, Dh] -> [B, L, heads * Dh].
Tensor merge_heads(Tensor x, SL loc) {
  Tensor t = transpose(x, {0, 2, 1, 3}, loc);
  return reshape(t, {t.dim(0), t.dim(1), t.dim(2) * t.dim(3)}, loc);
}

/// scaled_dot_product_attention, naming the scores and probabilities
/// NAME.scores and NAME.probs when \p name is not empty.
Tensor attention(Tensor q, Tensor k, Tensor v, bool causal, Tensor mask,
                 const std::string &name, SL loc) {
  Graph &g = graph_of({q, k, v}, "scaled_dot_product_attention", loc);
  check_sdpa(q, k, v, loc);
  double scale = 1.0 / std::sqrt(double(q.dim(-1)));
  Tensor s = mul(matmul(q, transpose_last2(k, loc), loc),
                 scalar_like(q, scale, loc), loc);
  Tensor keep = mask;
  if (keep.valid() && keep.dtype() != DType::Bool)
    throw Error(loc.prefix() +
                "scaled_dot_product_attention: the mask must "
                "be bool (true = attend), got " +
                type_str(keep.type()));
  if (causal) {
    Tensor c = causal_mask(g, q.dim(-2), k.dim(-2), loc);
    keep = keep.valid() ? logical_and(keep, c, loc) : c;
  }
  if (keep.valid()) {
    double inf = std::numeric_limits<double>::infinity();
    s = select(keep, s, scalar_like(s, -inf, loc), loc);
  }
  if (!name.empty())
    s.named(name + ".scores");
  Tensor p = softmax(s, -1, loc);
  if (!name.empty())
    p.named(name + ".probs");
  return matmul(p, v, loc);
}

} // namespace

Tensor scaled_dot_product_attention(Tensor q, Tensor k, Tensor v, bool causal,
                                    Tensor mask, SL loc) {
  return attention(q, k, v, causal, mask, "", loc);
}

Tensor multi_head_attention(Tensor query, Tensor key, Tensor value,
                            const AttentionWeights &w, int64_t heads,
                            bool causal, SL loc) {
  graph_of({query, key, value}, "multi_head_attention", loc);
  if (query.rank() != 3 || key.rank() != 3 || value.rank() != 3)
    throw Error(loc.prefix() +
                "multi_head_attention: query, key and value "
                "must be [B, L, E], got " +
                type_str(query.type()) + ", " + type_str(key.type()) + ", " +
                type_str(value.type()));
  Tensor q = project(query, w.wq, w.bq, "wq", loc);
  Tensor k = project(key, w.wk, w.bk, "wk", loc);
  Tensor v = project(value, w.wv, w.bv, "wv", loc);
  if (heads < 1 || q.dim(-1) % heads != 0 || v.dim(-1) % heads != 0)
    throw Error(loc.prefix() + "multi_head_attention: the embedding size " +
                std::to_string(q.dim(-1)) +
                " is not divisible by heads = " + std::to_string(heads));
  Tensor o =
      attention(split_heads(q, heads, loc), split_heads(k, heads, loc),
                split_heads(v, heads, loc), causal, Tensor(), w.name, loc);
  return project(merge_heads(o, loc), w.wo, w.bo, "wo", loc);
}

} // namespace kiln
