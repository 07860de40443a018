/// \file
/// The Graph IR: Module > Function > Node, in SSA form with static shapes.
/// Nodes are generic (an OpKind, operands, attributes, typed results); what an
/// op means lives in the op registry (OpRegistry.h), not in a class per op.
/// Function::add() is the only way to build a node, and it runs the op's
/// shape rule and attribute schema, so every node in a Function is valid.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Attribute.h"
#include "ir/Type.h"

#include <list>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace kiln {

enum class OpKind {
#define KILN_OP(Kind, name) Kind,
#include "ir/Ops.def"
};

constexpr int kNumOps = 0
#define KILN_OP(Kind, name) +1
#include "ir/Ops.def"
    ;

/// A place in source text (1-based line and column); line 0 means unknown.
struct Loc {
  std::string file;
  int line = 0;
  int col = 0;
  bool known() const { return line > 0; }
};

class Node;
class Function;

/// One use of a Value: operand \p index of \p user, or, when user is
/// nullptr, result slot \p index of the function's return.
struct Use {
  Node *user;
  int index;
};

/// How a function parameter is held: a plain input, a trainable parameter
/// (`{param}`) or a persistent non-trained buffer (`{state}`).
enum class ArgKind { Input, Param, State };

/// An SSA value: a function parameter or a node result.
class Value {
public:
  const TensorType &type() const { return type_; }
  /// The written name without '%', or "" for an unnamed value (the printer
  /// numbers those).
  const std::string &name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }
  /// The node that defines this value, or nullptr for a function parameter.
  Node *def() const { return def_; }
  /// Result index within def(), or parameter index.
  int index() const { return index_; }
  bool is_param() const { return def_ == nullptr; }
  /// For a parameter: input, {param} or {state}.
  ArgKind arg_kind() const { return arg_kind_; }
  void set_arg_kind(ArgKind k) { arg_kind_ = k; }
  const std::vector<Use> &uses() const { return uses_; }
  bool has_uses() const { return !uses_.empty(); }

private:
  friend class Node;
  friend class Function;
  Value(TensorType t, Node *def, int index)
      : type_(std::move(t)), def_(def), index_(index) {}
  void add_use(Node *user, int index) { uses_.push_back({user, index}); }
  void remove_use(Node *user, int index);

  TensorType type_;
  std::string name_;
  Node *def_;
  int index_;
  ArgKind arg_kind_ = ArgKind::Input;
  std::vector<Use> uses_;
};

/// One operation. Operands, attributes and result types are fixed when the
/// node is built; only operands may be redirected (set_operand).
class Node {
public:
  OpKind op() const { return op_; }
  /// The .kir spelling of op().
  const char *op_name() const;
  const std::vector<Value *> &operands() const { return operands_; }
  Value *operand(size_t i) const { return operands_[i]; }
  size_t num_operands() const { return operands_.size(); }
  /// Points operand \p i at \p v (same type), keeping use lists right.
  void set_operand(size_t i, Value *v);

  const Attrs &attrs() const { return attrs_; }
  /// The attribute \p name or nullptr. Schema attributes are always present
  /// (defaults are filled in when the node is built).
  const Attribute *attr(const std::string &name) const {
    return find_attr(attrs_, name);
  }
  int64_t int_attr(const std::string &name) const;
  double number_attr(const std::string &name) const;
  bool bool_attr(const std::string &name) const;
  std::vector<int64_t> ints_attr(const std::string &name) const;

  size_t num_results() const { return results_.size(); }
  Value *result(size_t i = 0) const { return results_[i].get(); }
  const TensorType &type(size_t i = 0) const { return results_[i]->type(); }

  Function *parent() const { return parent_; }
  const Loc &loc() const { return loc_; }
  void set_loc(Loc l) { loc_ = std::move(l); }

private:
  friend class Function;
  Node() = default;

  OpKind op_ = OpKind::Neg;
  std::vector<Value *> operands_;
  Attrs attrs_;
  std::vector<std::unique_ptr<Value>> results_;
  Function *parent_ = nullptr;
  Loc loc_;
  std::list<std::unique_ptr<Node>>::iterator self_;
};

/// Maps values of one region to values of another (clone_nodes).
using ValueMap = std::unordered_map<const Value *, Value *>;

/// A function: typed parameters, a body of nodes in SSA order, and results.
class Function {
public:
  explicit Function(std::string name) : name_(std::move(name)) {}
  ~Function();
  Function(const Function &) = delete;
  Function &operator=(const Function &) = delete;

  const std::string &name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }

  /// Appends a parameter.
  Value *add_param(std::string name, TensorType type,
                   ArgKind kind = ArgKind::Input);
  const std::vector<std::unique_ptr<Value>> &params() const { return params_; }
  Value *param(size_t i) const { return params_[i].get(); }
  /// The parameter or node result named \p name, or nullptr (linear scan).
  Value *find_value(const std::string &name) const;

  /// Builds a node at the insertion point. \p result_types may be empty for
  /// ops whose result types follow from operands and attributes; ops like
  /// reshape or cast need them. Attributes are checked against the op's
  /// schema, defaults filled in, and the shape rule run: a mismatch throws
  /// kiln::Error naming the op, the shapes and the fix.
  Node *add(OpKind op, const std::vector<Value *> &operands, Attrs attrs = {},
            const std::vector<TensorType> &result_types = {}, Loc loc = {});
  /// As add(), but returns nullptr and sets \p err (no location, starting
  /// with the op name) instead of throwing.
  Node *try_add(OpKind op, const std::vector<Value *> &operands, Attrs attrs,
                const std::vector<TensorType> &result_types, Loc loc,
                std::string &err);

  /// New nodes go before \p before; nullptr (the default) appends at the end.
  void set_insert_point(Node *before) { insert_before_ = before; }
  Node *insert_point() const { return insert_before_; }

  /// The body in order. Passes that erase while walking take nodes() first.
  const std::list<std::unique_ptr<Node>> &body() const { return body_; }
  /// A snapshot of the body, safe to hold while nodes are erased or added.
  std::vector<Node *> nodes() const;
  size_t num_nodes() const { return body_.size(); }

  /// Results of the function, with for each an optional parameter that the
  /// result overwrites in place (`{updates = %p}`), or nullptr.
  void set_results(const std::vector<Value *> &results,
                   const std::vector<Value *> &updates = {});
  const std::vector<Value *> &results() const { return results_; }
  Value *result(size_t i) const { return results_[i]; }
  const std::vector<Value *> &result_updates() const { return updates_; }
  /// Points result slot \p i at \p v.
  void set_result(size_t i, Value *v);

  /// Redirects every use of \p from (operands and results) to \p to, which
  /// must have the same type.
  void replace_all_uses(Value *from, Value *to);
  /// Removes \p n, whose results must have no uses.
  void erase(Node *n);
  /// Moves \p n before \p before (nullptr: to the end). The caller keeps
  /// the body in SSA order (every operand defined before its use).
  void move_before(Node *n, Node *before);
  /// Copies \p nodes (of this or another function, in order) to the
  /// insertion point. Operands found in \p map are replaced; results are
  /// added to \p map. Returns the copies.
  std::vector<Node *> clone_nodes(const std::vector<Node *> &nodes,
                                  ValueMap &map);
  /// A deep copy of the whole function.
  std::unique_ptr<Function> clone() const;

  const Loc &loc() const { return loc_; }
  void set_loc(Loc l) { loc_ = std::move(l); }

private:
  std::string name_;
  std::vector<std::unique_ptr<Value>> params_;
  std::list<std::unique_ptr<Node>> body_;
  std::vector<Value *> results_;
  std::vector<Value *> updates_;
  Node *insert_before_ = nullptr;
  Loc loc_;
};

/// A sequence of functions.
class Module {
public:
  Function *add_function(std::string name);
  /// Takes ownership of \p f and appends it.
  Function *add_function(std::unique_ptr<Function> f);
  const std::vector<std::unique_ptr<Function>> &functions() const {
    return functions_;
  }
  /// The function named \p name, or nullptr.
  Function *find(const std::string &name) const;
  std::unique_ptr<Module> clone() const;

private:
  std::vector<std::unique_ptr<Function>> functions_;
};

} // namespace kiln
