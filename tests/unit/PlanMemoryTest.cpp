/// \file
/// plan-memory and check_memory: reuse across layer chains (the arena does
/// not grow with depth), in-place elementwise kernels, the report, and the
/// checker on deliberately broken plans.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include "bench/models/Models.h"
#include "frontend/Compile.h"
#include "frontend/Train.h"
#include "ir/Interpreter.h"
#include "ir/Parser.h"
#include "passes/Lower.h"
#include "passes/PassManager.h"
#include "passes/PlanMemory.h"

#include <cstdio>
#include <cstdlib>
#include <random>
#include <regex>

using namespace kiln;

namespace {

/// Every program lowered by this test binary (CompileTest's models
/// included) is checked by check_memory: lower() throws on a violation.
[[maybe_unused]] const bool kCheckEverything = [] {
  setenv("KILN_CHECK_MEMORY", "1", /*overwrite=*/0);
  return true;
}();

std::unique_ptr<Module> parse(const std::string &text) {
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(text, "plan.kir", diags);
  INFO((diags.all().empty() ? std::string() : diags.all()[0].str()));
  REQUIRE(m);
  return m;
}

/// N layers of relu(matmul(h, w)), each its own kernel (64 x 64 x 64: a
/// Gemm with a relu epilogue).
std::string matmul_chain(int n) {
  std::string s = "func @chain(%x: f32[64,64], %w: f32[64,64]) -> "
                  "(f32[64,64]) {\n";
  std::string prev = "%x";
  for (int i = 0; i < n; ++i) {
    std::string m = "%m" + std::to_string(i), h = "%h" + std::to_string(i);
    s += "  " + m + " = matmul(" + prev + ", %w) : f32[64,64]\n";
    s += "  " + h + " = relu(" + m + ") : f32[64,64]\n";
    prev = h;
  }
  return s + "  return " + prev + "\n}\n";
}

/// N layers of h = add(tanh(h), h): h has two uses, so each layer is one
/// elementwise kernel that reads h at the index it writes.
std::string elementwise_chain(int n) {
  std::string s = "func @ew(%x: f32[64,64]) -> (f32[64,64]) {\n"
                  "  %h0 = exp(%x) : f32[64,64]\n";
  for (int i = 1; i <= n; ++i) {
    std::string h = "%h" + std::to_string(i), p = "%h" + std::to_string(i - 1);
    s += "  %t" + std::to_string(i) + " = tanh(" + p + ") : f32[64,64]\n";
    s += "  " + h + " = add(%t" + std::to_string(i) + ", " + p +
         ") : f32[64,64]\n";
  }
  return s + "  %y = neg(%h" + std::to_string(n) + ") : f32[64,64]\n" +
         "  return %y\n}\n";
}

/// The old %w is returned too, so %w1 cannot be computed in %w's buffer.
const char *kUpdateCopied = R"(
func @u(%x: f32[16,16], %w: f32[16,16] {param}) -> (f32[16,16], f32[16,16], f32[16,16] {updates = %w}) {
  %w1 = mul(%w, %x) : f32[16,16]
  %e = exp(%w1) : f32[16,16]
  %y = add(%e, %w1) : f32[16,16]
  %z = tanh(%y) : f32[16,16]
  %s = add(%z, %y) : f32[16,16]
  return %s, %w, %w1
}
)";

loop::Program lowered(const std::string &text, bool plan = true) {
  std::unique_ptr<Module> m = parse(text);
  LowerOptions o;
  o.plan_memory = plan;
  o.check_memory = true;
  return lower(*m->functions()[0], o);
}

/// Compiles \p text and compares with the interpreter.
void check_runs(const std::string &text) {
  std::unique_ptr<Module> m = parse(text);
  const Function &f = *m->functions()[0];
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  std::vector<HostTensor> args;
  for (const auto &p : f.params()) {
    HostTensor t(p->type());
    for (int64_t i = 0; i < t.numel(); ++i)
      t.set(i, normal(rng) * 0.1);
    args.push_back(t);
  }
  std::vector<HostTensor> want = interpret(f, args);
  std::vector<HostTensor> got = compile(f)->run(args);
  REQUIRE(got.size() == want.size());
  for (size_t r = 0; r < want.size(); ++r)
    for (int64_t i = 0; i < want[r].numel(); ++i)
      REQUIRE(got[r].get(i) ==
              Approx(want[r].get(i)).margin(1e-5).epsilon(1e-4));
}

} // namespace

TEST_CASE("plan-memory: a chain of 50 matmul layers needs two buffers",
          "[plan-memory]") {
  const int64_t slot = 64 * 64 * 4;
  loop::Program p10 = lowered(matmul_chain(10));
  loop::Program p50 = lowered(matmul_chain(50));
  CHECK(p50.kernels.size() == 50);
  CHECK(p50.arena_bytes == p10.arena_bytes);
  CHECK(p50.arena_bytes == 2 * slot);
  MemoryStats st = memory_summary(p50);
  CHECK(st.lower_bound == 2 * slot);
  CHECK(st.no_reuse == 49 * slot);
  CHECK(check_memory(p50).empty());
  check_runs(matmul_chain(50));
}

TEST_CASE("plan-memory: an elementwise chain runs in place in one buffer",
          "[plan-memory]") {
  const int64_t slot = 64 * 64 * 4;
  loop::Program p = lowered(elementwise_chain(50));
  CHECK(p.arena_bytes == slot);
  CHECK(lowered(elementwise_chain(5)).arena_bytes == slot);
  CHECK(memory_summary(p).lower_bound == slot);
  PlanOptions no_in_place;
  no_in_place.in_place = false;
  loop::Program q = lowered(elementwise_chain(50));
  plan_memory(q, no_in_place);
  CHECK(q.arena_bytes == 2 * slot);
  CHECK(check_memory(q).empty());
  check_runs(elementwise_chain(50));
}

TEST_CASE("plan-memory: reading another element blocks in-place reuse",
          "[plan-memory]") {
  // %b reads %a transposed: storing %b over %a would clobber elements
  // that later iterations still read.
  loop::Program p = lowered(R"(
func @t(%x: f32[32,32]) -> (f32[32,32]) {
  %a = exp(%x) : f32[32,32]
  %at = transpose(%a) {perm = [1, 0]} : f32[32,32]
  %b = add(%a, %at) : f32[32,32]
  %c = tanh(%b) : f32[32,32]
  %d = add(%c, %b) : f32[32,32]
  return %d
}
)");
  CHECK(p.arena_bytes == 2 * 32 * 32 * 4);
}

TEST_CASE("plan-memory: the unplanned layout is the no-reuse figure",
          "[plan-memory]") {
  loop::Program p = lowered(matmul_chain(8), /*plan=*/false);
  MemoryStats st = memory_summary(p);
  CHECK(p.arena_bytes == st.no_reuse);
  CHECK(st.no_reuse == 7 * 64 * 64 * 4);
  CHECK(check_memory(p).empty());
}

TEST_CASE("plan-memory: the report ends with the totals line",
          "[plan-memory]") {
  loop::Program p = lowered(matmul_chain(3));
  std::string r = memory_report(p);
  CHECK(r.find("%h0 \"matmul+relu\" bytes=16384 live=[k0,k1]") !=
        std::string::npos);
  std::regex totals("memory: arena_bytes=32768 lower_bound=32768 "
                    "no_reuse=32768 peak_at=k1\n$");
  CHECK(std::regex_search(r, totals));
  std::string svg = memory_timeline_svg(p);
  CHECK(svg.find("<svg") == 0);
  CHECK(svg.find("lower bound 32768") != std::string::npos);
}

TEST_CASE("check_memory: catches broken plans", "[plan-memory]") {
  loop::Program good = lowered(matmul_chain(4));
  REQUIRE(check_memory(good).empty());
  auto temp = [](loop::Program &p, const std::string &name) -> loop::Buffer & {
    for (loop::Buffer &b : p.buffers)
      if (b.name == name)
        return b;
    FAIL("no buffer " << name);
    return p.buffers[0];
  };
  SECTION("two live buffers at one offset") {
    loop::Program p = good;
    temp(p, "h1").arena_offset = temp(p, "h0").arena_offset;
    CHECK(check_memory(p).find("overlap") != std::string::npos);
  }
  SECTION("partial overlap") {
    loop::Program p = good;
    temp(p, "h0").arena_offset = 0;
    temp(p, "h1").arena_offset = 64;
    temp(p, "h2").arena_offset = 16384 + 64;
    p.arena_bytes = 16384 * 3;
    CHECK(!check_memory(p).empty());
  }
  SECTION("a buffer past the arena's end") {
    loop::Program p = good;
    p.arena_bytes -= 64;
    CHECK(check_memory(p).find("inside the arena") != std::string::npos);
  }
  SECTION("a misaligned offset") {
    loop::Program p = good;
    p.arena_bytes += 64;
    temp(p, "h0").arena_offset += 4;
    CHECK(check_memory(p).find("aligned") != std::string::npos);
  }
  SECTION("in place through a transposed read") {
    loop::Program p = lowered(R"(
func @t(%x: f32[32,32]) -> (f32[32,32]) {
  %a = exp(%x) : f32[32,32]
  %at = transpose(%a) {perm = [1, 0]} : f32[32,32]
  %b = add(%a, %at) : f32[32,32]
  %c = tanh(%b) : f32[32,32]
  %d = add(%c, %b) : f32[32,32]
  return %d
}
)");
    REQUIRE(check_memory(p).empty());
    temp(p, "b").arena_offset = temp(p, "a").arena_offset;
    CHECK(check_memory(p).find("overlap") != std::string::npos);
  }
  SECTION("an update source reused before the end") {
    loop::Program p = lowered(kUpdateCopied);
    REQUIRE(check_memory(p).empty());
    REQUIRE(p.updates.size() == 1);
    int from = p.updates[0].from;
    for (loop::Buffer &b : p.buffers)
      if (b.kind == loop::BufferKind::Temp && &b != &p.buffers[size_t(from)])
        b.arena_offset = p.buffers[size_t(from)].arena_offset;
    CHECK(!check_memory(p).empty());
  }
  SECTION("an update aliased while its old value is still read") {
    loop::Program p = lowered(kUpdateCopied);
    loop::UpdateCopy u = p.updates.at(0);
    p.buffers[size_t(u.from)].kind = loop::BufferKind::State;
    p.buffers[size_t(u.from)].arg_index = p.buffers[size_t(u.to)].arg_index;
    p.updates.clear();
    CHECK(check_memory(p).find("still read") != std::string::npos);
  }
}

TEST_CASE("plan-memory: updates are computed in their state buffers",
          "[plan-memory]") {
  const char *text = R"(
func @u(%x: f32[16,16], %w: f32[16,16] {param}) -> (f32[16,16], f32[16,16] {updates = %w}) {
  %w1 = mul(%w, %x) : f32[16,16]
  %e = exp(%w1) : f32[16,16]
  %y = add(%e, %w1) : f32[16,16]
  %z = tanh(%y) : f32[16,16]
  %s = add(%z, %y) : f32[16,16]
  return %s, %w1
}
)";
  loop::Program p = lowered(text);
  CHECK(p.updates.empty());
  CHECK(p.arena_bytes == 1024);
  loop::Program q = lowered(kUpdateCopied);
  CHECK(q.updates.size() == 1);
  CHECK(q.arena_bytes == 2048);
  std::unique_ptr<Module> m = parse(text);
  const Function &f = *m->functions()[0];
  std::unique_ptr<Executable> exe = compile(f);
  HostTensor x = HostTensor::splat(f.param(0)->type(), 0.5);
  HostTensor w = HostTensor::splat(f.param(1)->type(), 2.0);
  std::vector<HostTensor> args = {x, w};
  for (int step = 0; step < 3; ++step)
    exe->run_all(args);
  CHECK(args[1].get(0) == Approx(0.25)); // 2 * 0.5^3
}

// Hidden: the table of docs/memory.md. Lowers every workload (the training
// step of the training ones, as "[.dump-models]" writes them) and prints
// arena_bytes, lower_bound and no_reuse; full size too under
// KILN_MEMORY_FULL=1: kiln_unit_tests "[.memory-table]".
TEST_CASE("memory table of the benchmark workloads", "[.memory-table]") {
  std::vector<bool> sizes = {true};
  if (const char *full = std::getenv("KILN_MEMORY_FULL"))
    if (std::string(full) == "1")
      sizes.push_back(false);
  std::printf("| workload | size | kernels | arena_bytes | lower_bound | "
              "arena/L | no_reuse | unplanned arena |\n");
  for (bool reduced : sizes)
    for (const std::string &name : models::workload_names()) {
      models::Model m = models::build_workload(name, reduced, 5);
      if (m.loss.valid() && name != "dcgan_step")
        train_step(*m.graph, m.loss, m.params, {optim::sgd(0.05, 0.9)});
      Module mod;
      Function *g = mod.add_function(m.graph->function().clone());
      PassContext ctx;
      canonicalize(mod, ctx);
      loop::Program p = lower(*g);
      LowerOptions off;
      off.plan_memory = false;
      int64_t unplanned = lower(*g, off).arena_bytes;
      MemoryStats st = memory_summary(p);
      CHECK(check_memory(p).empty());
      std::printf("| %s | %s | %zu | %lld | %lld | %.3f | %lld | %lld |\n",
                  name.c_str(), reduced ? "reduced" : "full", p.kernels.size(),
                  (long long)st.arena_bytes, (long long)st.lower_bound,
                  st.lower_bound
                      ? double(st.arena_bytes) / double(st.lower_bound)
                      : 1.0,
                  (long long)st.no_reuse, (long long)unplanned);
      std::fflush(stdout);
    }
}
