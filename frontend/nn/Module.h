/// \file
/// nn modules, as PyTorch's torch.nn: a Module owns named parameters (and
/// state buffers) of one Graph, holds child modules, and maps tensors to
/// tensors when called. Names are hierarchical and stable: a module's path
/// is its parent's path, a dot and its own name, so parameters are named
/// `blocks.0.attn.q_proj.weight` exactly as PyTorch's state_dict names them,
/// and weights load and save by name.
///
///   kiln::Graph g("mlp");
///   kiln::nn::Sequential net(g, "net");
///   net.add<kiln::nn::Linear>(784, 1024);    // net.0.weight, net.0.bias
///   net.add<kiln::nn::ReLU>();               // net.1 (no parameters)
///   net.add<kiln::nn::Linear>(1024, 10);     // net.2.weight, net.2.bias
///   kiln::Tensor y = net(g.input("x", {kiln::DType::F32, {256, 784}}));
///
/// Every module constructor starts with (Parent parent, name, ...): the
/// parent is a Graph (a top-level module, named under the graph's current
/// NameScope) or another Module (a child; pass `*this` from a module's member
/// initializers). Parameters are created in the constructor, as in PyTorch's
/// __init__; calling a module only adds ops. Modules are neither copyable nor
/// movable (children are referenced by address): hold them as members, or in
/// a ModuleList / Sequential, which owns them.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "frontend/Graph.h"

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace kiln::nn {

/// (full name, tensor) pairs in registration order.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

class Module;

/// Where a module lives: a Graph (top level) or a parent Module. Converts
/// implicitly from both, so constructors read `Linear fc(g, "fc", 4, 2)` and
/// `fc(*this, "fc", 4, 2)` alike.
struct Parent {
  Parent(Graph &g) : graph(&g) {}
  Parent(Module &m);
  Graph *graph = nullptr;
  /// Null for a top-level module.
  Module *module = nullptr;
};

/// The base of every module. Subclasses create their parameters with
/// register_parameter / register_buffer in their constructor and override
/// forward() when they map one tensor to one tensor.
class Module {
public:
  virtual ~Module() = default;
  Module(const Module &) = delete;
  Module &operator=(const Module &) = delete;

  /// Applies the module to one tensor. Modules with other signatures
  /// (Embedding ids, attention's query/key/value, LSTM states) add their
  /// own operator() overloads; the default forward throws kiln::Error.
  virtual Tensor forward(Tensor x);
  Tensor operator()(Tensor x) { return forward(x); }

  /// The module's own name ("attn") and full dotted path
  /// ("blocks.0.attn"); a top-level module's path includes the graph's
  /// NameScope at construction.
  const std::string &name() const { return name_; }
  const std::string &path() const { return path_; }
  Graph &graph() const { return *graph_; }
  /// The type name ("Linear"), for printing and error messages.
  virtual const char *kind() const { return "Module"; }

  /// Every trainable parameter of this module and its descendants, by full
  /// name: own parameters first (registration order), then each child's,
  /// depth first (PyTorch's named_parameters order).
  NamedTensors parameters() const;
  /// Every state buffer (BN running statistics), in the same order.
  NamedTensors buffers() const;
  /// The parameter or buffer named \p full_name or this module's path +
  /// "." + \p full_name; throws kiln::Error listing the names if absent.
  Tensor get(const std::string &name) const;
  /// Direct children in registration order.
  const std::vector<Module *> &children() const { return children_; }

  /// Training mode (the default, as PyTorch) or inference mode, for this
  /// module and every descendant. Only BatchNorm2d and Dropout read it.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

protected:
  /// Names the module \p name under \p parent: letters, digits, '_' and
  /// '.'. A top-level module may be named "" (a model root, as PyTorch's
  /// top-level nn.Module): its children's names then carry no prefix.
  Module(Parent parent, const std::string &name);

  /// Creates the trainable parameter path + "." + \p name.
  Tensor register_parameter(const std::string &name, TensorType type,
                            const Initializer &init);
  /// Creates the state buffer path + "." + \p name (`{state}`).
  Tensor register_buffer(const std::string &name, TensorType type,
                         const Initializer &init);
  /// "Linear 'blocks.0.fc'": the start of this module's error messages.
  std::string describe() const;

private:
  Tensor create(const std::string &name, TensorType type,
                const Initializer &init, bool trainable);

  Graph *graph_;
  std::string name_, path_;
  bool training_ = true;
  NamedTensors params_, buffers_;
  std::vector<Module *> children_;
};

/// A module holding any number of children named "0", "1", ... (or names
/// given to add_named), which it owns. It has no forward: index it.
class ModuleList : public Module {
public:
  ModuleList(Parent parent, const std::string &name) : Module(parent, name) {}
  const char *kind() const override { return "ModuleList"; }

  /// Constructs an \p M named after its index, as `M(*this, "N", args...)`,
  /// and returns it.
  template <class M, class... Args> M &add(Args &&...args) {
    return add_named<M>(std::to_string(items_.size()),
                        std::forward<Args>(args)...);
  }
  /// Constructs an \p M named \p name (PyTorch's OrderedDict form).
  template <class M, class... Args>
  M &add_named(const std::string &name, Args &&...args) {
    auto m = std::make_unique<M>(*this, name, std::forward<Args>(args)...);
    M &ref = *m;
    items_.push_back(std::move(m));
    return ref;
  }
  size_t size() const { return items_.size(); }
  /// Child \p i; throws kiln::Error when out of range.
  Module &operator[](size_t i) const;
  /// Child \p i as an \p M; throws kiln::Error when it is another type.
  template <class M> M &at(size_t i) const {
    M *m = dynamic_cast<M *>(&(*this)[i]);
    if (!m)
      throw_wrong_type(i);
    return *m;
  }

private:
  [[noreturn]] void throw_wrong_type(size_t i) const;
  std::vector<std::unique_ptr<Module>> items_;
};

/// Children applied in order: forward(x) = c_n(...c_1(c_0(x))). Every child
/// must implement forward(Tensor).
class Sequential : public ModuleList {
public:
  Sequential(Parent parent, const std::string &name)
      : ModuleList(parent, name) {}
  const char *kind() const override { return "Sequential"; }
  Tensor forward(Tensor x) override;
  /// Appends a parameterless step computed by \p fn (it takes an index
  /// like any child, as nn.ReLU does in a PyTorch Sequential).
  void add_fn(std::function<Tensor(Tensor)> fn);
};

/// A parameterless module computing \p fn: the escape hatch for activations
/// and reshapes kiln has no module for.
class Lambda : public Module {
public:
  Lambda(Parent parent, const std::string &name,
         std::function<Tensor(Tensor)> fn)
      : Module(parent, name), fn_(std::move(fn)) {}
  const char *kind() const override { return "Lambda"; }
  Tensor forward(Tensor x) override { return fn_(x); }

private:
  std::function<Tensor(Tensor)> fn_;
};

/// Makes \p next the new value of the state buffer \p target at the end of
/// the step: the first call adds a result `{updates = %target}` (as
/// Graph::update); a later call for the same target replaces that result's
/// value, so a module applied twice in one step (a GAN discriminator on real
/// and then fake data) chains its updates as PyTorch would.
void update_state(Graph &g, Tensor target, Tensor next);

} // namespace kiln::nn
