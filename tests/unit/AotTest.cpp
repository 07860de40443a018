/// \file
/// Ahead-of-time compilation (frontend/Aot.h, docs/aot.md): the example MLP
/// compiled to an object, linked by the system compiler with the programs of
/// examples/aot/ and only libc, libm and libomp, prints the JIT's results;
/// with weights embedded and from a side file; the header's constants.
// SPDX-License-Identifier: Apache-2.0
#include "unit/AotTestUtil.h"

#include "frontend/AotImpl.h"

#include "runtime/Safetensors.h"

using namespace kiln;
using namespace kiln::test;

namespace {

/// Builds \p source with \p compiler against mlp.o in \p dir, runs it and
/// returns its standard output.
std::string build_and_run(const TempDir &dir, const std::string &compiler,
                          const std::string &source, const std::string &flags,
                          const std::string &object = "mlp.o") {
  std::string src = (fs::path(KILN_SOURCE_DIR) / "examples" / "aot" / source);
  std::string cmd = "cd " + dir.path.string() + " && " + compiler + " -O2 " +
                    flags + " -I. " + src + " " + object + " -o prog " +
                    "-L/usr/lib/llvm-14/lib -lomp -lm " +
                    "-Wl,-rpath,/usr/lib/llvm-14/lib >build.txt 2>&1 && " +
                    "./prog >out.txt 2>err.txt";
  int rc = std::system(cmd.c_str());
  INFO(cmd << "\n"
           << slurp(dir.path / "build.txt") << slurp(dir.path / "err.txt"));
  REQUIRE(rc == 0);
  return slurp(dir.path / "out.txt");
}

} // namespace

TEST_CASE("aot: the header declares the ABI and the tensors", "[aot]") {
  auto m = load_mlp();
  aot::AotOptions o;
  o.use_cache = false;
  aot::AotResult r = aot::compile(*m->functions()[0], o);
  CHECK(r.object.compare(0, 4,
                         "\x7f"
                         "ELF") == 0);
  CHECK(r.arena_bytes > 0);
  CHECK_THAT(r.header,
             Catch::Contains("int mlp_run(const void *const *inputs") &&
                 Catch::Contains("extern const long long mlp_arena_bytes;") &&
                 Catch::Contains("#define mlp_INPUT_0_NAME \"x\"") &&
                 Catch::Contains("mlp_INPUT_0_SHAPE[] = {4, 16};") &&
                 Catch::Contains("#define mlp_STATE_3_NAME \"b2\"") &&
                 Catch::Contains("#define mlp_OUTPUT_0_BYTES 160LL") &&
                 Catch::Contains("int mlp_init_state(void *const *state);") &&
                 Catch::Contains("extern \"C\""));
}

TEST_CASE("aot: bad names and initial state are errors", "[aot]") {
  auto m = load_mlp();
  const Function &f = *m->functions()[0];
  aot::AotOptions o;
  o.name = "9lives";
  CHECK_THROWS_WITH(aot::compile(f, o), Catch::Contains("not a C identifier"));
  o.name = "";
  o.initial_state = random_state(f);
  o.initial_state.pop_back();
  CHECK_THROWS_WITH(aot::compile(f, o), Catch::Contains("3 initial state"));
  o.initial_state = random_state(f);
  o.initial_state[1] = HostTensor(TensorType{DType::F32, {31}});
  CHECK_THROWS_WITH(aot::compile(f, o), Catch::Contains("%b1 is f32[31]"));
  o.initial_state = random_state(f);
  o.cpu = "no-such-cpu";
  CHECK_THROWS_WITH(aot::compile(f, o), Catch::Contains("no-such-cpu"));
}

TEST_CASE("aot: examples/aot programs print the JIT's results", "[aot]") {
  if (!have_program("cc") || !have_program("c++")) {
    WARN("no cc or c++ on PATH: the examples are not built");
    return;
  }
  auto m = load_mlp();
  const Function &f = *m->functions()[0];
  std::vector<HostTensor> state = random_state(f);
  std::vector<double> want = jit_probs(f, state);
  TempDir dir;
  aot::AotOptions o;
  o.initial_state = state;
  SECTION("embedded weights, C and C++") {
    aot::AotResult r = aot::compile(f, o);
    dir.write("mlp.o", r.object);
    dir.write("mlp.h", r.header);
    check_close(numbers(build_and_run(dir, "cc", "mlp_infer.c",
                                      "-std=c11 -Wall -Wextra -Werror"),
                        true),
                want);
    check_close(numbers(build_and_run(dir, "c++", "mlp_infer.cpp",
                                      "-std=c++17 -Wall -Wextra -Werror"),
                        false),
                want);
    // run_model.c: any model from the header's tables (6 digits).
    std::string out = build_and_run(
        dir, "cc", "run_model.c",
        "-std=c11 -Wall -Wextra -Werror -DMODEL=mlp '-DMODEL_H=\"mlp.h\"'");
    std::vector<double> head = numbers(out, true);
    REQUIRE(head.size() == 4);
    for (size_t i = 0; i < 4; ++i)
      CHECK(std::fabs(head[i] - want[i]) <= 1e-5 * std::fabs(want[i]) + 1e-7);
  }
  SECTION("weights from a side file") {
    o.weights_file = (dir.path / "mlp.safetensors").string();
    aot::AotResult r = aot::compile(f, o);
    CHECK(r.object.find("mlp.safetensors") != std::string::npos);
    dir.write("mlp.o", r.object);
    dir.write("mlp.h", r.header);
    dir.write("mlp.safetensors", r.weights_file);
    // kiln reads the side file back as the same tensors.
    NamedTensors back;
    REQUIRE(read_safetensors(o.weights_file, back).is_ok());
    REQUIRE(back.size() == 4);
    CHECK(back[0].first == "b1");
    CHECK(back[0].second.bit_equal(state[1]));
    check_close(
        numbers(build_and_run(dir, "cc", "mlp_infer.c", "-std=c11"), true),
        want);
    // A truncated or foreign side file: init_state fails, the program says
    // so and exits 1.
    std::string file = r.weights_file;
    std::string run = "cd " + dir.path.string() + " && ./prog >/dev/null 2>&1";
    dir.write("mlp.safetensors", file.substr(0, file.size() - 4));
    CHECK(std::system(run.c_str()) != 0);
    file[20] ^= 1;
    dir.write("mlp.safetensors", file);
    CHECK(std::system(run.c_str()) != 0);
  }
}

TEST_CASE("aot: examples/aot/mlp_train.c trains as the JIT does", "[aot]") {
  if (!have_program("cc")) {
    WARN("no cc on PATH: the example is not built");
    return;
  }
  auto m = load("examples/aot/mlp_train.kir");
  const Function &f = *m->functions()[0];
  std::vector<HostTensor> state = random_state(f);
  std::vector<double> want = jit_losses(f, state);
  CHECK(want.back() < want.front()); // it learns
  TempDir dir;
  aot::AotOptions o;
  o.initial_state = state;
  // One C unit, and three compiled on threads and merged with ld -r.
  for (int threads : {1, 3}) {
    o.threads = threads;
    aot::AotResult r = aot::compile(f, o);
    CHECK_THAT(r.header,
               Catch::Contains("#define mlp_train_INPUT_1_NAME \"labels\"") &&
                   Catch::Contains("#define mlp_train_NUM_OUTPUTS 1"));
    if (threads > 1 && aot::relocatable_linker("").empty()) {
      WARN("no ld.lld or ld: the program compiles as one C unit");
      CHECK(r.num_units == 1);
      continue;
    }
    CHECK(r.num_units == size_t(threads));
    dir.write("mlp_train.o", r.object);
    dir.write("mlp_train.h", r.header);
    std::vector<double> got =
        numbers(build_and_run(dir, "cc", "mlp_train.c",
                              "-std=c11 -Wall -Wextra -Werror", "mlp_train.o"),
                false);
    REQUIRE(got.size() == want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      INFO("units " << threads << ", step " << i);
      CHECK(std::fabs(got[i] - want[i]) <= 1e-4 * std::fabs(want[i]) + 1e-6);
    }
  }
}

TEST_CASE("aot: AArch64 objects run under qemu-user as the JIT does", "[aot]") {
  if (!have_program("aarch64-linux-gnu-gcc") || !have_program("qemu-aarch64")) {
    WARN("no aarch64-linux-gnu-gcc or qemu-aarch64 (apt-get install "
         "gcc-aarch64-linux-gnu qemu-user): not run");
    return;
  }
  auto m = load_mlp();
  const Function &f = *m->functions()[0];
  std::vector<HostTensor> state = random_state(f);
  std::vector<double> want = jit_probs(f, state);
  TempDir dir;
  aot::AotOptions o;
  o.initial_state = state;
  o.triple = "aarch64-linux-gnu";
  // Builds mlp_infer.c for AArch64 with \p libs, runs it under qemu with
  // \p env and checks its output; returns its standard error.
  auto run = [&](const std::string &libs, const std::string &env) {
    aot::AotResult r = aot::compile(f, o);
    CHECK(uint8_t(r.object[18]) == 183); // e_machine EM_AARCH64
    CHECK((r.object.find("__kmpc_fork_call") != std::string::npos) ==
          !libs.empty());
    dir.write("mlp.o", r.object);
    dir.write("mlp.h", r.header);
    std::string src =
        (fs::path(KILN_SOURCE_DIR) / "examples" / "aot" / "mlp_infer.c");
    std::string cmd = "cd " + dir.path.string() +
                      " && aarch64-linux-gnu-gcc -O2 -std=c11 -I. " + src +
                      " mlp.o -o prog " + libs + " -lm >build.txt 2>&1 && " +
                      env + " qemu-aarch64 -L /usr/aarch64-linux-gnu " +
                      "./prog >out.txt 2>err.txt";
    int rc = std::system(cmd.c_str());
    INFO(cmd << "\n"
             << slurp(dir.path / "build.txt") << slurp(dir.path / "err.txt"));
    REQUIRE(rc == 0);
    check_close(numbers(slurp(dir.path / "out.txt"), true), want);
    return slurp(dir.path / "err.txt");
  };
  // The small MLP has no parallel loop: libc and libm suffice.
  run("", "");
  // LLVM's arm64 libomp, unpacked by scripts/setup.sh (not installed: it
  // would replace the host's); $KILN_AARCH64_LIBOMP_DIR names another.
  const char *omp_env = std::getenv("KILN_AARCH64_LIBOMP_DIR");
  fs::path omp = fs::path(omp_env ? omp_env : "/opt/kiln-cross/aarch64/lib");
  if (!fs::exists(omp / "libomp.so.5")) {
    WARN("no " << (omp / "libomp.so.5").string()
               << " (scripts/setup.sh unpacks it): OpenMP loops not run");
    return;
  }
  // Every loop that can be is parallel, and the matmuls are the GEMM
  // micro-kernel: the small MLP then runs the code of a large model.
  o.lower.parallel_threshold = 1;
  o.lower.gemm_min_work = 0;
  std::string err = run(
      (omp / "libomp.so.5").string(),
      "OMP_NUM_THREADS=3 OMP_DISPLAY_ENV=TRUE QEMU_SET_ENV=LD_LIBRARY_PATH=" +
          omp.string());
  // The arm64 libomp ran, with 3 threads.
  CHECK_THAT(err, Catch::Contains("OMP_NUM_THREADS='3'"));
}
