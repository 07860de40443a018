/// \file
/// Graphviz output of a function and its kernels (passes/Dot.h).
// SPDX-License-Identifier: Apache-2.0
#include "passes/Dot.h"

#include "ir/Printer.h"

#include <map>
#include <sstream>
#include <unordered_map>

namespace kiln {

namespace {

/// \p s as the inside of a double-quoted dot string.
std::string quote(const std::string &s) {
  std::string r;
  for (char c : s) {
    if (c == '"' || c == '\\')
      r += '\\';
    r += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  return r;
}

std::string bytes_str(int64_t b) {
  if (b >= 10 << 20)
    return std::to_string(b >> 20) + " MiB";
  if (b >= 10 << 10)
    return std::to_string(b >> 10) + " KiB";
  return std::to_string(b) + " B";
}

std::string loc_str(const Loc &l) {
  if (!l.known())
    return "";
  return l.file + ":" + std::to_string(l.line) +
         (l.col > 0 ? ":" + std::to_string(l.col) : "");
}

struct Layout {
  std::unordered_map<const Value *, std::string> names, ids;
  /// Body position -> kernels fusing it, in kernel order.
  std::map<int, std::vector<size_t>> kernels_of;
};

/// The kernel a node is drawn in (its first), or -1.
int home(const Layout &l, int pos) {
  auto it = l.kernels_of.find(pos);
  return it == l.kernels_of.end() ? -1 : int(it->second.front());
}

void node_line(const Layout &l, const loop::Program &p, const Node &n, int pos,
               std::ostream &os) {
  std::string label;
  for (size_t r = 0; r < n.num_results(); ++r)
    label += (r ? ", " : "") + l.names.at(n.result(r));
  label += " = " + std::string(n.op_name());
  for (size_t r = 0; r < n.num_results(); ++r)
    label += "\n" + type_str(n.type(r));
  if (n.loc().known())
    label += "\n" + loc_str(n.loc());
  auto it = l.kernels_of.find(pos);
  if (it != l.kernels_of.end() && it->second.size() > 1) {
    label += "\nalso inlined in";
    for (size_t i = 1; i < it->second.size(); ++i)
      label += " " + p.kernels[it->second[i]].name;
  }
  os << "    n" << pos << " [label=\"" << quote(label) << "\"];\n";
}

} // namespace

std::string to_dot(const Function &f, const loop::Program &p) {
  Layout l;
  l.names = printed_names(f);
  for (size_t k = 0; k < p.kernels.size(); ++k)
    for (const loop::SourceOp &s : p.kernels[k].sources)
      l.kernels_of[s.node].push_back(k);
  std::ostringstream os;
  os << "digraph \"" << quote(f.name()) << "\" {\n"
     << "  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", "
        "fontsize=10];\n  edge [fontname=\"monospace\", fontsize=9];\n";
  std::unordered_map<const Node *, int> pos;
  for (const auto &n : f.body())
    pos[n.get()] = int(pos.size());
  for (size_t i = 0; i < f.params().size(); ++i) {
    const Value *v = f.param(i);
    const char *kind = v->arg_kind() == ArgKind::Input   ? ""
                       : v->arg_kind() == ArgKind::Param ? " {param}"
                                                         : " {state}";
    l.ids[v] = "p" + std::to_string(i);
    os << "  p" << i << " [shape=ellipse, label=\""
       << quote(l.names.at(v) + kind + "\n" + type_str(v->type())) << "\"];\n";
  }
  for (const auto &n : f.body())
    for (size_t r = 0; r < n->num_results(); ++r)
      l.ids[n->result(r)] = "n" + std::to_string(pos[n.get()]);
  for (size_t k = 0; k < p.kernels.size(); ++k) {
    os << "  subgraph cluster_" << k << " {\n    label=\""
       << quote(p.kernels[k].name + ": " + p.kernels[k].ops)
       << "\";\n    style=rounded;\n    color=blue;\n";
    for (const auto &n : f.body())
      if (home(l, pos[n.get()]) == int(k))
        node_line(l, p, *n, pos[n.get()], os);
    os << "  }\n";
  }
  for (const auto &n : f.body())
    if (home(l, pos[n.get()]) < 0)
      node_line(l, p, *n, pos[n.get()], os);
  os << "  ret [shape=doubleoctagon, label=\"return\"];\n";
  auto edge = [&](const Value *v, const std::string &to, int to_kernel) {
    int from_kernel = v->def() ? home(l, pos[v->def()]) : -1;
    bool fused = from_kernel >= 0 && from_kernel == to_kernel;
    os << "  " << l.ids.at(v) << " -> " << to << " [label=\""
       << quote(type_str(v->type()) + "\n" + bytes_str(v->type().bytes()))
       << "\"" << (fused ? ", style=dashed, color=gray" : ", penwidth=2")
       << "];\n";
  };
  for (const auto &n : f.body())
    for (const Value *o : n->operands())
      edge(o, "n" + std::to_string(pos[n.get()]), home(l, pos[n.get()]));
  for (const Value *r : f.results())
    edge(r, "ret", -1);
  os << "}\n";
  return os.str();
}

} // namespace kiln
