/// \file
/// train_step: autodiff plus optimizer updates appended to a Graph.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Train.h"

#include "frontend/Init.h"
#include "frontend/Ops.h"
#include "ir/Error.h"
#include "passes/Autodiff.h"

#include <cmath>

namespace kiln {

namespace optim {
Optimizer sgd(double lr, double momentum, double weight_decay, bool nesterov) {
  Optimizer o;
  o.kind = Optimizer::Kind::Sgd;
  o.lr = lr;
  o.momentum = momentum;
  o.weight_decay = weight_decay;
  o.nesterov = nesterov;
  return o;
}

Optimizer adam(double lr, double beta1, double beta2, double eps,
               double weight_decay) {
  Optimizer o;
  o.kind = Optimizer::Kind::Adam;
  o.lr = lr;
  o.beta1 = beta1;
  o.beta2 = beta2;
  o.eps = eps;
  o.weight_decay = weight_decay;
  return o;
}

Optimizer adamw(double lr, double weight_decay, double beta1, double beta2,
                double eps) {
  Optimizer o = adam(lr, beta1, beta2, eps, weight_decay);
  o.kind = Optimizer::Kind::AdamW;
  return o;
}
} // namespace optim

namespace {

/// Builds the update of one parameter; records new state buffers in \p info.
class UpdateBuilder {
public:
  UpdateBuilder(Graph &g, const Optimizer &o, TrainStepInfo &info,
                SourceLoc loc)
      : g_(g), o_(o), info_(info), loc_(loc) {}

  /// The step counter t (incremented once per step), for Adam's bias
  /// correction; made on first use.
  Tensor step() {
    if (!t_.valid()) {
      Tensor t = state("optim.step", {DType::F32, {}});
      t_ = add(t, scalar_like(t, 1.0, loc_), loc_);
      g_.update(t, t_, loc_);
    }
    return t_;
  }

  Tensor sgd(const std::string &name, Tensor p, Tensor grad) {
    if (o_.weight_decay != 0)
      grad = add(grad, mul(p, c(p, o_.weight_decay), loc_), loc_);
    if (o_.momentum != 0) {
      Tensor buf = state("optim." + name + ".momentum_buffer", p.type());
      Tensor next = add(mul(buf, c(p, o_.momentum), loc_), grad, loc_);
      g_.update(buf, next, loc_);
      grad = o_.nesterov ? add(grad, mul(next, c(p, o_.momentum), loc_), loc_)
                         : next;
    }
    return sub(p, mul(grad, c(p, o_.lr), loc_), loc_);
  }

  Tensor adam(const std::string &name, Tensor p, Tensor grad) {
    bool decoupled = o_.kind == Optimizer::Kind::AdamW;
    if (!decoupled && o_.weight_decay != 0)
      grad = add(grad, mul(p, c(p, o_.weight_decay), loc_), loc_);
    Tensor m = state("optim." + name + ".exp_avg", p.type());
    Tensor v = state("optim." + name + ".exp_avg_sq", p.type());
    Tensor m1 = add(mul(m, c(p, o_.beta1), loc_),
                    mul(grad, c(p, 1 - o_.beta1), loc_), loc_);
    Tensor v1 = add(mul(v, c(p, o_.beta2), loc_),
                    mul(mul(grad, grad, loc_), c(p, 1 - o_.beta2), loc_), loc_);
    g_.update(m, m1, loc_);
    g_.update(v, v1, loc_);
    Tensor bc1 = bias_correction(o_.beta1, p.dtype());
    Tensor bc2 = bias_correction(o_.beta2, p.dtype());
    Tensor denom = add(sqrt(div(v1, bc2, loc_), loc_), c(p, o_.eps), loc_);
    Tensor delta = mul(div(div(m1, bc1, loc_), denom, loc_), c(p, o_.lr), loc_);
    if (decoupled && o_.weight_decay != 0)
      p = sub(p, mul(p, c(p, o_.lr * o_.weight_decay), loc_), loc_);
    return sub(p, delta, loc_);
  }

private:
  /// 1 - beta^t, computed in f64 and then rounded to \p dtype: in the
  /// param's dtype beta rounds before the subtraction cancels, so in f32
  /// 1 - 0.999 is off by 1.3e-5 relative (each Adam step then 6.4e-6 too
  /// short), and in bf16 0.999 rounds to 1, which makes v-hat infinite.
  Tensor bias_correction(double beta, DType dtype) {
    Tensor t = cast(step(), DType::F64, loc_);
    Tensor bc = sub(c(t, 1.0), pow(c(t, beta), t, loc_), loc_);
    return cast(bc, dtype, loc_);
  }
  Tensor c(Tensor like, double v) { return scalar_like(like, v, loc_); }
  Tensor state(const std::string &name, TensorType type) {
    Tensor s = g_.state(name, type, init::zeros(), loc_);
    info_.state.emplace_back(name, s);
    return s;
  }

  Graph &g_;
  const Optimizer &o_;
  TrainStepInfo &info_;
  SourceLoc loc_;
  Tensor t_;
};

Tensor squared_norm(Tensor x, SourceLoc loc) {
  std::vector<int64_t> all;
  for (int64_t i = 0; i < x.rank(); ++i)
    all.push_back(i);
  return reduce_sum(mul(x, x, loc), all, false, loc);
}

/// Scales every gradient by min(1, max_norm / (global_norm + 1e-6)).
void clip_by_global_norm(std::vector<Tensor> &grads, double max_norm,
                         SourceLoc loc) {
  Tensor total;
  for (const Tensor &gr : grads) {
    Tensor s = cast(squared_norm(gr, loc), DType::F32, loc);
    total = total.valid() ? add(total, s, loc) : s;
  }
  if (!total.valid())
    return;
  Tensor norm = sqrt(total, loc);
  Tensor scale = minimum(scalar_like(norm, 1.0, loc),
                         div(scalar_like(norm, max_norm, loc),
                             add(norm, scalar_like(norm, 1e-6, loc), loc), loc),
                         loc);
  for (Tensor &gr : grads)
    gr = mul(gr, cast(scale, gr.dtype(), loc), loc);
}

/// Names \p v `grad.PARAM` (the convention passes/DataParallel.h finds
/// gradients by); a value that has a name already, or is a parameter, is
/// named through a same-type reshape, which canonicalize removes.
Value *name_gradient(Graph &g, Value *v, const std::string &param,
                     SourceLoc loc) {
  Function &f = g.function();
  std::string name = "grad." + param;
  if (f.find_value(name))
    return v; // the user named a value so: leave the convention unused
  if (!v->name().empty() || v->is_param())
    v = reshape(Tensor(&g, v), v->type().shape, loc).value();
  v->set_name(name);
  return v;
}

void check_params(Graph &g, Tensor loss, const NamedParams &params,
                  SourceLoc loc) {
  if (!loss.valid() || loss.graph() != &g || loss.rank() != 0 ||
      !is_float(loss.dtype()))
    throw Error(loc.prefix() + "train_step: the loss must be a scalar float "
                               "tensor of the graph");
  for (const auto &[name, p] : params)
    if (!p.valid() || p.graph() != &g || !p.value()->is_param() ||
        p.value()->arg_kind() != ArgKind::Param)
      throw Error(loc.prefix() + "train_step: '" + name +
                  "' is not a {param} of graph '" + g.name() + "'");
}

} // namespace

TrainStepInfo train_step(Graph &g, Tensor loss, const NamedParams &params,
                         const TrainStepOptions &options, SourceLoc loc) {
  check_params(g, loss, params, loc);
  const std::vector<Value *> &results = g.function().results();
  if (std::find(results.begin(), results.end(), loss.value()) == results.end())
    g.output(loss, "loss");
  std::vector<Value *> wrt;
  for (const auto &np : params)
    wrt.push_back(np.second.value());
  std::vector<Value *> grad_values;
  try {
    grad_values = build_gradients(g.function(), loss.value(), wrt);
  } catch (const Error &e) {
    throw Error(loc.prefix() + "train_step: " + e.what());
  }
  TrainStepInfo info;
  for (size_t i = 0; i < grad_values.size(); ++i)
    info.grads.emplace_back(
        &g, name_gradient(g, grad_values[i], wrt[i]->name(), loc));
  std::vector<Tensor> grads = info.grads;
  if (options.diagnostics)
    for (size_t i = 0; i < params.size(); ++i) {
      g.output(sqrt(squared_norm(params[i].second, loc), loc),
               "norm." + params[i].first);
      g.output(sqrt(squared_norm(grads[i], loc), loc),
               "grad_norm." + params[i].first);
    }
  if (options.clip_grad_norm > 0)
    clip_by_global_norm(grads, options.clip_grad_norm, loc);
  UpdateBuilder ub(g, options.optimizer, info, loc);
  for (size_t i = 0; i < params.size(); ++i) {
    const auto &[name, p] = params[i];
    Tensor next = options.optimizer.kind == Optimizer::Kind::Sgd
                      ? ub.sgd(name, p, grads[i])
                      : ub.adam(name, p, grads[i]);
    g.update(p, next, loc);
  }
  return info;
}

} // namespace kiln
