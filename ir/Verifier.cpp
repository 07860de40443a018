/// \file
/// The Graph IR verifier. Function::add keeps each node valid on its own;
/// this checks what holds between nodes (SSA order, names, results, updates)
/// and re-runs every node's rule, so that a pass which edits the IR in an
/// invalid way is caught by the pass manager right after it runs.
// SPDX-License-Identifier: Apache-2.0
#include "ir/Verifier.h"

#include "ir/OpRegistry.h"

#include <unordered_map>
#include <unordered_set>

namespace kiln {

namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/// Equality by canonical text, so that NaN equals NaN and 1 differs from 1.0.
bool same_attrs(const Attrs &a, const Attrs &b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].first != b[i].first ||
        attr_str(a[i].second) != attr_str(b[i].second))
      return false;
  return true;
}

bool is_printable_name(const std::string &s) {
  for (char c : s)
    if (!is_name_char(c))
      return false;
  return true;
}

class FunctionVerifier {
public:
  FunctionVerifier(const Function &f, Diagnostics &diags)
      : f_(f), diags_(diags) {}

  bool run() {
    size_t before = diags_.all().size();
    if (f_.name().empty() || !is_printable_name(f_.name()))
      diags_.error(f_.loc())
          << "function name '@" << f_.name() << "' is not a valid name";
    for (const auto &p : f_.params())
      define(p.get(), f_.loc());
    for (const auto &n : f_.body())
      check_node(*n);
    check_results();
    return diags_.all().size() == before;
  }

private:
  void define(const Value *v, const Loc &loc) {
    defined_.insert(v);
    const std::string &name = v->name();
    if (name.empty())
      return;
    if (!is_printable_name(name))
      diags_.error(loc) << "value name '%" << name
                        << "' has characters other than letters, digits, "
                           "'_' and '.'";
    else if (!names_.insert(name).second)
      diags_.error(loc) << "redefinition of value '%" << name << "' in @"
                        << f_.name();
  }

  void check_node(const Node &n) {
    if (n.parent() != &f_)
      diags_.error(n.loc())
          << n.op_name() << ": node's parent is not @" << f_.name();
    std::vector<TensorType> in;
    for (size_t i = 0; i < n.num_operands(); ++i) {
      const Value *v = n.operand(i);
      if (!v || !defined_.count(v)) {
        diags_.error(n.loc())
            << n.op_name() << ": operand " << i
            << " is not defined before its use in @" << f_.name();
        return;
      }
      in.push_back(v->type());
    }
    check_rule(n, in);
    for (size_t i = 0; i < n.num_results(); ++i)
      define(n.result(i), n.loc());
  }

  void check_rule(const Node &n, const std::vector<TensorType> &in) {
    std::vector<TensorType> declared, out;
    for (size_t i = 0; i < n.num_results(); ++i)
      declared.push_back(n.type(i));
    Attrs norm;
    std::string err;
    if (!infer_types(n.op(), in, n.attrs(), &declared, norm, out, err)) {
      diags_.error(n.loc()) << err;
      return;
    }
    if (!same_attrs(norm, n.attrs()))
      diags_.error(n.loc()) << n.op_name()
                            << ": attributes are not in schema order with "
                               "defaults filled in";
  }

  void check_results() {
    const auto &results = f_.results();
    const auto &updates = f_.result_updates();
    std::unordered_set<const Value *> updated;
    for (size_t i = 0; i < results.size(); ++i) {
      const Value *r = results[i];
      if (!r || !defined_.count(r)) {
        diags_.error(f_.loc()) << "result " << i << " of @" << f_.name()
                               << " is not a value of the function";
        continue;
      }
      const Value *u = i < updates.size() ? updates[i] : nullptr;
      if (u)
        check_update(i, r, u, updated);
    }
  }

  void check_update(size_t i, const Value *r, const Value *u,
                    std::unordered_set<const Value *> &updated) {
    bool is_own_param = u->is_param() &&
                        size_t(u->index()) < f_.params().size() &&
                        f_.param(size_t(u->index())) == u;
    std::string where =
        "result " + std::to_string(i) + " of @" + f_.name() + " updates ";
    if (!is_own_param)
      diags_.error(f_.loc()) << where
                             << "a value that is not a parameter of "
                                "the function";
    else if (u->arg_kind() == ArgKind::Input)
      diags_.error(f_.loc()) << where << "input '%" << u->name()
                             << "'; only {param} and {state} parameters can "
                                "be updated";
    else if (u->type() != r->type())
      diags_.error(f_.loc())
          << where << "'%" << u->name() << "' of type " << type_str(u->type())
          << " with a value of type " << type_str(r->type());
    else if (!updated.insert(u).second)
      diags_.error(f_.loc()) << "parameter '%" << u->name()
                             << "' is updated by two results of @" << f_.name();
  }

  const Function &f_;
  Diagnostics &diags_;
  std::unordered_set<const Value *> defined_;
  std::unordered_set<std::string> names_;
};

} // namespace

bool verify(const Function &f, Diagnostics &diags) {
  return FunctionVerifier(f, diags).run();
}

bool verify(const Module &m, Diagnostics &diags) {
  bool ok = true;
  std::unordered_set<std::string> names;
  for (const auto &f : m.functions()) {
    if (!names.insert(f->name()).second) {
      diags.error(f->loc())
          << "redefinition of function '@" << f->name() << "'";
      ok = false;
    }
    ok &= verify(*f, diags);
  }
  return ok;
}

} // namespace kiln
