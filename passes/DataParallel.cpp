/// \file
/// data-parallel: all-reduce the gradients of a training step in buckets
/// (see DataParallel.h).
///
/// Algorithm:
///  1. Find the gradients (`grad.NAME` for each {param} `%NAME`) and sort
///     them by the position of their definition: the backward pass computes
///     the last layer's first.
///  2. Fill buckets in that order. A bucket closes when it reaches the byte
///     limit, when the dtype changes, or when the next gradient is defined
///     after the first use of one already in it (its start must precede
///     every wait).
///  3. Insert each bucket's all_reduce_start after its last definition;
///     then, for each gradient, an all_reduce_wait before its first use,
///     and point every other use at the wait's result.
// SPDX-License-Identifier: Apache-2.0
#include "passes/DataParallel.h"

#include "ir/Error.h"
#include "ir/OpRegistry.h"
#include "passes/PassManager.h"

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <unordered_map>

namespace kiln {

namespace {

constexpr size_t kEnd = std::numeric_limits<size_t>::max();

struct Bucket {
  std::vector<Value *> grads;
  int64_t bytes = 0;
  size_t last_def = 0;     ///< position of the last definition
  size_t first_use = kEnd; ///< earliest use of any member (kEnd: results)
};

/// The position of the first node of \p pos that uses \p v (kEnd when
/// only the function's results and new nodes do).
size_t first_use(const Value *v,
                 const std::unordered_map<const Node *, size_t> &pos) {
  size_t best = kEnd;
  for (const Use &u : v->uses())
    if (auto it = pos.find(u.user); u.user && it != pos.end())
      best = std::min(best, it->second);
  return best;
}

std::string unique_name(const Function &f, const std::string &base) {
  std::string name = base;
  for (int i = 1; f.find_value(name); ++i)
    name = base + "." + std::to_string(i);
  return name;
}

std::vector<Bucket>
make_buckets(std::vector<Value *> grads,
             const std::unordered_map<const Node *, size_t> &pos,
             int64_t limit) {
  std::sort(grads.begin(), grads.end(), [&](const Value *a, const Value *b) {
    return pos.at(a->def()) < pos.at(b->def());
  });
  std::vector<Bucket> buckets;
  for (Value *g : grads) {
    size_t def = pos.at(g->def());
    if (buckets.empty() || buckets.back().bytes >= limit ||
        buckets.back().grads[0]->type().dtype != g->type().dtype ||
        def > buckets.back().first_use)
      buckets.emplace_back();
    Bucket &b = buckets.back();
    b.grads.push_back(g);
    b.bytes += int64_t(g->type().bytes());
    b.last_def = std::max(b.last_def, def);
    b.first_use = std::min(b.first_use, first_use(g, pos));
  }
  return buckets;
}

} // namespace

std::vector<Value *> find_gradients(const Function &f) {
  std::vector<Value *> grads;
  for (const auto &p : f.params())
    if (p->arg_kind() == ArgKind::Param)
      if (Value *g = f.find_value("grad." + p->name()); g && g->def())
        grads.push_back(g);
  return grads;
}

int make_data_parallel(Function &f, const std::vector<Value *> &grads,
                       const DataParallelOptions &options) {
  for (const auto &np : f.body())
    if (op_def(np->op()).communicates)
      throw Error("data-parallel: @" + f.name() + " already has collectives (" +
                  np->op_name() + "); run the pass once");
  for (const Value *g : grads)
    if (!g->def() ||
        (g->type().dtype != DType::F32 && g->type().dtype != DType::F64))
      throw Error("data-parallel: gradient '" + g->name() + "' of @" +
                  f.name() + " is " + type_str(g->type()) +
                  (g->def() ? "" : " (a parameter)") +
                  "; only computed f32 and f64 gradients are reduced");
  std::vector<Node *> nodes = f.nodes();
  std::unordered_map<const Node *, size_t> pos;
  for (size_t i = 0; i < nodes.size(); ++i)
    pos[nodes[i]] = i;
  auto at = [&](size_t p) { return p < nodes.size() ? nodes[p] : nullptr; };
  std::vector<Bucket> buckets = make_buckets(grads, pos, options.bucket_bytes);
  Node *saved = f.insert_point();
  std::vector<Value *> tokens;
  for (size_t b = 0; b < buckets.size(); ++b) {
    f.set_insert_point(at(buckets[b].last_def + 1));
    Node *start = f.add(OpKind::AllReduceStart, buckets[b].grads,
                        {{"bucket", Attribute(int64_t(b))},
                         {"average", Attribute(options.average)}});
    start->result()->set_name(unique_name(f, "bucket" + std::to_string(b)));
    tokens.push_back(start->result());
  }
  for (size_t b = 0; b < buckets.size(); ++b)
    for (Value *g : buckets[b].grads) {
      std::vector<Use> uses = g->uses();
      f.set_insert_point(at(first_use(g, pos)));
      Node *wait = f.add(OpKind::AllReduceWait, {tokens[b], g});
      Value *r = wait->result();
      r->set_name(unique_name(f, g->name() + ".reduced"));
      for (const Use &u : uses) {
        if (u.user && u.user->op() == OpKind::AllReduceStart)
          continue;
        if (u.user)
          u.user->set_operand(size_t(u.index), r);
        else
          f.set_result(size_t(u.index), r);
      }
    }
  f.set_insert_point(saved);
  return int(buckets.size());
}

bool data_parallel(Module &m, PassContext &ctx) {
  DataParallelOptions o;
  if (auto it = ctx.options.find("bucket-bytes"); it != ctx.options.end()) {
    char *end = nullptr;
    o.bucket_bytes = std::strtoll(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end || o.bucket_bytes <= 0) {
      std::string msg = "data-parallel: bucket-bytes must be a positive "
                        "integer, got '" +
                        it->second + "'";
      if (!ctx.diags)
        throw Error(msg);
      ctx.diags->error({}) << msg;
      return false;
    }
  }
  if (auto it = ctx.options.find("average"); it != ctx.options.end())
    o.average = it->second != "false" && it->second != "0";
  bool changed = false;
  for (const auto &fp : m.functions()) {
    std::vector<Value *> grads = find_gradients(*fp);
    if (grads.empty())
      continue;
    int64_t bytes = 0;
    for (const Value *g : grads)
      bytes += int64_t(g->type().bytes());
    int buckets = 0;
    try {
      buckets = make_data_parallel(*fp, grads, o);
    } catch (const Error &e) {
      if (!ctx.diags)
        throw;
      ctx.diags->error(fp->loc()) << e.what();
      return changed;
    }
    ctx.stat("data-parallel: @" + fp->name() + ": " +
             std::to_string(grads.size()) + " gradients (" +
             std::to_string(bytes) + " bytes) in " + std::to_string(buckets) +
             " buckets");
    changed = true;
  }
  return changed;
}

} // namespace kiln
