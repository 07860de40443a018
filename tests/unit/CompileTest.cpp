/// \file
/// The CPU backend against the reference interpreter: every primitive on
/// odd shapes, broadcasting and views; fused and unfused programs; and every
/// benchmark model at reduced size, forward and training step.
// SPDX-License-Identifier: Apache-2.0
#include "CompileCheck.h"
#include "TestUtil.h"

#include "bench/models/Models.h"
#include "codegen/CPrinter.h"
#include "codegen/ClangJit.h"
#include "codegen/Gemm.h"
#include "frontend/Compile.h"
#include "frontend/Train.h"
#include "ir/Parser.h"
#include "ir/Printer.h"

#include <cstdlib>
#include <fstream>
#include <random>
#include <set>

using namespace kiln;
using namespace kiln::test;

TEST_CASE("compile: unary ops on odd shapes", "[compile]") {
  check_kir(kUnaryKir);
}

TEST_CASE("compile: binary ops, comparisons and select broadcast",
          "[compile]") {
  check_kir(kBinaryKir);
}

TEST_CASE("compile: casts and sources", "[compile]") { check_kir(kCastsKir); }

TEST_CASE("compile: layout and indexing views", "[compile]") {
  check_kir(kViewsKir);
}

TEST_CASE("compile: reductions", "[compile]") { check_kir(kReductionsKir); }

TEST_CASE("compile: contractions and pooling", "[compile]") {
  check_kir(kContractionsKir);
}

TEST_CASE("compile: fused and unfused programs compute the same values",
          "[compile]") {
  const char *text = R"(
func @mlp(%x: f32[5,17], %w: f32[17,9], %b: f32[9], %v: f32[9,3]) -> (f32[5,3], f32[5,9]) {
  %h = matmul(%x, %w) : f32[5,9]
  %hb = add(%h, %b) : f32[5,9]
  %a = relu(%hb) : f32[5,9]
  %o = matmul(%a, %v) : f32[5,3]
  %m = reduce_max(%o) {axes = [1], keepdims = true} : f32[5,1]
  %z = sub(%o, %m) : f32[5,3]
  %e = exp(%z) : f32[5,3]
  %s = reduce_sum(%e) {axes = [1], keepdims = true} : f32[5,1]
  %p = div(%e, %s) : f32[5,3]
  return %p, %a
}
)";
  check_kir(text, /*fuse=*/true);
  check_kir(text, /*fuse=*/false);
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(text, "t.kir", diags);
  REQUIRE(m);
  loop::Program fused = lower(*m->functions()[0]);
  LowerOptions unfused_opts;
  unfused_opts.fuse = false;
  loop::Program unfused = lower(*m->functions()[0], unfused_opts);
  // matmul+add+relu, matmul, and the whole softmax as one row kernel.
  CHECK(fused.kernels.size() == 3);
  CHECK(unfused.kernels.size() == 9);
  CHECK(fused.kernels[0].ops == "matmul+add+relu");
  CHECK(fused.kernels[2].ops == "reduce_max+sub+exp+reduce_sum+div");
}

TEST_CASE("compile: params, state updates and results that alias",
          "[compile]") {
  check_kir(R"(
func @step(%x: f32[4], %w: f32[4] {param}, %n: f32[] {state}) -> (f32[], f32[4], f32[4], f32[4] {updates = %w}, f32[] {updates = %n}) {
  %y = mul(%x, %w) : f32[4]
  %l = reduce_sum(%y) {axes = [0], keepdims = false} : f32[]
  %lr = constant() {value = 0.1} : f32[]
  %d = mul(%x, %lr) : f32[4]
  %w1 = sub(%w, %d) : f32[4]
  %one = constant() {value = 1.0} : f32[]
  %n1 = add(%n, %one) : f32[]
  return %l, %w, %w1, %w1, %n1
}
)");
}

TEST_CASE("compile: every benchmark model at reduced size",
          "[compile][models]") {
  for (const std::string &name : models::workload_names()) {
    INFO("workload " << name);
    models::Model m = models::build_workload(name, /*reduced=*/true, 5);
    Function &f = m.graph->function();
    std::vector<HostTensor> args = model_args(m);
    std::vector<HostTensor> want_args = args;
    std::vector<HostTensor> want = interpret(f, want_args);
    std::unique_ptr<Executable> exe = compile(f);
    std::vector<HostTensor> got = exe->run_all(args);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < want.size(); ++i)
      check_normwise(got[i], want[i], name + " result " + std::to_string(i));
  }
}

/// The reduced ResNet normalizes its last stages over batch*H*W = 2
/// values, which amplifies f32 rounding about a hundredfold (the
/// interpreter, rounding to f32 between ops, is off from float64 by the same
/// amount; see GoldenStepTest): it is not well-conditioned data.
double tolerance(const std::string &workload) {
  return workload == "resnet18_train" ? 5e-3 : 1e-4;
}

TEST_CASE("compile: training steps of the reduced models",
          "[compile][models]") {
  for (const char *name : {"mlp_train", "resnet18_train", "gpt_train",
                           "lstm_train", "deep_mlp_memory"}) {
    INFO("workload " << name);
    models::Model m = models::build_workload(name, /*reduced=*/true, 5);
    train_step(*m.graph, m.loss, m.params, {optim::sgd(0.05, 0.9)});
    Function &f = m.graph->function();
    std::vector<HostTensor> args = model_args(m);
    std::vector<HostTensor> want_args = args;
    std::unique_ptr<Executable> exe = compile(f);
    for (int step = 0; step < 2; ++step) {
      std::vector<HostTensor> want = interpret(f, want_args);
      apply_updates(f, want, want_args);
      std::vector<HostTensor> got = exe->run_all(args);
      for (size_t i = 0; i < want.size(); ++i)
        check_normwise(got[i], want[i],
                       std::string(name) + " step " + std::to_string(step) +
                           " result " + std::to_string(i),
                       tolerance(name));
    }
  }
}

// Hidden: writes every reduced workload (forward, and the training step of
// the training ones) as .kir into $KILN_DUMP_MODELS (for kiln-opt and
// kiln-run): kiln_unit_tests "[.dump-models]".
TEST_CASE("dump reduced models", "[.dump-models]") {
  const char *dir = std::getenv("KILN_DUMP_MODELS");
  REQUIRE(dir);
  for (const std::string &name : models::workload_names()) {
    models::Model m = models::build_workload(name, /*reduced=*/true, 5);
    if (m.loss.valid() && name != "dcgan_step")
      train_step(*m.graph, m.loss, m.params, {optim::sgd(0.05, 0.9)});
    std::ofstream(std::string(dir) + "/" + name + ".kir") << m.graph->to_kir();
  }
}

TEST_CASE("compile: conv2d as an implicit GEMM with a fused epilogue",
          "[compile]") {
  // Strided, padded, dilated, grouped 3x3 with bias + residual + relu; a
  // 1x1 on a batch slice of x (read at an offset, the pointwise path).
  const char *text = R"(
func @conv(%x: f32[2,32,24,24], %w: f32[32,16,3,3], %b: f32[32,1,1], %r: f32[2,32,11,11], %w2: f32[32,32,1,1]) -> (f32[2,32,11,11], f32[1,32,24,24]) {
  %c = conv2d(%x, %w) {stride = [2, 2], padding = [1, 1], dilation = [2, 2], groups = 2} : f32[2,32,11,11]
  %cb = add(%c, %b) : f32[2,32,11,11]
  %s = add(%cb, %r) : f32[2,32,11,11]
  %y = relu(%s) : f32[2,32,11,11]
  %x1 = slice(%x) {start = [1, 0, 0, 0], stop = [2, 32, 24, 24], step = [1, 1, 1, 1]} : f32[1,32,24,24]
  %p = conv2d(%x1, %w2) {stride = [1, 1], padding = [0, 0], dilation = [1, 1], groups = 1} : f32[1,32,24,24]
  return %y, %p
}
)";
  check_kir(text);
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(text, "t.kir", diags);
  REQUIRE(m);
  loop::Program p = lower(*m->functions()[0]);
  REQUIRE(p.kernels.size() == 2);
  CHECK(p.kernels[0].ops == "conv2d+add+add+relu");
  CHECK(p.kernels[0].body->body[0]->op == loop::StmtOp::Conv2d);
  CHECK(p.kernels[1].body->body[0]->op == loop::StmtOp::Conv2d);
  CHECK(p.kernels[1].body->body[0]->conv->x_offset == 32 * 24 * 24);
  LowerOptions loops;
  loops.conv_min_work = int64_t(1) << 40;
  for (const loop::Kernel &k : lower(*m->functions()[0], loops).kernels)
    CHECK(k.body->body[0]->op != loop::StmtOp::Conv2d);
}

TEST_CASE("compile: f32 exp, tanh and sigmoid over their whole range",
          "[compile]") {
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(R"(
func @math(%x: f32[24]) -> (f32[24], f32[24], f32[24]) {
  %e = exp(%x) : f32[24]
  %t = tanh(%x) : f32[24]
  %s = sigmoid(%x) : f32[24]
  return %e, %t, %s
}
)",
                                               "math.kir", diags);
  REQUIRE(m);
  const double inf = INFINITY;
  HostTensor x = HostTensor::from(
      f32({24}), {-200,  -104,   -103.9, -87.5, -87.3, -20,   -10,  -0.7,
                  -1e-3, -1e-30, 0,      1e-30, 1e-3,  0.3,   0.62, 0.63,
                  1,     5,      10,     88,    88.7,  88.73, inf,  -inf});
  const Function &f = *m->functions()[0];
  std::vector<HostTensor> want = interpret(f, {x});
  std::unique_ptr<Executable> exe = compile(f);
  std::vector<HostTensor> got = exe->run({x});
  for (size_t r = 0; r < 3; ++r)
    for (int64_t i = 0; i < 24; ++i) {
      double g = got[r].get(i), w = want[r].get(i);
      INFO("result " << r << " at x = " << x.get(i) << ": got " << g
                     << ", want " << w);
      if (std::isinf(w) || w == 0)
        CHECK(g == w);
      else
        CHECK_THAT(g, Catch::Matchers::WithinRel(w, 1e-6) ||
                          Catch::Matchers::WithinAbs(w, 1e-37));
    }
  HostTensor nan = HostTensor::splat(f32({24}), NAN);
  for (const HostTensor &r : exe->run({nan}))
    CHECK(std::isnan(r.get(0)));
}

TEST_CASE("compile: the reduced resnet18 with every conv2d as implicit GEMM",
          "[compile][models]") {
  // Its convolutions are below conv_min_work; forcing them through the
  // Conv2d node covers the model's batch-norm epilogues and 1x1 strides.
  models::Model m = models::build_workload("resnet18_infer", true, 5);
  Function &f = m.graph->function();
  std::vector<HostTensor> args = model_args(m);
  std::vector<HostTensor> want_args = args;
  std::vector<HostTensor> want = interpret(f, want_args);
  CompileOptions o;
  o.lower.conv_min_work = 0;
  int convs = 0;
  for (const loop::Kernel &k : lower(f, o.lower).kernels)
    convs += k.body->body[0]->op == loop::StmtOp::Conv2d;
  CHECK(convs == 20);
  std::unique_ptr<Executable> exe = compile(f, o);
  std::vector<HostTensor> got = exe->run_all(args);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i)
    check_normwise(got[i], want[i], "result " + std::to_string(i));
}

TEST_CASE("compile: conv2d_transpose and conv2d_weight_grad as Conv2d nodes",
          "[compile][conv]") {
  // Stride 2 + padding, groups, a 1x1 stride 2 with output_padding, and a
  // dilated transpose whose output_padding no forward convolution has (a
  // loop nest); weight gradients strided + grouped and plain.
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(R"(
func @grads(%x: f32[2,8,9,9], %w: f32[8,6,3,3], %w2: f32[8,3,3,3], %w3: f32[8,4,1,1], %y: f32[2,6,17,17], %h: f32[2,10,15,15]) -> (f32[2,6,17,17], f32[2,6,9,9], f32[2,4,18,18], f32[2,6,14,14], f32[8,3,3,3], f32[10,6,3,3]) {
  %r0 = conv2d_transpose(%x, %w) {stride = [2, 2], padding = [1, 1], output_padding = [0, 0], dilation = [1, 1], groups = 1} : f32[2,6,17,17]
  %r1 = conv2d_transpose(%x, %w2) {stride = [1, 1], padding = [1, 1], output_padding = [0, 0], dilation = [1, 1], groups = 2} : f32[2,6,9,9]
  %r2 = conv2d_transpose(%x, %w3) {stride = [2, 2], padding = [0, 0], output_padding = [1, 1], dilation = [1, 1], groups = 1} : f32[2,4,18,18]
  %r3 = conv2d_transpose(%x, %w) {stride = [1, 1], padding = [0, 0], output_padding = [1, 1], dilation = [2, 2], groups = 1} : f32[2,6,14,14]
  %r4 = conv2d_weight_grad(%y, %x) {kernel = [3, 3], stride = [2, 2], padding = [1, 1], dilation = [1, 1], groups = 2} : f32[8,3,3,3]
  %r5 = conv2d_weight_grad(%y, %h) {kernel = [3, 3], stride = [1, 1], padding = [0, 0], dilation = [1, 1], groups = 1} : f32[10,6,3,3]
  return %r0, %r1, %r2, %r3, %r4, %r5
}
)",
                                               "grads.kir", diags);
  REQUIRE(m);
  const Function &f = *m->functions()[0];
  CompileOptions o;
  o.lower.conv_min_work = 0;
  std::vector<int> kinds;
  for (const loop::Kernel &k : lower(f, o.lower).kernels) {
    const loop::StmtPtr &s = k.body->body[0];
    kinds.push_back(s->op == loop::StmtOp::Conv2d ? int(s->conv->kind) : -1);
  }
  const int in = int(loop::ConvKind::InputGrad),
            wg = int(loop::ConvKind::WeightGrad);
  CHECK(kinds == std::vector<int>{in, in, in, -1, wg, wg});
  std::vector<HostTensor> args = random_args(f, 3);
  std::vector<HostTensor> want = interpret(f, args);
  std::vector<HostTensor> got = compile(f, o)->run_all(args);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i)
    check_close(got[i], want[i], "result " + std::to_string(i));
}

TEST_CASE("compile: the reduced resnet18 training step with every "
          "convolution product as a Conv2d node",
          "[compile][models][conv]") {
  models::Model m = models::build_workload("resnet18_train", true, 5);
  train_step(*m.graph, m.loss, m.params, {optim::sgd(0.05, 0.9)});
  Function &f = m.graph->function();
  std::vector<HostTensor> args = model_args(m);
  std::vector<HostTensor> want_args = args;
  std::vector<HostTensor> want = interpret(f, want_args);
  CompileOptions o;
  o.lower.conv_min_work = 0;
  int counts[3] = {0, 0, 0}, loops = 0;
  for (const loop::Kernel &k : lower(f, o.lower).kernels) {
    const loop::StmtPtr &s = k.body->body[0];
    if (s->op == loop::StmtOp::Conv2d)
      ++counts[int(s->conv->kind)];
    loops += k.ops.find("conv2d") != std::string::npos &&
             s->op != loop::StmtOp::Conv2d;
  }
  // 20 convolutions; the stem's input gradient is never needed.
  CHECK(counts[0] == 20);
  CHECK(counts[1] == 19);
  CHECK(counts[2] == 20);
  CHECK(loops == 0);
  std::vector<HostTensor> got = compile(f, o)->run_all(args);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i)
    check_normwise(got[i], want[i], "result " + std::to_string(i), 5e-3);
}

TEST_CASE("compile: identical contractions and kernels share one C "
          "definition",
          "[compile][conv]") {
  // Two convolutions of the same shapes in separate kernels, and two exp
  // kernels of the same shape: one definition of the shared contraction
  // function and of each shared kernel body per program, and the kernels
  // that use one in the same translation unit.
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(R"(
func @twins(%x: f32[2,16,8,8], %y: f32[2,16,8,8], %w: f32[16,16,3,3], %v: f32[16,16,3,3]) -> (f32[2,16,8,8], f32[2,16,8,8], f32[2,16,8,8], f32[2,16,8,8]) {
  %a = conv2d(%x, %w) {stride = [1, 1], padding = [1, 1], dilation = [1, 1], groups = 1} : f32[2,16,8,8]
  %b = conv2d(%y, %v) {stride = [1, 1], padding = [1, 1], dilation = [1, 1], groups = 1} : f32[2,16,8,8]
  %e = exp(%x) : f32[2,16,8,8]
  %g = exp(%y) : f32[2,16,8,8]
  return %a, %b, %e, %g
}
)",
                                               "twins.kir", diags);
  REQUIRE(m);
  const Function &f = *m->functions()[0];
  CompileOptions o;
  o.lower.conv_min_work = 0;
  loop::Program p = lower(f, o.lower);
  auto definitions = [](const std::string &c) {
    std::vector<std::string> ids;
    for (size_t at = c.find("#ifndef kiln_c"); at != std::string::npos;
         at = c.find("#ifndef kiln_c", at + 1))
      ids.push_back(c.substr(at, c.find('\n', at) - at));
    return ids;
  };
  // One translation unit: the contraction function, the conv kernels' body
  // and the exp kernels' body, each guarded once per kernel that uses it.
  std::vector<std::string> one = definitions(codegen::emit_c(p, "twins"));
  REQUIRE(one.size() == 6);
  CHECK(std::set<std::string>(one.begin(), one.end()).size() == 3);
  std::vector<std::string> parts = codegen::emit_c_parts(p, "twins", 2);
  REQUIRE(parts.size() == 2);
  CHECK(definitions(parts[0]).size() + definitions(parts[1]).size() == 3);
  std::vector<HostTensor> args = random_args(f, 4);
  std::vector<HostTensor> want = interpret(f, args);
  std::vector<HostTensor> got = compile(f, o)->run_all(args);
  for (size_t i = 0; i < want.size(); ++i)
    check_close(got[i], want[i], "result " + std::to_string(i));
}

TEST_CASE("compile: contraction kernels are sized for the target CPU's "
          "vectors, not the host's",
          "[compile][aot]") {
  // An object for x86-64-v3 (kilnc's default) must not get the 512-bit
  // micro-kernels an AVX-512 host would pick: LLVM splits every vector in
  // two and the register tiles spill (3x slower objects before this).
  auto width = [](const std::string &cpu, const std::string &triple) {
    codegen::CCompileOptions co;
    co.cpu = cpu;
    co.triple = triple;
    return codegen::target_vector_width(co);
  };
  CHECK(width("x86-64-v3", "") == 8);
  CHECK(width("skylake-avx512", "") == 16);
  CHECK(width("x86-64", "") == 4);
  CHECK(width("generic", "aarch64-linux-gnu") == 4);
  CHECK(width("native", "") == codegen::host_vector_width());

  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(R"(
func @mm(%a: f32[64,64], %b: f32[64,64]) -> (f32[64,64]) {
  %c = matmul(%a, %b) : f32[64,64]
  return %c
}
)",
                                               "mm.kir", diags);
  REQUIRE(m);
  loop::Program p = lower(*m->functions()[0]);
  for (int vw : {4, 8, 16}) {
    codegen::EmitOptions eo;
    eo.vector_width = vw;
    std::string c = codegen::emit_c(p, "mm", eo);
    std::string bits = "min_vector_width(" + std::to_string(vw * 32) + ")";
    CHECK(c.find(bits) != std::string::npos);
    for (int other : {4, 8, 16})
      if (other != vw)
        CHECK(c.find("min_vector_width(" + std::to_string(other * 32) + ")") ==
              std::string::npos);
  }
}
