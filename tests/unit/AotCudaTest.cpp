/// \file
/// Ahead-of-time compilation for the CUDA target (docs/aot.md "CUDA"):
/// the header, the embedded CUBIN, a program that links with libc only and
/// fails clearly without a driver, and the examples run end to end against
/// a fake driver (FakeCudaDriver.cpp: host memory, kernels run by the CUDA
/// emulator) and, when a GPU is present, against the real one ([cuda]).
// SPDX-License-Identifier: Apache-2.0
#include "unit/AotTestUtil.h"
#include "unit/CudaEmulator.h"

#include "codegen/Nvrtc.h"
#include "runtime/CudaDevice.h"

#include <sys/wait.h>

using namespace kiln;
using namespace kiln::test;

namespace {

/// The examples/aot program \p source built in \p dir against \p object
/// with the system cc and nothing but libc; false with the log in \p log.
bool build_cuda_example(const TempDir &dir, const std::string &source,
                        const std::string &object, std::string &log,
                        const std::string &flags = "") {
  std::string src = (fs::path(KILN_SOURCE_DIR) / "examples" / "aot" / source);
  std::string cmd = "cd " + dir.path.string() +
                    " && cc -O2 -std=c11 -Wall -Wextra -Werror " + flags +
                    " -I. " + src + " " + object + " -o prog >build.txt 2>&1";
  bool ok = std::system(cmd.c_str()) == 0;
  log = cmd + "\n" + slurp(dir.path / "build.txt");
  return ok;
}

/// Runs dir/prog \p args with \p env; its exit code (-1 for a signal),
/// stdout and stderr.
int run_prog(const TempDir &dir, const std::string &env, std::string &out,
             std::string &err, const std::string &args = "") {
  std::string cmd = "cd " + dir.path.string() + " && env " + env + " ./prog " +
                    args + " >out.txt 2>err.txt";
  int rc = std::system(cmd.c_str());
  out = slurp(dir.path / "out.txt");
  err = slurp(dir.path / "err.txt");
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

aot::AotResult compile_cuda(const Function &f, aot::AotOptions o,
                            const std::string &arch = "") {
  o.target = aot::AotTarget::Cuda;
  o.arch = arch;
  return aot::compile(f, o);
}

/// mlp_train_cuda.c's output \p out: the JIT's \p losses, then the sum of
/// the first layer's weights after the steps, read back from the device.
void check_training(const std::string &out, const std::vector<double> &losses,
                    double sum) {
  std::vector<double> got = numbers(out, false);
  REQUIRE(got.size() == losses.size() + 1);
  for (size_t i = 0; i < losses.size(); ++i) {
    INFO("step " << i);
    CHECK(std::fabs(got[i] - losses[i]) <= 1e-4 * std::fabs(losses[i]) + 1e-6);
  }
  CHECK(std::fabs(got.back() - sum) <= 1e-4 * std::fabs(sum) + 1e-4);
}

bool have_nvrtc() {
  if (codegen::nvrtc_available())
    return true;
  WARN("built without the CUDA toolkit (NVRTC): kilnc --target cuda is not "
       "tested");
  return false;
}

/// A 64-bit little-endian CUDA ELF (e_machine 190) whose flags name sm_90,
/// with a .text section per kernel of \p cp.
void check_cubin(const std::string &img, const codegen::CudaProgram &cp) {
  REQUIRE(img.size() > 64);
  CHECK(img.compare(0, 4,
                    "\x7f"
                    "ELF") == 0);
  CHECK(img[4] == 2);
  CHECK(uint8_t(img[18]) == 190);
  uint32_t flags = 0;
  std::memcpy(&flags, img.data() + 48, 4);
  CHECK(((flags & 0xff) == 90 || ((flags >> 8) & 0xff) == 90));
  for (const codegen::CudaLaunch &l : cp.launches)
    CHECK(img.find(".text." + l.kernel + '\0') != std::string::npos);
}

} // namespace

TEST_CASE("aot cuda: header, CUBIN and errors", "[aot][cuda-aot]") {
  if (!have_nvrtc())
    return;
  auto m = load_mlp();
  const Function &f = *m->functions()[0];
  aot::AotOptions o;
  o.initial_state = random_state(f);
  aot::AotResult r = compile_cuda(f, o);
  REQUIRE(r.device_archs == std::vector<std::string>{"sm_90"});
  CHECK(r.num_launches == r.device_program.launches.size());
  CHECK(r.num_launches >= 3);
  check_cubin(r.device_images[0], r.device_program);
  CHECK(r.object.compare(0, 4,
                         "\x7f"
                         "ELF") == 0);
  // The CUBIN is in the object, byte for byte.
  CHECK(r.object.find(r.device_images[0]) != std::string::npos);
  CHECK_THAT(r.header,
             Catch::Contains("Link mlp.o with libc only") &&
                 Catch::Contains("#define mlp_CUDA_ARCH \"sm_90\"") &&
                 Catch::Contains("int mlp_init(mlp_model **model, int "
                                 "device);") &&
                 Catch::Contains("int mlp_run(mlp_model *model, const void "
                                 "*const *inputs, void *const *outputs,") &&
                 Catch::Contains("int mlp_enqueue(mlp_model *model") &&
                 Catch::Contains("void mlp_free(mlp_model *model);") &&
                 Catch::Contains("#define KILN_AOT_NO_DRIVER (-1)") &&
                 Catch::Contains("#define mlp_INPUT_0_NAME \"x\"") &&
                 Catch::Contains("mlp_STATE_BYTES[] = {2048, 128, 1280, 40}"));
  CHECK_THAT(r.header, !Catch::Contains("mlp_init_state"));
  // PTX for a virtual arch.
  aot::AotResult ptx = compile_cuda(f, o, "compute_80");
  REQUIRE(ptx.device_archs == std::vector<std::string>{"compute_80"});
  CHECK_THAT(ptx.device_images[0], Catch::Contains(".target sm_80"));
  // Several archs: each image embedded, in order.
  aot::AotResult two = compile_cuda(f, o, "sm_80,sm_90,compute_80");
  REQUIRE(two.device_archs ==
          std::vector<std::string>{"sm_80", "sm_90", "compute_80"});
  for (const std::string &img : two.device_images)
    CHECK(two.object.find(img) != std::string::npos);
  CHECK_THAT(
      two.header,
      Catch::Contains("#define mlp_CUDA_ARCH \"sm_80,sm_90,compute_80\""));
  CHECK_THROWS_WITH(compile_cuda(f, o, "sm_90,sm_90"),
                    Catch::Contains("'sm_90' is listed twice"));
  CHECK_THROWS_WITH(compile_cuda(f, o, "sm_90,"),
                    Catch::Contains("unknown CUDA arch ''"));
  // Errors.
  CHECK_THROWS_WITH(compile_cuda(f, o, "sm_5"),
                    Catch::Contains("unknown CUDA arch 'sm_5'"));
  CHECK_THROWS_WITH(compile_cuda(f, o, "gfx90a"),
                    Catch::Contains("unknown CUDA arch 'gfx90a'"));
  CHECK_THROWS_WITH(compile_cuda(f, o, "sm_999"),
                    Catch::Contains("cannot compile for sm_999"));
  o.arch = "sm_90";
  CHECK_THROWS_WITH(aot::compile(f, o),
                    Catch::Contains("arch 'sm_90' is for the cuda target"));
}

TEST_CASE("aot cuda: tensor cores when every listed arch has them",
          "[aot][cuda-aot][mma]") {
  if (!have_nvrtc())
    return;
  auto m = load_mlp();
  const Function &f = *m->functions()[0];
  aot::AotOptions o;
  o.allow_tf32 = true;
  // One source for the whole list, printed for its lowest arch.
  aot::AotResult tc = compile_cuda(f, o, "sm_80,sm_90");
  CHECK_THAT(tc.device_program.source, Catch::Contains("kiln_mma_tf32("));
  aot::AotResult old = compile_cuda(f, o, "sm_75,sm_90");
  CHECK_THAT(old.device_program.source, !Catch::Contains("mma.sync"));
  o.allow_tf32 = false;
  aot::AotResult f32 = compile_cuda(f, o, "sm_90");
  CHECK_THAT(f32.device_program.source, !Catch::Contains("mma.sync"));
}

TEST_CASE("aot cuda: the example links with libc only and fails clearly "
          "without a driver",
          "[aot][cuda-aot]") {
  if (!have_nvrtc() || !have_program("cc"))
    return;
  auto m = load_mlp();
  const Function &f = *m->functions()[0];
  TempDir dir;
  aot::AotOptions o;
  o.initial_state = random_state(f);
  aot::AotResult r = compile_cuda(f, o);
  dir.write("mlp.o", r.object);
  dir.write("mlp.h", r.header);
  std::string log, out, err;
  INFO(log);
  REQUIRE(build_cuda_example(dir, "mlp_infer_cuda.c", "mlp.o", log));
  std::string why;
  if (!cuda_device_available(&why) &&
      why.find("libcuda.so.1 not found") != std::string::npos) {
    CHECK(run_prog(dir, "", out, err) == 1);
    CHECK_THAT(err, Catch::Contains("mlp_infer_cuda: mlp_init failed (-1): "
                                    "mlp: no CUDA driver: libcuda.so.1 not "
                                    "found"));
  }
  // The toolkit's stub library is a driver without a GPU.
  const char *stub = "/usr/local/cuda/lib64/stubs/libcuda.so";
  if (fs::exists(stub)) {
    fs::create_directories(dir.path / "stub");
    fs::copy_file(stub, dir.path / "stub" / "libcuda.so.1");
    CHECK(run_prog(dir, "LD_LIBRARY_PATH=stub", out, err) == 1);
    CHECK_THAT(err, Catch::Contains("mlp_init failed (34): mlp: cuInit: "
                                    "CUDA_ERROR_STUB_LIBRARY"));
  }
}

namespace {

#ifdef KILN_CUDA_INCLUDE
/// Builds the fake driver into dir/fake/libcuda.so.1 and the emulated
/// kernels of \p r into dir/emu/k.so; returns the environment that runs a
/// program against them.
std::string fake_driver(const TempDir &dir, const aot::AotResult &r) {
  std::string err;
  static int serial = 0; // a fresh path: dlopen caches by name
  std::string emu = (dir.path / ("emu" + std::to_string(serial++))).string();
  INFO(err);
  REQUIRE(build_emulator(r.device_program, emu, err));
  // The driver itself, built once per process.
  static TempDir fake;
  static bool built = false;
  if (!built) {
    std::string cmd =
        "c++ -std=c++17 -O1 -fPIC -shared -I" KILN_CUDA_INCLUDE " " +
        (fs::path(KILN_SOURCE_DIR) / "tests/unit/FakeCudaDriver.cpp").string() +
        " -o " + (fake.path / "libcuda.so.1").string() + " -ldl > " +
        (fake.path / "log.txt").string() + " 2>&1";
    int rc = std::system(cmd.c_str());
    INFO(cmd << "\n" << slurp(fake.path / "log.txt"));
    REQUIRE(rc == 0);
    built = true;
  }
  return "LD_LIBRARY_PATH=" + fake.path.string() +
         " KILN_FAKE_CUDA_KERNELS=" + emu + "/k.so";
}

const char *kReleased = "0 allocations left, 0 contexts pushed, 0 retained, "
                        "0 modules loaded";
#endif

} // namespace

TEST_CASE("aot cuda: the examples run on a fake driver as the JIT does",
          "[aot][cuda-aot]") {
#ifndef KILN_CUDA_INCLUDE
  WARN("no cuda.h: the fake driver is not built");
  return;
#else
  if (!have_nvrtc() || !have_program("cc") || !have_program("c++"))
    return;
  TempDir dir;
  std::string log, out, err;
  // The example MLP for the first two sections, and the JIT's output.
  auto mlp = load_mlp();
  const Function &f = *mlp->functions()[0];
  aot::AotOptions o;
  o.initial_state = random_state(f);
  std::vector<double> want = jit_probs(f, o.initial_state);
  SECTION("inference, weights embedded and from a side file") {
    for (bool side : {false, true}) {
      INFO((side ? "side file" : "embedded"));
      if (side)
        o.weights_file = (dir.path / "mlp.safetensors").string();
      aot::AotResult r = compile_cuda(f, o);
      dir.write("mlp.o", r.object);
      dir.write("mlp.h", r.header);
      if (side)
        dir.write("mlp.safetensors", r.weights_file);
      INFO(log);
      REQUIRE(build_cuda_example(dir, "mlp_infer_cuda.c", "mlp.o", log));
      std::string env = fake_driver(dir, r);
      int rc = run_prog(dir, env, out, err);
      INFO(err);
      REQUIRE(rc == 0);
      check_close(numbers(out, true), want);
      CHECK_THAT(err, Catch::Contains(std::to_string(r.num_launches) +
                                      " launches, " + kReleased));
      if (side) { // a truncated side file: a clear error, no crash
        dir.write("mlp.safetensors",
                  r.weights_file.substr(0, r.weights_file.size() - 4));
        CHECK(run_prog(dir, env, out, err) == 1);
        CHECK_THAT(err, Catch::Contains("mlp_init failed (-5): mlp: cannot "
                                        "read the weights file") &&
                            Catch::Contains("(it is truncated)") &&
                            Catch::Contains(kReleased));
      }
    }
  }
  SECTION("enqueue on the caller's device pointers; misaligned ones are "
          "refused") {
    aot::AotResult r = compile_cuda(f, o);
    dir.write("mlp.o", r.object);
    dir.write("mlp.h", r.header);
    // The model's own buffers passed explicitly, then input 0 moved by 4
    // bytes (the kernels use 16-byte vector loads): refused before any
    // launch, the model still usable.
    dir.write("enqueue.c", R"(#include "mlp.h"
#include <stdio.h>
int main(void) {
  mlp_model *m = 0;
  unsigned long long in[1], out[1];
  int rc;
  if (mlp_init(&m, 0)) { fprintf(stderr, "init: %s\n", mlp_error()); return 2; }
  in[0] = mlp_input_ptr(m, 0);
  out[0] = mlp_output_ptr(m, 0);
  rc = mlp_enqueue(m, in, out, 0);
  printf("aligned %d\n", rc);
  in[0] += 4;
  rc = mlp_enqueue(m, in, out, 0);
  printf("misaligned %d %s\n", rc, mlp_error());
  in[0] -= 4;
  out[0] += 8;
  rc = mlp_enqueue(m, 0, out, 0);
  printf("output %d %s\n", rc, mlp_error());
  mlp_free(m);
  return 0;
}
)");
    std::string cmd = "cd " + dir.path.string() +
                      " && cc -O2 -std=c11 -Wall -Wextra -Werror -I. "
                      "enqueue.c mlp.o -o prog >build.txt 2>&1";
    INFO(slurp(dir.path / "build.txt"));
    REQUIRE(std::system(cmd.c_str()) == 0);
    int rc = run_prog(dir, fake_driver(dir, r), out, err);
    INFO(err);
    REQUIRE(rc == 0);
    CHECK_THAT(out, Catch::Contains("aligned 0\n"));
    CHECK_THAT(out, Catch::Contains("misaligned -6 mlp_enqueue: input 0 at "
                                    "device address 0x") &&
                        Catch::Contains("is not 256-byte aligned (pass "
                                        "cuMemAlloc'd buffers"));
    CHECK_THAT(out,
               Catch::Contains("output -6 mlp_enqueue: output 0 at device"));
  }
  SECTION("one object for several GPUs: the image that fits is loaded") {
    aot::AotResult r = compile_cuda(f, o, "sm_80,sm_90,compute_80");
    dir.write("mlp.o", r.object);
    dir.write("mlp.h", r.header);
    INFO(log);
    REQUIRE(build_cuda_example(dir, "mlp_infer_cuda.c", "mlp.o", log));
    std::string env = fake_driver(dir, r);
    // The device's compute capability -> the image loaded.
    for (auto [cc, image] :
         std::vector<std::pair<int, std::string>>{{90, "sm_90"},
                                                  {80, "sm_80"},
                                                  {86, "sm_80"},
                                                  {100, "compute_80"}}) {
      int rc = run_prog(dir, env + " KILN_FAKE_CUDA_CC=" + std::to_string(cc),
                        out, err);
      INFO("cc " << cc << ": " << err);
      REQUIRE(rc == 0);
      CHECK_THAT(err, Catch::Contains("fake-cuda: image " + image + ","));
      check_close(numbers(out, true), want);
    }
    CHECK(run_prog(dir, env + " KILN_FAKE_CUDA_CC=75", out, err) == 1);
    CHECK_THAT(err, Catch::Contains("mlp_init failed (-3): mlp: device 0 is "
                                    "sm_75, but the object holds code for "
                                    "sm_80,sm_90,compute_80 only") &&
                        Catch::Contains(kReleased));
  }
  SECTION("constants, an unused input, two outputs: run_model_cuda.c") {
    const char *text = R"(
func @c(%x: f32[4,4], %i: i32[4]) -> (f32[4], f32[4,4]) {
  %k = constant() {value = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.5]} : f32[4,4]
  %y = mul(%x, %k) : f32[4,4]
  %s = reduce_sum(%y) {axes = [1]} : f32[4]
  return %s, %y
})";
    Diagnostics diags;
    auto cm = parse_and_verify(text, "c.kir", diags);
    REQUIRE(cm);
    const Function &cf = *cm->functions()[0];
    HostTensor x(cf.param(0)->type()), i(cf.param(1)->type());
    for (int64_t k = 0; k < x.numel(); ++k)
      x.set(k, double(float(int(k % 13) - 6) / 4.0f));
    for (int64_t k = 0; k < i.numel(); ++k)
      i.set_int(k, k % 4);
    HostTensor cwant = compile(cf)->run({x, i})[0];
    aot::AotResult r = compile_cuda(cf, aot::AotOptions());
    CHECK_THAT(r.c_source, Catch::Contains("cuMemcpyHtoD (constants)"));
    dir.write("c.o", r.object);
    dir.write("c.h", r.header);
    INFO(log);
    REQUIRE(build_cuda_example(dir, "run_model_cuda.c", "c.o", log,
                               "-DMODEL=c '-DMODEL_H=\"c.h\"'"));
    std::string env = fake_driver(dir, r);
    int rc = run_prog(dir, env, out, err, "3 4");
    INFO(err);
    REQUIRE(rc == 0);
    CHECK_THAT(err, Catch::Contains("fake-cuda: image sm_90, 8 launches, " +
                                    std::string(kReleased)));
    std::vector<double> got = numbers(out, true);
    REQUIRE(got.size() == 4);
    for (int64_t k = 0; k < 4; ++k)
      CHECK(std::fabs(got[size_t(k)] - cwant.get(k)) <=
            1e-6 * std::fabs(cwant.get(k)));
  }
  SECTION("split-K: the scratch after the arena") {
    // K = 2048 over one 64x64 tile: 4 slices into the scratch, then the
    // sum launch. The inputs are multiples of 1/4 (run_model_cuda.c), so
    // every order of summation gives the exact result.
    const char *text = R"(
func @s(%x: f32[8,2048], %w: f32[2048,12]) -> (f32[8,12]) {
  %y = matmul(%x, %w) : f32[8,12]
  return %y
})";
    Diagnostics diags;
    auto sm = parse_and_verify(text, "s.kir", diags);
    REQUIRE(sm);
    const Function &sf = *sm->functions()[0];
    std::vector<HostTensor> in;
    for (int a = 0; a < 2; ++a) {
      in.emplace_back(sf.param(size_t(a))->type());
      for (int64_t k = 0; k < in.back().numel(); ++k)
        in.back().set(k, double(float(int(k % 13) - 6) / 4.0f));
    }
    HostTensor swant = compile(sf)->run(in)[0];
    aot::AotResult r = compile_cuda(sf, aot::AotOptions());
    CHECK_THAT(r.c_source, Catch::Contains("split-K 4 */"));
    CHECK(r.arena_bytes >= 4 * 8 * 12 * 4);
    dir.write("s.o", r.object);
    dir.write("s.h", r.header);
    REQUIRE(build_cuda_example(dir, "run_model_cuda.c", "s.o", log,
                               "-DMODEL=s '-DMODEL_H=\"s.h\"'"));
    int rc = run_prog(dir, fake_driver(dir, r), out, err, "1 96");
    INFO(err);
    REQUIRE(rc == 0);
    std::vector<double> got = numbers(out, true);
    REQUIRE(got.size() == 96);
    for (int64_t k = 0; k < 96; ++k)
      CHECK(got[size_t(k)] == swant.get(k));
  }
  SECTION("30 training steps, state read back") {
    auto tm = load("examples/aot/mlp_train.kir");
    const Function &train = *tm->functions()[0];
    aot::AotOptions ot;
    ot.initial_state = random_state(train);
    double sum = 0;
    std::vector<double> losses = jit_losses(train, ot.initial_state, &sum);
    aot::AotResult r = compile_cuda(train, ot);
    dir.write("mlp_train.o", r.object);
    dir.write("mlp_train.h", r.header);
    INFO(log);
    REQUIRE(build_cuda_example(dir, "mlp_train_cuda.c", "mlp_train.o", log));
    int rc = run_prog(dir, fake_driver(dir, r), out, err);
    INFO(err);
    REQUIRE(rc == 0);
    check_training(out, losses, sum);
  }
#endif
}

TEST_CASE("aot cuda: the examples on the GPU print the JIT's results",
          "[cuda]") {
  std::string why;
  if (!cuda_device_available(&why)) {
    WARN("[cuda] test skipped: " << why);
    return;
  }
  if (!have_nvrtc() || !have_program("cc"))
    return;
  auto m = load_mlp();
  const Function &f = *m->functions()[0];
  aot::AotOptions o;
  o.initial_state = random_state(f);
  std::vector<double> want = jit_probs(f, o.initial_state);
  auto mt = load("examples/aot/mlp_train.kir");
  const Function &train = *mt->functions()[0];
  aot::AotOptions ot;
  ot.initial_state = random_state(train);
  double sum = 0;
  std::vector<double> losses = jit_losses(train, ot.initial_state, &sum);
  TempDir dir;
  std::string log, out, err;
  // An sm_90 CUBIN (the default), and PTX that any GPU since sm_80 compiles
  // on load.
  for (const char *arch : {"sm_90", "compute_80"}) {
    aot::AotResult r = compile_cuda(f, o, arch);
    dir.write("mlp.o", r.object);
    dir.write("mlp.h", r.header);
    INFO(log);
    REQUIRE(build_cuda_example(dir, "mlp_infer_cuda.c", "mlp.o", log));
    int rc = run_prog(dir, "", out, err);
    INFO(arch << ": " << err);
    if (rc == 1 && err.find("(-3)") != std::string::npos) {
      WARN(err); // not an sm_90 GPU
      continue;
    }
    REQUIRE(rc == 0);
    check_close(numbers(out, true), want);
    r = compile_cuda(train, ot, arch);
    dir.write("mlp_train.o", r.object);
    dir.write("mlp_train.h", r.header);
    REQUIRE(build_cuda_example(dir, "mlp_train_cuda.c", "mlp_train.o", log));
    REQUIRE(run_prog(dir, "", out, err) == 0);
    check_training(out, losses, sum);
  }
}
