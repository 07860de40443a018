/// \file
/// remat's analysis: the forward/backward split of a training step, op
/// costs, segmentings of the forward order and the keep sets built from
/// them (passes/RematImpl.h).
// SPDX-License-Identifier: Apache-2.0
#include "passes/RematImpl.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

namespace kiln::remat_detail {

Cost cost_of(OpKind op) {
  switch (op) {
  case OpKind::Constant:
  case OpKind::Iota:
  case OpKind::Reshape:
  case OpKind::Transpose:
  case OpKind::BroadcastTo:
  case OpKind::Slice:
    return Cost::Free;
  case OpKind::ReduceSum:
  case OpKind::ReduceMax:
  case OpKind::ReduceMin:
  case OpKind::ReduceMean:
  case OpKind::Argmax:
  case OpKind::Argmin:
  case OpKind::MaxPool2d:
  case OpKind::AvgPool2d:
  case OpKind::ScatterAdd:
    return Cost::Medium;
  case OpKind::Matmul:
  case OpKind::Conv2d:
  case OpKind::Conv2dTranspose:
  case OpKind::Conv2dWeightGrad:
  case OpKind::MaxPool2dGrad:
    return Cost::Expensive;
  default:
    return Cost::Cheap;
  }
}

double node_flops(const Node &n) {
  double out = double(n.type().numel());
  auto in = [&](size_t i) { return double(n.operand(i)->type().numel()); };
  switch (n.op()) {
  case OpKind::Matmul: {
    const Shape &a = n.operand(0)->type().shape;
    return 2 * out * double(a.empty() ? 1 : a.back());
  }
  case OpKind::Conv2d:
  case OpKind::Conv2dWeightGrad: {
    // conv2d: out * (C/g*KH*KW) = out * numel(w)/O; the weight gradient
    // does the same products with its output and the gradient swapped.
    const Shape &w =
        n.op() == OpKind::Conv2d ? n.operand(1)->type().shape : n.type().shape;
    double per = w.empty() || w[0] == 0 ? 0 : double(numel(w)) / double(w[0]);
    double outs = n.op() == OpKind::Conv2d ? out : in(1);
    return 2 * outs * per;
  }
  case OpKind::Conv2dTranspose: {
    const Shape &w = n.operand(1)->type().shape;
    return 2 * in(0) * (w.empty() || w[0] == 0 ? 0 : numel(w) / double(w[0]));
  }
  default:
    break;
  }
  if (cost_of(n.op()) == Cost::Medium && n.num_operands() > 0)
    return in(0);
  return cost_of(n.op()) == Cost::Free ? 0 : out;
}

namespace {

bool is_view(OpKind op) {
  return op == OpKind::Reshape || op == OpKind::Transpose ||
         op == OpKind::BroadcastTo || op == OpKind::Slice;
}

/// The nodes \p loss depends on.
std::unordered_set<const Node *> ancestors(const Value *loss) {
  std::unordered_set<const Node *> seen;
  std::vector<const Node *> work;
  if (loss->def())
    work.push_back(loss->def());
  while (!work.empty()) {
    const Node *n = work.back();
    work.pop_back();
    if (!seen.insert(n).second)
      continue;
    for (const Value *o : n->operands())
      if (o->def())
        work.push_back(o->def());
  }
  return seen;
}

/// Fills bytes, weight and cut_bytes once values and uses are known.
void measure(const Function &f, Analysis &a) {
  size_t nv = a.values.size();
  a.bytes.assign(nv, 0);
  for (size_t i = 0; i < nv; ++i) {
    const Value *v = a.values[i];
    const Node *d = v->def();
    const Value *src = is_view(d->op()) ? d->operand(0) : nullptr;
    bool free = d->op() == OpKind::Constant || d->op() == OpKind::Iota ||
                (src && (src->is_param() || a.bytes[a.id.at(src)] == 0));
    a.bytes[i] = free ? 0 : int64_t(v->type().bytes());
  }
  a.weight.assign(a.forward.size(), 0);
  a.cut_bytes.assign(a.forward.size() + 1, 0);
  for (size_t i = 0; i < nv; ++i) {
    const Value *v = a.values[i];
    bool into_contraction = false;
    for (const Use &u : v->uses())
      into_contraction =
          into_contraction || (u.user && cost_of(u.user->op()) >= Cost::Medium);
    bool materialized = a.saved[i] || v->uses().size() > 1 || into_contraction;
    if (materialized && !is_view(v->def()->op()))
      a.weight[a.def_pos[i]] += a.bytes[i];
    if (a.last_use[i] > a.def_pos[i]) {
      a.cut_bytes[a.def_pos[i]] += a.bytes[i];
      a.cut_bytes[a.last_use[i]] -= a.bytes[i];
    }
  }
  for (size_t p = 1; p < a.forward.size(); ++p)
    a.cut_bytes[p] += a.cut_bytes[p - 1];
  a.cut_bytes.pop_back();
  (void)f;
}

} // namespace

Analysis analyze(const Function &f) {
  Analysis a;
  if (f.results().empty() || f.result(0)->type().rank() != 0 ||
      !is_float(f.result(0)->type().dtype) || !f.result(0)->def())
    return a;
  std::unordered_set<const Node *> fwd = ancestors(f.result(0));
  const Node *loss = f.result(0)->def();
  bool after_loss = false;
  std::vector<Node *> backward;
  for (Node *n : f.nodes()) {
    if (fwd.count(n)) {
      a.pos[n] = int(a.forward.size());
      a.forward.push_back(n);
    } else if (after_loss) {
      backward.push_back(n);
    }
    after_loss = after_loss || n == loss;
  }
  for (Node *n : a.forward)
    for (size_t r = 0; r < n->num_results(); ++r) {
      a.id[n->result(r)] = int(a.values.size());
      a.values.push_back(n->result(r));
      a.def_pos.push_back(a.pos[n]);
    }
  size_t nv = a.values.size();
  a.saved.assign(nv, false);
  a.pinned.assign(nv, false);
  a.last_use.assign(nv, -1);
  for (size_t i = 0; i < nv; ++i)
    for (const Use &u : a.values[i]->uses()) {
      if (!u.user) {
        a.pinned[i] = true;
        continue;
      }
      auto it = a.pos.find(u.user);
      if (it != a.pos.end())
        a.last_use[i] = std::max(a.last_use[i], it->second);
    }
  std::unordered_set<const Node *> back(backward.begin(), backward.end());
  for (size_t i = 0; i < nv; ++i)
    for (const Use &u : a.values[i]->uses())
      if (u.user && back.count(u.user))
        a.saved[i] = true;
  measure(f, a);
  a.is_training_step =
      !backward.empty() && std::count(a.saved.begin(), a.saved.end(), true) > 0;
  return a;
}

KeepSet keep_all(const Analysis &a) {
  KeepSet keep(a.values.size(), false);
  for (size_t i = 0; i < keep.size(); ++i)
    keep[i] = a.saved[i] || a.pinned[i];
  return keep;
}

namespace {

/// Keeps \p v's value, or the value a chain of views of it reads (a view
/// of a kept value is recomputed for free). Constants are never kept.
void keep_root(const Analysis &a, const Value *v, KeepSet &keep) {
  while (!v->is_param() && is_view(v->def()->op()))
    v = v->def()->operand(0);
  if (v->is_param() || cost_of(v->def()->op()) == Cost::Free)
    return;
  keep[a.id.at(v)] = true;
}

} // namespace

void keep_cheap_policy(const Analysis &a, int from, KeepSet &keep, int window) {
  for (size_t i = 0; i < a.values.size(); ++i)
    keep[i] = keep[i] || a.pinned[i];
  for (size_t s = a.values.size(); s-- > 0;) {
    if (!a.saved[s] || a.def_pos[s] < from || keep[s])
      continue;
    int origin = a.def_pos[s];
    std::vector<const Value *> work = {a.values[s]};
    std::unordered_set<const Value *> seen;
    while (!work.empty()) {
      const Value *v = work.back();
      work.pop_back();
      if (v->is_param() || !seen.insert(v).second)
        continue;
      int i = a.id.at(v);
      Cost c = cost_of(v->def()->op());
      bool far = c == Cost::Cheap && origin - a.def_pos[i] > window;
      if (keep[i] || c >= Cost::Medium || far) {
        keep[i] = keep[i] || c != Cost::Free;
        continue;
      }
      for (const Value *o : v->def()->operands())
        work.push_back(o);
    }
  }
}

namespace {

std::vector<int64_t> weight_prefix(const Analysis &a) {
  std::vector<int64_t> prefix(a.forward.size() + 1, 0);
  for (size_t p = 0; p < a.forward.size(); ++p)
    prefix[p + 1] = prefix[p] + a.weight[p];
  return prefix;
}

/// Splits of positions [lo, hi) into pieces weighing at most \p limit each,
/// with the least total checkpoint bytes (a dynamic program; no split
/// after hi - 1). Returns false when no such splitting exists.
bool split_range(const Analysis &a, const std::vector<int64_t> &prefix, int lo,
                 int hi, int64_t limit, std::vector<int> &splits,
                 int64_t &cost) {
  const int64_t kInf = std::numeric_limits<int64_t>::max() / 4;
  int n = hi - lo;
  // dp[j]: least checkpoint bytes with a split after position lo + j - 1.
  std::vector<int64_t> dp(size_t(n) + 1, kInf);
  std::vector<int> from(size_t(n) + 1, -1);
  dp[0] = 0;
  for (int j = 0; j + 1 < n; ++j)
    for (int i = j; i >= 0 && prefix[lo + j + 1] - prefix[lo + i] <= limit; --i)
      if (dp[i] < kInf && dp[i] + a.cut_bytes[lo + j] < dp[j + 1]) {
        dp[j + 1] = dp[i] + a.cut_bytes[lo + j];
        from[j + 1] = i;
      }
  cost = kInf;
  int best_i = -1;
  for (int i = n; i >= 0 && prefix[hi] - prefix[lo + i] <= limit; --i)
    if (dp[i] < cost) {
      cost = dp[i];
      best_i = i;
    }
  splits.clear();
  if (best_i < 0)
    return false;
  for (int i = best_i; i > 0; i = from[i])
    splits.insert(splits.begin(), lo + i - 1);
  return true;
}

} // namespace

std::vector<Segmenting> segmentings(const Analysis &a) {
  int n = int(a.forward.size());
  std::vector<int64_t> prefix = weight_prefix(a);
  std::vector<Segmenting> out;
  if (n < 2 || prefix[n] == 0)
    return out;
  int max_k = std::min(n, 4 * int(std::ceil(std::sqrt(double(n)))) + 4);
  for (int k = 1; k <= max_k; ++k) {
    Segmenting s;
    int64_t cost = 0;
    if (!split_range(a, prefix, 0, n, (prefix[n] + k - 1) / k, s.splits, cost))
      continue;
    int64_t largest = 0;
    int start = 0;
    for (size_t j = 0; j <= s.splits.size(); ++j) {
      int end = j < s.splits.size() ? s.splits[j] + 1 : n;
      largest = std::max(largest, prefix[end] - prefix[start]);
      start = end;
    }
    s.estimate = cost + largest;
    if (out.empty() || out.back().splits != s.splits)
      out.push_back(std::move(s));
  }
  return out;
}

std::vector<int> nested_groups(const Analysis &a,
                               const std::vector<int> &splits, int pieces) {
  std::vector<int> group(a.values.size(), -1);
  std::vector<int64_t> prefix = weight_prefix(a);
  int lo = 0, next_group = 0;
  for (int s : splits) {
    int hi = s + 1;
    std::vector<int> sub;
    int64_t cost = 0;
    int64_t limit = (prefix[hi] - prefix[lo] + pieces - 1) / pieces;
    if (hi - lo > 2 && split_range(a, prefix, lo, hi, limit, sub, cost)) {
      sub.push_back(s); // the piece before the segment's own checkpoint
      size_t piece = 0; // values are in position order
      for (size_t i = 0; i < a.values.size(); ++i) {
        int d = a.def_pos[i];
        if (d < lo || d >= hi)
          continue;
        while (sub[piece] < d)
          ++piece;
        bool crosses = false;
        for (int t : sub)
          crosses = crosses || (d <= t && a.last_use[i] > t && t != s);
        if (!crosses)
          group[i] = next_group + int(piece);
      }
      next_group += int(sub.size());
    }
    lo = hi;
  }
  return group;
}

KeepSet segment_keep(const Analysis &a, const std::vector<int> &splits,
                     bool cheap_tail) {
  KeepSet keep(a.values.size(), false);
  for (int s : splits)
    for (size_t i = 0; i < a.values.size(); ++i)
      if (a.def_pos[i] <= s && a.last_use[i] > s)
        keep_root(a, a.values[i], keep);
  int tail = splits.empty() ? 0 : splits.back() + 1;
  if (cheap_tail) {
    keep_cheap_policy(a, tail, keep, kCheapWindow);
    return keep;
  }
  for (size_t i = 0; i < a.values.size(); ++i)
    if (a.pinned[i] || (a.saved[i] && a.def_pos[i] >= tail))
      keep[i] = true;
  return keep;
}

} // namespace kiln::remat_detail
