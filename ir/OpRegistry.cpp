/// \file
/// The table of OpDefs, generic attribute checking and type inference.
// SPDX-License-Identifier: Apache-2.0
#include "ir/OpRegistry.h"

#include "ir/Error.h"
#include "ir/ops/OpDefs.h"

#include <unordered_map>

namespace kiln {

namespace {
const OpDef *const kOpDefs[] = {
#define KILN_OP(Kind, name) &ops::kOpDef_##name,
#include "ir/Ops.def"
};
static_assert(sizeof(kOpDefs) / sizeof(kOpDefs[0]) == size_t(kNumOps),
              "every op of Ops.def needs an OpDef");

std::string list_names(const std::vector<AttrSpec> &specs) {
  std::string r;
  for (const AttrSpec &s : specs)
    r += (r.empty() ? "" : ", ") + std::string(s.name);
  return r.empty() ? "none" : r;
}
} // namespace

const OpDef &op_def(OpKind op) { return *kOpDefs[int(op)]; }
const char *op_name(OpKind op) { return kOpDefs[int(op)]->name; }

std::optional<OpKind> find_op(std::string_view name) {
  static const std::unordered_map<std::string_view, OpKind> kByName = [] {
    std::unordered_map<std::string_view, OpKind> m;
    for (int i = 0; i < kNumOps; ++i)
      m.emplace(kOpDefs[i]->name, OpKind(i));
    return m;
  }();
  auto it = kByName.find(name);
  if (it == kByName.end())
    return std::nullopt;
  return it->second;
}

const char *attr_kind_description(AttrKind k) {
  switch (k) {
  case AttrKind::Int:
    return "an integer";
  case AttrKind::Number:
    return "a number";
  case AttrKind::Bool:
    return "true or false";
  case AttrKind::String:
    return "a string";
  case AttrKind::DType:
    return "a dtype";
  case AttrKind::Ints:
    return "a list of integers";
  case AttrKind::Numbers:
    return "a list of numbers";
  case AttrKind::Value:
    return "a number, a bool or a list of them";
  }
  return "?";
}

bool attr_matches(const Attribute &a, AttrKind k) {
  using K = Attribute::Kind;
  switch (k) {
  case AttrKind::Int:
    return a.is_int();
  case AttrKind::Number:
    return a.is_number();
  case AttrKind::Bool:
    return a.kind() == K::Bool;
  case AttrKind::String:
    return a.kind() == K::String;
  case AttrKind::DType:
    return a.kind() == K::DType;
  case AttrKind::Ints:
    return a.is_int_list();
  case AttrKind::Numbers:
    return a.is_number_list();
  case AttrKind::Value: {
    if (a.is_number() || a.kind() == K::Bool)
      return true;
    if (!a.is_list())
      return false;
    for (const Attribute &e : a.as_list())
      if (!e.is_number() && e.kind() != K::Bool)
        return false;
    return true;
  }
  }
  return false;
}

const Attribute &ShapeCtx::attr(const char *name) const {
  const Attribute *a = find_attr(attrs, name);
  KILN_CHECK(a) << "shape rule reads attribute '" << name
                << "' that is not in the op's schema";
  return *a;
}

bool normalize_attrs(OpKind op, const Attrs &attrs, Attrs &out,
                     std::string &err) {
  const OpDef &def = op_def(op);
  for (size_t i = 0; i < attrs.size(); ++i) {
    const std::string &name = attrs[i].first;
    for (size_t j = 0; j < i; ++j)
      if (attrs[j].first == name) {
        err = "attribute '" + name + "' given twice";
        return false;
      }
    bool known = false;
    for (const AttrSpec &s : def.attrs)
      known |= name == s.name;
    if (!known) {
      err = "unknown attribute '" + name + "' (" + def.name +
            " takes: " + list_names(def.attrs) + ")";
      return false;
    }
  }
  Attrs r;
  for (const AttrSpec &s : def.attrs) {
    const Attribute *a = find_attr(attrs, s.name);
    if (!a && !s.default_value) {
      err = std::string("missing attribute '") + s.name + "' (" +
            attr_kind_description(s.kind) + ")";
      return false;
    }
    if (a && !attr_matches(*a, s.kind)) {
      err = std::string("attribute '") + s.name + "' must be " +
            attr_kind_description(s.kind) + ", got " + attr_str(*a);
      return false;
    }
    r.emplace_back(s.name, a ? *a : *s.default_value);
  }
  out = std::move(r);
  return true;
}

bool infer_types(OpKind op, const std::vector<TensorType> &operands,
                 const Attrs &attrs, const std::vector<TensorType> *declared,
                 Attrs &norm_attrs, std::vector<TensorType> &out,
                 std::string &err) {
  const OpDef &def = op_def(op);
  std::string prefix = std::string(def.name) + ": ";
  int n = int(operands.size());
  if (n < def.min_operands || (def.max_operands >= 0 && n > def.max_operands)) {
    std::string want = std::to_string(def.min_operands);
    if (def.max_operands < 0)
      want = "at least " + want;
    else if (def.max_operands != def.min_operands)
      want += " to " + std::to_string(def.max_operands);
    err = prefix + "expected " + want + " operand" +
          (def.min_operands == 1 && def.max_operands == 1 ? "" : "s") +
          ", got " + std::to_string(n);
    return false;
  }
  std::string aerr;
  if (!normalize_attrs(op, attrs, norm_attrs, aerr)) {
    err = prefix + aerr;
    return false;
  }
  if (def.needs_result_type && (!declared || declared->empty())) {
    err = prefix + "the result type must be given (it is not implied by the "
                   "operands)";
    return false;
  }
  ShapeCtx c{operands, norm_attrs, declared, {}, {}};
  if (!def.shape(c)) {
    err = prefix + c.err.str();
    return false;
  }
  if (declared && !declared->empty()) {
    if (declared->size() != c.out.size()) {
      err = prefix + "has " + std::to_string(c.out.size()) + " result" +
            (c.out.size() == 1 ? "" : "s") + ", " +
            std::to_string(declared->size()) + " annotated";
      return false;
    }
    for (size_t i = 0; i < c.out.size(); ++i)
      if (c.out[i] != (*declared)[i]) {
        err = prefix + "result type is " + type_str(c.out[i]) +
              ", but annotated as " + type_str((*declared)[i]);
        return false;
      }
  }
  out = std::move(c.out);
  return true;
}

} // namespace kiln
