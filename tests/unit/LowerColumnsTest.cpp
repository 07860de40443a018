/// \file
/// Column reductions (passes/LowerColumns.cpp): reductions over leading axes
/// lowered as row sweeps into blocks of output columns, against the
/// interpreter: sum, mean, max and min, keepdims, extent-1 dims, several
/// kept dims, a fused prologue, a parallel block loop; and the shapes that
/// keep the element-per-output kernel (a kept axis before a reduced one, a
/// column count with no block size).
// SPDX-License-Identifier: Apache-2.0
#include "CompileCheck.h"

using namespace kiln;
using namespace kiln::test;

TEST_CASE("column reductions: row sweeps vs the interpreter",
          "[compile][columns]") {
  const char *text = R"(
func @cols(%a: f32[3,17,64], %b: f64[5,96], %c: f32[7,2,1,80], %d: f32[33,128], %e: f32[64,1024], %f: f32[16,32], %g: f32[3,67]) -> (f32[64], f64[96], f32[1,2,1,80], f32[128], f32[1024], f32[16], f32[67]) {
  %r0 = reduce_sum(%a) {axes = [0, 1], keepdims = false} : f32[64]
  %r1 = reduce_mean(%b) {axes = [0], keepdims = false} : f64[96]
  %r2 = reduce_max(%c) {axes = [0], keepdims = true} : f32[1,2,1,80]
  %two = constant() {value = 2.0} : f32[]
  %dd = mul(%d, %two) : f32[33,128]
  %r3 = reduce_min(%dd) {axes = [0], keepdims = false} : f32[128]
  %r4 = reduce_sum(%e) {axes = [0], keepdims = false} : f32[1024]
  %r5 = reduce_sum(%f) {axes = [1], keepdims = false} : f32[16]
  %r6 = reduce_sum(%g) {axes = [0], keepdims = false} : f32[67]
  return %r0, %r1, %r2, %r3, %r4, %r5, %r6
}
)";
  check_kir(text);
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(text, "c.kir", diags);
  REQUIRE(m);
  loop::Program p = lower(*m->functions()[0]);
  REQUIRE(p.kernels.size() == 7);
  // The block loop over output columns: 64 / 64, 96 / 48, 160 / 40,
  // 128 / 64, 1024 / 64 (in parallel); then the per-output kernels.
  std::vector<int64_t> blocks = {1, 2, 4, 2, 16};
  for (size_t k = 0; k < blocks.size(); ++k) {
    INFO("kernel " << k << " " << p.kernels[k].ops);
    const loop::StmtPtr &top = p.kernels[k].body->body[0];
    REQUIRE(top->op == loop::StmtOp::For);
    CHECK(top->extent == blocks[k]);
    CHECK((top->loop == loop::LoopKind::Parallel) == (k == 4));
    CHECK(top->body.size() == (k == 1 ? 3u : 2u));
  }
  // One accumulator per output element: a loop over the outputs whose
  // body opens with the accumulator's declaration.
  for (size_t k = 5; k < 7; ++k) {
    const loop::StmtPtr &top = p.kernels[k].body->body[0];
    CHECK(top->extent == (k == 5 ? 16 : 67));
    CHECK(top->body[0]->op == loop::StmtOp::Decl);
  }
  LowerOptions off;
  off.column_reductions = false;
  loop::Program q = lower(*m->functions()[0], off);
  CHECK(q.kernels[0].body->body[0]->extent == 64);
}

TEST_CASE("scatter_add: blocks of columns swept along the rows",
          "[compile][columns]") {
  // An embedding gradient (axis 0, rows of 48: one block of 48 columns,
  // repeated and out-of-range ids) and axis 1 under an outer dim with 160
  // columns after the axis (blocks of 40); ids beyond the axis clamp.
  const char *text = R"(
func @scatter(%a: f32[10,48], %ia: i64[2,3], %sa: f32[2,3,48], %b: f32[3,5,2,80], %ib: i64[4], %sb: f32[3,4,2,80]) -> (f32[10,48], f32[3,5,2,80]) {
  %ra = scatter_add(%a, %ia, %sa) {axis = 0} : f32[10,48]
  %rb = scatter_add(%b, %ib, %sb) {axis = 1} : f32[3,5,2,80]
  return %ra, %rb
}
)";
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(text, "s.kir", diags);
  REQUIRE(m);
  const Function &f = *m->functions()[0];
  std::vector<HostTensor> args = random_args(f, 2, 12);
  std::vector<HostTensor> want = interpret(f, args);
  std::vector<HostTensor> got = compile(f)->run_all(args);
  for (size_t i = 0; i < want.size(); ++i)
    check_close(got[i], want[i], "result " + std::to_string(i));
  loop::Program p = lower(f);
  REQUIRE(p.kernels.size() == 2);
  // The loop over (outer, column block): 1 x 1 blocks, then 3 x 4 blocks.
  const loop::StmtPtr &a = p.kernels[0].body->body[0];
  CHECK(a->extent == 1);
  const loop::StmtPtr &b = p.kernels[1].body->body[0];
  CHECK(b->extent == 3);
  CHECK(b->body[0]->extent == 4);
}

TEST_CASE("row reductions: 16 interleaved lanes vs the interpreter",
          "[compile][columns]") {
  // Last-axis reductions of 64 and 80 elements accumulate in lanes (a NaN
  // and an infinity in some rows must still propagate); 48 (too short) and
  // 100 (not a multiple of 16) keep one accumulator.
  const char *text = R"(
func @rows(%a: f32[5,64], %b: f64[3,2,80], %c: f32[4,48], %d: f32[4,100]) -> (f32[5,1], f64[3,2], f32[5], f64[3,2], f32[4], f32[4]) {
  %r0 = reduce_max(%a) {axes = [1], keepdims = true} : f32[5,1]
  %r1 = reduce_sum(%b) {axes = [2], keepdims = false} : f64[3,2]
  %r2 = reduce_min(%a) {axes = [1], keepdims = false} : f32[5]
  %r3 = reduce_mean(%b) {axes = [2], keepdims = false} : f64[3,2]
  %r4 = reduce_sum(%c) {axes = [1], keepdims = false} : f32[4]
  %r5 = reduce_max(%d) {axes = [1], keepdims = false} : f32[4]
  return %r0, %r1, %r2, %r3, %r4, %r5
}
)";
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(text, "r.kir", diags);
  REQUIRE(m);
  const Function &f = *m->functions()[0];
  std::vector<HostTensor> args = random_args(f, 4);
  args[0].set(70, NAN);       // row 1 of %a
  args[0].set(200, INFINITY); // row 3 of %a
  args[1].set(85, -INFINITY); // row (0, 1) of %b
  std::vector<HostTensor> want = interpret(f, args);
  std::vector<HostTensor> got = compile(f)->run_all(args);
  for (size_t i = 0; i < want.size(); ++i)
    check_close(got[i], want[i], "result " + std::to_string(i));
  CHECK(std::isnan(got[0].get(1)));
  loop::Program p = lower(f);
  REQUIRE(p.kernels.size() == 6);
  // The declarations in the body of the loops over the kept dims.
  auto lanes = [](const loop::Kernel &k) {
    loop::StmtPtr s = k.body->body[0];
    while (s->body[0]->op == loop::StmtOp::For)
      s = s->body[0];
    size_t n = 0;
    for (const loop::StmtPtr &c : s->body)
      n += c->op == loop::StmtOp::Decl;
    return n;
  };
  for (size_t k = 0; k < 4; ++k)
    CHECK(lanes(p.kernels[k]) == 17); // 16 lanes and their combination
  CHECK(lanes(p.kernels[4]) == 1);
  CHECK(lanes(p.kernels[5]) == 1);
}
