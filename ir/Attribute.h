/// \file
/// Node attributes: integers, floats, strings, booleans, dtypes and lists of
/// these, as written in .kir: `{axes = [1], keepdims = false, value = 0.5}`.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/DType.h"

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace kiln {

class Attribute;
using AttrList = std::vector<Attribute>;

/// One attribute value. Integers and floats are distinct kinds: `1` is an
/// integer, `1.0` a float; a float attribute accepts an integer literal when
/// it is checked against a schema (see OpRegistry).
class Attribute {
public:
  enum class Kind { Int, Float, String, Bool, DType, List };

  Attribute() : v_(int64_t(0)) {}
  Attribute(int64_t i) : v_(i) {}
  Attribute(int i) : v_(int64_t(i)) {}
  Attribute(double f) : v_(f) {}
  Attribute(std::string s) : v_(std::move(s)) {}
  Attribute(const char *s) : v_(std::string(s)) {}
  Attribute(bool b) : v_(b) {}
  Attribute(DType t) : v_(t) {}
  Attribute(AttrList l) : v_(std::move(l)) {}
  /// A list of integers, the most common list: `[1, 0]`.
  static Attribute ints(const std::vector<int64_t> &v);
  static Attribute floats(const std::vector<double> &v);

  Kind kind() const { return Kind(v_.index()); }
  bool is_int() const { return kind() == Kind::Int; }
  bool is_float() const { return kind() == Kind::Float; }
  bool is_number() const { return is_int() || is_float(); }
  bool is_list() const { return kind() == Kind::List; }

  int64_t as_int() const { return std::get<int64_t>(v_); }
  /// The numeric value of an Int or Float attribute.
  double as_number() const {
    return is_int() ? double(as_int()) : std::get<double>(v_);
  }
  const std::string &as_string() const { return std::get<std::string>(v_); }
  bool as_bool() const { return std::get<bool>(v_); }
  DType as_dtype() const { return std::get<DType>(v_); }
  const AttrList &as_list() const { return std::get<AttrList>(v_); }
  /// The list as integers; the caller has checked is_int_list().
  std::vector<int64_t> as_ints() const;
  /// The list as numbers; the caller has checked is_number_list().
  std::vector<double> as_numbers() const;
  bool is_int_list() const;
  bool is_number_list() const;

  bool operator==(const Attribute &o) const { return v_ == o.v_; }
  bool operator!=(const Attribute &o) const { return !(*this == o); }

private:
  std::variant<int64_t, double, std::string, bool, DType, AttrList> v_;
};

/// Named attributes of a node, kept in the order of the op's schema so that
/// printing is canonical.
using NamedAttr = std::pair<std::string, Attribute>;
using Attrs = std::vector<NamedAttr>;

/// The attribute named \p name, or nullptr.
const Attribute *find_attr(const Attrs &attrs, const std::string &name);

/// Shortest text that reads back as exactly \p v: "0.5", "1.0", "1e-07",
/// "inf", "-inf", "nan". Always contains '.', 'e', or is a non-finite word,
/// so the parser can tell it from an integer.
std::string format_double(double v);
/// The .kir text of an attribute value.
std::string attr_str(const Attribute &a);

} // namespace kiln
