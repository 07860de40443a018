/// \file
/// hoist_invariants (passes/LowerHoist.cpp): an AdamW-style update whose
/// bias correction `1 - pow(beta, step)` reads only a scalar state gets that
/// correction as a scalar declared before the loops, still computes in place
/// in its parameter, and matches the interpreter; subexpressions that read
/// a loop variable or a buffer the kernel writes stay inside.
// SPDX-License-Identifier: Apache-2.0
#include "CompileCheck.h"

using namespace kiln;
using namespace kiln::test;

namespace {

const char *kUpdateKir = R"(
func @update(%g: f32[64,33], %w: f32[64,33] {param}, %t: f32[] {state}) -> (f32[64,33] {updates = %w}, f32[64,33]) {
  %beta = constant() {value = 0.9} : f32[]
  %p = pow(%beta, %t) : f32[]
  %one = constant() {value = 1.0} : f32[]
  %c = sub(%one, %p) : f32[]
  %gc = div(%g, %c) : f32[64,33]
  %w1 = sub(%w, %gc) : f32[64,33]
  %e = exp(%g) : f32[64,33]
  return %w1, %e
}
)";

/// The kernel of \p p whose ops are \p ops.
const loop::Kernel &kernel_writing(const loop::Program &p,
                                   const std::string &ops) {
  for (const loop::Kernel &k : p.kernels)
    if (k.ops == ops)
      return k;
  FAIL("no kernel " << ops);
  return p.kernels.front();
}

} // namespace

TEST_CASE("hoist: invariant scalars leave the loops, in-place updates stay",
          "[compile][hoist]") {
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(kUpdateKir, "u.kir", diags);
  REQUIRE(m);
  const Function &f = *m->functions()[0];
  loop::Program p = lower(f);
  const loop::Kernel &u = kernel_writing(p, "pow+sub+div+sub");
  REQUIRE(u.body->body.size() == 2);
  CHECK(u.body->body[0]->op == loop::StmtOp::Decl);
  CHECK(u.body->body[0]->value->op == loop::Op::Sub);
  // The update is still computed in its parameter (no copy after the run).
  CHECK(p.updates.empty());
  // exp(g) reads the loop's element: nothing to hoist.
  const loop::Kernel &e = kernel_writing(p, "exp");
  CHECK(e.body->body.size() == 1);
  LowerOptions off;
  off.hoist_invariants = false;
  CHECK(kernel_writing(lower(f, off), "pow+sub+div+sub").body->body.size() ==
        1);
  std::vector<HostTensor> args = random_args(f, 5);
  args[2].set(0, 3.0);
  std::vector<HostTensor> want = interpret(f, args);
  std::vector<HostTensor> got = compile(f)->run_all(args);
  REQUIRE(got.size() == 2);
  check_close(got[0], want[0], "updated w");
  check_close(got[1], want[1], "exp");
}

TEST_CASE("recompute: cheap multi-use arithmetic of buffers per consumer",
          "[compile][hoist]") {
  // tests/lit/fuse/recompute.kir shows the kernels; here the values.
  check_kir(R"(
func @recompute(%x: f32[64,33], %y: f32[64,33]) -> (f32[64,33], f32[64,33], f32[64,33], f32[64,33]) {
  %half = constant() {value = 0.5} : f32[]
  %h = mul(%x, %half) : f32[64,33]
  %t = tanh(%h) : f32[64,33]
  %s = mul(%h, %h) : f32[64,33]
  %u = add(%s, %y) : f32[64,33]
  %e = exp(%y) : f32[64,33]
  %d = sub(%e, %x) : f32[64,33]
  %a = add(%e, %y) : f32[64,33]
  return %t, %u, %d, %a
}
)");
}
