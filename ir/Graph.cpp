/// \file
/// Building and editing the Graph IR.
// SPDX-License-Identifier: Apache-2.0
#include "ir/Graph.h"

#include "ir/Error.h"
#include "ir/OpRegistry.h"

#include <algorithm>

namespace kiln {

void Value::remove_use(Node *user, int index) {
  for (size_t i = 0; i < uses_.size(); ++i)
    if (uses_[i].user == user && uses_[i].index == index) {
      uses_.erase(uses_.begin() + i);
      return;
    }
  KILN_UNREACHABLE("removing a use that is not recorded");
}

const char *Node::op_name() const { return kiln::op_name(op_); }

void Node::set_operand(size_t i, Value *v) {
  KILN_CHECK(i < operands_.size()) << "operand " << i << " out of range";
  KILN_CHECK(v && v->type() == operands_[i]->type())
      << op_name() << ": set_operand changes type";
  operands_[i]->remove_use(this, int(i));
  operands_[i] = v;
  v->add_use(this, int(i));
}

int64_t Node::int_attr(const std::string &name) const {
  const Attribute *a = attr(name);
  KILN_CHECK(a && a->is_int()) << op_name() << " has no int '" << name << "'";
  return a->as_int();
}

double Node::number_attr(const std::string &name) const {
  const Attribute *a = attr(name);
  KILN_CHECK(a && a->is_number())
      << op_name() << " has no number '" << name << "'";
  return a->as_number();
}

bool Node::bool_attr(const std::string &name) const {
  const Attribute *a = attr(name);
  KILN_CHECK(a && a->kind() == Attribute::Kind::Bool)
      << op_name() << " has no bool '" << name << "'";
  return a->as_bool();
}

std::vector<int64_t> Node::ints_attr(const std::string &name) const {
  const Attribute *a = attr(name);
  KILN_CHECK(a && a->is_int_list())
      << op_name() << " has no int list '" << name << "'";
  return a->as_ints();
}

Function::~Function() = default;

Value *Function::add_param(std::string name, TensorType type, ArgKind kind) {
  auto v = std::unique_ptr<Value>(
      new Value(std::move(type), nullptr, int(params_.size())));
  v->set_name(std::move(name));
  v->set_arg_kind(kind);
  params_.push_back(std::move(v));
  return params_.back().get();
}

Value *Function::find_value(const std::string &name) const {
  for (const auto &p : params_)
    if (p->name() == name)
      return p.get();
  for (const auto &n : body_)
    for (const auto &r : n->results_)
      if (r->name() == name)
        return r.get();
  return nullptr;
}

Node *Function::try_add(OpKind op, const std::vector<Value *> &operands,
                        Attrs attrs,
                        const std::vector<TensorType> &result_types, Loc loc,
                        std::string &err) {
  std::vector<TensorType> in;
  for (Value *v : operands) {
    KILN_CHECK(v) << op_name(op) << ": null operand";
    in.push_back(v->type());
  }
  Attrs norm;
  std::vector<TensorType> out;
  if (!infer_types(op, in, attrs,
                   result_types.empty() ? nullptr : &result_types, norm, out,
                   err))
    return nullptr;
  auto n = std::unique_ptr<Node>(new Node());
  Node *raw = n.get();
  raw->op_ = op;
  raw->attrs_ = std::move(norm);
  raw->parent_ = this;
  raw->loc_ = std::move(loc);
  raw->operands_ = operands;
  for (size_t i = 0; i < operands.size(); ++i)
    operands[i]->add_use(raw, int(i));
  for (size_t i = 0; i < out.size(); ++i)
    raw->results_.push_back(
        std::unique_ptr<Value>(new Value(std::move(out[i]), raw, int(i))));
  auto pos = insert_before_ ? insert_before_->self_ : body_.end();
  raw->self_ = body_.insert(pos, std::move(n));
  return raw;
}

Node *Function::add(OpKind op, const std::vector<Value *> &operands,
                    Attrs attrs, const std::vector<TensorType> &result_types,
                    Loc loc) {
  std::string err;
  Node *n = try_add(op, operands, std::move(attrs), result_types,
                    std::move(loc), err);
  if (!n) {
    std::string shapes;
    for (Value *v : operands)
      shapes += (shapes.empty() ? "" : ", ") + type_str(v->type());
    throw Error(err + " (operands: " + (shapes.empty() ? "none" : shapes) +
                ")");
  }
  return n;
}

std::vector<Node *> Function::nodes() const {
  std::vector<Node *> r;
  r.reserve(body_.size());
  for (const auto &n : body_)
    r.push_back(n.get());
  return r;
}

void Function::set_results(const std::vector<Value *> &results,
                           const std::vector<Value *> &updates) {
  KILN_CHECK(updates.empty() || updates.size() == results.size())
      << "updates must be empty or one per result";
  for (size_t i = 0; i < results_.size(); ++i)
    results_[i]->remove_use(nullptr, int(i));
  results_ = results;
  updates_ = updates;
  updates_.resize(results_.size(), nullptr);
  for (size_t i = 0; i < results_.size(); ++i) {
    KILN_CHECK(results_[i]) << "null result";
    results_[i]->add_use(nullptr, int(i));
  }
}

void Function::set_result(size_t i, Value *v) {
  KILN_CHECK(i < results_.size()) << "result " << i << " out of range";
  results_[i]->remove_use(nullptr, int(i));
  results_[i] = v;
  v->add_use(nullptr, int(i));
}

void Function::replace_all_uses(Value *from, Value *to) {
  KILN_CHECK(from->type() == to->type())
      << "replace_all_uses: " << type_str(from->type()) << " by "
      << type_str(to->type());
  if (from == to)
    return;
  std::vector<Use> uses = from->uses();
  for (const Use &u : uses) {
    if (u.user)
      u.user->set_operand(size_t(u.index), to);
    else
      set_result(size_t(u.index), to);
  }
}

void Function::erase(Node *n) {
  KILN_CHECK(n->parent_ == this) << "erasing a node of another function";
  for (const auto &r : n->results_)
    KILN_CHECK(!r->has_uses())
        << "erasing " << n->op_name() << " whose result is still used";
  if (insert_before_ == n)
    insert_before_ = std::next(n->self_) == body_.end()
                         ? nullptr
                         : std::next(n->self_)->get();
  for (size_t i = 0; i < n->operands_.size(); ++i)
    n->operands_[i]->remove_use(n, int(i));
  body_.erase(n->self_);
}

void Function::move_before(Node *n, Node *before) {
  KILN_CHECK(n->parent_ == this && (!before || before->parent_ == this))
      << "move_before: the nodes belong to another function";
  if (n == before)
    return;
  body_.splice(before ? before->self_ : body_.end(), body_, n->self_);
}

std::vector<Node *> Function::clone_nodes(const std::vector<Node *> &nodes,
                                          ValueMap &map) {
  std::vector<Node *> copies;
  for (const Node *n : nodes) {
    std::vector<Value *> ops;
    for (Value *v : n->operands()) {
      auto it = map.find(v);
      ops.push_back(it == map.end() ? v : it->second);
    }
    std::vector<TensorType> types;
    for (const auto &r : n->results_)
      types.push_back(r->type());
    Node *c = add(n->op(), ops, n->attrs(), types, n->loc());
    for (size_t i = 0; i < n->num_results(); ++i) {
      c->result(i)->set_name(n->result(i)->name());
      map[n->result(i)] = c->result(i);
    }
    copies.push_back(c);
  }
  return copies;
}

std::unique_ptr<Function> Function::clone() const {
  auto f = std::make_unique<Function>(name_);
  f->loc_ = loc_;
  ValueMap map;
  for (const auto &p : params_)
    map[p.get()] = f->add_param(p->name(), p->type(), p->arg_kind());
  f->clone_nodes(nodes(), map);
  std::vector<Value *> res, upd;
  for (Value *r : results_)
    res.push_back(map.at(r));
  for (Value *u : updates_)
    upd.push_back(u ? map.at(u) : nullptr);
  f->set_results(res, upd);
  return f;
}

Function *Module::add_function(std::string name) {
  return add_function(std::make_unique<Function>(std::move(name)));
}

Function *Module::add_function(std::unique_ptr<Function> f) {
  functions_.push_back(std::move(f));
  return functions_.back().get();
}

Function *Module::find(const std::string &name) const {
  for (const auto &f : functions_)
    if (f->name() == name)
      return f.get();
  return nullptr;
}

std::unique_ptr<Module> Module::clone() const {
  auto m = std::make_unique<Module>();
  for (const auto &f : functions_)
    m->add_function(f->clone());
  return m;
}

} // namespace kiln
