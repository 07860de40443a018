/// \file
/// Debugging tools (docs/debugging.md): probes leave every regular result
/// bit-identical and match the interpreter; check-numerics names the first
/// kernel, op and .kir location that made a NaN or Inf and costs no code
/// when off; profiles time every kernel; kernel costs; generated comments.
// SPDX-License-Identifier: Apache-2.0
#include "CompileCheck.h"

#include "codegen/CPrinter.h"
#include "codegen/CudaPrinter.h"
#include "frontend/Compile.h"
#include "frontend/Graph.h"
#include "frontend/Init.h"
#include "frontend/Ops.h"
#include "frontend/Train.h"
#include "frontend/nn/Sequence.h"
#include "ir/Parser.h"
#include "passes/Probes.h"
#include "runtime/Profile.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <random>

using namespace kiln;
using namespace kiln::test;

namespace {

/// Fusion of every kind: a matmul epilogue, a row-fused softmax, a value
/// used twice, an unnamed value.
const char *kModel =
    R"(func @net(%x: f32[6,20], %w: f32[20,24] {param}, %b: f32[24] {param}) -> (f32[6,24], f32[6,1]) {
  %h = matmul(%x, %w) : f32[6,24]
  %hb = add(%h, %b) : f32[6,24]
  %a = tanh(%hb) : f32[6,24]
  %m = reduce_max(%a) {axes = [1], keepdims = true} : f32[6,1]
  %d = sub(%a, %m) : f32[6,24]
  %e = exp(%d) : f32[6,24]
  %s = reduce_sum(%e) {axes = [1], keepdims = true} : f32[6,1]
  %p = div(%e, %s) : f32[6,24]
  %0 = mul(%a, %a) : f32[6,24]
  %q = reduce_mean(%0) {axes = [1], keepdims = true} : f32[6,1]
  return %p, %q
}
)";

std::unique_ptr<Module> parse_text(const std::string &text,
                                   const std::string &file = "net.kir") {
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(text, file, diags);
  REQUIRE(m);
  return m;
}

std::vector<HostTensor> seeded_args(const Function &f, double scale = 1) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> normal;
  std::vector<HostTensor> args;
  for (const auto &p : f.params()) {
    HostTensor t(p->type());
    for (int64_t i = 0; i < t.numel(); ++i)
      t.set(i, scale * normal(rng));
    args.push_back(t);
  }
  return args;
}

bool bit_identical(const HostTensor &a, const HostTensor &b) {
  return a.type() == b.type() &&
         std::memcmp(a.bytes(), b.bytes(), size_t(a.type().bytes())) == 0;
}

std::vector<HostTensor> run(const Function &f, const CompileOptions &co,
                            std::vector<HostTensor> args,
                            std::unique_ptr<Executable> *keep = nullptr) {
  std::unique_ptr<Executable> exe = compile(f, co);
  std::vector<HostTensor> r = exe->run_all(args);
  if (keep)
    *keep = std::move(exe);
  return r;
}

} // namespace

TEST_CASE("probes: regular results bit-identical, probes match the "
          "interpreter",
          "[debug][probe]") {
  auto m = parse_text(kModel);
  const Function &f = *m->functions()[0];
  std::vector<HostTensor> args = seeded_args(f);
  CompileOptions plain;
  plain.use_cache = false;
  std::unique_ptr<Executable> base_exe, probed_exe;
  std::vector<HostTensor> base = run(f, plain, args, &base_exe);

  CompileOptions co = plain;
  // Inside an epilogue, a row-fused reduction, a parameter, a result, an
  // unnamed value (printed %0), and the same value twice.
  co.probes = {"%hb", "s", "%m", "%w", "%p", "%0", "hb"};
  std::vector<HostTensor> got = run(f, co, args, &probed_exe);
  REQUIRE(got.size() == base.size() + co.probes.size());
  for (size_t i = 0; i < base.size(); ++i)
    CHECK(bit_identical(got[i], base[i]));

  // The regular kernels are exactly those of the unprobed program, in
  // order, with the probe kernels between them.
  std::vector<std::string> base_ops, kept_ops;
  for (const loop::Kernel &k : base_exe->program().kernels)
    base_ops.push_back(k.ops);
  for (const loop::Kernel &k : probed_exe->program().kernels)
    if (std::count(base_ops.begin(), base_ops.end(), k.ops))
      kept_ops.push_back(k.ops);
  CHECK(kept_ops == base_ops);

  std::unique_ptr<Function> g = f.clone();
  add_probes(*g, co.probes);
  std::vector<HostTensor> want = interpret(*g, args);
  for (size_t i = base.size(); i < got.size(); ++i)
    for (int64_t j = 0; j < want[i].numel(); ++j)
      CHECK_THAT(got[i].get(j),
                 Catch::Matchers::WithinRel(want[i].get(j), 1e-4) ||
                     Catch::Matchers::WithinAbs(0, 1e-5));
  CHECK(bit_identical(got[base.size() + 6], got[base.size()]));
  CHECK(probed_exe->debug().probes == co.probes);
}

TEST_CASE("probes: a C++ API name", "[debug][probe]") {
  Graph g("attn");
  Tensor x = g.input("x", f32({4, 8}));
  Tensor w = g.param("w", f32({8, 8}), init::normal(0.3));
  Tensor scores = matmul(x, w).named("blocks.0.attn.scores");
  g.output(relu(scores));
  CompileOptions co;
  co.probes = {"blocks.0.attn.scores"};
  std::vector<HostTensor> args = seeded_args(g.function());
  std::vector<HostTensor> r = run(g.function(), co, args);
  REQUIRE(r.size() == 2);
  for (int64_t i = 0; i < r[0].numel(); ++i)
    CHECK(r[0].get(i) == std::max(0.0, r[1].get(i)));
}

TEST_CASE("probes: attention scores by module path", "[debug][probe]") {
  Graph g("tiny");
  Tensor x = g.input("x", f32({2, 3, 8}));
  nn::MultiheadAttention attn(g, "blocks.0.attn", 8, 2);
  g.output(attn(x, x, x, /*causal=*/true));
  CompileOptions co;
  co.probes = {"blocks.0.attn.scores", "blocks.0.attn.probs"};
  // The causal mask's -inf is by design: check-numerics looks for NaN only
  // in buffers that a mask writes.
  co.check_numerics = true;
  std::vector<HostTensor> args = seeded_args(g.function());
  std::vector<HostTensor> r = run(g.function(), co, args);
  REQUIRE(r.size() == 3);
  CHECK(r[1].type() == f32({2, 2, 3, 3}));
  // Causal: query 0 sees key 0 only; each row of probabilities sums to 1.
  CHECK(std::isinf(r[1].get(1)));
  CHECK(r[2].get(0) == 1.0f);
  for (int64_t row = 0; row < 12; ++row) {
    double sum =
        r[2].get(3 * row) + r[2].get(3 * row + 1) + r[2].get(3 * row + 2);
    CHECK_THAT(sum, Catch::Matchers::WithinAbs(1, 1e-5));
  }
}

TEST_CASE("probes: a GPT training step with remat keeps every result "
          "bit-identical",
          "[debug][probe]") {
  models::Model m = models::build_workload("gpt_train", /*reduced=*/true, 5);
  train_step(*m.graph, m.loss, m.params, {optim::sgd(0.05, 0.9)});
  const Function &f = m.graph->function();
  std::vector<HostTensor> args = model_args(m);
  CompileOptions co;
  co.remat = RematPolicy::sqrt_n();
  std::vector<HostTensor> base = run(f, co, args);
  co.probes = {"blocks.0.attn.probs", "blocks.1.attn.scores"};
  std::vector<HostTensor> got = run(f, co, args);
  REQUIRE(got.size() == base.size() + 2);
  for (size_t i = 0; i < base.size(); ++i) {
    INFO("result " << i);
    CHECK(bit_identical(got[i], base[i]));
  }
  std::unique_ptr<Function> g = f.clone();
  add_probes(*g, co.probes);
  std::vector<HostTensor> want = interpret(*g, args);
  check_close(got[base.size()], want[base.size()], "probs");

  // A probed weight is the value the step started from, not its update.
  const std::string w = "blocks.0.attn.q_proj.weight";
  size_t wi = 0;
  while (f.param(wi)->name() != w)
    ++wi;
  // Its update still happens in place (the probe's copy comes first).
  co.probes = {};
  std::unique_ptr<Executable> plain, with_probe;
  run(f, co, args, &plain);
  co.probes = {w};
  std::vector<HostTensor> probed = run(f, co, args, &with_probe);
  CHECK(bit_identical(probed.back(), args[wi]));
  CHECK(with_probe->program().updates.size() ==
        plain->program().updates.size());
}

TEST_CASE("probes: an unknown name lists near matches", "[debug][probe]") {
  auto m = parse_text(kModel);
  CompileOptions co;
  co.probes = {"%hbb"};
  try {
    compile(*m->functions()[0], co);
    FAIL("no error");
  } catch (const Error &e) {
    std::string msg = e.what();
    CHECK(msg.find("probe '%hbb'") != std::string::npos);
    CHECK(msg.find("did you mean %hb") != std::string::npos);
  }
  CHECK_THROWS_WITH(find_probe(*m->functions()[0], "%nothing_like_it"),
                    Catch::Contains("has no value of that name"));
}

TEST_CASE("check-numerics: names the kernel, op and .kir location",
          "[debug][numerics]") {
  auto m = parse_text(R"(func @boom(%x: f32[4,8]) -> (f32[4,8]) {
  %y = mul(%x, %x) : f32[4,8]
  %big = exp(%y) : f32[4,8]
  %s = reduce_sum(%big) {axes = [1], keepdims = true} : f32[4,1]
  %n = div(%big, %s) : f32[4,8]
  return %n
}
)",
                      "boom.kir");
  const Function &f = *m->functions()[0];
  CompileOptions co;
  co.check_numerics = true;
  std::unique_ptr<Executable> exe = compile(f, co);
  // Finite inputs: runs as without the check.
  std::vector<HostTensor> small = seeded_args(f, 0.5);
  CHECK(bit_identical(exe->run(small)[0], compile(f)->run(small)[0]));
  // exp(100) overflows f32.
  std::vector<HostTensor> big = seeded_args(f, 0.5);
  big[0].set(3, 10.0);
  try {
    exe->run(big);
    FAIL("no error");
  } catch (const Error &e) {
    std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("check-numerics: @boom: kernel k0") != std::string::npos);
    // The whole function fuses into k0, which wrote a NaN (inf/inf); the
    // replay names the op that overflowed first.
    CHECK(msg.find("produced nan in %n") != std::string::npos);
    CHECK(msg.find("first non-finite op (replayed by the interpreter): exp "
                   "%big  at boom.kir:3:10") != std::string::npos);
    CHECK(msg.find("    mul %y  at boom.kir:2:8") != std::string::npos);
  }
  // Off: not one scan in the generated code.
  CHECK(exe->c_source().find("kiln_nonfinite32(") != std::string::npos);
  CHECK(compile(f)->c_source().find("kiln_nonfinite") == std::string::npos);
}

TEST_CASE("check-numerics: a bad input is named", "[debug][numerics]") {
  auto m = parse_text(R"(func @f(%x: f32[4]) -> (f32[4]) {
  %y = add(%x, %x) : f32[4]
  return %y
}
)");
  CompileOptions co;
  co.check_numerics = true;
  HostTensor x(f32({4}));
  x.set(2, std::nan(""));
  CHECK_THROWS_WITH(compile(*m->functions()[0], co)->run({x}),
                    Catch::Contains("its input was already non-finite: nan "
                                    "in %x"));
}

TEST_CASE("profile: every kernel timed, a valid Chrome trace",
          "[debug][profile]") {
  auto m = parse_text(kModel);
  const Function &f = *m->functions()[0];
  CompileOptions co;
  co.profile = true;
  std::unique_ptr<Executable> exe = compile(f, co);
  std::vector<HostTensor> args = seeded_args(f);
  exe->run_all(args);
  const double *t = exe->debug().kernel_times;
  REQUIRE(t);
  size_t n = exe->program().kernels.size();
  for (size_t k = 0; k < n; ++k) {
    CHECK(t[2 * k] > 0);
    CHECK(t[2 * k + 1] >= t[2 * k]);
  }
  nlohmann::json trace = nlohmann::json::parse(chrome_trace(*exe));
  size_t kernels = 0, compile_phases = 0;
  for (const auto &e : trace["traceEvents"]) {
    if (e["ph"] != "X")
      continue;
    if (e["cat"] == "kernel") {
      ++kernels;
      CHECK(e["args"]["flops"].get<int64_t>() > 0);
      CHECK(e["args"]["bytes"].get<int64_t>() > 0);
      CHECK(!e["args"]["ops"].empty());
    } else {
      ++compile_phases;
    }
  }
  CHECK(kernels == n);
  CHECK(compile_phases >= 4);
  CHECK(compile_phase_table(*exe).find("lower") != std::string::npos);
  // Off: no timestamps at all.
  CHECK(compile(f)->debug().kernel_times == nullptr);
  CHECK(compile(f)->c_source().find("omp_get_wtime") == std::string::npos);
}

TEST_CASE("kernel_cost: FLOPs and bytes of a matmul epilogue",
          "[debug][profile]") {
  auto m =
      parse_text(R"(func @f(%a: f32[64,32], %b: f32[32,16]) -> (f32[64,16]) {
  %c = matmul(%a, %b) : f32[64,16]
  %r = relu(%c) : f32[64,16]
  return %r
}
)");
  loop::Program p = lower(*m->functions()[0]);
  REQUIRE(p.kernels.size() == 1);
  KernelCost c = kernel_cost(p, p.kernels[0]);
  // 2*M*N*K multiply-adds plus one relu per output.
  CHECK(c.flops == 2 * 64 * 16 * 32 + 64 * 16);
  CHECK(c.bytes == 4 * (64 * 32 + 32 * 16 + 64 * 16));
}

TEST_CASE("generated C: each kernel names its ops and .kir lines",
          "[debug][emit]") {
  auto m = parse_text(kModel, "net.kir");
  loop::Program p = lower(*m->functions()[0]);
  std::string c = codegen::emit_c(p, "net");
  CHECK(c.find("/* k0: matmul+add+tanh\n *   matmul      %h  net.kir:2:8\n"
               " *   add         %hb  net.kir:3:9\n") != std::string::npos);
  for (const loop::Kernel &k : p.kernels)
    CHECK(c.find("/* " + k.name + ": " + k.ops + "\n") != std::string::npos);
}

TEST_CASE("generated CUDA: each kernel names its ops and .kir lines",
          "[debug][emit]") {
  auto m = parse_text(kModel, "net.kir");
  loop::Program p = lower(*m->functions()[0]);
  std::string cu = codegen::emit_cuda(p, "net").source;
  CHECK(cu.find("/* k0: matmul+add+tanh \xe2\x80\x94 ") != std::string::npos);
  CHECK(cu.find(" *   add         %hb  net.kir:3:9\n") != std::string::npos);
}
