/// \file
/// The .kir parser, part two: types (`f32[2,3]`, with dimension and element
/// count limits) and attributes (`{axes = [1], keepdims = false}`), checked
/// against the op's schema where they are written.
// SPDX-License-Identifier: Apache-2.0
#include "ir/ParserImpl.h"

#include <cmath>

namespace kiln::parser {

bool Parser::parse_attrs(OpKind op, Attrs &attrs) {
  const OpDef &def = op_def(op);
  advance();
  while (!tok_.is(TokKind::RBrace)) {
    if (!attrs.empty() && !expect(TokKind::Comma, "',' or '}'"))
      return false;
    Token name = tok_;
    if (!name.is(TokKind::Ident))
      return fail(name, "expected an attribute name, got " + describe(name));
    std::string key(name.text);
    if (find_attr(attrs, key))
      return fail(name, std::string(def.name) + ": attribute '" + key +
                            "' given twice");
    const AttrSpec *spec = nullptr;
    std::string known;
    for (const AttrSpec &s : def.attrs) {
      spec = key == s.name ? &s : spec;
      known += (known.empty() ? "" : ", ") + std::string(s.name);
    }
    if (!spec)
      return fail(name, std::string(def.name) + ": unknown attribute '" + key +
                            "' (" + def.name + " takes: " +
                            (known.empty() ? "none" : known) + ")");
    advance();
    if (!expect(TokKind::Equal, "'=' after the attribute name"))
      return false;
    Token vtok = tok_;
    Attribute a;
    if (!parse_attr_value(a, 0))
      return false;
    if (!attr_matches(a, spec->kind))
      return fail(vtok, std::string(def.name) + ": attribute '" + key +
                            "' must be " + attr_kind_description(spec->kind) +
                            ", got " + attr_str(a));
    attrs.emplace_back(key, std::move(a));
  }
  advance();
  return true;
}

bool Parser::parse_attr_value(Attribute &a, int depth) {
  Token t = tok_;
  switch (t.kind) {
  case TokKind::Int:
    if (t.int_overflow)
      return fail(t, "integer " + std::string(t.text) +
                         " does not fit in 64 bits");
    a = Attribute(t.int_value);
    break;
  case TokKind::Float:
    if (t.float_overflow)
      return fail(t, "number " + std::string(t.text) + " is out of range");
    a = Attribute(t.float_value);
    break;
  case TokKind::String:
    a = Attribute(t.str);
    break;
  case TokKind::Ident:
    if (t.text == "true" || t.text == "false")
      a = Attribute(t.text == "true");
    else if (t.text == "inf")
      a = Attribute(double(INFINITY));
    else if (t.text == "nan")
      a = Attribute(std::nan(""));
    else if (std::optional<DType> d = parse_dtype(t.text))
      a = Attribute(*d);
    else
      return fail(t, "expected an attribute value, got " + describe(t));
    break;
  case TokKind::LBracket: {
    if (depth >= kMaxListDepth)
      return fail(t, "attribute lists nest too deeply (at most " +
                         std::to_string(kMaxListDepth) + " levels)");
    advance();
    AttrList l;
    while (!tok_.is(TokKind::RBracket)) {
      if (!l.empty() && !expect(TokKind::Comma, "',' or ']'"))
        return false;
      l.emplace_back();
      if (!parse_attr_value(l.back(), depth + 1))
        return false;
    }
    a = Attribute(std::move(l));
    break;
  }
  default:
    return fail(t, "expected an attribute value, got " + describe(t));
  }
  advance();
  return true;
}

bool Parser::parse_type(TensorType &t) {
  Token d = tok_;
  if (!d.is(TokKind::Ident))
    return fail(d, "expected a type such as f32[2,3], got " + describe(d));
  std::optional<DType> dtype = parse_dtype(d.text);
  if (!dtype)
    return fail(d, "unknown dtype '" + std::string(d.text) +
                       "' (expected f32, f64, f16, bf16, i32, i64 or bool)");
  advance();
  if (!expect(TokKind::LBracket, "'[' after the dtype"))
    return false;
  Shape shape;
  while (!tok_.is(TokKind::RBracket)) {
    if (!shape.empty() && !expect(TokKind::Comma, "',' or ']'"))
      return false;
    Token n = tok_;
    if (!n.is(TokKind::Int))
      return fail(n, "expected a dimension, got " + describe(n));
    if (n.int_overflow || n.int_value > kMaxElements)
      return fail(n, "dimension " + std::string(n.text) +
                         " is too large (at most 2^48)");
    if (n.int_value < 0)
      return fail(n, "dimension " + std::string(n.text) + " is negative");
    shape.push_back(n.int_value);
    advance();
  }
  advance();
  t = TensorType{*dtype, std::move(shape)};
  if (checked_numel(t.shape) < 0)
    return fail(d, "type " + type_str(t) + " has more than 2^48 elements");
  return true;
}

bool Parser::parse_types(std::vector<TensorType> &types) {
  for (;;) {
    types.emplace_back();
    if (!parse_type(types.back()))
      return false;
    if (!tok_.is(TokKind::Comma))
      break;
    advance();
  }
  if (tok_.at_line_start || tok_.is(TokKind::Eof) || tok_.is(TokKind::RBrace))
    return true;
  return fail(tok_, "unexpected " + describe(tok_) +
                        " after the statement (one statement per line)");
}

} // namespace kiln::parser
