/// \file
/// kiln_bench_gpu: the CUDA backend's numbers (issue #7), in one process on
/// one GPU, each against a peer measured in the same run:
///  1. gemm 4096^3 f32: kiln's tiled kernel vs cublasSgemm (FP32 math, no
///     TF32), both timed on the device alone; kiln's result spot-checked
///     against a float64 host product;
///  2. a fused elementwise chain over 2^26 floats vs the device's measured
///     copy bandwidth (cuMemcpyDtoD of the same bytes);
///  3. step times of mlp_train, resnet18_train and gpt_train at full size
///     (BENCHMARKS.md optimizers): run() with host copies and the kernels
///     alone;
///  4. gemm 4096^3 on tensor cores (codegen/CudaMma.cpp): f16 and bf16 vs
///     cublasGemmEx (16-bit A, B and C, f32 compute), f32 with allow_tf32
///     vs cublasSgemm in CUBLAS_TF32_TENSOR_OP_MATH; results spot-checked
///     against a float64 product of the (rounded) inputs.
/// Prints a table and one JSON line per row (prefix "json: ").
///   kiln_bench_gpu [--runs N] [--only gemm|ew|steps|tc]
// SPDX-License-Identifier: Apache-2.0
#include "bench/models/Models.h"
#include "frontend/Compile.h"
#include "frontend/Train.h"
#include "ir/Error.h"
#include "ir/Parser.h"
#include "runtime/CudaDevice.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace kiln;

namespace {

#define CHECK_CUDA(x)                                                          \
  do {                                                                         \
    cudaError_t e_ = (x);                                                      \
    if (e_ != cudaSuccess)                                                     \
      throw Error(std::string(#x) + ": " + cudaGetErrorString(e_));            \
  } while (0)
#define CHECK_CUBLAS(x)                                                        \
  do {                                                                         \
    cublasStatus_t s_ = (x);                                                   \
    if (s_ != CUBLAS_STATUS_SUCCESS)                                           \
      throw Error(std::string(#x) + " failed: status " +                       \
                  std::to_string(int(s_)));                                    \
  } while (0)

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::unique_ptr<Executable> compile_kir(const std::string &text,
                                        bool tf32 = false) {
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(text, "bench.kir", diags);
  if (!m)
    throw Error("bench program does not parse");
  CompileOptions o;
  o.target = CompileOptions::Target::Cuda;
  o.allow_tf32 = tf32;
  return compile(*m->functions()[0], o);
}

HostTensor random_tensor(const TensorType &t, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  HostTensor x(t);
  for (int64_t i = 0; i < x.numel(); ++i)
    x.set(i, u(rng));
  return x;
}

/// Median milliseconds of \p fn over \p runs, timed with CUDA events.
template <class F> double event_ms(int runs, F fn) {
  cudaEvent_t a, b;
  CHECK_CUDA(cudaEventCreate(&a));
  CHECK_CUDA(cudaEventCreate(&b));
  fn();
  CHECK_CUDA(cudaDeviceSynchronize());
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    CHECK_CUDA(cudaEventRecord(a));
    fn();
    CHECK_CUDA(cudaEventRecord(b));
    CHECK_CUDA(cudaEventSynchronize(b));
    float t = 0;
    CHECK_CUDA(cudaEventElapsedTime(&t, a, b));
    ms.push_back(t);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return median(ms);
}

void row(const std::string &name, const std::string &kiln,
         const std::string &peer, const std::string &ratio,
         const std::string &json) {
  std::printf("| %-28s | %-22s | %-26s | %-8s |\n", name.c_str(), kiln.c_str(),
              peer.c_str(), ratio.c_str());
  std::printf("json: %s\n", json.c_str());
  std::fflush(stdout);
}

std::string fmt(const char *f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

/// The largest |c - a b| / sum |a_ik b_kj| over 64 random elements of the
/// n x n product, in float64 from the inputs as stored.
double spot_error(const HostTensor &a, const HostTensor &b, const HostTensor &c,
                  int64_t n) {
  double worst = 0;
  std::mt19937_64 rng(3);
  for (int s = 0; s < 64; ++s) {
    int64_t i = int64_t(rng() % n), j = int64_t(rng() % n);
    double ref = 0, mag = 0;
    for (int64_t k = 0; k < n; ++k) {
      double p = a.get(i * n + k) * b.get(k * n + j);
      ref += p;
      mag += std::fabs(p);
    }
    worst = std::max(worst, std::fabs(c.get(i * n + j) - ref) / mag);
  }
  return worst;
}

void bench_gemm(int runs) {
  const int64_t n = 4096;
  std::string t = "f32[4096,4096]";
  std::unique_ptr<Executable> exe =
      compile_kir("func @gemm(%a: " + t + ", %b: " + t + ") -> (" + t +
                  ") {\n  %c = matmul(%a, %b) : " + t + "\n  return %c\n}\n");
  HostTensor a = random_tensor(TensorType{DType::F32, {n, n}}, 1),
             b = random_tensor(TensorType{DType::F32, {n, n}}, 2);
  std::vector<HostTensor> c = exe->run({a, b});
  double worst = spot_error(a, b, c[0], n);
  double kiln_ms = cuda_time_kernels(*exe, runs);

  float *da, *db, *dc;
  size_t bytes = size_t(n * n) * sizeof(float);
  CHECK_CUDA(cudaMalloc(&da, bytes));
  CHECK_CUDA(cudaMalloc(&db, bytes));
  CHECK_CUDA(cudaMalloc(&dc, bytes));
  CHECK_CUDA(cudaMemcpy(da, a.bytes(), bytes, cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(db, b.bytes(), bytes, cudaMemcpyHostToDevice));
  cublasHandle_t h;
  CHECK_CUBLAS(cublasCreate(&h));
  CHECK_CUBLAS(cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH)); // FP32, no TF32
  const float one = 1, zero = 0;
  // Row-major C = A B is column-major C^T = B^T A^T.
  double blas_ms = event_ms(runs, [&] {
    CHECK_CUBLAS(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, int(n), int(n),
                             int(n), &one, db, int(n), da, int(n), &zero, dc,
                             int(n)));
  });
  cublasDestroy(h);
  cudaFree(da);
  cudaFree(db);
  cudaFree(dc);
  double flop = 2.0 * double(n) * double(n) * double(n);
  double kg = flop / kiln_ms / 1e6, bg = flop / blas_ms / 1e6;
  row("gemm 4096^3 f32 (GFLOP/s)", fmt("%.0f", kg) + fmt(" (%.2f ms)", kiln_ms),
      "cuBLAS " + fmt("%.0f", bg) + fmt(" (%.2f ms)", blas_ms),
      fmt("%.2f", kg / bg),
      "{\"row\":\"gemm4096\",\"kiln_ms\":" + fmt("%.4f", kiln_ms) +
          ",\"cublas_ms\":" + fmt("%.4f", blas_ms) + ",\"kiln_gflops\":" +
          fmt("%.1f", kg) + ",\"cublas_gflops\":" + fmt("%.1f", bg) +
          ",\"max_rel_err\":" + fmt("%.3g", worst) + "}");
  if (worst > 1e-4)
    throw Error("gemm result wrong: relative error " + fmt("%.3g", worst));
}

/// gemm 4096^3 on tensor cores: \p dt f16 or bf16 (vs cublasGemmEx), or
/// f32 with allow_tf32 (vs cublasSgemm with TF32 tensor-op math).
void bench_gemm_tc(DType dt, int runs) {
  const int64_t n = 4096;
  bool tf32 = dt == DType::F32;
  std::string name = tf32 ? "tf32" : std::string(dtype_name(dt));
  std::string t = std::string(dtype_name(dt)) + "[4096,4096]";
  std::unique_ptr<Executable> exe = compile_kir(
      "func @gemm(%a: " + t + ", %b: " + t + ") -> (" + t +
          ") {\n  %c = matmul(%a, %b) : " + t + "\n  return %c\n}\n",
      tf32);
  if (exe->c_source().find("kiln_mma_") == std::string::npos)
    throw Error("gemm " + name + " does not use tensor cores on this GPU");
  HostTensor a = random_tensor(TensorType{dt, {n, n}}, 1),
             b = random_tensor(TensorType{dt, {n, n}}, 2);
  std::vector<HostTensor> c = exe->run({a, b});
  // TF32 operands and 16-bit results: ~1e-3 of the products' magnitude.
  double worst = spot_error(a, b, c[0], n);
  double kiln_ms = cuda_time_kernels(*exe, runs);

  size_t bytes = size_t(a.type().bytes());
  void *da, *db, *dc;
  CHECK_CUDA(cudaMalloc(&da, bytes));
  CHECK_CUDA(cudaMalloc(&db, bytes));
  CHECK_CUDA(cudaMalloc(&dc, bytes));
  CHECK_CUDA(cudaMemcpy(da, a.bytes(), bytes, cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(db, b.bytes(), bytes, cudaMemcpyHostToDevice));
  cublasHandle_t h;
  CHECK_CUBLAS(cublasCreate(&h));
  CHECK_CUBLAS(cublasSetMathMode(h, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                                         : CUBLAS_DEFAULT_MATH));
  const float one = 1, zero = 0;
  cudaDataType_t ct = dt == DType::F16 ? CUDA_R_16F : CUDA_R_16BF;
  int ni = int(n);
  // Row-major C = A B is column-major C^T = B^T A^T.
  double blas_ms = event_ms(runs, [&] {
    if (tf32)
      CHECK_CUBLAS(cublasSgemm(h, CUBLAS_OP_N, CUBLAS_OP_N, ni, ni, ni, &one,
                               static_cast<float *>(db), ni,
                               static_cast<float *>(da), ni, &zero,
                               static_cast<float *>(dc), ni));
    else
      CHECK_CUBLAS(cublasGemmEx(h, CUBLAS_OP_N, CUBLAS_OP_N, ni, ni, ni, &one,
                                db, ct, ni, da, ct, ni, &zero, dc, ct, ni,
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  });
  cublasDestroy(h);
  cudaFree(da);
  cudaFree(db);
  cudaFree(dc);
  double flop = 2.0 * double(n) * double(n) * double(n);
  double kt = flop / kiln_ms / 1e9, bt = flop / blas_ms / 1e9;
  row("gemm 4096^3 " + name + " (TFLOP/s)",
      fmt("%.1f", kt) + fmt(" (%.2f ms)", kiln_ms),
      "cuBLAS " + fmt("%.1f", bt) + fmt(" (%.2f ms)", blas_ms),
      fmt("%.2f", kt / bt),
      "{\"row\":\"gemm4096_" + name + "\",\"kiln_ms\":" + fmt("%.4f", kiln_ms) +
          ",\"cublas_ms\":" + fmt("%.4f", blas_ms) + ",\"kiln_tflops\":" +
          fmt("%.2f", kt) + ",\"cublas_tflops\":" + fmt("%.2f", bt) +
          ",\"max_rel_err\":" + fmt("%.3g", worst) + "}");
  if (worst > 5e-3)
    throw Error("gemm " + name + " result wrong: relative error " +
                fmt("%.3g", worst));
}

void bench_elementwise(int runs) {
  const int64_t n = int64_t(1) << 26;
  std::string t = "f32[" + std::to_string(n) + "]";
  std::unique_ptr<Executable> exe =
      compile_kir("func @chain(%x: " + t + ") -> (" + t + ") {\n" +
                  "  %a = constant() {value = 1.5} : f32[]\n" +
                  "  %b = constant() {value = -0.25} : f32[]\n" +
                  "  %0 = mul(%x, %a) : " + t + "\n  %1 = add(%0, %b) : " + t +
                  "\n  %2 = tanh(%1) : " + t + "\n  %3 = sigmoid(%x) : " + t +
                  "\n  %4 = mul(%2, %3) : " + t +
                  "\n  %5 = add(%4, %x) : " + t + "\n  return %5\n}\n");
  exe->run({random_tensor(TensorType{DType::F32, {n}}, 4)});
  double kiln_ms = cuda_time_kernels(*exe, runs);
  size_t bytes = size_t(n) * sizeof(float);
  void *src, *dst;
  CHECK_CUDA(cudaMalloc(&src, bytes));
  CHECK_CUDA(cudaMalloc(&dst, bytes));
  double copy_ms = event_ms(runs, [&] {
    CHECK_CUDA(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
  });
  cudaFree(src);
  cudaFree(dst);
  // Both read n floats and write n floats.
  double kiln_gbs = 2.0 * double(bytes) / kiln_ms / 1e6,
         copy_gbs = 2.0 * double(bytes) / copy_ms / 1e6;
  row("fused chain 2^26 f32 (GB/s)",
      fmt("%.0f", kiln_gbs) + fmt(" (%.3f ms)", kiln_ms),
      "copy " + fmt("%.0f", copy_gbs) + fmt(" (%.3f ms)", copy_ms),
      fmt("%.2f", kiln_gbs / copy_gbs),
      "{\"row\":\"elementwise\",\"kiln_ms\":" + fmt("%.4f", kiln_ms) +
          ",\"copy_ms\":" + fmt("%.4f", copy_ms) +
          ",\"kiln_gbs\":" + fmt("%.1f", kiln_gbs) +
          ",\"copy_gbs\":" + fmt("%.1f", copy_gbs) + "}");
}

void bench_step(const std::string &name, int runs) {
  models::Model m = models::build_workload(name, /*reduced=*/false);
  Optimizer opt = name == "mlp_train"        ? optim::sgd(0.01, 0.9, 1e-4)
                  : name == "resnet18_train" ? optim::sgd(0.1, 0.9)
                                             : optim::adamw(3e-4, 0.01);
  train_step(*m.graph, m.loss, m.params, {opt});
  const Function &f = m.graph->function();
  CompileOptions o;
  o.target = CompileOptions::Target::Cuda;
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Executable> exe = compile(f, o);
  double compile_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  std::vector<HostTensor> all = m.graph->initial_values(), inputs;
  int64_t bound = name == "gpt_train" ? 1024 : 10;
  for (size_t i = 0; i < f.params().size(); ++i) {
    const Value *p = f.param(i);
    if (p->arg_kind() != ArgKind::Input) {
      exe->set_state(p->name(), all[i]);
      continue;
    }
    HostTensor x = random_tensor(p->type(), 10 + i);
    if (is_integer(x.dtype()))
      for (int64_t e = 0; e < x.numel(); ++e)
        x.set_int(e, (e * 7919) % bound);
    inputs.push_back(x);
  }
  double loss0 = exe->run(inputs)[0].get(0);
  std::vector<double> ms;
  for (int i = 0; i < runs; ++i) {
    auto a = std::chrono::steady_clock::now();
    exe->run(inputs);
    ms.push_back(std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - a)
                     .count());
  }
  double loss1 = exe->run(inputs)[0].get(0);
  double kernels_ms = cuda_time_kernels(*exe, runs);
  row(name + " step (ms)",
      fmt("%.2f", median(ms)) + fmt(" (kernels %.2f)", kernels_ms),
      fmt("compile %.1f s", compile_s) +
          fmt(", %zu kernels", exe->program().kernels.size()),
      "",
      "{\"row\":\"" + name + "\",\"step_ms\":" + fmt("%.3f", median(ms)) +
          ",\"kernels_ms\":" + fmt("%.3f", kernels_ms) + ",\"compile_s\":" +
          fmt("%.2f", compile_s) + ",\"loss_first\":" + fmt("%.5g", loss0) +
          ",\"loss_after\":" + fmt("%.5g", loss1) + "}");
  if (!std::isfinite(loss0) || !std::isfinite(loss1) || !(loss1 < loss0))
    std::printf("warning: %s loss did not fall (%g -> %g)\n", name.c_str(),
                loss0, loss1);
}

} // namespace

int main(int argc, char **argv) try {
  int runs = 20;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--runs" && i + 1 < argc)
      runs = std::max(1, std::atoi(argv[++i]));
    else if (a == "--only" && i + 1 < argc)
      only = argv[++i];
    else {
      std::fprintf(stderr, "usage: kiln_bench_gpu [--runs N] [--only "
                           "gemm|ew|steps|tc]\n");
      return 2;
    }
  }
  std::string why;
  if (!cuda_device_available(&why)) {
    std::fprintf(stderr, "kiln_bench_gpu: %s\n", why.c_str());
    return 1;
  }
  cudaDeviceProp prop;
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s (sm_%d%d, %d SMs), median of %d runs\n\n", prop.name,
              prop.major, prop.minor, prop.multiProcessorCount, runs);
  std::printf("| %-28s | %-22s | %-26s | %-8s |\n", "row", "kiln", "peer",
              "ratio");
  std::printf("|%s|%s|%s|%s|\n", std::string(30, '-').c_str(),
              std::string(24, '-').c_str(), std::string(28, '-').c_str(),
              std::string(10, '-').c_str());
  if (only.empty() || only == "gemm")
    bench_gemm(runs);
  if (only.empty() || only == "ew")
    bench_elementwise(runs);
  if (only.empty() || only == "steps")
    for (const char *name : {"mlp_train", "resnet18_train", "gpt_train"})
      bench_step(name, runs);
  if ((only.empty() || only == "tc") && prop.major >= 8)
    for (DType dt : {DType::F16, DType::BF16, DType::F32})
      bench_gemm_tc(dt, runs);
  return 0;
} catch (const std::exception &e) {
  std::fprintf(stderr, "kiln_bench_gpu: error: %s\n", e.what());
  return 1;
}
