/// \file
/// The CUDA printer's memory-bound forms (codegen/CudaRows.h) in the
/// emulator against the interpreter, with the form each kernel got: the
/// vectorized elementwise form (4 or 2 per thread, contiguous operands as
/// vectors, broadcasts read once) and its fallbacks (an odd innermost
/// extent, an unaligned slice, a transposed operand), f16 storage; the
/// one-pass row cache for softmax, layer norm and the softmax backward,
/// rows that fit and a row that does not; column reductions (8 rows a
/// block); few long rows split over several blocks. Each program also compiles
/// with NVRTC for sm_80 and sm_90 with an empty log.
// SPDX-License-Identifier: Apache-2.0
#include "CompileCheck.h"
#include "CudaEmulator.h"

#include "codegen/Nvrtc.h"

using namespace kiln;
using namespace kiln::test;

namespace {

/// Emulates \p kir's first function (fused) against the interpreter and
/// NVRTC-compiles its CUDA; returns the launches' descriptions, in order.
std::vector<std::string> emulate_kir(const char *kir,
                                     const codegen::CudaEmitOptions &eo = {}) {
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(kir, "rows.kir", diags);
  REQUIRE(m);
  const Function &f = *m->functions()[0];
  codegen::CudaProgram cp =
      check_emulated(f, random_args(f, 3), true, 1e-5, f.name(), eo);
  if (codegen::nvrtc_available())
    for (const char *arch : {"sm_80", "sm_90"}) {
      INFO(f.name() << " for " << arch);
      CHECK(nvrtc_verdict(cp.source, arch, {"--Ofast-compile=max"}) == "");
    }
  std::vector<std::string> what;
  for (const codegen::CudaLaunch &l : cp.launches)
    what.push_back(l.what);
  return what;
}

bool has(const std::string &s, const std::string &part) {
  return s.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("cuda rows: vectorized elementwise kernels and their fallbacks",
          "[cuda-emu][cuda-rows]") {
  // r0: x and b as float4, s broadcast; r1: an innermost extent of 6 (2 per
  // thread); r2: 7 (scalar); r3: a slice starting at element 1 (per-lane
  // loads, vector stores); r4: f16 (8-byte vectors of 4); r5: a transposed
  // operand (strided loads, vector stores).
  std::vector<std::string> what = emulate_kir(R"(
func @vec(%x: f32[64,128], %b: f32[128], %s: f32[64,1], %y: f32[5,6], %z: f32[9,7], %w: f32[8,130], %h: f16[32,64], %t: f32[16,32]) -> (f32[64,128], f32[5,6], f32[9,7], f32[8,128], f16[32,64], f32[32,16]) {
  %a0 = add(%x, %b) : f32[64,128]
  %a1 = tanh(%a0) : f32[64,128]
  %r0 = mul(%a1, %s) : f32[64,128]
  %r1 = exp(%y) : f32[5,6]
  %r2 = exp(%z) : f32[9,7]
  %ws = slice(%w) {start = [0, 1], stop = [8, 129], step = [1, 1]} : f32[8,128]
  %r3 = sigmoid(%ws) : f32[8,128]
  %r4 = mul(%h, %h) : f16[32,64]
  %tt = transpose(%t) {perm = [1, 0]} : f32[32,16]
  %r5 = neg(%tt) : f32[32,16]
  return %r0, %r1, %r2, %r3, %r4, %r5
}
)");
  REQUIRE(what.size() == 6);
  CHECK(has(what[0], "8192 rows, 4 per thread, vectorized"));
  CHECK(has(what[1], "30 rows, 2 per thread, vectorized"));
  CHECK(has(what[2], "thread per row, 63 rows"));
  CHECK_FALSE(has(what[2], "vectorized"));
  CHECK(has(what[3], "1024 rows, 4 per thread, vectorized"));
  CHECK(has(what[4], "2048 rows, 4 per thread, vectorized"));
  CHECK(has(what[5], "512 rows, 4 per thread, vectorized"));
  // A trailing loop of one iteration (a [B, T, 1] mask): the loop before
  // it is vectorized; bool results are stored as 4-byte vectors.
  std::vector<std::string> unit = emulate_kir(R"(
func @unit(%x: f32[6,128,1], %s: f32[6,1,1]) -> (bool[6,128,1], f32[6,128,1]) {
  %f = is_finite(%x) : bool[6,128,1]
  %y = mul(%x, %s) : f32[6,128,1]
  return %f, %y
}
)");
  REQUIRE(unit.size() == 2);
  CHECK(has(unit[0], "768 rows, 4 per thread, vectorized"));
  CHECK(has(unit[1], "768 rows, 4 per thread, vectorized"));
}

TEST_CASE("cuda rows: one-pass softmax, layer norm and softmax backward",
          "[cuda-emu][cuda-rows]") {
  // Softmax over rows of 1000 (256 threads, 4 each), 4096 (512 threads, 8
  // each) and 9000 (too long: three passes over global memory); layer norm
  // with a scale and a shift; the softmax backward (y and dy both cached).
  std::vector<std::string> what = emulate_kir(R"(
func @rows(%a: f32[6,1000], %b: f32[2,4096], %c: f32[3,9000], %x: f32[4,768], %g: f32[768], %be: f32[768], %y: f32[5,300], %dy: f32[5,300]) -> (f32[6,1000], f32[2,4096], f32[3,9000], f32[4,768], f32[5,300]) {
  %am = reduce_max(%a) {axes = [1], keepdims = true} : f32[6,1]
  %ad = sub(%a, %am) : f32[6,1000]
  %ae = exp(%ad) : f32[6,1000]
  %as = reduce_sum(%ae) {axes = [1], keepdims = true} : f32[6,1]
  %r0 = div(%ae, %as) : f32[6,1000]
  %bm = reduce_max(%b) {axes = [1], keepdims = true} : f32[2,1]
  %bd = sub(%b, %bm) : f32[2,4096]
  %be2 = exp(%bd) : f32[2,4096]
  %bs = reduce_sum(%be2) {axes = [1], keepdims = true} : f32[2,1]
  %r1 = div(%be2, %bs) : f32[2,4096]
  %cm = reduce_max(%c) {axes = [1], keepdims = true} : f32[3,1]
  %cd = sub(%c, %cm) : f32[3,9000]
  %ce = exp(%cd) : f32[3,9000]
  %cs = reduce_sum(%ce) {axes = [1], keepdims = true} : f32[3,1]
  %r2 = div(%ce, %cs) : f32[3,9000]
  %m = reduce_mean(%x) {axes = [1], keepdims = true} : f32[4,1]
  %d = sub(%x, %m) : f32[4,768]
  %d2 = mul(%d, %d) : f32[4,768]
  %v = reduce_mean(%d2) {axes = [1], keepdims = true} : f32[4,1]
  %e = constant() {value = 0.00001} : f32[]
  %ve = add(%v, %e) : f32[4,1]
  %rs = rsqrt(%ve) : f32[4,1]
  %n = mul(%d, %rs) : f32[4,768]
  %n1 = mul(%n, %g) : f32[4,768]
  %r3 = add(%n1, %be) : f32[4,768]
  %p = mul(%dy, %y) : f32[5,300]
  %ps = reduce_sum(%p) {axes = [1], keepdims = true} : f32[5,1]
  %q = sub(%dy, %ps) : f32[5,300]
  %r4 = mul(%y, %q) : f32[5,300]
  return %r0, %r1, %r2, %r3, %r4
}
)");
  REQUIRE(what.size() == 5);
  CHECK(has(what[0], "6 rows, one pass: 1 row load(s) in registers, 4 per"));
  CHECK(has(what[1], "2 rows, one pass: 1 row load(s) in registers, 8 per"));
  CHECK(has(what[2], "block per row, 3 rows"));
  CHECK_FALSE(has(what[2], "one pass"));
  CHECK(has(what[3], "4 rows, one pass: 1 row load(s) in registers, 3 per"));
  CHECK(has(what[4], "5 rows, one pass: 2 row load(s) in registers, 2 per"));
}

TEST_CASE("cuda rows: column reductions, 8 rows a block",
          "[cuda-emu][cuda-rows]") {
  // Reductions over the rows of a matrix per column (a bias gradient; a
  // softmax over axis 0, whose stores are split too; a mean over two
  // leading axes): the columns are the kernel's rows, contiguous in
  // memory, so a block takes 8 of them and 32 threads split each; 20 and
  // 36 columns leave threads past the last one.
  std::vector<std::string> what = emulate_kir(R"(
func @cols(%g: f32[300,20], %x: f32[50,36], %m: f32[20,5,40]) -> (f32[20], f32[50,36], f32[40]) {
  %r0 = reduce_sum(%g) {axes = [0], keepdims = false} : f32[20]
  %xm = reduce_max(%x) {axes = [0], keepdims = true} : f32[1,36]
  %xd = sub(%x, %xm) : f32[50,36]
  %xe = exp(%xd) : f32[50,36]
  %xs = reduce_sum(%xe) {axes = [0], keepdims = true} : f32[1,36]
  %r1 = div(%xe, %xs) : f32[50,36]
  %r2 = reduce_mean(%m) {axes = [0, 1], keepdims = false} : f32[40]
  return %r0, %r1, %r2
}
)");
  REQUIRE(what.size() == 3);
  CHECK(has(what[0], "20 rows, 8 rows a block (32 threads split each)"));
  CHECK(has(what[1], "36 rows, 8 rows a block (32 threads split each)"));
  CHECK(has(what[2], "40 rows, 8 rows a block (32 threads split each)"));
}

TEST_CASE("cuda rows: few long rows split over blocks (two launches)",
          "[cuda-emu][cuda-rows]") {
  // Batch-norm style statistics over 8 channels of 2048 elements (a mean,
  // a max of a fused negation), a sum of 8192 elements to a scalar, and
  // the mean and variance of 4 rows of 3000 (2 slices of 1500, the last
  // partial): a block per (row, slice) into the scratch area, then a
  // thread per row combining the slices. The size threshold is lowered
  // (CudaEmitOptions::split_rows_min) to keep the emulation short.
  codegen::CudaEmitOptions eo;
  eo.split_rows_min = 4096;
  std::vector<std::string> what = emulate_kir(R"(
func @split(%x: f32[8,8,16,16], %y: f32[8192], %z: f32[4,3000]) -> (f32[8], f32[8], f32[], f32[4,1]) {
  %m = reduce_mean(%x) {axes = [0, 2, 3], keepdims = false} : f32[8]
  %n = neg(%x) : f32[8,8,16,16]
  %mx = reduce_max(%n) {axes = [0, 2, 3], keepdims = false} : f32[8]
  %t = reduce_sum(%y) {axes = [0], keepdims = false} : f32[]
  %zm = reduce_mean(%z) {axes = [1], keepdims = true} : f32[4,1]
  %zd = sub(%z, %zm) : f32[4,3000]
  %z2 = mul(%zd, %zd) : f32[4,3000]
  %zv = reduce_mean(%z2) {axes = [1], keepdims = true} : f32[4,1]
  return %m, %mx, %t, %zv
}
)",
                                              eo);
  REQUIRE(what.size() == 10);
  for (size_t i = 0; i < what.size(); i += 2) {
    CHECK(has(what[i], "block per row slice"));
    CHECK(has(what[i + 1], "thread per row"));
  }
  CHECK(has(what[0], "8 rows x 2 slices of 1024"));
  CHECK(has(what[4], "1 rows x 8 slices of 1024"));
  CHECK(has(what[6], "4 rows x 2 slices of 1500"));
  CHECK(has(what[7], "combines 2 slices"));
}
