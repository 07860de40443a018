/// \file
/// The compile progress line: silent for a compile under a second, one
/// line per second after that and a closing total (frontend/PhaseClock.h).
// SPDX-License-Identifier: Apache-2.0
#include "frontend/PhaseClock.h"

#include <catch2/catch.hpp>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>

using namespace kiln;

namespace {

/// Runs \p body with stderr redirected to a temporary file; returns what
/// it wrote.
template <typename F> std::string capture_stderr(F body) {
  char path[] = "/tmp/kiln_phaseclock_XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  std::fflush(stderr);
  int saved = dup(2);
  dup2(fd, 2);
  body();
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(fd);
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::remove(path);
  return ss.str();
}

} // namespace

TEST_CASE("phase clock: phases in order, progress after a second",
          "[debug][progress]") {
  std::vector<CompilePhase> phases;
  std::string quick = capture_stderr([&] {
    PhaseClock c("f", /*progress=*/true);
    c.begin("lower");
    c.begin("C compile");
    c.append_parts({{"clang frontend", 0, 1}, {"LLVM codegen", 1, 2}});
    phases = c.phases();
  });
  CHECK(quick.empty());
  REQUIRE(phases.size() == 4);
  CHECK(phases[0].name == "lower");
  CHECK(phases[1].name == "C compile");
  CHECK(phases[1].start_ms >= phases[0].start_ms + phases[0].ms);
  CHECK(phases[3].depth == 1);
  CHECK(phases[3].start_ms == phases[1].start_ms + 1);

  std::string slow = capture_stderr([] {
    PhaseClock c("big", /*progress=*/true);
    c.begin("C compile");
    std::this_thread::sleep_for(std::chrono::milliseconds(1150));
  });
  CHECK(slow.find("kiln: compiling @big: C compile (1 s)") !=
        std::string::npos);
  CHECK(slow.find("kiln: compiling @big took 1.") != std::string::npos);
}
