/// \file
/// The .kir printer. Its output is the canonical text: two-space indent,
/// ", " separators, attributes in schema order, one blank line between
/// functions. Unnamed values get the smallest numbers not already used as
/// names, in order of definition, so that the text parses back to an equal
/// module and prints again to the same text.
// SPDX-License-Identifier: Apache-2.0
#include "ir/Printer.h"

#include <sstream>
#include <unordered_map>
#include <unordered_set>

namespace kiln {

namespace {

/// The printed names of one function's values.
class Namer {
public:
  explicit Namer(const Function &f) {
    for (const auto &p : f.params())
      used_.insert(p->name());
    for (const auto &n : f.body())
      for (size_t i = 0; i < n->num_results(); ++i)
        used_.insert(n->result(i)->name());
    for (const auto &p : f.params())
      name(p.get());
    for (const auto &n : f.body())
      for (size_t i = 0; i < n->num_results(); ++i)
        name(n->result(i));
  }

  const std::unordered_map<const Value *, std::string> &all() const {
    return names_;
  }

  /// "%name"; an unnamed value gets a number on first sight.
  const std::string &name(const Value *v) {
    auto it = names_.find(v);
    if (it != names_.end())
      return it->second;
    std::string s = v->name();
    if (s.empty()) {
      while (used_.count(std::to_string(next_)))
        ++next_;
      s = std::to_string(next_++);
    }
    return names_[v] = "%" + s;
  }

private:
  std::unordered_set<std::string> used_;
  std::unordered_map<const Value *, std::string> names_;
  int64_t next_ = 0;
};

void print_attrs(const Attrs &attrs, std::ostream &os) {
  if (attrs.empty())
    return;
  os << " {";
  for (size_t i = 0; i < attrs.size(); ++i)
    os << (i ? ", " : "") << attrs[i].first << " = "
       << attr_str(attrs[i].second);
  os << "}";
}

void print_signature(const Function &f, Namer &names, std::ostream &os) {
  os << "func @" << f.name() << "(";
  for (size_t i = 0; i < f.params().size(); ++i) {
    const Value *p = f.param(i);
    os << (i ? ", " : "") << names.name(p) << ": " << type_str(p->type());
    if (p->arg_kind() == ArgKind::Param)
      os << " {param}";
    else if (p->arg_kind() == ArgKind::State)
      os << " {state}";
  }
  os << ") -> (";
  const auto &updates = f.result_updates();
  for (size_t i = 0; i < f.results().size(); ++i) {
    os << (i ? ", " : "") << type_str(f.result(i)->type());
    if (i < updates.size() && updates[i])
      os << " {updates = " << names.name(updates[i]) << "}";
  }
  os << ") {\n";
}

void print_node(const Node &n, Namer &names, std::ostream &os) {
  os << "  ";
  for (size_t i = 0; i < n.num_results(); ++i)
    os << (i ? ", " : "") << names.name(n.result(i));
  os << " = " << n.op_name() << "(";
  for (size_t i = 0; i < n.num_operands(); ++i)
    os << (i ? ", " : "") << names.name(n.operand(i));
  os << ")";
  print_attrs(n.attrs(), os);
  os << " : ";
  for (size_t i = 0; i < n.num_results(); ++i)
    os << (i ? ", " : "") << type_str(n.type(i));
  os << "\n";
}

} // namespace

void print_function(const Function &f, std::ostream &os) {
  Namer names(f);
  print_signature(f, names, os);
  for (const auto &n : f.body())
    print_node(*n, names, os);
  os << "  return";
  for (size_t i = 0; i < f.results().size(); ++i)
    os << (i ? ", " : " ") << names.name(f.result(i));
  os << "\n}\n";
}

void print_module(const Module &m, std::ostream &os) {
  for (size_t i = 0; i < m.functions().size(); ++i) {
    if (i)
      os << "\n";
    print_function(*m.functions()[i], os);
  }
}

std::string to_string(const Module &m) {
  std::ostringstream os;
  print_module(m, os);
  return os.str();
}

std::string to_string(const Function &f) {
  std::ostringstream os;
  print_function(f, os);
  return os.str();
}

std::unordered_map<const Value *, std::string>
printed_names(const Function &f) {
  return Namer(f).all();
}

} // namespace kiln
