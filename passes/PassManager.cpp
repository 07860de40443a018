/// \file
/// The pass registry (from Passes.def) and the pipeline runner.
// SPDX-License-Identifier: Apache-2.0
#include "passes/PassManager.h"

#include "ir/Error.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace kiln {

const std::vector<PassInfo> &all_passes() {
  static const std::vector<PassInfo> kPasses = {
#define KILN_PASS(fn, name, summary) {name, summary, fn},
#include "passes/Passes.def"
  };
  return kPasses;
}

const PassInfo *find_pass(const std::string &name) {
  for (const PassInfo &p : all_passes())
    if (name == p.name)
      return &p;
  return nullptr;
}

namespace {

std::string trim(const std::string &s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos)
    return "";
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

/// Parses "k=v, k2=v2" (the inside of braces) into \p out.
bool parse_options(const std::string &text,
                   std::map<std::string, std::string> &out, std::string &err) {
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t comma = text.find(',', pos);
    std::string item = trim(text.substr(
        pos, comma == std::string::npos ? std::string::npos : comma - pos));
    if (!item.empty()) {
      size_t eq = item.find('=');
      std::string key = trim(item.substr(0, eq));
      if (key.empty()) {
        err = "empty option name in '{" + text + "}'";
        return false;
      }
      out[key] = eq == std::string::npos ? "true" : trim(item.substr(eq + 1));
    }
    if (comma == std::string::npos)
      break;
    pos = comma + 1;
  }
  return true;
}

std::string known_passes() {
  std::string r;
  for (const PassInfo &p : all_passes())
    r += (r.empty() ? "" : ", ") + std::string(p.name);
  return r;
}

} // namespace

bool parse_pipeline(const std::string &text, std::vector<PassStep> &steps,
                    std::string &err) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = pos;
    while (end < text.size() && text[end] != ',' && text[end] != '{')
      ++end;
    std::string name = trim(text.substr(pos, end - pos));
    PassStep step{find_pass(name), {}};
    if (!step.pass) {
      err = "unknown pass '" + name + "' (passes: " + known_passes() + ")";
      return false;
    }
    if (end < text.size() && text[end] == '{') {
      size_t close = text.find('}', end);
      if (close == std::string::npos) {
        err = "unterminated options of pass '" + name + "'";
        return false;
      }
      if (!parse_options(text.substr(end + 1, close - end - 1), step.options,
                         err))
        return false;
      end = close + 1;
      while (end < text.size() && text[end] == ' ')
        ++end;
      if (end < text.size() && text[end] != ',') {
        err = "expected ',' after the options of pass '" + name + "'";
        return false;
      }
    }
    steps.push_back(std::move(step));
    pos = end + 1;
  }
  return true;
}

bool run_pipeline(Module &m, const std::vector<PassStep> &steps,
                  const PassManagerOptions &opts, Diagnostics &diags,
                  std::ostream &log) {
  std::vector<std::pair<std::string, double>> times;
  for (const PassStep &step : steps) {
    PassContext ctx;
    ctx.options = step.options;
    ctx.diags = &diags;
    auto t0 = std::chrono::steady_clock::now();
    bool changed = false;
    try {
      changed = step.pass->run(m, ctx);
    } catch (const Error &e) {
      diags.error({}) << step.pass->name << ": " << e.what();
      return false;
    }
    double ms = std::chrono::duration<double, std::milli>(
                    std::chrono::steady_clock::now() - t0)
                    .count();
    times.emplace_back(step.pass->name, ms);
    if (diags.has_errors())
      return false;
    if (opts.print_stats)
      for (const std::string &s : ctx.stats)
        log << "// " << s << "\n";
    if (opts.verify_each) {
      Diagnostics vd;
      if (!verify(m, vd)) {
        diags.error({}) << "the IR is invalid after pass '" << step.pass->name
                        << "' (a bug in that pass):";
        for (const Diagnostic &d : vd.all())
          diags.error(d.loc) << d.message;
        return false;
      }
    }
    bool print = opts.print_ir_after_all ||
                 (opts.print_ir_after_change && changed) ||
                 std::count(opts.print_ir_after.begin(),
                            opts.print_ir_after.end(), step.pass->name);
    if (print)
      log << "// -----// IR after " << step.pass->name << " //----- //\n"
          << to_string(m) << "\n";
    if (opts.stop_after == step.pass->name)
      break;
  }
  if (opts.time_passes) {
    double total = 0;
    for (auto &t : times)
      total += t.second;
    log << "// pass timings (ms)\n";
    for (auto &t : times) {
      char buf[128];
      std::snprintf(buf, sizeof buf, "//   %10.3f  %5.1f%%  %s\n", t.second,
                    total > 0 ? 100.0 * t.second / total : 0.0,
                    t.first.c_str());
      log << buf;
    }
    char buf[64];
    std::snprintf(buf, sizeof buf, "//   %10.3f  total\n", total);
    log << buf;
  }
  return true;
}

} // namespace kiln
