/// \file
/// The pass registry, pipeline parsing and the verify-after-each-pass run.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include "passes/PassManager.h"

#include <sstream>

using namespace kiln;
using namespace kiln::test;
using Catch::Contains;

TEST_CASE("pass manager: registry lists canonicalize", "[passes][pm]") {
  const PassInfo *p = find_pass("canonicalize");
  REQUIRE(p);
  CHECK(p->run == static_cast<PassFn>(&kiln::canonicalize));
  CHECK(find_pass("no-such-pass") == nullptr);
}

TEST_CASE("pass manager: parses pipelines with options", "[passes][pm]") {
  std::vector<PassStep> steps;
  std::string err;
  REQUIRE(parse_pipeline("canonicalize, canonicalize{max-rounds=3, fast}",
                         steps, err));
  REQUIRE(steps.size() == 2);
  CHECK(steps[0].options.empty());
  CHECK(steps[1].options.at("max-rounds") == "3");
  CHECK(steps[1].options.at("fast") == "true");
  steps.clear();
  CHECK_FALSE(parse_pipeline("canonicalize,fuse-everything", steps, err));
  CHECK_THAT(err,
             Contains("unknown pass 'fuse-everything' (passes: canonicalize"));
  CHECK_FALSE(parse_pipeline("canonicalize{a=1", steps, err));
  CHECK_THAT(err, Contains("unterminated options"));
  CHECK_FALSE(parse_pipeline("canonicalize{=1}", steps, err));
  CHECK_THAT(err, Contains("empty option name"));
}

TEST_CASE("pass manager: runs, prints after change and times passes",
          "[passes][pm]") {
  Module m;
  Function &f = *m.add_function("f");
  Value *x = f.add_param("x", f32({2}));
  f.add(OpKind::Exp, {x}); // dead: canonicalize changes the module
  f.set_results({f.add(OpKind::Relu, {x})->result()});
  std::vector<PassStep> steps;
  std::string err;
  REQUIRE(parse_pipeline("canonicalize,canonicalize", steps, err));
  PassManagerOptions opts;
  opts.print_ir_after_change = true;
  opts.time_passes = true;
  opts.print_stats = true;
  Diagnostics diags;
  std::ostringstream log;
  REQUIRE(run_pipeline(m, steps, opts, diags, log));
  std::string s = log.str();
  CHECK_THAT(s, Contains("1 dead nodes removed"));
  CHECK_THAT(s, Contains("// -----// IR after canonicalize //----- //"));
  // Printed once: the second run changes nothing.
  CHECK(s.find("IR after") == s.rfind("IR after"));
  CHECK_THAT(s, Contains("total"));
  CHECK(f.num_nodes() == 1);
}
