/// \file
/// Checks of compiled programs against the reference interpreter, shared by
/// the CPU tests (CompileTest.cpp) and the GPU tests (CudaRuntimeTest.cpp):
/// seeded arguments, element- and norm-wise comparisons, check_kir, and the
/// programs that exercise every primitive.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "TestUtil.h"

#include "bench/models/Models.h"
#include "frontend/Compile.h"
#include "ir/Parser.h"

#include <cmath>
#include <random>

namespace kiln::test {

/// Seeded arguments: floats ~ N(0,1), integers in [0, int_max), bools.
inline std::vector<HostTensor> random_args(const Function &f, uint64_t seed,
                                           int64_t int_max = 4) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal;
  std::vector<HostTensor> args;
  for (const auto &p : f.params()) {
    HostTensor t(p->type());
    for (int64_t i = 0; i < t.numel(); ++i) {
      if (is_float(t.dtype()))
        t.set(i, normal(rng));
      else if (is_integer(t.dtype()))
        t.set_int(i, int64_t(rng() % uint64_t(int_max)));
      else
        t.set(i, double(rng() & 1));
    }
    args.push_back(t);
  }
  return args;
}

/// A model's initial params and state with seeded random data inputs
/// (integers such as labels and tokens in [0, 4)).
inline std::vector<HostTensor> model_args(const models::Model &m) {
  const Function &f = m.graph->function();
  std::vector<HostTensor> args = m.graph->initial_values();
  std::vector<HostTensor> rnd = random_args(f, 9, 4);
  for (size_t i = 0; i < args.size(); ++i)
    if (f.param(i)->arg_kind() == ArgKind::Input)
      args[i] = rnd[i];
  return args;
}

/// Relative error of \p got against \p want, scaled by the larger of the
/// magnitudes of \p want (so values near zero are compared absolutely).
inline void check_close(const HostTensor &got, const HostTensor &want,
                        const std::string &what, double tol = 1e-4) {
  REQUIRE(got.type() == want.type());
  double scale = 1e-6;
  for (int64_t i = 0; i < want.numel(); ++i)
    if (std::isfinite(want.get(i)))
      scale = std::max(scale, std::fabs(want.get(i)));
  for (int64_t i = 0; i < want.numel(); ++i) {
    double g = got.get(i), w = want.get(i);
    if (std::isnan(w) || std::isinf(w)) {
      INFO(what << " element " << i << ": got " << g << ", want " << w);
      CHECK((std::isnan(w) ? std::isnan(g) : g == w));
      continue;
    }
    double err = std::fabs(g - w) / std::max(std::fabs(w), 1e-2 * scale);
    if (err > tol) {
      INFO(what << " element " << i << " of " << type_str(want.type())
                << ": got " << g << ", want " << w);
      CHECK(err <= tol);
      return;
    }
  }
}

/// Normwise comparison for whole models: the largest error over the
/// tensor's largest magnitude, so f32 rounding in deep networks (batch norm
/// over tiny batches amplifies it) is judged against the tensor's scale.
inline void check_normwise(const HostTensor &got, const HostTensor &want,
                           const std::string &what, double tol = 1e-4) {
  REQUIRE(got.type() == want.type());
  double scale = 1e-12, worst = 0;
  int64_t at = 0;
  for (int64_t i = 0; i < want.numel(); ++i)
    scale = std::max(scale, std::fabs(want.get(i)));
  for (int64_t i = 0; i < want.numel(); ++i) {
    double e = std::fabs(got.get(i) - want.get(i));
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  INFO(what << " " << type_str(want.type()) << ": worst element " << at
            << " got " << got.get(at) << ", want " << want.get(at)
            << ", max |want| " << scale);
  // Values far below the data's scale (a gradient that is zero up to
  // rounding, such as a key-projection bias under softmax) are compared
  // absolutely.
  CHECK(worst / std::max(scale, 1e-2) <= tol);
}

/// \p kir with every `T` (its element type) replaced by \p t.
inline std::string with_dtype(std::string kir, const std::string &t) {
  for (size_t at = kir.find('T'); at != std::string::npos;
       at = kir.find('T', at))
    kir.replace(at, 1, t);
  return kir;
}

/// Matmuls of dtype \p t (f16, bf16; f32 for TF32) for the tensor-core
/// kernels: plain with a fused bias + relu, both operands transposed,
/// batched; M, N and K not multiples of the tile (64x64, K steps of 32 f16
/// or 16 TF32 values). Each operand's tile load path (CudaMma.cpp): %0's
/// A and %3's B 16-byte loads along K, %0's and %5's B 16-byte loads along
/// N, %5's A along M (K = 37: the last k + 1 is outside), %3's A and %4's
/// B scalar along M/N (33, 9), %6's A scalar along K (K = 37). %8 casts a
/// product to f32 (a Gemm node with an f32 C for 16-bit operands).
inline std::string tensor_core_programs(const std::string &t) {
  const char *r = R"(
func @mm(%x: T[70,40], %w: T[40,72], %b: T[72], %at: T[24,33], %bt: T[18,24], %p: T[3,20,40], %q: T[3,40,9], %e: T[37,24], %f: T[37,16], %g: T[16,37], %h: T[24,40], %k: T[40,32]) -> (T[70,72], T[33,18], T[3,20,9], T[24,16], T[16,16], f32[24,32]) {
  %0 = matmul(%x, %w) : T[70,72]
  %1 = add(%0, %b) : T[70,72]
  %2 = relu(%1) : T[70,72]
  %a2 = transpose(%at) {perm = [1, 0]} : T[33,24]
  %b2 = transpose(%bt) {perm = [1, 0]} : T[24,18]
  %3 = matmul(%a2, %b2) : T[33,18]
  %4 = matmul(%p, %q) : T[3,20,9]
  %e2 = transpose(%e) {perm = [1, 0]} : T[24,37]
  %5 = matmul(%e2, %f) : T[24,16]
  %6 = matmul(%g, %f) : T[16,16]
  %7 = matmul(%h, %k) : T[24,32]
  %8 = cast(%7) : f32[24,32]
  return %2, %3, %4, %5, %6, %8
})";
  return with_dtype(r, t);
}

/// Compiles every function of \p text and compares it to the interpreter.
inline void
check_kir(const std::string &text, bool fuse = true, uint64_t seed = 1,
          CompileOptions::Target target = CompileOptions::Target::Cpu) {
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(text, "test.kir", diags);
  INFO((diags.all().empty() ? std::string() : diags.all()[0].str()));
  REQUIRE(m);
  for (const auto &f : m->functions()) {
    std::vector<HostTensor> args = random_args(*f, seed);
    std::vector<HostTensor> want = interpret(*f, args);
    CompileOptions o;
    o.lower.fuse = fuse;
    o.target = target;
    std::unique_ptr<Executable> exe = compile(*f, o);
    std::vector<HostTensor> got = exe->run_all(args);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i)
      check_close(got[i], want[i],
                  "@" + f->name() + " result " + std::to_string(i));
  }
}

/// "compile: unary ops on odd shapes"
inline const char *kUnaryKir = R"(
func @unary(%x: f32[3,17], %y: f64[1023]) -> (f32[3,17], f32[3,17], f32[3,17], f32[3,17], f32[3,17], f32[3,17], f32[3,17], f32[3,17], f32[3,17], f32[3,17], f32[3,17], f32[3,17], f32[3,17], f32[3,17], f32[3,17], f32[3,17], f64[1023], f64[1023], bool[3,17], bool[3,17]) {
  %a = abs(%x) : f32[3,17]
  %h = constant() {value = 0.5} : f32[]
  %p = add(%a, %h) : f32[3,17]
  %r0 = neg(%x) : f32[3,17]
  %r1 = sign(%x) : f32[3,17]
  %r2 = exp(%x) : f32[3,17]
  %r3 = log(%p) : f32[3,17]
  %r4 = sqrt(%p) : f32[3,17]
  %r5 = rsqrt(%p) : f32[3,17]
  %r6 = tanh(%x) : f32[3,17]
  %r7 = sigmoid(%x) : f32[3,17]
  %r8 = relu(%x) : f32[3,17]
  %r9 = sin(%x) : f32[3,17]
  %r10 = cos(%x) : f32[3,17]
  %r11 = erf(%x) : f32[3,17]
  %r12 = floor(%x) : f32[3,17]
  %r13 = ceil(%x) : f32[3,17]
  %r14 = round(%x) : f32[3,17]
  %r15 = abs(%x) : f32[3,17]
  %r16 = exp(%y) : f64[1023]
  %r17 = tanh(%y) : f64[1023]
  %f = is_finite(%r3) : bool[3,17]
  %n = not(%f) : bool[3,17]
  return %r0, %r1, %r2, %r3, %r4, %r5, %r6, %r7, %r8, %r9, %r10, %r11, %r12, %r13, %r14, %r15, %r16, %r17, %f, %n
}
)";

/// "compile: binary ops, comparisons and select broadcast"
inline const char *kBinaryKir = R"(
func @binary(%a: f32[3,1], %b: f32[1,17], %i: i32[3,17], %j: i32[17]) -> (f32[3,17], f32[3,17], f32[3,17], f32[3,17], f32[3,17], f32[3,17], f32[3,17], bool[3,17], bool[3,17], bool[3,17], f32[3,17], i32[3,17], i32[3,17], i32[3,17], bool[3,17]) {
  %r0 = add(%a, %b) : f32[3,17]
  %r1 = sub(%a, %b) : f32[3,17]
  %r2 = mul(%a, %b) : f32[3,17]
  %r3 = div(%a, %b) : f32[3,17]
  %r4 = max(%a, %b) : f32[3,17]
  %r5 = min(%a, %b) : f32[3,17]
  %ab = abs(%a) : f32[3,1]
  %r6 = pow(%ab, %b) : f32[3,17]
  %r7 = lt(%a, %b) : bool[3,17]
  %r8 = ge(%a, %b) : bool[3,17]
  %r9 = and(%r7, %r8) : bool[3,17]
  %r10 = select(%r7, %r0, %r2) : f32[3,17]
  %r11 = add(%i, %j) : i32[3,17]
  %r12 = div(%i, %j) : i32[3,17]
  %r13 = mul(%i, %j) : i32[3,17]
  %r14 = eq(%i, %j) : bool[3,17]
  return %r0, %r1, %r2, %r3, %r4, %r5, %r6, %r7, %r8, %r9, %r10, %r11, %r12, %r13, %r14
}
)";

/// "compile: casts and sources"
inline const char *kCastsKir = R"(
func @casts(%x: f32[4,5], %seed: i64[], %step: i64[]) -> (i32[4,5], f64[4,5], f16[4,5], bf16[4,5], bool[4,5], f32[4,5], i64[6], f32[2,3], f32[33], f32[33]) {
  %k = constant() {value = 100.0} : f32[]
  %s = mul(%x, %k) : f32[4,5]
  %r0 = cast(%s) : i32[4,5]
  %r1 = cast(%x) : f64[4,5]
  %r2 = cast(%x) : f16[4,5]
  %r3 = cast(%x) : bf16[4,5]
  %r4 = cast(%r0) : bool[4,5]
  %h = cast(%r2) : f32[4,5]
  %r5 = add(%h, %x) : f32[4,5]
  %r6 = iota() {axis = 0} : i64[6]
  %r7 = constant() {value = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]} : f32[2,3]
  %r8 = random_uniform(%seed, %step) : f32[33]
  %r9 = random_normal(%seed, %step) : f32[33]
  return %r0, %r1, %r2, %r3, %r4, %r5, %r6, %r7, %r8, %r9
}
)";

/// "compile: layout and indexing views"
inline const char *kViewsKir = R"(
func @views(%x: f32[2,3,4], %v: f32[5], %ids: i64[7], %t: f32[6,3]) -> (f32[4,2,3], f32[6,4], f32[3,2,3,4], f32[2,2,2], f32[2,5,4], f32[4,9], f32[7,3], f32[7,4], f32[3,4]) {
  %r0 = transpose(%x) {perm = [2, 0, 1]} : f32[4,2,3]
  %r1 = reshape(%x) : f32[6,4]
  %r2 = broadcast_to(%x) : f32[3,2,3,4]
  %r3 = slice(%x) {start = [0, 1, 0], stop = [2, 3, 4], step = [1, 1, 2]} : f32[2,2,2]
  %r4 = concat(%x, %x) {axis = 1} : f32[2,6,4]
  %s4 = slice(%r4) {start = [0, 0, 0], stop = [2, 5, 4], step = [1, 1, 1]} : f32[2,5,4]
  %r5 = pad(%v) {low = [2], high = [2], value = -1.0} : f32[9]
  %b5 = broadcast_to(%r5) : f32[4,9]
  %r6 = gather(%t, %ids) {axis = 0} : f32[7,3]
  %r7 = one_hot(%ids) {depth = 4} : f32[7,4]
  %z = constant() {value = 0.0} : f32[3,4]
  %src = slice(%r6) {start = [0, 0], stop = [7, 3], step = [1, 1]} : f32[7,3]
  %tt = transpose(%src) {perm = [1, 0]} : f32[3,7]
  %i4 = slice(%ids) {start = [0], stop = [7], step = [1]} : i64[7]
  %r8 = scatter_add(%z, %i4, %tt) {axis = 1} : f32[3,4]
  return %r0, %r1, %r2, %r3, %s4, %b5, %r6, %r7, %r8
}
)";

/// "compile: reductions"
inline const char *kReductionsKir = R"(
func @reductions(%x: f32[3,17,5], %i: i32[4,6]) -> (f32[17], f32[3,1,5], f32[3,17], f32[], i64[3,5], i64[17,5], i32[6]) {
  %r0 = reduce_sum(%x) {axes = [0, 2], keepdims = false} : f32[17]
  %r1 = reduce_max(%x) {axes = [1], keepdims = true} : f32[3,1,5]
  %r2 = reduce_min(%x) {axes = [-1], keepdims = false} : f32[3,17]
  %r3 = reduce_mean(%x) {axes = [0, 1, 2], keepdims = false} : f32[]
  %r4 = argmax(%x) {axis = 1, keepdims = false} : i64[3,5]
  %r5 = argmin(%x) {axis = 0, keepdims = false} : i64[17,5]
  %r6 = reduce_sum(%i) {axes = [0], keepdims = false} : i32[6]
  return %r0, %r1, %r2, %r3, %r4, %r5, %r6
}
)";

/// "compile: contractions and pooling"
inline const char *kContractionsKir = R"(
func @contractions(%a: f32[2,3,17], %b: f32[17,5], %w: f32[6,17], %x: f32[2,4,7,7], %k: f32[6,2,3,3], %kt: f32[4,3,3,3], %g: f32[2,6,4,4]) -> (f32[2,3,5], f32[2,3,6], f32[2,6,4,4], f32[2,3,13,13], f32[2,4,4,4], f32[2,4,4,4], f32[6,2,3,3], f32[2,4,7,7]) {
  %r0 = matmul(%a, %b) : f32[2,3,5]
  %wt = transpose(%w) {perm = [1, 0]} : f32[17,6]
  %r1 = matmul(%a, %wt) : f32[2,3,6]
  %r2 = conv2d(%x, %k) {stride = [2, 2], padding = [1, 1], dilation = [1, 1], groups = 2} : f32[2,6,4,4]
  %r3 = conv2d_transpose(%x, %kt) {stride = [2, 2], padding = [1, 1], output_padding = [0, 0], dilation = [1, 1], groups = 1} : f32[2,3,13,13]
  %r4 = max_pool2d(%x) {kernel = [3, 3], stride = [2, 2], padding = [1, 1]} : f32[2,4,4,4]
  %r5 = avg_pool2d(%x) {kernel = [3, 3], stride = [2, 2], padding = [1, 1], count_include_pad = false} : f32[2,4,4,4]
  %r6 = conv2d_weight_grad(%x, %g) {kernel = [3, 3], stride = [2, 2], padding = [1, 1], dilation = [1, 1], groups = 2} : f32[6,2,3,3]
  %r7 = max_pool2d_grad(%x, %r5) {kernel = [3, 3], stride = [2, 2], padding = [1, 1]} : f32[2,4,7,7]
  return %r0, %r1, %r2, %r3, %r4, %r5, %r6, %r7
}
)";

/// "gemm4d: batched matmuls of rank 4 and 5 vs the interpreter"
/// (GemmBatchTest.cpp says what each result exercises).
inline const char *kBatchedMatmulKir = R"(
func @batched(%q: f32[2,17,3,5], %k: f32[2,17,3,5], %v: f32[2,3,17,5], %m: f32[3,17,1], %x: f32[2,1,3,4,17], %y: f32[5,1,17,3], %w: f32[5,7], %bb: f32[3,1,7], %s: f32[4,2,3,1,17], %t: f32[17,1], %u: f64[3,2,17,4], %z: f64[2,3,4], %g: f32[3,40,3,33], %h: f32[3,37,3,33], %pa: f32[8,350,300], %pb: f32[8,300,20]) -> (f32[2,3,17,17], f32[2,3,17,5], f32[2,5,3,4,3], f32[2,3,17,7], f32[2,2,3,1,1], f64[3,2,17,3], f32[3,3,40,37], f32[8,350,20]) {
  %qt = transpose(%q) {perm = [0, 2, 1, 3]} : f32[2,3,17,5]
  %kt = transpose(%k) {perm = [0, 2, 3, 1]} : f32[2,3,5,17]
  %sc = matmul(%qt, %kt) : f32[2,3,17,17]
  %sm = add(%sc, %m) : f32[2,3,17,17]
  %r0 = relu(%sm) : f32[2,3,17,17]
  %r1 = matmul(%r0, %v) : f32[2,3,17,5]
  %r2 = matmul(%x, %y) : f32[2,5,3,4,3]
  %vw = matmul(%v, %w) : f32[2,3,17,7]
  %r3 = add(%vw, %bb) : f32[2,3,17,7]
  %ss = slice(%s) {start = [1, 0, 0, 0, 0], stop = [3, 2, 3, 1, 17], step = [1, 1, 1, 1, 1]} : f32[2,2,3,1,17]
  %r4 = matmul(%ss, %t) : f32[2,2,3,1,1]
  %zt = transpose(%z) {perm = [0, 2, 1]} : f64[2,4,3]
  %r5 = matmul(%u, %zt) : f64[3,2,17,3]
  %gt = transpose(%g) {perm = [0, 2, 1, 3]} : f32[3,3,40,33]
  %ht = transpose(%h) {perm = [0, 2, 3, 1]} : f32[3,3,33,37]
  %gh = matmul(%gt, %ht) : f32[3,3,40,37]
  %two = constant() {value = 2.0} : f32[]
  %r6 = mul(%gh, %two) : f32[3,3,40,37]
  %r7 = matmul(%pa, %pb) : f32[8,350,20]
  return %r0, %r1, %r2, %r3, %r4, %r5, %r6, %r7
}
)";

/// The SIMT contraction template's paths (codegen/CudaGemm.cpp): float4
/// global loads along K (A row-major, B transposed) and along M/N (A
/// transposed, B row-major); the scalar gather where an offset (the
/// slice), an extent (17, 19) or a stride rules float4 out, walking K or
/// M/N; batch-broadcast A and B; M, N, K not multiples of the tile or of
/// 4; several blocks along M and N (130x136); the fused epilogue; split-K
/// for a plain, a batched and a convolution weight-gradient product (with
/// the epilogue applied by the sum); a forward convolution with float4
/// weight loads. Not a primitive program: the CUDA tests run it with each
/// tile and split-K forced (KILN_CUDA_TILE, KILN_CUDA_SPLIT_K).
inline const char *kGemmEdgesKir = R"(
func @edges(%a: f32[64,36], %b: f32[36,40], %at: f32[36,20], %w: f32[24,36], %big: f32[9,37], %a3: f32[3,8,12], %b2: f32[12,16], %w2: f32[8,12], %b3: f32[3,12,16], %bias: f32[24], %c: f32[17,19], %e: f32[10,17], %p: f32[8,2048], %q: f32[2048,12], %pb: f32[12], %p2: f32[2,4,1024], %q2: f32[2,1024,8], %x: f32[2,4,24,24], %g: f32[2,8,24,24], %k: f32[8,4,3,3], %x2: f32[1,4,8,8], %m1: f32[130,20], %m2: f32[20,136]) -> (f32[64,40], f32[20,40], f32[64,24], f32[8,40], f32[3,8,16], f32[3,8,16], f32[19,10], f32[8,12], f32[2,4,8], f32[8,4,3,3], f32[1,8,8,8], f32[130,136]) {
  %r0 = matmul(%a, %b) : f32[64,40]
  %att = transpose(%at) {perm = [1, 0]} : f32[20,36]
  %r1 = matmul(%att, %b) : f32[20,40]
  %wt = transpose(%w) {perm = [1, 0]} : f32[36,24]
  %mm = matmul(%a, %wt) : f32[64,24]
  %mb = add(%mm, %bias) : f32[64,24]
  %r2 = relu(%mb) : f32[64,24]
  %s = slice(%big) {start = [1, 1], stop = [9, 37], step = [1, 1]} : f32[8,36]
  %r3 = matmul(%s, %b) : f32[8,40]
  %r4 = matmul(%a3, %b2) : f32[3,8,16]
  %r5 = matmul(%w2, %b3) : f32[3,8,16]
  %ct = transpose(%c) {perm = [1, 0]} : f32[19,17]
  %et = transpose(%e) {perm = [1, 0]} : f32[17,10]
  %r6 = matmul(%ct, %et) : f32[19,10]
  %pq = matmul(%p, %q) : f32[8,12]
  %pqb = add(%pq, %pb) : f32[8,12]
  %r7 = relu(%pqb) : f32[8,12]
  %r8 = matmul(%p2, %q2) : f32[2,4,8]
  %r9 = conv2d_weight_grad(%x, %g) {kernel = [3, 3], stride = [1, 1], padding = [1, 1], dilation = [1, 1], groups = 1} : f32[8,4,3,3]
  %r10 = conv2d(%x2, %k) {stride = [1, 1], padding = [1, 1], dilation = [1, 1], groups = 1} : f32[1,8,8,8]
  %r11 = matmul(%m1, %m2) : f32[130,136]
  return %r0, %r1, %r2, %r3, %r4, %r5, %r6, %r7, %r8, %r9, %r10, %r11
}
)";

/// Every primitive program above, by name.
inline const std::vector<std::pair<const char *, const char *>> &
primitive_programs() {
  static const std::vector<std::pair<const char *, const char *>> all = {
      {"unary ops on odd shapes", kUnaryKir},
      {"binary ops, comparisons and select broadcast", kBinaryKir},
      {"casts and sources", kCastsKir},
      {"layout and indexing views", kViewsKir},
      {"reductions", kReductionsKir},
      {"contractions and pooling", kContractionsKir},
      {"batched matmuls of rank 4 and 5", kBatchedMatmulKir},
  };
  return all;
}

} // namespace kiln::test
