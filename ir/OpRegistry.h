/// \file
/// The op registry: one OpDef per primitive op, filled from ir/Ops.def. An
/// OpDef holds everything ir/ knows about an op: its operand count, its
/// attribute schema with defaults, its shape and dtype rule (which is also
/// its verifier), and its reference-interpreter kernel.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"
#include "ir/HostTensor.h"

#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

/// What an attribute of a schema must hold.
enum class AttrKind {
  Int,
  Number, ///< a float; an integer literal is accepted and kept as written
  Bool,
  String,
  DType,
  Ints,    ///< a list of integers
  Numbers, ///< a list of numbers
  Value,   ///< a number, a bool, or a list of numbers or bools (constant data)
};

/// "an integer", "a list of integers", ...: for error messages.
const char *attr_kind_description(AttrKind k);
bool attr_matches(const Attribute &a, AttrKind k);

struct AttrSpec {
  const char *name;
  AttrKind kind;
  /// The value filled in when the attribute is absent; std::nullopt makes the
  /// attribute required.
  std::optional<Attribute> default_value;
};

/// The inputs and outputs of a shape rule.
struct ShapeCtx {
  const std::vector<TensorType> &in;
  const Attrs &attrs;
  /// The written result types (the parser's annotation, or those passed to
  /// Function::add), or nullptr when none were given. Ops that take their
  /// result type from the text (reshape, cast, constant, ...) need them.
  const std::vector<TensorType> *declared;
  /// Set by the rule: the result types.
  std::vector<TensorType> out;
  /// Set by the rule when it fails: the reason, without the op name.
  std::ostringstream err;

  const Attribute &attr(const char *name) const;
  int64_t int_attr(const char *name) const { return attr(name).as_int(); }
  std::vector<int64_t> ints_attr(const char *name) const {
    return attr(name).as_ints();
  }
  bool bool_attr(const char *name) const { return attr(name).as_bool(); }
  /// Starts an error message; the rule then returns false.
  std::ostringstream &fail() { return err; }
};

/// Computes result types from operand types and attributes, or reports why
/// the operands are invalid. Attributes are already schema-checked.
using ShapeFn = bool (*)(ShapeCtx &c);
/// Evaluates a node on host tensors: \p in holds its operands, \p out gets
/// one tensor per result, of the node's result types.
using InterpFn = void (*)(const Node &n,
                          const std::vector<const HostTensor *> &in,
                          std::vector<HostTensor> &out);

struct OpDef {
  const char *name;
  /// One line: what the op computes.
  const char *summary;
  /// A .kir statement using the op.
  const char *example;
  int min_operands;
  int max_operands; ///< -1: any number
  std::vector<AttrSpec> attrs;
  ShapeFn shape;
  InterpFn interp;
  /// True for ops whose results are written by the user (reshape, cast,
  /// constant, ...); add() then requires result types.
  bool needs_result_type = false;
  /// True for ops that talk to other ranks (collectives): canonicalize
  /// never folds, merges or reorders them.
  bool communicates = false;
};

/// The definition of \p op.
const OpDef &op_def(OpKind op);
const char *op_name(OpKind op);
/// The op spelled \p name in .kir, or nullopt.
std::optional<OpKind> find_op(std::string_view name);

/// Checks \p attrs against the schema of \p op and returns them in schema
/// order with defaults filled in. On failure returns false and sets \p err.
bool normalize_attrs(OpKind op, const Attrs &attrs, Attrs &out,
                     std::string &err);

/// Runs the schema check and shape rule of \p op. On success sets \p out to
/// the result types (equal to \p declared when given) and \p norm_attrs to
/// the normalized attributes. On failure returns false and sets \p err to
/// "OP: REASON".
bool infer_types(OpKind op, const std::vector<TensorType> &operands,
                 const Attrs &attrs, const std::vector<TensorType> *declared,
                 Attrs &norm_attrs, std::vector<TensorType> &out,
                 std::string &err);

} // namespace kiln
