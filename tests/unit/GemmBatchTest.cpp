/// \file
/// Batched matmuls of rank 4 and 5 as Gemm nodes with several batch levels
/// (loop::GemmDesc::batch), compiled and compared with the interpreter:
/// transposed operands, broadcast batch dims, sliced operands, sizes 1, 3
/// and 17, fused epilogues that read the batch indices, f64, the packed
/// and direct kernels, and attention's forward and backward products.
// SPDX-License-Identifier: Apache-2.0
#include "CompileCheck.h"

#include "passes/Autodiff.h"
#include "passes/PassManager.h"

using namespace kiln;
using namespace kiln::test;

namespace {

/// The Gemm nodes of \p p, in kernel order.
std::vector<loop::GemmDesc> gemms(const loop::Program &p) {
  std::vector<loop::GemmDesc> r;
  std::function<void(const loop::StmtPtr &)> walk =
      [&](const loop::StmtPtr &s) {
        if (s->gemm)
          r.push_back(*s->gemm);
        for (const loop::StmtPtr &b : s->body)
          walk(b);
      };
  for (const loop::Kernel &k : p.kernels)
    walk(k.body);
  return r;
}

/// The kernels of \p f (canonicalized as compile() does) with every matmul
/// eligible for a Gemm node.
loop::Program lower_all_gemm(const Function &f) {
  Module m;
  Function *g = m.add_function(f.clone());
  PassContext ctx;
  canonicalize(m, ctx);
  LowerOptions lo;
  lo.gemm_min_work = 0;
  return lower(*g, lo);
}

/// Compiles \p f with every matmul a Gemm node and compares each result
/// with the interpreter's on seeded arguments.
void check_all_gemm(const Function &f, double tol = 1e-4) {
  std::vector<HostTensor> args = random_args(f, 3);
  std::vector<HostTensor> want = interpret(f, args);
  CompileOptions o;
  o.lower.gemm_min_work = 0;
  std::vector<HostTensor> got = compile(f, o)->run_all(args);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i)
    check_close(got[i], want[i], "result " + std::to_string(i), tol);
}

std::unique_ptr<Module> parse(const char *text) {
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(text, "t.kir", diags);
  INFO((diags.all().empty() ? std::string() : diags.all()[0].str()));
  REQUIRE(m);
  return m;
}

/// Causal attention over q, k, v given as [B, T, H*D] (the heads split by
/// a reshape and a transpose, as the frontend does), its output merged
/// back, and loss = sum(out * r).
const char *kAttentionKir = R"(
func @attn(%q: f32[2,17,12], %k: f32[2,17,12], %v: f32[2,17,12], %r: f32[2,17,12]) -> (f32[]) {
  %q4 = reshape(%q) : f32[2,17,3,4]
  %qh = transpose(%q4) {perm = [0, 2, 1, 3]} : f32[2,3,17,4]
  %k4 = reshape(%k) : f32[2,17,3,4]
  %kh = transpose(%k4) {perm = [0, 2, 3, 1]} : f32[2,3,4,17]
  %v4 = reshape(%v) : f32[2,17,3,4]
  %vh = transpose(%v4) {perm = [0, 2, 1, 3]} : f32[2,3,17,4]
  %s0 = matmul(%qh, %kh) : f32[2,3,17,17]
  %sc = constant() {value = 0.5} : f32[]
  %s = mul(%s0, %sc) : f32[2,3,17,17]
  %row = iota() {axis = 0} : i64[17,17]
  %col = iota() {axis = 1} : i64[17,17]
  %keep = le(%col, %row) : bool[17,17]
  %ninf = constant() {value = -1e9} : f32[]
  %ms = select(%keep, %s, %ninf) : f32[2,3,17,17]
  %mx = reduce_max(%ms) {axes = [3], keepdims = true} : f32[2,3,17,1]
  %z = sub(%ms, %mx) : f32[2,3,17,17]
  %e = exp(%z) : f32[2,3,17,17]
  %se = reduce_sum(%e) {axes = [3], keepdims = true} : f32[2,3,17,1]
  %p = div(%e, %se) : f32[2,3,17,17]
  %o = matmul(%p, %vh) : f32[2,3,17,4]
  %ot = transpose(%o) {perm = [0, 2, 1, 3]} : f32[2,17,3,4]
  %om = reshape(%ot) : f32[2,17,12]
  %l = mul(%om, %r) : f32[2,17,12]
  %loss = reduce_sum(%l) {axes = [0, 1, 2], keepdims = false} : f32[]
  return %loss
}
)";

} // namespace

TEST_CASE("gemm4d: batched matmuls of rank 4 and 5 vs the interpreter",
          "[compile][gemm4d]") {
  // r0: [B, H] over transposed views (two levels, B read along k), a relu
  //     epilogue reading a [3, 17, 1] bias by the inner level's index;
  // r1: contiguous operands (one merged level of 6);
  // r2: 5-D, A broadcast over dim 1 and B over dim 0 (stride-0 levels),
  //     B broadcast over dim 2 as well: that level folds into M = 12;
  // r3: B broadcast over every batch dim: folded into M = 102, a bias
  //     epilogue indexed by the batch dims recovered from the row;
  // r4: a slice at an offset, M = N = 1, extent-1 dims;
  // r5: f64, a broadcast level next to a strided one;
  // r6: the packed kernel on two levels (9 products split over the
  //     threads) with a transposed B;
  // r7: 8 products split over the threads, several row and depth blocks.
  std::unique_ptr<Module> m = parse(kBatchedMatmulKir);
  const Function &f = *m->functions()[0];
  std::vector<loop::GemmDesc> g = gemms(lower_all_gemm(f));
  REQUIRE(g.size() == 8);
  auto extents = [](const loop::GemmDesc &d) { return d.batch_extents(); };
  using E = std::vector<int64_t>;
  CHECK(extents(g[0]) == E{2, 3});
  CHECK(g[0].batch[0].a_stride == 17 * 15);
  CHECK(g[0].batch[1].a_stride == 5);
  CHECK(g[0].b_col_stride == 15);
  CHECK(extents(g[1]) == E{6});
  CHECK(extents(g[2]) == E{2, 5});
  CHECK(g[2].m == 3 * 4);
  CHECK(g[2].batch[0].b_stride == 0);
  CHECK(g[2].batch[1].a_stride == 0);
  CHECK(extents(g[3]).empty());
  CHECK(g[3].m == 2 * 3 * 17);
  CHECK(extents(g[4]) == E{12});
  CHECK(g[4].a_offset == 2 * 3 * 17);
  CHECK(extents(g[5]) == E{3, 2});
  CHECK(extents(g[6]) == E{3, 3});
  CHECK(extents(g[7]) == E{8});
  check_all_gemm(f);
}

TEST_CASE("gemm4d: attention forward and backward products as Gemm nodes",
          "[compile][gemm4d]") {
  std::unique_ptr<Module> m = parse(kAttentionKir);
  Function &f = *m->functions()[0];
  std::vector<Value *> wrt = {f.find_value("q"), f.find_value("k"),
                              f.find_value("v")};
  std::vector<Value *> grads = build_gradients(f, f.result(0), wrt);
  std::vector<Value *> results = {f.result(0)};
  results.insert(results.end(), grads.begin(), grads.end());
  f.set_results(results);
  loop::Program p = lower_all_gemm(f);
  // Every matmul kernel (2 forward, 4 backward) computes through a Gemm.
  size_t matmuls = 0;
  for (const loop::Kernel &k : p.kernels)
    matmuls += k.ops.find("matmul") != std::string::npos;
  std::vector<loop::GemmDesc> g = gemms(p);
  CHECK(matmuls == 6);
  CHECK(g.size() == matmuls);
  for (const loop::GemmDesc &d : g)
    CHECK(d.batch_count() == 6);
  check_all_gemm(f);
}

TEST_CASE("gemm4d: operands reshaped from merged dims are read in place",
          "[compile][gemm4d]") {
  // x^T @ g over all rows of a [B, T, N] batch (a weight gradient): the
  // reshape's [B*T] index unflattens to (r / T, r % T), whose strides cancel
  // back to r; no staging copy. The reshape of a transpose does not cancel
  // (its rows are not contiguous) and is staged.
  std::unique_ptr<Module> m = parse(R"(
func @wg(%g: f32[2,17,24], %x: f32[2,17,20], %y: f32[2,20,17]) -> (f32[24,20], f32[20,24]) {
  %g2 = reshape(%g) : f32[34,24]
  %x2 = reshape(%x) : f32[34,20]
  %gt = transpose(%g2) {perm = [1, 0]} : f32[24,34]
  %a = matmul(%gt, %x2) : f32[24,20]
  %yt = transpose(%y) {perm = [0, 2, 1]} : f32[2,17,20]
  %y2 = reshape(%yt) : f32[34,20]
  %y2t = transpose(%y2) {perm = [1, 0]} : f32[20,34]
  %b = matmul(%y2t, %g2) : f32[20,24]
  return %a, %b
}
)");
  const Function &f = *m->functions()[0];
  loop::Program p = lower_all_gemm(f);
  REQUIRE(p.kernels.size() == 2);
  CHECK(p.kernels[0].body->body.size() == 1);
  CHECK(p.kernels[0].body->body[0]->op == loop::StmtOp::Gemm);
  CHECK(p.kernels[0].body->body[0]->gemm->a_row_stride == 1);
  CHECK(p.kernels[0].body->body[0]->gemm->a_col_stride == 24);
  REQUIRE(p.kernels[1].body->body.size() == 2);
  CHECK(p.kernels[1].body->body[1]->op == loop::StmtOp::Gemm);
  check_all_gemm(f);
}
