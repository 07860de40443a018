/// \file
/// pipeline-split: stages of a forward function, their send/recv and
/// their backward functions (see PipelineSplit.h).
///
/// Algorithm (plan_stages):
///  1. Keep the nodes the loss depends on. Nodes without operands
///     (constants, iota, recv) float: each stage that reads one copies it.
///  2. A node's stage is the number of cut definitions before it.
///  3. Each operand that a node of stage s reads from stage s-1 joins
///     boundary[s-1]; one from an earlier stage is an error, and so is a
///     {param} read by two stages (its update could not be local).
// SPDX-License-Identifier: Apache-2.0
#include "passes/PipelineSplit.h"

#include "ir/Error.h"
#include "passes/Autodiff.h"
#include "passes/PassManager.h"

#include <algorithm>
#include <cstdlib>
#include <unordered_map>
#include <unordered_set>

namespace kiln {

namespace {

std::unordered_set<const Node *> loss_slice(const Value *loss) {
  std::unordered_set<const Node *> seen;
  std::vector<const Value *> work = {loss};
  while (!work.empty()) {
    const Value *v = work.back();
    work.pop_back();
    if (!v->def() || !seen.insert(v->def()).second)
      continue;
    for (const Value *o : v->def()->operands())
      work.push_back(o);
  }
  return seen;
}

std::string describe(const Value *v) {
  if (!v->name().empty())
    return "%" + v->name();
  return v->def() ? std::string("a ") + v->def()->op_name() + " result"
                  : "a parameter";
}

/// Stage \p k's nodes and the floating nodes they read, in body order.
std::vector<Node *> stage_nodes(const StagePlan &plan, int k) {
  std::unordered_set<const Node *> mine, used;
  for (const auto &[n, s] : plan.nodes)
    if (s == k) {
      mine.insert(n);
      for (const Value *o : n->operands())
        if (o->def())
          used.insert(o->def());
    }
  std::vector<Node *> out;
  for (const auto &[n, s] : plan.nodes)
    if (mine.count(n) || (s == -1 && used.count(n)))
      out.push_back(const_cast<Node *>(n));
  return out;
}

Value *add(Function &g, OpKind op, const std::vector<Value *> &operands,
           Attrs attrs = {}, std::vector<TensorType> types = {}) {
  return g.add(op, operands, std::move(attrs), types)->result();
}

Value *p2p(Function &g, OpKind op, Value *x, const TensorType &t, int peer,
           int tag) {
  Attrs a = {{"peer", Attribute(peer)}, {"tag", Attribute(tag)}};
  return op == OpKind::Send ? add(g, op, {x}, a) : add(g, op, {}, a, {t});
}

/// sum(a * g) over every axis: its gradient w.r.t. a is g.
Value *dot(Function &g, Value *a, Value *grad) {
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < a->type().rank(); ++i)
    axes.push_back(i);
  return add(g, OpKind::ReduceSum, {add(g, OpKind::Mul, {a, grad})},
             {{"axes", Attribute::ints(axes)}, {"keepdims", Attribute(false)}});
}

} // namespace

double node_flops(const Node &n) {
  double out = n.num_results() ? double(n.type().numel()) : 0;
  if (n.op() == OpKind::Matmul) {
    const Shape &a = n.operand(0)->type().shape;
    return 2 * out * double(a.back());
  }
  if (n.op() == OpKind::Conv2d) {
    const Shape &w = n.operand(1)->type().shape;
    return 2 * out * double(w[1] * w[2] * w[3]);
  }
  return out;
}

StagePlan plan_stages(const Function &f, Value *loss,
                      const std::vector<Value *> &cuts) {
  if (!loss->def() || loss->type().rank() != 0 || !is_float(loss->type().dtype))
    throw Error("pipeline: the loss of @" + f.name() +
                " must be a computed scalar float");
  std::unordered_set<const Node *> slice = loss_slice(loss);
  std::unordered_map<const Node *, size_t> pos;
  for (const auto &np : f.body())
    pos[np.get()] = pos.size();
  std::vector<size_t> cut_pos;
  for (const Value *c : cuts) {
    if (!c->def() || !slice.count(c->def()) || c == loss)
      throw Error("pipeline: cut " + describe(c) + " of @" + f.name() +
                  " must be a computed value that the loss depends on, "
                  "before the loss");
    if (!cut_pos.empty() && pos.at(c->def()) <= cut_pos.back())
      throw Error("pipeline: cut " + describe(c) +
                  " comes before the cut "
                  "ahead of it; list cuts in body order");
    cut_pos.push_back(pos.at(c->def()));
  }
  StagePlan plan;
  plan.stages = int(cuts.size()) + 1;
  plan.loss = loss;
  plan.boundary.resize(size_t(plan.stages));
  plan.params.resize(size_t(plan.stages));
  std::unordered_map<const Node *, int> stage;
  std::unordered_map<const Value *, int> owner;
  for (const auto &np : f.body()) {
    const Node *n = np.get();
    if (!slice.count(n))
      continue;
    // The number of cuts defined before n.
    int s =
        n->num_operands() == 0
            ? -1
            : int(std::lower_bound(cut_pos.begin(), cut_pos.end(), pos.at(n)) -
                  cut_pos.begin());
    stage[n] = s;
    plan.nodes.emplace_back(n, s);
    for (Value *v : n->operands()) {
      if (v->is_param()) {
        if (v->arg_kind() == ArgKind::State)
          throw Error("pipeline: {state} parameter %" + v->name() +
                      " is not supported (stages keep no state)");
        auto [it, fresh] = owner.emplace(v, s);
        if (v->arg_kind() == ArgKind::Param && it->second != s)
          throw Error("pipeline: {param} %" + v->name() +
                      " is read by stages " + std::to_string(it->second) +
                      " and " + std::to_string(s) + "; cut elsewhere");
        auto &ps = plan.params[size_t(s)];
        if (std::find(ps.begin(), ps.end(), v) == ps.end())
          ps.push_back(v);
        continue;
      }
      int d = stage.at(v->def());
      if (d == -1 || d == s)
        continue;
      if (d != s - 1)
        throw Error("pipeline: " + describe(v) + " of stage " +
                    std::to_string(d) + " is read by stage " +
                    std::to_string(s) +
                    "; stages only exchange values with their neighbours, "
                    "so cut where it is not live");
      auto &b = plan.boundary[size_t(d)];
      if (std::find(b.begin(), b.end(), v) == b.end())
        b.push_back(v);
    }
  }
  if (stage.at(loss->def()) != plan.stages - 1)
    throw Error("pipeline: the loss of @" + f.name() +
                " must come after the last cut");
  for (auto &b : plan.boundary)
    std::sort(b.begin(), b.end(), [&](const Value *x, const Value *y) {
      return pos.at(x->def()) < pos.at(y->def());
    });
  for (auto &ps : plan.params)
    std::sort(ps.begin(), ps.end(), [](const Value *x, const Value *y) {
      return x->index() < y->index();
    });
  return plan;
}

std::vector<Value *> balanced_cuts(const Function &f, Value *loss, int stages) {
  std::unordered_set<const Node *> slice = loss_slice(loss);
  std::vector<const Node *> order;
  double total = 0;
  for (const auto &np : f.body())
    if (slice.count(np.get()) && np->num_operands()) {
      order.push_back(np.get());
      total += node_flops(*np);
    }
  std::vector<Value *> cuts;
  double prefix = 0;
  for (const Node *n : order) {
    prefix += node_flops(*n);
    if (int(cuts.size()) + 1 < stages && n != loss->def() &&
        prefix >= total * double(cuts.size() + 1) / stages)
      cuts.push_back(n->result());
  }
  if (int(cuts.size()) + 1 != stages)
    throw Error("pipeline: @" + f.name() + " has too few nodes for " +
                std::to_string(stages) + " stages");
  return cuts;
}

std::unique_ptr<Function> stage_forward(const Function &f,
                                        const StagePlan &plan, int k) {
  auto g = std::make_unique<Function>(f.name() + ".stage" + std::to_string(k) +
                                      ".forward");
  ValueMap map;
  for (Value *p : plan.params[size_t(k)])
    map[p] = g->add_param(p->name(), p->type(), ArgKind::Input);
  std::vector<Value *> results;
  if (k > 0)
    for (Value *v : plan.boundary[size_t(k - 1)]) {
      Value *r = p2p(*g, OpKind::Recv, nullptr, v->type(), k - 1, 2 * (k - 1));
      r->set_name(v->name());
      map[v] = r;
      results.push_back(r);
    }
  g->clone_nodes(stage_nodes(plan, k), map);
  if (k + 1 < plan.stages)
    for (Value *v : plan.boundary[size_t(k)])
      results.push_back(
          p2p(*g, OpKind::Send, map.at(v), v->type(), k + 1, 2 * k));
  else
    results.push_back(map.at(plan.loss));
  g->set_results(results);
  return g;
}

std::unique_ptr<Function> stage_backward(const Function &f,
                                         const StagePlan &plan, int k,
                                         double loss_scale) {
  auto g = std::make_unique<Function>(f.name() + ".stage" + std::to_string(k) +
                                      ".backward");
  ValueMap map;
  std::vector<Value *> kept, wrt;
  if (k > 0)
    for (Value *v : plan.boundary[size_t(k - 1)]) {
      Value *a = g->add_param(
          v->name().empty() ? "in" + std::to_string(kept.size()) : v->name(),
          v->type(), ArgKind::Input);
      map[v] = a;
      if (is_float(v->type().dtype))
        kept.push_back(a);
    }
  for (Value *p : plan.params[size_t(k)]) {
    map[p] = g->add_param(p->name(), p->type(), ArgKind::Input);
    if (p->arg_kind() == ArgKind::Param)
      wrt.push_back(map[p]);
  }
  g->clone_nodes(stage_nodes(plan, k), map);
  Value *objective = nullptr;
  if (k + 1 == plan.stages) {
    Value *l = map.at(plan.loss);
    Value *c = add(*g, OpKind::Constant, {}, {{"value", Attribute(loss_scale)}},
                   {l->type()});
    objective = add(*g, OpKind::Mul, {l, c});
  } else {
    for (Value *v : plan.boundary[size_t(k)]) {
      if (!is_float(v->type().dtype))
        continue;
      Value *grad = p2p(*g, OpKind::Recv, nullptr, v->type(), k + 1, 2 * k + 1);
      Value *term = dot(*g, map.at(v), grad);
      objective = objective ? add(*g, OpKind::Add, {objective, term}) : term;
    }
    if (!objective)
      throw Error("pipeline: stage " + std::to_string(k) +
                  " passes no float value on; nothing to differentiate");
  }
  std::vector<Value *> all = kept;
  all.insert(all.end(), wrt.begin(), wrt.end());
  std::vector<Value *> grads = build_gradients(*g, objective, all);
  std::vector<Value *> results(grads.begin() + int64_t(kept.size()),
                               grads.end());
  for (size_t i = 0; i < kept.size(); ++i)
    results.push_back(p2p(*g, OpKind::Send, grads[i], kept[i]->type(), k - 1,
                          2 * (k - 1) + 1));
  g->set_results(results);
  return g;
}

bool pipeline_split(Module &m, PassContext &ctx) {
  int stages = 2;
  if (auto it = ctx.options.find("stages"); it != ctx.options.end()) {
    char *end = nullptr;
    stages = int(std::strtol(it->second.c_str(), &end, 10));
    if (it->second.empty() || *end || stages < 1 || stages > 64) {
      if (ctx.diags)
        ctx.diags->error({}) << "pipeline-split: stages must be an integer "
                                "in [1, 64], got '"
                             << it->second << "'";
      return false;
    }
  }
  std::vector<Function *> todo;
  for (const auto &fp : m.functions())
    if (!fp->results().empty() && fp->result(0)->type().rank() == 0 &&
        is_float(fp->result(0)->type().dtype))
      todo.push_back(fp.get());
  for (Function *f : todo) {
    try {
      StagePlan plan = plan_stages(*f, f->result(0),
                                   balanced_cuts(*f, f->result(0), stages));
      for (int k = 0; k < stages; ++k) {
        m.add_function(stage_forward(*f, plan, k));
        m.add_function(stage_backward(*f, plan, k, 1.0));
      }
      std::string sizes;
      for (size_t b = 0; b + 1 < plan.boundary.size(); ++b)
        sizes += (sizes.empty() ? "" : ", ") +
                 std::to_string(plan.boundary[b].size());
      ctx.stat("pipeline-split: @" + f->name() + ": " + std::to_string(stages) +
               " stages; values crossing each "
               "boundary: " +
               (sizes.empty() ? "none" : sizes));
    } catch (const Error &e) {
      if (!ctx.diags)
        throw;
      ctx.diags->error(f->loc()) << e.what();
      return false;
    }
  }
  return !todo.empty();
}

} // namespace kiln
