/// \file
/// lower: fusion decisions, buffers, and one kernel per materialized value
/// (see Lower.h for the algorithm).
// SPDX-License-Identifier: Apache-2.0
#include "passes/LowerImpl.h"

#include "ir/Error.h"
#include "ir/Interpreter.h"
#include "ir/OpRegistry.h"
#include "passes/PlanMemory.h"

#include <algorithm>
#include <map>
#include <set>

namespace kiln::lowering {

Kind kind_of(OpKind op) {
  switch (op) {
  case OpKind::ReduceSum:
  case OpKind::ReduceMax:
  case OpKind::ReduceMin:
  case OpKind::ReduceMean:
  case OpKind::Argmax:
  case OpKind::Argmin:
    return Kind::Reduction;
  case OpKind::Matmul:
  case OpKind::Conv2d:
    return Kind::Contraction;
  case OpKind::Conv2dTranspose:
  case OpKind::Conv2dWeightGrad:
  case OpKind::MaxPool2d:
  case OpKind::AvgPool2d:
  case OpKind::MaxPool2dGrad:
  case OpKind::ScatterAdd:
    return Kind::Opaque;
  case OpKind::AllReduceStart:
  case OpKind::AllReduceWait:
  case OpKind::Send:
  case OpKind::Recv:
    return Kind::Collective;
  default:
    return Kind::Injective;
  }
}

bool is_cheap(OpKind op) {
  switch (op) {
  case OpKind::Reshape:
  case OpKind::Transpose:
  case OpKind::BroadcastTo:
  case OpKind::Slice:
  case OpKind::Constant:
  case OpKind::Iota:
  case OpKind::Cast:
    return true;
  default:
    return false;
  }
}

namespace {
bool is_view(OpKind op) {
  return op == OpKind::Reshape || op == OpKind::Transpose ||
         op == OpKind::BroadcastTo || op == OpKind::Slice;
}

/// Elementwise ops that can extend a contraction's epilogue.
bool is_elementwise(OpKind op) {
  if (kind_of(op) != Kind::Injective || is_view(op))
    return false;
  switch (op) {
  case OpKind::Pad:
  case OpKind::Concat:
  case OpKind::Gather:
  case OpKind::OneHot:
  case OpKind::Constant:
  case OpKind::Iota:
  case OpKind::RandomUniform:
  case OpKind::RandomNormal:
    return false;
  default:
    return true;
  }
}

bool is_list_constant(const Node &n) {
  return n.op() == OpKind::Constant && n.attr("value")->is_list();
}

std::string sanitize(const std::string &s) {
  std::string r;
  for (char c : s)
    r += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  return r;
}
} // namespace

int Lowering::buffer_of(const Value *v) const {
  auto it = buffers_.find(v);
  KILN_CHECK(it != buffers_.end()) << "value has no buffer";
  return it->second;
}

std::vector<Use> Lowering::real_uses(const Value *v) const {
  std::vector<Use> r;
  for (const Use &u : v->uses())
    if (!is_probe_use(u))
      r.push_back(u);
  return r;
}

const Node *Lowering::epilogue_contraction(const Value *v) const {
  for (const auto &[root, c] : anchor_)
    for (const Value *cur = c->result(); cur != root;
         cur = real_uses(cur)[0].user->result())
      if (cur == v)
        return c;
  return nullptr;
}

namespace {

/// True when \p n reads \p state directly or through injective producers
/// (which fusion may inline into it).
bool reads(const Node &n, const Value *state, int depth = 0) {
  for (const Value *o : n.operands()) {
    if (o == state)
      return true;
    if (depth < 8 && o->def() && kind_of(o->def()->op()) == Kind::Injective &&
        reads(*o->def(), state, depth + 1))
      return true;
  }
  return false;
}

} // namespace

void Lowering::find_anchors() {
  std::map<const Value *, const Value *> updated; // result -> its state
  for (size_t i = 0; i < f_.results().size(); ++i)
    if (f_.result_updates()[i])
      updated[f_.result(i)] = f_.result_updates()[i];
  std::set<const Value *> claimed; // values inside some epilogue
  // heavy[p]: contractions, reductions and opaque ops before position p.
  std::vector<int> heavy = {0};
  for (const auto &np : f_.body())
    heavy.push_back(heavy.back() + (kind_of(np->op()) != Kind::Injective));
  for (const auto &np : f_.body()) {
    const Node &c = *np;
    if (kind_of(c.op()) != Kind::Contraction)
      continue;
    std::vector<const Value *> chain = {c.result()};
    while (real_uses(chain.back()).size() == 1 &&
           real_uses(chain.back())[0].user) {
      const Node *u = real_uses(chain.back())[0].user;
      if (!is_elementwise(u->op()) || u->type().shape != c.type().shape)
        break;
      chain.push_back(u->result());
    }
    // An epilogue that ends in a state's update (an optimizer step) stops
    // before it reads that state: a contraction cannot compute in the
    // buffer its epilogue reads, and the update's own elementwise kernel can
    // (alias_updates). It also stops before a node behind other heavy
    // kernels: the kernel runs where its epilogue ends, and a weight
    // gradient moved to its update at the end of the step would keep every
    // layer's inputs alive.
    auto up = updated.find(chain.back());
    if (up != updated.end())
      for (size_t i = 1; i < chain.size(); ++i)
        if (reads(*chain[i]->def(), up->second) ||
            heavy[position_.at(chain[i]->def())] !=
                heavy[position_.at(&c) + 1]) {
          chain.resize(i);
          break;
        }
    // One contraction per epilogue: a residual add of two convolutions
    // keeps the second one materialized (chains truncated at different
    // places may share values without sharing their end).
    bool shared = false;
    for (size_t i = 1; i < chain.size(); ++i)
      shared = shared || !claimed.insert(chain[i]).second;
    if (chain.size() == 1 || shared)
      continue;
    anchor_[chain.back()] = &c;
    anchored_.insert(&c);
  }
}

bool Lowering::must_materialize(const Value *v) const {
  const Node &n = *v->def();
  if (!opts_.fuse || anchor_.count(v))
    return true;
  if (anchored_.count(&n))
    return false;
  if (kind_of(n.op()) != Kind::Injective || is_list_constant(n))
    return true;
  size_t uses = 0;
  for (const Use &u : v->uses()) {
    if (is_probe_use(u))
      continue; // a probe never changes fusion
    if (!u.user)
      return true; // a result
    ++uses;
    Kind k = kind_of(u.user->op());
    if (k == Kind::Collective)
      return true; // handed to the runtime as a whole buffer
    if (k == Kind::Contraction || k == Kind::Opaque) {
      // Read in place when v is a view chain over a materialized value.
      const Value *base = v;
      while (!materialize_.count(base) && base->def() &&
             is_view(base->def()->op()))
        base = base->def()->operand(0);
      if (!materialize_.count(base) && base->def())
        return true;
    }
  }
  return uses > 1 && !is_cheap(n.op()) && !recomputed(n);
}

bool Lowering::recomputed(const Node &n) const {
  // One add, sub or mul of values that are in memory anyway (or rank-0
  // constants): each consumer recomputes it instead of reading it back.
  if (n.op() != OpKind::Add && n.op() != OpKind::Sub && n.op() != OpKind::Mul &&
      n.op() != OpKind::Neg)
    return false;
  for (const Value *o : n.operands())
    if (!materialize_.count(o) &&
        !(o->def() && o->def()->op() == OpKind::Constant &&
          o->type().rank() == 0))
      return false;
  return true;
}

void Lowering::plan() {
  for (const auto &np : f_.body())
    position_[np.get()] = position_.size();
  for (const auto &p : f_.params())
    materialize_.insert(p.get());
  if (opts_.fuse)
    find_anchors();
  for (const auto &np : f_.body())
    for (size_t i = 0; i < np->num_results(); ++i)
      if (must_materialize(np->result(i)))
        materialize_.insert(np->result(i));
  if (opts_.fuse)
    find_row_groups();
}

int Lowering::add_buffer(const std::string &name, const TensorType &t,
                         loop::BufferKind kind, int arg_index) {
  loop::Buffer b;
  b.name = sanitize(name);
  b.dtype = t.dtype;
  b.numel = t.numel();
  b.kind = kind;
  b.arg_index = arg_index;
  prog_.buffers.push_back(std::move(b));
  return int(prog_.buffers.size()) - 1;
}

void Lowering::assign_buffers() {
  for (const auto &p : f_.params()) {
    bool input = p->arg_kind() == ArgKind::Input;
    int &count = input ? prog_.num_inputs : prog_.num_state;
    buffers_[p.get()] = add_buffer(
        p->name(), p->type(),
        input ? loop::BufferKind::Input : loop::BufferKind::State, count++);
  }
  int temp = 0;
  for (const auto &np : f_.body())
    if (is_list_constant(*np) && materialize_.count(np->result())) {
      int b = add_buffer("c" + std::to_string(temp++), np->type(),
                         loop::BufferKind::Constant, -1);
      prog_.buffers[size_t(b)].data = evaluate_node(*np, {})[0];
      buffers_[np->result()] = b;
    }
  // Plain results first: their buffers are the caller's output arrays.
  for (size_t i = 0; i < f_.results().size(); ++i) {
    if (f_.result_updates()[i])
      continue;
    const Value *r = f_.result(i);
    bool direct = !buffers_.count(r) && !probe_outs_.count(r) && r->def();
    std::string name = direct && !r->name().empty()
                           ? r->name()
                           : "out" + std::to_string(prog_.num_outputs);
    int out = add_buffer(name, r->type(), loop::BufferKind::Output,
                         prog_.num_outputs);
    ++prog_.num_outputs;
    if (direct && !materialize_.count(r))
      probe_outs_[r] = out; // a probe of a fused value: a kernel of its own
    else if (direct)
      buffers_[r] = out;
    else if (is_probe_slot(i) && !r->def())
      probe_copies_.push_back({buffer_of(r), out}); // before any update
    else
      copies_.push_back(
          {probe_outs_.count(r) ? probe_outs_.at(r) : buffer_of(r), out});
  }
  for (const auto &np : f_.body())
    for (size_t i = 0; i < np->num_results(); ++i) {
      const Value *v = np->result(i);
      if (!materialize_.count(v) || buffers_.count(v))
        continue;
      std::string name =
          v->name().empty() ? "t" + std::to_string(temp) : v->name();
      ++temp;
      buffers_[v] = add_buffer(name, v->type(), loop::BufferKind::Temp, -1);
    }
  for (size_t i = 0; i < f_.results().size(); ++i)
    if (const Value *p = f_.result_updates()[i])
      if (f_.result(i) != p)
        prog_.updates.push_back({buffer_of(f_.result(i)), buffer_of(p)});
}

StmtPtr Lowering::loop_nest(
    const Shape &shape, int64_t cost_per_element,
    const std::function<std::vector<StmtPtr>(const Index &)> &inner) {
  Index idx;
  std::vector<int> vars;
  for (size_t d = 0; d < shape.size(); ++d) {
    vars.push_back(new_var("i"));
    idx.push_back(loop::var(vars.back()));
  }
  std::vector<StmtPtr> body = inner(idx);
  bool parallel = numel(shape) * std::max<int64_t>(cost_per_element, 1) >=
                  opts_.parallel_threshold;
  for (size_t d = shape.size(); d-- > 0;) {
    // The outermost loop with more than one iteration runs in parallel.
    bool outer = parallel && shape[d] > 1 &&
                 std::all_of(shape.begin(), shape.begin() + int64_t(d),
                             [](int64_t e) { return e == 1; });
    body = {loop::for_loop(vars[d], shape[d],
                           outer ? loop::LoopKind::Parallel
                                 : loop::LoopKind::Serial,
                           std::move(body))};
  }
  return loop::block(std::move(body));
}

std::vector<const Node *> Lowering::kernel_nodes(const Value *root) const {
  std::vector<const Node *> nodes;
  std::vector<const Value *> work = {root};
  while (!work.empty()) {
    const Value *v = work.back();
    work.pop_back();
    const Node *n = v->def();
    if (!n || std::count(nodes.begin(), nodes.end(), n))
      continue;
    nodes.push_back(n);
    for (const Value *o : n->operands())
      if (!materialize_.count(o))
        work.push_back(o);
  }
  std::sort(nodes.begin(), nodes.end(), [&](const Node *a, const Node *b) {
    return position(a) < position(b);
  });
  return nodes;
}

namespace {
std::string loc_str(const Loc &l) {
  if (!l.known())
    return "";
  std::string s = l.file + ":" + std::to_string(l.line);
  return l.col > 0 ? s + ":" + std::to_string(l.col) : s;
}
} // namespace

void Lowering::emit_kernel(const Value *root, int out) {
  const Node &n = *root->def();
  computing = root;
  StmtPtr body;
  auto a = anchor_.find(root);
  auto rg = row_groups_.find(root);
  if (a != anchor_.end()) {
    body = contraction_kernel(*a->second, root, out);
  } else if (const Node *c = epilogue_contraction(root)) {
    body = contraction_kernel(*c, root, out); // a probe inside an epilogue
  } else if (rg != row_groups_.end()) {
    body = row_kernel(root, rg->second, out);
  } else {
    switch (kind_of(n.op())) {
    case Kind::Injective: {
      const Shape &s = root->type().shape;
      body = loop_nest(s, 1, [&](const Index &idx) {
        return std::vector<StmtPtr>{
            loop::store(out, flat_index(idx, s), value_at(root, idx))};
      });
      break;
    }
    case Kind::Reduction:
      body = reduction_kernel(n, out);
      break;
    case Kind::Contraction:
      body = contraction_kernel(n, root, out);
      break;
    case Kind::Opaque:
      body = opaque_kernel(n, out);
      break;
    case Kind::Collective:
      body = collective_kernel(n, out);
      break;
    }
  }
  computing = nullptr;
  loop::Kernel k;
  k.name = "k" + std::to_string(prog_.kernels.size());
  for (const Node *s : kernel_nodes(root)) {
    if (s->op() == OpKind::Constant)
      continue;
    k.ops += (k.ops.empty() ? "" : "+") + std::string(s->op_name());
    k.sources.push_back({s->op_name(), s->result()->name(), loc_str(s->loc()),
                         int(position(s))});
  }
  if (k.ops.empty())
    k.ops = "constant";
  k.body = std::move(body);
  prog_.kernels.push_back(std::move(k));
}

void Lowering::emit_probe(const Value *v) {
  // Reductions that other kernels compute inline (row fusion) are computed
  // into scratch buffers first, visible to this kernel only.
  std::vector<const Value *> deps,
      work(v->def()->operands().begin(), v->def()->operands().end());
  if (epilogue_contraction(v))
    work.clear(); // the contraction's kernel reads only materialized values
  while (!work.empty()) {
    const Value *o = work.back();
    work.pop_back();
    if (buffers_.count(o) || !o->def() ||
        std::count(deps.begin(), deps.end(), o))
      continue;
    if (kind_of(o->def()->op()) != Kind::Injective)
      deps.push_back(o);
    work.insert(work.end(), o->def()->operands().begin(),
                o->def()->operands().end());
  }
  std::sort(deps.begin(), deps.end(), [&](const Value *a, const Value *b) {
    return position(a->def()) < position(b->def());
  });
  for (const Value *d : deps) {
    int b = add_buffer("probe_" + std::to_string(prog_.buffers.size()),
                       d->type(), loop::BufferKind::Temp, -1);
    emit_kernel(d, b);
    buffers_[d] = b;
    materialize_.insert(d);
  }
  emit_kernel(v, probe_outs_.at(v));
  for (const Value *d : deps) {
    buffers_.erase(d);
    materialize_.erase(d);
  }
}

void Lowering::emit_result_copies(
    const std::vector<std::pair<int, int>> &copies) {
  for (const auto &[from, to] : copies) {
    const loop::Buffer &b = prog_.buffers[size_t(to)];
    int i = new_var("i");
    ExprPtr iv = loop::var(i);
    loop::Kernel k;
    k.name = "k" + std::to_string(prog_.kernels.size());
    k.ops = "copy";
    k.body = loop::block(
        {loop::for_loop(i, b.numel, loop::LoopKind::Serial,
                        {loop::store(to, iv, loop::load(from, b.dtype, iv))})});
    prog_.kernels.push_back(std::move(k));
  }
}

void Lowering::layout_arena() {
  if (opts_.plan_memory) {
    plan_memory(prog_);
    after_memory_plan(prog_, opts_.check_memory);
    return;
  }
  int64_t off = 0;
  for (loop::Buffer &b : prog_.buffers) {
    if (b.kind != loop::BufferKind::Temp)
      continue;
    b.arena_offset = off;
    off += (b.bytes() + 63) / 64 * 64;
  }
  prog_.arena_bytes = off;
  after_memory_plan(prog_, opts_.check_memory);
}

loop::Program Lowering::run() {
  prog_.name = f_.name();
  plan();
  assign_buffers();
  emit_result_copies(probe_copies_);
  for (const auto &np : f_.body())
    for (size_t i = 0; i < np->num_results(); ++i) {
      const Value *v = np->result(i);
      if (materialize_.count(v) && !is_list_constant(*np))
        emit_kernel(v, buffer_of(v));
      else if (probe_outs_.count(v))
        emit_probe(v);
    }
  emit_result_copies(copies_);
  if (opts_.hoist_invariants)
    hoist_invariants(prog_);
  layout_arena();
  return std::move(prog_);
}

} // namespace kiln::lowering

namespace kiln {

loop::Program lower(const Function &f, const LowerOptions &options) {
  lowering::Lowering l(f, options);
  return l.run();
}

} // namespace kiln
