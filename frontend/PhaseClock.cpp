/// \file
/// Compile phase timing and the progress line (frontend/PhaseClock.h).
// SPDX-License-Identifier: Apache-2.0
#include "frontend/PhaseClock.h"

#include <cstdio>

namespace kiln {

PhaseClock::PhaseClock(std::string name, bool progress)
    : name_(std::move(name)), t0_(std::chrono::steady_clock::now()) {
  if (progress)
    thread_ = std::thread([this] { watch(); });
}

PhaseClock::~PhaseClock() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
  if (printed_)
    std::fprintf(stderr, "\rkiln: compiling @%s took %.1f s%-30s\n",
                 name_.c_str(), now_ms() / 1000, "");
}

double PhaseClock::now_ms() const {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - t0_)
      .count();
}

void PhaseClock::begin(const std::string &name) {
  end();
  std::lock_guard<std::mutex> lock(mu_);
  phases_.push_back({name, now_ms(), 0});
  current_ = name;
  open_ = true;
}

void PhaseClock::end() {
  std::lock_guard<std::mutex> lock(mu_);
  if (open_)
    phases_.back().ms = now_ms() - phases_.back().start_ms;
  open_ = false;
}

void PhaseClock::append_parts(const std::vector<CompilePhase> &sub) {
  end();
  std::lock_guard<std::mutex> lock(mu_);
  double base = phases_.empty() ? 0 : phases_.back().start_ms;
  for (CompilePhase p : sub) {
    p.start_ms += base;
    p.depth = 1;
    phases_.push_back(p);
  }
}

void PhaseClock::watch() {
  std::unique_lock<std::mutex> lock(mu_);
  for (int s = 1;; ++s) {
    if (cv_.wait_until(lock, t0_ + std::chrono::seconds(s),
                       [this] { return done_; }))
      return;
    std::fprintf(stderr, "\rkiln: compiling @%s: %s (%d s)%-10s", name_.c_str(),
                 open_ ? current_.c_str() : "C code", s, "");
    std::fflush(stderr);
    printed_ = true;
  }
}

} // namespace kiln
