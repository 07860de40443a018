/// \file
/// The graph-building API: a Graph owns a Module with one Function under
/// construction; Tensor is a cheap handle (graph + SSA value) that ops and
/// operators take and return. Shapes are checked as the graph is built: a
/// mistake throws kiln::Error naming the op, the shapes and the file:line of
/// the user's call.
///
///   kiln::Graph g("mlp");
///   kiln::Tensor x = g.input("x", {kiln::DType::F32, {256, 784}});
///   kiln::Tensor w = g.param("w", {kiln::DType::F32, {784, 10}},
///                            kiln::init::kaiming_uniform());
///   g.output(kiln::relu(kiln::matmul(x, w)), "y");
///   std::cout << g.to_kir();
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"
#include "ir/HostTensor.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

namespace kiln {

/// The file and line of a call in the user's code, captured by default
/// arguments (`SourceLoc loc = SourceLoc::current()`), so errors point at the
/// user's line rather than at kiln's. Works in C++17 with g++ and clang.
struct SourceLoc {
  const char *file = "";
  int line = 0;
  static constexpr SourceLoc current(const char *file = __builtin_FILE(),
                                     int line = __builtin_LINE()) {
    return {file, line};
  }
  /// "model.cpp:42" (only the file's base name), or "" when unknown.
  std::string str() const;
  /// "model.cpp:42: ", or "" when unknown: the start of an error message.
  std::string prefix() const;
};

/// How a parameter or state buffer gets its initial value: \p fill writes
/// every element of a tensor of the parameter's type from \p seed. \p name
/// describes it ("kaiming_uniform(fan_in, gain=1.41421)").
struct Initializer {
  std::string name;
  std::function<void(HostTensor &, uint64_t seed)> fill;
};

class Graph;

/// A handle to a value of a Graph: copyable, cheap, valid while the Graph
/// lives. A default-constructed Tensor is null (valid() is false).
class Tensor {
public:
  Tensor() = default;
  Tensor(Graph *g, Value *v) : graph_(g), value_(v) {}

  bool valid() const { return value_ != nullptr; }
  Graph *graph() const { return graph_; }
  Value *value() const { return value_; }
  const TensorType &type() const { return value_->type(); }
  const Shape &shape() const { return value_->type().shape; }
  DType dtype() const { return value_->type().dtype; }
  int64_t rank() const { return value_->type().rank(); }
  /// Dimension \p axis; a negative axis counts from the end.
  int64_t dim(int64_t axis) const;
  int64_t numel() const { return value_->type().numel(); }
  /// The value's name in the IR ("" when unnamed).
  const std::string &name() const { return value_->name(); }
  /// Names the value (printed as %name); returns *this for chaining.
  Tensor &named(const std::string &name);
  /// The same value (handle identity, not elementwise equality).
  bool same(const Tensor &o) const { return value_ == o.value_; }

private:
  Graph *graph_ = nullptr;
  Value *value_ = nullptr;
};

/// A graph under construction: one Function with its parameters' initial
/// values. Parameters and state buffers are named hierarchically through
/// scopes (`blocks.0.attn.q_proj.weight`), so weights load and save by name.
class Graph {
public:
  /// \p seed makes every initializer deterministic: a parameter's values
  /// depend only on the seed and the parameter's full name.
  explicit Graph(std::string name = "main", uint64_t seed = 0);
  Graph(const Graph &) = delete;
  Graph &operator=(const Graph &) = delete;

  /// A plain input (batch data, labels, a step counter).
  Tensor input(const std::string &name, TensorType type,
               SourceLoc loc = SourceLoc::current());
  /// A trainable parameter (`{param}`) named scope + \p name, initialized by
  /// \p init.
  Tensor param(const std::string &name, TensorType type,
               const Initializer &init, SourceLoc loc = SourceLoc::current());
  /// A persistent non-trained buffer (`{state}`: batch-norm running
  /// statistics, optimizer moments) named scope + \p name.
  Tensor state(const std::string &name, TensorType type,
               const Initializer &init, SourceLoc loc = SourceLoc::current());

  /// A scalar constant broadcast to \p type (a splat).
  Tensor constant(double value, TensorType type,
                  SourceLoc loc = SourceLoc::current());
  /// A constant with every element given (row-major), exact for integers.
  Tensor constant(const HostTensor &value,
                  SourceLoc loc = SourceLoc::current());

  /// Appends \p t to the function's results, optionally naming it.
  void output(Tensor t, const std::string &name = "");
  /// Appends \p next as a result that overwrites \p target (a param or state
  /// buffer of the same type) in place: `{updates = %target}`.
  void update(Tensor target, Tensor next, SourceLoc loc = SourceLoc::current());

  /// Builds one node of \p op: the general form behind every op function.
  /// Throws kiln::Error "FILE:LINE: OP: REASON (operands: TYPES)".
  std::vector<Tensor> apply(OpKind op, const std::vector<Tensor> &operands,
                            Attrs attrs = {},
                            const std::vector<TensorType> &result_types = {},
                            SourceLoc loc = SourceLoc::current());
  /// apply() for single-result ops.
  Tensor apply1(OpKind op, const std::vector<Tensor> &operands,
                Attrs attrs = {},
                const std::vector<TensorType> &result_types = {},
                SourceLoc loc = SourceLoc::current());

  /// Enters a naming scope: names made until pop_scope() get "prefix." in
  /// front. nn modules use it for their children.
  void push_scope(const std::string &prefix);
  void pop_scope();
  /// The current full prefix ("blocks.0.attn." or "").
  std::string scope() const;

  Function &function() { return *function_; }
  const Function &function() const { return *function_; }
  Module &module() { return module_; }
  const std::string &name() const { return function_->name(); }
  uint64_t seed() const { return seed_; }

  /// The initial value of every parameter of the function, in parameter
  /// order; inputs get zeros of their type. This is the argument list the
  /// interpreter (and later the runtime) starts from.
  std::vector<HostTensor> initial_values() const;
  /// Initial value of the param or state buffer named \p full_name.
  const HostTensor &initial_value(const std::string &full_name) const;
  /// The function as .kir text.
  std::string to_kir() const;

  /// Reserves a value name in this graph: \p name itself if it is free,
  /// else name_1, name_2, ... Throws kiln::Error for characters a .kir name
  /// cannot hold (letters, digits, '_' and '.' only).
  std::string claim_name(const std::string &name, SourceLoc loc);

private:
  Tensor add_param(const std::string &name, TensorType type, ArgKind kind,
                   const Initializer *init, SourceLoc loc);

  Module module_;
  Function *function_;
  uint64_t seed_;
  std::vector<std::string> scopes_;
  std::unordered_set<std::string> names_;
  /// One per function parameter: initial values (zeros for inputs).
  std::vector<HostTensor> values_;
};

/// Scoped naming: `{ NameScope s(g, "attn"); ... }` = push_scope/pop_scope.
class NameScope {
public:
  NameScope(Graph &g, const std::string &prefix) : g_(g) {
    g_.push_scope(prefix);
  }
  ~NameScope() { g_.pop_scope(); }
  NameScope(const NameScope &) = delete;
  NameScope &operator=(const NameScope &) = delete;

private:
  Graph &g_;
};

/// The graph two handles belong to; throws kiln::Error if they differ or
/// one is null.
Graph &graph_of(const std::vector<Tensor> &ts, const char *op, SourceLoc loc);

} // namespace kiln
