/// \file
/// Module naming, parameter registration and listing, train/eval, and the
/// containers (ModuleList, Sequential).
// SPDX-License-Identifier: Apache-2.0
#include "frontend/nn/Module.h"

#include "ir/Error.h"

namespace kiln::nn {

namespace {

/// Pushes the graph scopes that make Graph::param name a value
/// \p path + "." + name, whatever part of that path the graph's current scope
/// already holds; throws when the current scope is not a prefix of it.
class PathScope {
public:
  PathScope(Graph &g, const std::string &path, const std::string &who) : g_(g) {
    std::string cur = g.scope(), want = path.empty() ? "" : path + ".";
    if (want.compare(0, cur.size(), cur) != 0)
      throw Error(who +
                  ": parameters must be created inside the graph scope "
                  "the module was made in (current scope '" +
                  cur + "', module path '" + path +
                  "'); create them in the module's constructor");
    std::string rest = want.substr(cur.size());
    if (!rest.empty()) {
      rest.pop_back(); // the trailing '.'
      g_.push_scope(rest);
      pushed_ = true;
    }
  }
  ~PathScope() {
    if (pushed_)
      g_.pop_scope();
  }
  PathScope(const PathScope &) = delete;
  PathScope &operator=(const PathScope &) = delete;

private:
  Graph &g_;
  bool pushed_ = false;
};

void append(NamedTensors &out, const NamedTensors &in) {
  out.insert(out.end(), in.begin(), in.end());
}

} // namespace

Parent::Parent(Module &m) : graph(&m.graph()), module(&m) {}

Module::Module(Parent parent, const std::string &name)
    : graph_(parent.graph), name_(name) {
  if (parent.module) {
    if (name.empty())
      throw Error(parent.module->describe() + ": a child module needs a name");
    const std::string &up = parent.module->path_;
    path_ = up.empty() ? name : up + "." + name;
    parent.module->children_.push_back(this);
    return;
  }
  // A top-level module named "" is a model root: its children are named
  // as in PyTorch's state_dict, with no prefix but the graph's scope.
  path_ = graph_->scope() + name;
  if (name.empty() && !path_.empty())
    path_.pop_back(); // the scope's trailing '.'
}

Tensor Module::forward(Tensor) {
  throw Error(describe() +
              ": this module does not map one tensor to one tensor; call "
              "its own operator() overload");
}

std::string Module::describe() const {
  return std::string(kind()) + (path_.empty() ? " (root)" : " '" + path_ + "'");
}

Tensor Module::create(const std::string &name, TensorType type,
                      const Initializer &init, bool trainable) {
  PathScope scope(*graph_, path_, describe());
  Tensor t = trainable ? graph_->param(name, std::move(type), init)
                       : graph_->state(name, std::move(type), init);
  (trainable ? params_ : buffers_).emplace_back(t.name(), t);
  return t;
}

Tensor Module::register_parameter(const std::string &name, TensorType type,
                                  const Initializer &init) {
  return create(name, std::move(type), init, /*trainable=*/true);
}

Tensor Module::register_buffer(const std::string &name, TensorType type,
                               const Initializer &init) {
  return create(name, std::move(type), init, /*trainable=*/false);
}

NamedTensors Module::parameters() const {
  NamedTensors out = params_;
  for (const Module *c : children_)
    append(out, c->parameters());
  return out;
}

NamedTensors Module::buffers() const {
  NamedTensors out = buffers_;
  for (const Module *c : children_)
    append(out, c->buffers());
  return out;
}

Tensor Module::get(const std::string &name) const {
  NamedTensors all = parameters();
  append(all, buffers());
  std::string list;
  for (const auto &[full, t] : all) {
    if (full == name || full == path_ + "." + name)
      return t;
    list += (list.empty() ? "" : ", ") + full;
  }
  throw Error(describe() + ": no parameter or buffer named '" + name +
              "' (it has: " + (list.empty() ? "none" : list) + ")");
}

void Module::train(bool on) {
  training_ = on;
  for (Module *c : children_)
    c->train(on);
}

Module &ModuleList::operator[](size_t i) const {
  if (i >= items_.size())
    throw Error(describe() + ": index " + std::to_string(i) +
                " out of range (size " + std::to_string(items_.size()) + ")");
  return *items_[i];
}

void ModuleList::throw_wrong_type(size_t i) const {
  throw Error(describe() + ": child " + std::to_string(i) + " is a " +
              items_[i]->kind() + ", not the type asked for");
}

Tensor Sequential::forward(Tensor x) {
  for (size_t i = 0; i < size(); ++i)
    x = (*this)[i](x);
  return x;
}

void Sequential::add_fn(std::function<Tensor(Tensor)> fn) {
  add<Lambda>(std::move(fn));
}

void update_state(Graph &g, Tensor target, Tensor next) {
  Function &f = g.function();
  std::vector<Value *> res = f.results(), upd = f.result_updates();
  for (size_t i = 0; i < upd.size() && i < res.size(); ++i) {
    if (upd[i] != target.value())
      continue;
    if (next.type() != target.type())
      throw Error("update_state: '" + target.name() +
                  "' changes type between updates");
    res[i] = next.value();
    f.set_results(res, upd);
    return;
  }
  g.update(target, next);
}

} // namespace kiln::nn
