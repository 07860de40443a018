/// \file
/// ClangJit: in-process C compilation through clang and LLVM 14, the LLJIT
/// with OpenMP, diagnostics in the Status, the object cache (miss, hit,
/// corrupted entries) and ELF objects for ahead-of-time linking.
// SPDX-License-Identifier: Apache-2.0
#include "codegen/ClangJit.h"

#include "TempDir.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

extern "C" int omp_get_max_threads(void);

using namespace kiln;
using namespace kiln::codegen;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

using kiln::test::TempDir;

/// Options that never touch the user's cache: \p cache is the cache dir.
CCompileOptions test_options(const TempDir &cache, const std::string &name) {
  CCompileOptions opts;
  opts.cache_dir = cache.path.string();
  opts.name = name;
  return opts;
}

const char *const kSaxpy = R"(
int omp_get_thread_num(void);
void saxpy(int n, float a, const float *x, float *y, int *tid) {
#pragma omp parallel for
  for (int i = 0; i < n; ++i) {
    y[i] = a * x[i] + y[i];
    tid[i] = omp_get_thread_num();
  }
}
)";

/// A generated-looking C file of \p kernels kernels (~10 lines each):
/// elementwise with a polynomial exp, a reduction and a small matmul.
std::string many_kernels(int kernels, int salt) {
  std::ostringstream os;
  os << "static inline float pexp(float x) {\n"
        "  x = x < -80.f ? -80.f : (x > 80.f ? 80.f : x);\n"
        "  float t = x * 1.44269504f; int k = (int)(t + (t >= 0 ? .5f : "
        "-.5f));\n"
        "  float r = x - (float)k * 0.69314718f;\n"
        "  float p = 1.f + r * (1.f + r * (.5f + r * (.16666667f + r * "
        ".041666667f)));\n"
        "  union { int i; float f; } u; u.i = (k + 127) << 23;\n"
        "  return p * u.f;\n}\n";
  for (int k = 0; k < kernels; ++k) {
    os << "void kern" << k << "(int n, const float *restrict a, "
       << "const float *restrict b, float *restrict c) {\n";
    if (k % 3 == 0)
      os << "#pragma omp parallel for\n  for (int i = 0; i < n; ++i)\n"
         << "    c[i] = pexp(a[i] * " << salt + k << ".f) + b[i];\n";
    else if (k % 3 == 1)
      os << "  float s = 0.f;\n#pragma omp simd reduction(+:s)\n"
         << "  for (int i = 0; i < n; ++i) s += a[i] * b[i];\n"
         << "  c[0] = s;\n";
    else
      os << "#pragma omp parallel for\n  for (int i = 0; i < 16; ++i)\n"
         << "    for (int j = 0; j < n; ++j) {\n      float s = 0.f;\n"
         << "      for (int p = 0; p < 16; ++p) s += a[i*16+p] * b[p*n+j];\n"
         << "      c[i*n+j] = s;\n    }\n";
    os << "}\n";
  }
  return os.str();
}

std::string read_file(const fs::path &p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
}

bool have_program(const std::string &name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

using SaxpyFn = void(int, float, const float *, float *, int *);

/// Runs saxpy from \p m over 1000 floats; checks values, returns the number
/// of distinct OpenMP threads that ran iterations.
int check_saxpy(const JitModule &m) {
  auto *fn = m.lookup_fn<SaxpyFn>("saxpy");
  REQUIRE(fn);
  const int n = 1000;
  std::vector<float> x(n), y(n);
  std::vector<int> tid(n, -1);
  for (int i = 0; i < n; ++i) {
    x[i] = 0.5f * i;
    y[i] = 1.0f - i;
  }
  fn(n, 2.0f, x.data(), y.data(), tid.data());
  for (int i = 0; i < n; ++i)
    REQUIRE(y[i] == Approx(1.0f).margin(1e-4));
  int max_tid = 0;
  for (int t : tid)
    max_tid = std::max(max_tid, t);
  return max_tid + 1;
}

} // namespace

TEST_CASE("clang-jit: compiles and runs an OpenMP saxpy", "[jit]") {
  TempDir cache;
  std::unique_ptr<JitModule> m;
  CompileStats stats;
  Status s = jit_compile_c(kSaxpy, test_options(cache, "saxpy"), m, &stats);
  INFO(s.message());
  REQUIRE(s.is_ok());
  REQUIRE(m);
  int threads = check_saxpy(*m);
  if (omp_get_max_threads() > 1)
    CHECK(threads > 1);
  CHECK(m->lookup("no_such_function") == nullptr);
  CHECK_FALSE(stats.cache_hit);
  CHECK(stats.frontend_ms > 0);
  CHECK(stats.codegen_ms > 0);
}

TEST_CASE("clang-jit: syntax error returns clang's diagnostic, silently",
          "[jit]") {
  TempDir cache;
  const char *bad = "int f(int x) {\n  return x +;\n}\n";
  fflush(stderr);
  fs::path err_path = cache.path / "stderr.txt";
  int saved = dup(2);
  REQUIRE(freopen(err_path.c_str(), "w", stderr));
  std::unique_ptr<JitModule> m;
  Status s = jit_compile_c(bad, test_options(cache, "bad"), m);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  CHECK_FALSE(s.is_ok());
  CHECK_FALSE(m);
  CHECK_THAT(s.message(), Contains("bad.c:2:") && Contains("error:"));
  CHECK_THAT(s.message(), Contains("expected expression"));
  CHECK(read_file(err_path).empty());
  CHECK(cache.files(".kobj").empty());
}

TEST_CASE("clang-jit: an unresolved symbol is an error at compile time",
          "[jit]") {
  TempDir cache;
  std::unique_ptr<JitModule> m;
  Status s = jit_compile_c("void kiln_missing_fn(void);\n"
                           "void g(void) { kiln_missing_fn(); }\n",
                           test_options(cache, "missing"), m);
  CHECK_FALSE(s.is_ok());
  CHECK_FALSE(m);
  CHECK_THAT(s.message(), Contains("kiln_missing_fn"));
}

TEST_CASE("clang-jit: libm resolves from the process", "[jit]") {
  TempDir cache;
  std::unique_ptr<JitModule> m;
  Status s = jit_compile_c("float sinf(float);\n"
                           "float f(float x) { return sinf(x) + 1.f; }\n",
                           test_options(cache, "libm"), m);
  INFO(s.message());
  REQUIRE(s.is_ok());
  auto *f = m->lookup_fn<float(float)>("f");
  REQUIRE(f);
  CHECK(f(0.5f) == Approx(1.4794255f).epsilon(1e-6));
}

TEST_CASE("clang-jit: cache miss then a much faster hit", "[jit][cache]") {
  TempDir cache;
  CCompileOptions opts = test_options(cache, "cached");
  std::string src = many_kernels(12, 1);
  std::unique_ptr<JitModule> cold, warm;
  CompileStats miss, hit;
  REQUIRE(jit_compile_c(src, opts, cold, &miss).is_ok());
  CHECK_FALSE(miss.cache_hit);
  REQUIRE(cache.files(".kobj").size() == 1);
  REQUIRE(jit_compile_c(src, opts, warm, &hit).is_ok());
  CHECK(hit.cache_hit);
  CHECK(hit.frontend_ms == 0);
  CHECK(hit.total_ms * 4 < miss.total_ms);
  REQUIRE(warm->lookup("kern0"));
  // A different source, or caching off, does not hit.
  CompileStats other;
  REQUIRE(jit_compile_c(many_kernels(12, 2), opts, cold, &other).is_ok());
  CHECK_FALSE(other.cache_hit);
  opts.use_cache = false;
  REQUIRE(jit_compile_c(src, opts, cold, &other).is_ok());
  CHECK_FALSE(other.cache_hit);
  opts.use_cache = true;
  ::setenv("KILN_CACHE", "0", 1);
  Status off = jit_compile_c(many_kernels(12, 3), opts, cold, &other);
  ::unsetenv("KILN_CACHE");
  REQUIRE(off.is_ok());
  CHECK_FALSE(other.cache_hit);
  CHECK(cache.files(".kobj").size() == 2);
  CHECK(std::distance(fs::directory_iterator(cache.path),
                      fs::directory_iterator()) == 2); // no temporaries left
}

// Run by the next test in a fresh process: its first compile is a cache hit.
TEST_CASE("clang-jit: (child) first compile of the process hits the cache",
          "[.jit-child]") {
  std::unique_ptr<JitModule> m;
  CompileStats stats;
  CCompileOptions opts; // cache_dir from $KILN_CACHE_DIR
  opts.name = "saxpy";
  Status s = jit_compile_c(kSaxpy, opts, m, &stats);
  INFO(s.message());
  REQUIRE(s.is_ok());
  CHECK(stats.cache_hit);
  check_saxpy(*m);
}

TEST_CASE("clang-jit: a cache hit works as a process's first compile",
          "[jit][cache]") {
  TempDir cache;
  std::unique_ptr<JitModule> m;
  REQUIRE(jit_compile_c(kSaxpy, test_options(cache, "saxpy"), m).is_ok());
  std::string cmd = "KILN_CACHE_DIR=" + cache.path.string() + " " +
                    fs::read_symlink("/proc/self/exe").string() +
                    " '[.jit-child]' >" + (cache.path / "child.txt").string() +
                    " 2>&1";
  int rc = std::system(cmd.c_str());
  INFO(read_file(cache.path / "child.txt"));
  CHECK(rc == 0);
}

TEST_CASE("clang-jit: a corrupted cache entry is recompiled", "[jit][cache]") {
  TempDir cache;
  CCompileOptions opts = test_options(cache, "saxpy");
  std::unique_ptr<JitModule> m;
  REQUIRE(jit_compile_c(kSaxpy, opts, m).is_ok());
  auto entries = cache.files(".kobj");
  REQUIRE(entries.size() == 1);
  std::string good = read_file(entries[0]);
  auto damage = [&](const std::string &bytes) {
    std::ofstream(entries[0], std::ios::binary | std::ios::trunc) << bytes;
    CompileStats stats;
    m.reset();
    Status s = jit_compile_c(kSaxpy, opts, m, &stats);
    INFO(s.message());
    REQUIRE(s.is_ok());
    CHECK_FALSE(stats.cache_hit);
    check_saxpy(*m);
    CHECK(read_file(entries[0]) == good);
  };
  SECTION("truncated") { damage(good.substr(0, good.size() / 2)); }
  SECTION("header only") { damage(good.substr(0, 20)); }
  SECTION("empty") { damage(""); }
  SECTION("one flipped byte") {
    std::string bad = good;
    bad[bad.size() - 100] ^= 0x5a;
    damage(bad);
  }
  SECTION("garbage") { damage(std::string(good.size(), 'x')); }
}

TEST_CASE("clang-jit: concurrent compiles from several threads", "[jit]") {
  TempDir cache;
  std::vector<std::unique_ptr<JitModule>> mods(3);
  std::vector<Status> status(3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t)
    threads.emplace_back([&, t] {
      CCompileOptions opts = test_options(cache, "t" + std::to_string(t));
      opts.use_cache = t != 0;
      status[t] = jit_compile_c(kSaxpy, opts, mods[t]);
    });
  for (auto &th : threads)
    th.join();
  for (int t = 0; t < 3; ++t) {
    INFO(status[t].message());
    REQUIRE(status[t].is_ok());
    check_saxpy(*mods[t]);
  }
}

TEST_CASE("clang-jit: KILN_DUMP_C-style dump writes NAME.c", "[jit]") {
  TempDir cache, dump;
  CCompileOptions opts = test_options(cache, "dumped");
  opts.dump_dir = (dump.path / "sub").string();
  std::unique_ptr<JitModule> m;
  REQUIRE(jit_compile_c(kSaxpy, opts, m).is_ok());
  CHECK(read_file(dump.path / "sub" / "dumped.c") == kSaxpy);
}

TEST_CASE("clang-jit: compile_c_to_object gives an ELF object cc links",
          "[jit][aot]") {
  TempDir cache, work;
  CCompileOptions opts = test_options(cache, "saxpy");
  opts.cpu = "x86-64-v3";
  std::string object;
  Status s = compile_c_to_object(kSaxpy, opts, object);
  INFO(s.message());
  REQUIRE(s.is_ok());
  REQUIRE(object.size() > 64);
  CHECK(object.compare(0, 4,
                       "\x7f"
                       "ELF") == 0);
  if (!have_program("cc")) {
    WARN("no cc on PATH: object not linked");
    return;
  }
  std::ofstream(work.path / "saxpy.o", std::ios::binary) << object;
  std::ofstream(work.path / "main.c")
      << "void saxpy(int, float, const float *, float *, int *);\n"
         "int main(void) {\n"
         "  float x[100], y[100]; int t[100];\n"
         "  for (int i = 0; i < 100; ++i) { x[i] = i; y[i] = 1 - 2.f * i; }\n"
         "  saxpy(100, 2.f, x, y, t);\n"
         "  for (int i = 0; i < 100; ++i) if (y[i] != 1.f) return 1;\n"
         "  return 0;\n}\n";
  std::string dir = work.path.string();
  std::string cmd = "cd " + dir + " && cc main.c saxpy.o -o prog " +
                    "-L/usr/lib/llvm-14/lib -lomp " +
                    "-Wl,-rpath,/usr/lib/llvm-14/lib 2>link.txt && ./prog";
  INFO(cmd << "\n" << read_file(work.path / "link.txt"));
  CHECK(std::system(cmd.c_str()) == 0);
}

TEST_CASE("clang-jit: a simple loop vectorizes with AVX2", "[jit][aot]") {
  const std::string objdump = "/usr/lib/llvm-14/bin/llvm-objdump";
  if (!fs::exists(objdump)) {
    WARN("no llvm-objdump: vectorization not checked");
    return;
  }
  TempDir cache;
  CCompileOptions opts = test_options(cache, "vadd");
  opts.cpu = "x86-64-v3";
  opts.use_cache = false;
  std::string object;
  REQUIRE(compile_c_to_object(
              "void vadd(int n, float *restrict a, const float *restrict b) {\n"
              "  for (int i = 0; i < n; ++i) a[i] += b[i];\n}\n",
              opts, object)
              .is_ok());
  std::ofstream(cache.path / "vadd.o", std::ios::binary) << object;
  std::string cmd = objdump + " -d " + (cache.path / "vadd.o").string() +
                    " > " + (cache.path / "vadd.s").string();
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::string text = read_file(cache.path / "vadd.s");
  CHECK_THAT(text, Contains("vaddps") && Contains("ymm"));
}

TEST_CASE("clang-jit: compile times of a 200-line module", "[.jit-bench]") {
  TempDir cache;
  CCompileOptions opts = test_options(cache, "bench");
  std::string src = many_kernels(29, 7);
  std::unique_ptr<JitModule> m;
  for (int run = 0; run < 3; ++run) {
    CompileStats st;
    REQUIRE(jit_compile_c(src, opts, m, &st).is_ok());
    std::printf("lines %ld hit %d frontend %.1f optimize %.1f codegen %.1f "
                "load %.1f total %.1f ms\n",
                static_cast<long>(std::count(src.begin(), src.end(), '\n')),
                st.cache_hit, st.frontend_ms, st.optimize_ms, st.codegen_ms,
                st.load_ms, st.total_ms);
    if (run == 1)
      opts.use_cache = false;
  }
}
