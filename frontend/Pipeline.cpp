/// \file
/// Pipeline: stage functions (passes/PipelineSplit.h), their compiled
/// forms, and the GPipe schedule (see Pipeline.h).
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Pipeline.h"

#include "frontend/Init.h"
#include "frontend/Ops.h"
#include "ir/Error.h"
#include "ir/Printer.h"
#include "passes/PipelineSplit.h"
#include "runtime/Comm.h"

#include <algorithm>

namespace kiln {

namespace {

/// One stage's compiled functions and its per-step data.
struct Stage {
  int k = 0;
  std::unique_ptr<Function> fwd_fn, bwd_fn;
  std::unique_ptr<Graph> update_graph;
  std::unique_ptr<Executable> fwd, bwd, update;
  /// plan.params[k]: for each, the index among the forward graph's plain
  /// inputs, or -1 for a {param} (then its name is in `trained`).
  std::vector<int> input_index;
  std::vector<std::string> trained;
  std::vector<std::vector<HostTensor>> kept; ///< per micro-batch
};

/// The value of \p src's function \p copy holds where \p src has \p v.
Value *same_value(const Function &src, const Function &copy, const Value *v) {
  if (v->is_param())
    return copy.param(size_t(v->index()));
  auto a = src.body().begin();
  auto b = copy.body().begin();
  for (; a != src.body().end(); ++a, ++b)
    if (a->get() == v->def())
      return (*b)->result(size_t(v->index()));
  KILN_UNREACHABLE("value outside its function");
}

/// sum over p of sum(p * grad.p): train_step on it updates each p with the
/// gradient fed in as grad.p, by the optimizer's own rules.
std::unique_ptr<Graph> update_graph(const std::string &name,
                                    const std::vector<Value *> &params,
                                    const TrainStepOptions &train) {
  auto g = std::make_unique<Graph>(name);
  NamedParams named;
  Tensor total;
  for (const Value *p : params) {
    Tensor grad = g->input("grad." + p->name(), p->type());
    Tensor w = g->param(p->name(), p->type(), init::zeros());
    std::vector<int64_t> axes;
    for (int64_t i = 0; i < w.rank(); ++i)
      axes.push_back(i);
    Tensor term = cast(reduce_sum(mul(w, grad), axes), DType::F32);
    total = total.valid() ? add(total, term) : term;
    named.emplace_back(p->name(), w);
  }
  train_step(*g, total, named, train);
  return g;
}

void accumulate(HostTensor &acc, const HostTensor &g) {
  for (int64_t i = 0; i < g.numel(); ++i)
    acc.set(i, acc.get(i) + g.get(i));
}

} // namespace

struct Pipeline::Impl {
  std::unique_ptr<Function> fn;
  StagePlan plan;
  int micro = 1;
  std::vector<Stage> local;

  Stage &stage(int k) {
    for (Stage &s : local)
      if (s.k == k)
        return s;
    throw Error("pipeline: stage " + std::to_string(k) + " runs on rank " +
                std::to_string(k) + ", not here");
  }
  void build(Stage &s, const std::vector<HostTensor> &init,
             const PipelineOptions &o);
  std::vector<HostTensor> args(Stage &s, const std::vector<HostTensor> &in,
                               const std::vector<HostTensor> &params);
};

void Pipeline::Impl::build(Stage &s, const std::vector<HostTensor> &init,
                           const PipelineOptions &o) {
  const std::string base = fn->name() + ".stage" + std::to_string(s.k);
  s.fwd_fn = stage_forward(*fn, plan, s.k);
  s.bwd_fn = stage_backward(*fn, plan, s.k, 1.0 / micro);
  std::vector<Value *> trained;
  for (Value *p : plan.params[size_t(s.k)]) {
    int inputs_before = 0;
    for (size_t i = 0; i < size_t(p->index()); ++i)
      inputs_before += fn->param(i)->arg_kind() == ArgKind::Input;
    bool param = p->arg_kind() == ArgKind::Param;
    s.input_index.push_back(param ? -1 : inputs_before);
    if (param) {
      trained.push_back(p);
      s.trained.push_back(p->name());
    }
  }
  CompileOptions co = o.compile;
  co.distributed = DistributedOptions();
  // The stage functions rematerialize by construction (backward recomputes
  // the stage), and remat must never copy a recv.
  co.remat = RematPolicy::none();
  s.fwd = compile(*s.fwd_fn, co);
  s.bwd = compile(*s.bwd_fn, co);
  if (trained.empty())
    return;
  s.update_graph = update_graph(base + ".update", trained, o.train);
  s.update = compile(s.update_graph->function(), co);
  for (Value *p : trained)
    s.update->set_state(p->name(), init[size_t(p->index())]);
}

std::vector<HostTensor>
Pipeline::Impl::args(Stage &s, const std::vector<HostTensor> &in,
                     const std::vector<HostTensor> &params) {
  std::vector<HostTensor> a;
  size_t next = 0;
  for (int idx : s.input_index) {
    if (idx >= 0) {
      if (size_t(idx) >= in.size())
        throw Error("pipeline: a micro-batch has " + std::to_string(in.size()) +
                    " inputs; @" + fn->name() + " takes more");
      a.push_back(in[size_t(idx)]);
    } else {
      a.push_back(params[next++]);
    }
  }
  return a;
}

Pipeline::Pipeline(const Graph &forward, Tensor loss, const NamedParams &params,
                   const PipelineOptions &o)
    : impl_(std::make_unique<Impl>()) {
  Impl &im = *impl_;
  const Function &src = forward.function();
  if (o.micro_batches < 1)
    throw Error("pipeline: micro_batches must be at least 1");
  if (o.train.clip_grad_norm > 0 || o.train.diagnostics)
    throw Error("pipeline: clip_grad_norm and diagnostics need every "
                "stage's gradients; not supported");
  for (const auto &[name, t] : params)
    if (!t.valid() || t.graph() != &forward || !t.value()->is_param() ||
        t.value()->arg_kind() != ArgKind::Param)
      throw Error("pipeline: '" + name + "' is not a {param} of graph '" +
                  forward.name() + "'");
  for (const auto &p : src.params())
    if (p->arg_kind() == ArgKind::Param &&
        std::none_of(params.begin(), params.end(), [&](const auto &np) {
          return np.second.value() == p.get();
        }))
      throw Error("pipeline: {param} %" + p->name() +
                  " is not among the trained params; list it");
  int ranks = comm::size();
  int stages = o.stages > 0 ? o.stages : ranks;
  if (ranks > 1 && stages != ranks)
    throw Error("pipeline: " + std::to_string(stages) + " stages on " +
                std::to_string(ranks) + " ranks; run one stage per rank");
  im.micro = o.micro_batches;
  im.fn = src.clone();
  Value *l = same_value(src, *im.fn, loss.value());
  std::vector<Value *> cuts;
  for (const std::string &c : o.cuts) {
    Value *v = im.fn->find_value(c);
    if (!v)
      throw Error("pipeline: no value %" + c + " in @" + src.name());
    cuts.push_back(v);
  }
  if (o.cuts.empty())
    cuts = balanced_cuts(*im.fn, l, stages);
  else if (int(cuts.size()) + 1 != stages)
    throw Error("pipeline: " + std::to_string(cuts.size()) + " cuts make " +
                std::to_string(cuts.size() + 1) + " stages, not " +
                std::to_string(stages));
  im.plan = plan_stages(*im.fn, l, cuts);
  std::string key = to_string(*im.fn) + "\nstages " + std::to_string(stages) +
                    " micro " + std::to_string(im.micro);
  for (const Value *c : cuts)
    key += " cut " + c->name();
  comm::check_same_program(key, "pipeline @" + src.name());
  std::vector<HostTensor> init = forward.initial_values();
  for (int k = 0; k < stages; ++k)
    if (ranks == 1 || k == comm::rank()) {
      im.local.emplace_back();
      im.local.back().k = k;
      im.build(im.local.back(), init, o);
    }
}

Pipeline::~Pipeline() = default;

double Pipeline::step(const std::vector<std::vector<HostTensor>> &micro) {
  Impl &im = *impl_;
  if (int(micro.size()) != im.micro)
    throw Error("pipeline: step takes " + std::to_string(im.micro) +
                " micro-batches, got " + std::to_string(micro.size()));
  std::vector<std::vector<HostTensor>> params;
  for (Stage &s : im.local) {
    params.emplace_back();
    for (const std::string &n : s.trained)
      params.back().push_back(s.update->get_state(n));
  }
  int last = im.plan.stages - 1;
  double loss = 0;
  // Forward: every micro-batch in order, stage by stage.
  for (size_t i = 0; i < im.local.size(); ++i) {
    Stage &s = im.local[i];
    s.kept.assign(size_t(im.micro), {});
    size_t n_in = s.k > 0 ? im.plan.boundary[size_t(s.k - 1)].size() : 0;
    for (int m = 0; m < im.micro; ++m) {
      std::vector<HostTensor> out =
          s.fwd->run(im.args(s, micro[size_t(m)], params[i]));
      s.kept[size_t(m)].assign(out.begin(), out.begin() + int64_t(n_in));
      if (s.k == last)
        loss += out.back().get(0) / im.micro;
    }
  }
  // Backward: micro-batches in reverse order, last stage first.
  for (size_t i = im.local.size(); i-- > 0;) {
    Stage &s = im.local[i];
    std::vector<HostTensor> acc(s.trained.size());
    for (int m = im.micro; m-- > 0;) {
      std::vector<HostTensor> a = s.kept[size_t(m)];
      for (HostTensor &t : im.args(s, micro[size_t(m)], params[i]))
        a.push_back(std::move(t));
      std::vector<HostTensor> out = s.bwd->run(a);
      for (size_t j = 0; j < acc.size(); ++j) {
        if (m + 1 == im.micro)
          acc[j] = std::move(out[j]);
        else
          accumulate(acc[j], out[j]);
      }
    }
    if (s.update)
      s.update->run(acc);
  }
  comm::flush_sends();
  if (comm::size() > 1)
    comm::broadcast(&loss, sizeof loss, last);
  return loss;
}

int Pipeline::stages() const { return impl_->plan.stages; }

std::vector<int> Pipeline::local_stages() const {
  std::vector<int> ks;
  for (const Stage &s : impl_->local)
    ks.push_back(s.k);
  return ks;
}

int Pipeline::stage_of(const std::string &name) const {
  for (size_t k = 0; k < impl_->plan.params.size(); ++k)
    for (const Value *p : impl_->plan.params[k])
      if (p->name() == name && p->arg_kind() == ArgKind::Param)
        return int(k);
  throw Error("pipeline: no trained param '" + name + "'");
}

HostTensor Pipeline::get_param(const std::string &name) const {
  Stage &s = impl_->stage(stage_of(name));
  return s.update->get_state(name);
}

std::string Pipeline::stage_ir(int k) const {
  Stage &s = impl_->stage(k);
  std::string text = to_string(*s.fwd_fn) + "\n" + to_string(*s.bwd_fn);
  if (s.update_graph)
    text += "\n" + to_string(s.update_graph->function());
  return text;
}

} // namespace kiln
