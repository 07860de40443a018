/// \file
/// The memory plan as text (kiln-opt --print-memory-plan, kiln-run
/// --memory) and as an SVG timeline ($KILN_MEMORY_TIMELINE), and the hook
/// lower() calls after laying out the arena.
// SPDX-License-Identifier: Apache-2.0
#include "ir/Error.h"
#include "passes/PlanMemory.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

namespace kiln {

namespace {

std::string step_name(const loop::Program &p, int step) {
  if (step < 0)
    return "none";
  if (size_t(step) >= p.kernels.size())
    return "updates";
  return p.kernels[size_t(step)].name;
}

/// The ops label of the first kernel that writes each buffer.
std::vector<std::string> producers(const loop::Program &p) {
  std::vector<std::string> ops(p.buffers.size(), "-");
  std::vector<LiveInterval> iv = live_intervals(p);
  for (size_t b = 0; b < p.buffers.size(); ++b)
    if (iv[b].live() && size_t(iv[b].first) < p.kernels.size())
      ops[b] = p.kernels[size_t(iv[b].first)].ops;
  return ops;
}

/// One line per update computed in its state buffer (alias_updates).
void report_state_aliases(const loop::Program &p, std::ostream &os) {
  std::vector<int> state_of_arg;
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    const loop::Buffer &buf = p.buffers[b];
    if (buf.kind != loop::BufferKind::State)
      continue;
    size_t arg = size_t(buf.arg_index);
    if (arg >= state_of_arg.size())
      state_of_arg.resize(arg + 1, -1);
    if (state_of_arg[arg] < 0) {
      state_of_arg[arg] = int(b);
      continue;
    }
    int k = first_writer(p, int(b));
    os << "  %" << buf.name << " \"" << (k < 0 ? "-" : p.kernels[size_t(k)].ops)
       << "\" bytes=" << buf.bytes() << " live=[" << step_name(p, k)
       << ",end] in state %" << p.buffers[size_t(state_of_arg[arg])].name
       << "\n";
  }
}

} // namespace

std::string memory_report(const loop::Program &p) {
  std::ostringstream os;
  std::vector<LiveInterval> iv = live_intervals(p);
  std::vector<std::string> ops = producers(p);
  os << "memory plan @" << p.name << "\n";
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    const loop::Buffer &buf = p.buffers[b];
    if (buf.kind != loop::BufferKind::Temp)
      continue;
    os << "  %" << buf.name << " \"" << ops[b] << "\" bytes=" << buf.bytes()
       << " live=";
    if (iv[b].live())
      os << "[" << step_name(p, iv[b].first) << "," << step_name(p, iv[b].last)
         << "]";
    else
      os << "none";
    os << " offset=" << buf.arena_offset << "\n";
  }
  report_state_aliases(p, os);
  MemoryStats st = memory_summary(p);
  os << "memory: arena_bytes=" << st.arena_bytes
     << " lower_bound=" << st.lower_bound << " no_reuse=" << st.no_reuse
     << " peak_at=" << step_name(p, st.peak_step) << "\n";
  return os.str();
}

std::string memory_timeline_svg(const loop::Program &p) {
  std::vector<int64_t> live = live_bytes(p);
  MemoryStats st = memory_summary(p);
  const double w = 800, h = 300, left = 60, top = 20, bottom = 40;
  double ymax =
      double(std::max<int64_t>({st.arena_bytes, st.lower_bound, int64_t(1)}));
  double dx = (w - left - 10) / double(std::max<size_t>(live.size(), 1));
  auto y = [&](double v) { return top + (h - top - bottom) * (1 - v / ymax); };
  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << w
     << "\" height=\"" << h << "\" font-family=\"sans-serif\" "
     << "font-size=\"11\">\n<title>@" << p.name << " live bytes</title>\n";
  os << "<polyline fill=\"none\" stroke=\"black\" points=\"";
  for (size_t t = 0; t < live.size(); ++t)
    os << left + dx * double(t) << "," << y(double(live[t])) << " "
       << left + dx * double(t + 1) << "," << y(double(live[t])) << " ";
  os << "\"/>\n";
  // The arena's label at the left, the bound's at the right: they do not
  // collide when the plan reaches the bound.
  auto line = [&](int64_t v, const char *color, const char *label, bool right) {
    os << "<line x1=\"" << left << "\" x2=\"" << w - 10 << "\" y1=\""
       << y(double(v)) << "\" y2=\"" << y(double(v)) << "\" stroke=\"" << color
       << "\" stroke-dasharray=\"4 2\"/>\n<text x=\""
       << (right ? w - 14 : left + 4) << "\" y=\"" << y(double(v)) - 3
       << "\" fill=\"" << color << "\" text-anchor=\""
       << (right ? "end" : "start") << "\">" << label << " " << v
       << " bytes</text>\n";
  };
  line(st.arena_bytes, "red", "arena", false);
  line(st.lower_bound, "blue", "lower bound", true);
  os << "<text x=\"" << left << "\" y=\"" << h - 10 << "\">kernel order (0 .. "
     << live.size() - 1
     << "; the last step is the {updates} copies)</text>\n</svg>\n";
  return os.str();
}

void after_memory_plan(const loop::Program &p, bool check) {
#ifndef NDEBUG
  check = true;
#endif
  const char *env = std::getenv("KILN_CHECK_MEMORY");
  if (env && *env && std::strcmp(env, "0") != 0)
    check = true;
  if (check) {
    std::string err = check_memory(p);
    if (!err.empty())
      throw InternalError("memory plan of @" + p.name + ": " + err);
  }
  if (const char *svg = std::getenv("KILN_MEMORY_TIMELINE"))
    if (*svg)
      std::ofstream(svg) << memory_timeline_svg(p);
}

} // namespace kiln
