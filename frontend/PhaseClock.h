/// \file
/// Private to frontend/Compile.cpp: times the phases of one compile and,
/// when asked, prints a progress line on stderr once a compile has run
/// for a second ("kiln: compiling @f: lower (1.0 s)"), updated each second,
/// and a closing line with the total ("kiln: compiling @f took 3.6 s").
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "runtime/Debug.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace kiln {

class PhaseClock {
public:
  /// \p progress: run the progress thread for function \p name.
  PhaseClock(std::string name, bool progress);
  /// Stops the progress thread (printing the total if it printed a line).
  ~PhaseClock();
  PhaseClock(const PhaseClock &) = delete;
  PhaseClock &operator=(const PhaseClock &) = delete;

  /// Ends the current phase (if any) and starts \p name.
  void begin(const std::string &name);
  /// Ends the current phase.
  void end();
  /// Appends \p sub (phases timed from 0 by someone else, e.g. the
  /// device) as parts (depth 1) of the last phase, from its start.
  void append_parts(const std::vector<CompilePhase> &sub);
  double now_ms() const;
  const std::vector<CompilePhase> &phases() const { return phases_; }

private:
  void watch();

  std::string name_;
  std::chrono::steady_clock::time_point t0_;
  std::vector<CompilePhase> phases_;
  std::string current_;
  bool open_ = false;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false, printed_ = false;
  std::thread thread_;
};

} // namespace kiln
