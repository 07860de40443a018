/// \file
/// Attribute helpers and their canonical text.
// SPDX-License-Identifier: Apache-2.0
#include "ir/Attribute.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace kiln {

Attribute Attribute::ints(const std::vector<int64_t> &v) {
  AttrList l;
  l.reserve(v.size());
  for (int64_t x : v)
    l.emplace_back(x);
  return Attribute(std::move(l));
}

Attribute Attribute::floats(const std::vector<double> &v) {
  AttrList l;
  l.reserve(v.size());
  for (double x : v)
    l.emplace_back(x);
  return Attribute(std::move(l));
}

bool Attribute::is_int_list() const {
  if (!is_list())
    return false;
  for (const Attribute &a : as_list())
    if (!a.is_int())
      return false;
  return true;
}

bool Attribute::is_number_list() const {
  if (!is_list())
    return false;
  for (const Attribute &a : as_list())
    if (!a.is_number())
      return false;
  return true;
}

std::vector<int64_t> Attribute::as_ints() const {
  std::vector<int64_t> r;
  for (const Attribute &a : as_list())
    r.push_back(a.as_int());
  return r;
}

std::vector<double> Attribute::as_numbers() const {
  std::vector<double> r;
  for (const Attribute &a : as_list())
    r.push_back(a.as_number());
  return r;
}

const Attribute *find_attr(const Attrs &attrs, const std::string &name) {
  for (const NamedAttr &a : attrs)
    if (a.first == name)
      return &a.second;
  return nullptr;
}

std::string format_double(double v) {
  if (std::isnan(v))
    return "nan";
  if (std::isinf(v))
    return v < 0 ? "-inf" : "inf";
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (std::strtod(buf, nullptr) == v)
      break;
  }
  std::string s = buf;
  if (s.find_first_of(".e") == std::string::npos)
    s += ".0";
  return s;
}

std::string attr_str(const Attribute &a) {
  switch (a.kind()) {
  case Attribute::Kind::Int:
    return std::to_string(a.as_int());
  case Attribute::Kind::Float:
    return format_double(a.as_number());
  case Attribute::Kind::String: {
    std::string r = "\"";
    for (char c : a.as_string()) {
      if (c == '"' || c == '\\')
        r += '\\';
      if (c == '\n') {
        r += "\\n";
        continue;
      }
      r += c;
    }
    return r + "\"";
  }
  case Attribute::Kind::Bool:
    return a.as_bool() ? "true" : "false";
  case Attribute::Kind::DType:
    return std::string(dtype_name(a.as_dtype()));
  case Attribute::Kind::List: {
    std::string r = "[";
    const AttrList &l = a.as_list();
    for (size_t i = 0; i < l.size(); ++i) {
      if (i)
        r += ", ";
      r += attr_str(l[i]);
    }
    return r + "]";
  }
  }
  return "";
}

} // namespace kiln
