/// \file
/// Graph and Tensor: building a Function with checked shapes and located
/// errors, parameter naming and initial values.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Graph.h"

#include "ir/Error.h"
#include "ir/OpRegistry.h"
#include "ir/Printer.h"

#include <algorithm>
#include <cstring>

namespace kiln {

namespace {

/// splitmix64: mixes a 64-bit value into a well-distributed one.
uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// FNV-1a of \p s: a parameter's seed depends on its name, not its order.
uint64_t hash_name(const std::string &s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : s)
    h = (h ^ c) * 0x100000001B3ull;
  return h;
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '.';
}

std::string where(SourceLoc loc) { return loc.prefix(); }

} // namespace

std::string SourceLoc::str() const {
  if (!file || !*file)
    return "";
  const char *base = std::strrchr(file, '/');
  return std::string(base ? base + 1 : file) + ":" + std::to_string(line);
}

std::string SourceLoc::prefix() const {
  std::string s = str();
  return s.empty() ? "" : s + ": ";
}

int64_t Tensor::dim(int64_t axis) const {
  int64_t a = normalize_axis(axis, rank());
  if (a < 0)
    throw Error("dim: axis " + std::to_string(axis) + " is out of range for " +
                type_str(type()));
  return shape()[size_t(a)];
}

Tensor &Tensor::named(const std::string &name) {
  value_->set_name(graph_->claim_name(name, SourceLoc{}));
  return *this;
}

Graph::Graph(std::string name, uint64_t seed)
    : function_(module_.add_function(std::move(name))), seed_(seed) {}

std::string Graph::claim_name(const std::string &name, SourceLoc loc) {
  if (name.empty() || !std::all_of(name.begin(), name.end(), is_name_char))
    throw Error(where(loc) + "invalid name '" + name +
                "': use letters, digits, '_' and '.'");
  std::string n = name;
  for (int i = 1; names_.count(n); ++i)
    n = name + "_" + std::to_string(i);
  names_.insert(n);
  return n;
}

Tensor Graph::add_param(const std::string &name, TensorType type, ArgKind kind,
                        const Initializer *init, SourceLoc loc) {
  if (checked_numel(type.shape) < 0)
    throw Error(where(loc) + "'" + name + "' has an invalid shape " +
                type_str(type));
  std::string full = kind == ArgKind::Input ? name : scope() + name;
  if (names_.count(full))
    throw Error(where(loc) + "a value named '" + full +
                "' already exists; give each input and parameter its own name");
  full = claim_name(full, loc);
  Value *v = function_->add_param(full, type, kind);
  HostTensor value(type);
  if (init && init->fill)
    init->fill(value, mix(seed_ ^ hash_name(full)));
  values_.push_back(std::move(value));
  return Tensor(this, v);
}

Tensor Graph::input(const std::string &name, TensorType type, SourceLoc loc) {
  return add_param(name, std::move(type), ArgKind::Input, nullptr, loc);
}

Tensor Graph::param(const std::string &name, TensorType type,
                    const Initializer &init, SourceLoc loc) {
  return add_param(name, std::move(type), ArgKind::Param, &init, loc);
}

Tensor Graph::state(const std::string &name, TensorType type,
                    const Initializer &init, SourceLoc loc) {
  return add_param(name, std::move(type), ArgKind::State, &init, loc);
}

Tensor Graph::constant(double value, TensorType type, SourceLoc loc) {
  HostTensor t(TensorType{type.dtype, {}});
  t.set(0, value);
  if (is_integer(type.dtype) && t.get(0) != value)
    throw Error(where(loc) + "constant: " + format_double(value) +
                " is not representable in " + type_str(type));
  Attrs attrs;
  if (is_float(type.dtype))
    attrs.emplace_back("value", Attribute(value));
  else if (is_bool(type.dtype))
    attrs.emplace_back("value", Attribute(value != 0.0));
  else
    attrs.emplace_back("value", Attribute(t.get_int(0)));
  return apply1(OpKind::Constant, {}, std::move(attrs), {type}, loc);
}

Tensor Graph::constant(const HostTensor &value, SourceLoc loc) {
  AttrList l;
  for (int64_t i = 0; i < value.numel(); ++i) {
    if (is_float(value.dtype()))
      l.emplace_back(value.get(i));
    else if (is_bool(value.dtype()))
      l.emplace_back(value.get_int(i) != 0);
    else
      l.emplace_back(value.get_int(i));
  }
  return apply1(OpKind::Constant, {}, {{"value", Attribute(std::move(l))}},
                {value.type()}, loc);
}

void Graph::output(Tensor t, const std::string &name) {
  if (!t.valid() || t.graph() != this)
    throw Error("output: the tensor does not belong to graph '" + this->name() +
                "'");
  if (!name.empty() && t.name().empty())
    t.named(name);
  std::vector<Value *> res = function_->results();
  std::vector<Value *> upd = function_->result_updates();
  res.push_back(t.value());
  upd.push_back(nullptr);
  function_->set_results(res, upd);
}

void Graph::update(Tensor target, Tensor next, SourceLoc loc) {
  graph_of({target, next}, "update", loc);
  if (!target.value()->is_param() ||
      target.value()->arg_kind() == ArgKind::Input)
    throw Error(where(loc) +
                "update: the target must be a param or state "
                "buffer, got " +
                (target.name().empty() ? "a computed value"
                                       : "'" + target.name() + "'"));
  if (target.type() != next.type())
    throw Error(where(loc) + "update: '" + target.name() + "' is " +
                type_str(target.type()) + " but the new value is " +
                type_str(next.type()));
  for (Value *u : function_->result_updates())
    if (u == target.value())
      throw Error(where(loc) + "update: '" + target.name() +
                  "' is already updated by another result");
  std::vector<Value *> res = function_->results();
  std::vector<Value *> upd = function_->result_updates();
  res.push_back(next.value());
  upd.push_back(target.value());
  function_->set_results(res, upd);
}

std::vector<Tensor> Graph::apply(OpKind op, const std::vector<Tensor> &operands,
                                 Attrs attrs,
                                 const std::vector<TensorType> &result_types,
                                 SourceLoc loc) {
  std::vector<Value *> vals;
  for (const Tensor &t : operands) {
    if (!t.valid() || t.graph() != this)
      throw Error(where(loc) + op_name(op) +
                  ": an operand is null or belongs to another graph");
    vals.push_back(t.value());
  }
  Node *n;
  try {
    n = function_->add(op, vals, std::move(attrs), result_types,
                       Loc{loc.file ? loc.file : "", loc.line, 0});
  } catch (const Error &e) {
    throw Error(where(loc) + e.what());
  }
  std::vector<Tensor> r;
  for (size_t i = 0; i < n->num_results(); ++i)
    r.emplace_back(this, n->result(i));
  return r;
}

Tensor Graph::apply1(OpKind op, const std::vector<Tensor> &operands,
                     Attrs attrs, const std::vector<TensorType> &result_types,
                     SourceLoc loc) {
  return apply(op, operands, std::move(attrs), result_types, loc)[0];
}

void Graph::push_scope(const std::string &prefix) { scopes_.push_back(prefix); }

void Graph::pop_scope() {
  KILN_CHECK(!scopes_.empty()) << "pop_scope without push_scope";
  scopes_.pop_back();
}

std::string Graph::scope() const {
  std::string s;
  for (const std::string &p : scopes_)
    if (!p.empty())
      s += p + ".";
  return s;
}

std::vector<HostTensor> Graph::initial_values() const { return values_; }

const HostTensor &Graph::initial_value(const std::string &full_name) const {
  for (size_t i = 0; i < function_->params().size(); ++i)
    if (function_->param(i)->name() == full_name)
      return values_[i];
  throw Error("no parameter or state buffer named '" + full_name + "'");
}

std::string Graph::to_kir() const { return to_string(module_); }

Graph &graph_of(const std::vector<Tensor> &ts, const char *op, SourceLoc loc) {
  Graph *g = nullptr;
  for (const Tensor &t : ts) {
    if (!t.valid())
      throw Error(where(loc) + op + ": an operand is a null Tensor");
    if (g && t.graph() != g)
      throw Error(where(loc) + op + ": operands belong to different graphs");
    g = t.graph();
  }
  KILN_CHECK(g) << op << ": no operands";
  return *g;
}

} // namespace kiln
