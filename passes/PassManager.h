/// \file
/// The pass manager and the registry of named passes (passes/Passes.def).
/// Each pass is a free function `bool pass(Module &, PassContext &)` that
/// returns whether it changed the module. The manager runs a pipeline,
/// verifies after each pass (naming the pass that broke the IR), and can
/// print the IR after passes and time them.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Diagnostics.h"
#include "ir/Graph.h"

#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace kiln {

/// What a pass sees besides the module: its options and a place to report.
struct PassContext {
  /// Options of this pass: `-p 'remat{budget-bytes=64000000}'` gives
  /// {"budget-bytes": "64000000"}.
  std::map<std::string, std::string> options;
  /// Statistics lines the pass reports ("canonicalize: 3 nodes folded").
  std::vector<std::string> stats;
  /// Errors a pass reports (a pass that cannot proceed returns false and
  /// leaves an error here).
  Diagnostics *diags = nullptr;
  void stat(std::string line) { stats.push_back(std::move(line)); }
};

using PassFn = bool (*)(Module &, PassContext &);

struct PassInfo {
  const char *name;
  const char *summary;
  PassFn run;
};

/// Every registered pass, in Passes.def order.
const std::vector<PassInfo> &all_passes();
/// The pass named \p name, or nullptr.
const PassInfo *find_pass(const std::string &name);

#define KILN_PASS(fn, name, summary) bool fn(Module &m, PassContext &ctx);
#include "passes/Passes.def"

/// One step of a pipeline: a pass and its options.
struct PassStep {
  const PassInfo *pass;
  std::map<std::string, std::string> options;
};

struct PassManagerOptions {
  bool verify_each = true;
  bool print_ir_after_all = false;
  bool print_ir_after_change = false;
  /// Print the IR after these passes.
  std::vector<std::string> print_ir_after;
  /// Stop after the pass with this name ("" = run all).
  std::string stop_after;
  bool time_passes = false;
  bool print_stats = false;
};

/// Parses "canonicalize,remat{budget-bytes=64}" into steps. On an unknown
/// pass or malformed option list returns false and sets \p err.
bool parse_pipeline(const std::string &text, std::vector<PassStep> &steps,
                    std::string &err);

/// Runs \p steps over \p m. Returns false when a pass failed or broke the IR
/// (the diagnostics say which); \p log gets printed IR, statistics and
/// timings as the options ask.
bool run_pipeline(Module &m, const std::vector<PassStep> &steps,
                  const PassManagerOptions &opts, Diagnostics &diags,
                  std::ostream &log);

} // namespace kiln
