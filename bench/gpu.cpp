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
///  5. memory-bound rows over [16384, 1024] f32: softmax and layer norm
///     (one pass: read once, written once) and a column sum, as bandwidth
///     vs the copy of the same bytes (codegen/CudaRows.cpp).
///  6. the f32 gemm on each SIMT tile (KILN_CUDA_TILE), and two
///     weight-gradient-shaped products (a resnet18 convolution, a matmul
///     x^T dy) with kiln's split-K and unsplit, vs cuBLAS on the same
///     M, N, K.
///   kiln_bench_gpu [--runs N] [--only gemm|split|ew|rows|steps|tc]
// SPDX-License-Identifier: Apache-2.0
#include "bench/models/Models.h"
#include "codegen/CudaPrinter.h"
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

/// Sets an environment variable for a scope ("" unsets it).
struct ScopedEnv {
  std::string name;
  ScopedEnv(const char *n, const std::string &v) : name(n) {
    if (v.empty())
      ::unsetenv(n);
    else
      ::setenv(n, v.c_str(), 1);
  }
  ~ScopedEnv() { ::unsetenv(name.c_str()); }
};

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

/// The median milliseconds of cuBLAS's row-major C[m, n] = A B on the
/// device, with \p a [m, k] (stored [k, m] when \p a_transposed) and
/// \p b [k, n] of one dtype: f32 by cublasSgemm in \p math (pedantic:
/// FP32, no TF32), f16/bf16 in and out by cublasGemmEx with f32 compute.
double cublas_gemm_ms(int runs, const HostTensor &a, const HostTensor &b,
                      int64_t m, int64_t n, int64_t k, bool a_transposed,
                      cublasMath_t math) {
  DType dt = a.type().dtype;
  size_t elem = size_t(a.type().bytes() / a.numel());
  void *da, *db, *dc;
  CHECK_CUDA(cudaMalloc(&da, size_t(a.type().bytes())));
  CHECK_CUDA(cudaMalloc(&db, size_t(b.type().bytes())));
  CHECK_CUDA(cudaMalloc(&dc, size_t(m * n) * elem));
  CHECK_CUDA(cudaMemcpy(da, a.bytes(), size_t(a.type().bytes()),
                        cudaMemcpyHostToDevice));
  CHECK_CUDA(cudaMemcpy(db, b.bytes(), size_t(b.type().bytes()),
                        cudaMemcpyHostToDevice));
  cublasHandle_t h;
  CHECK_CUBLAS(cublasCreate(&h));
  CHECK_CUBLAS(cublasSetMathMode(h, math));
  const float one = 1, zero = 0;
  // Row-major C = op(A) B is column-major C^T = B^T op(A)^T.
  cublasOperation_t op_a = a_transposed ? CUBLAS_OP_T : CUBLAS_OP_N;
  int im = int(m), in = int(n), ik = int(k), lda = a_transposed ? im : ik;
  cudaDataType_t ct = dt == DType::F16 ? CUDA_R_16F : CUDA_R_16BF;
  double ms = event_ms(runs, [&] {
    if (dt == DType::F32)
      CHECK_CUBLAS(cublasSgemm(
          h, CUBLAS_OP_N, op_a, in, im, ik, &one, static_cast<float *>(db), in,
          static_cast<float *>(da), lda, &zero, static_cast<float *>(dc), in));
    else
      CHECK_CUBLAS(cublasGemmEx(h, CUBLAS_OP_N, op_a, in, im, ik, &one, db, ct,
                                in, da, ct, lda, &zero, dc, ct, in,
                                CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
  });
  cublasDestroy(h);
  cudaFree(da);
  cudaFree(db);
  cudaFree(dc);
  return ms;
}

void bench_gemm(int runs) {
  const int64_t n = 4096;
  std::string t = "f32[4096,4096]";
  std::string kir = "func @gemm(%a: " + t + ", %b: " + t + ") -> (" + t +
                    ") {\n  %c = matmul(%a, %b) : " + t + "\n  return %c\n}\n";
  std::unique_ptr<Executable> exe = compile_kir(kir);
  HostTensor a = random_tensor(TensorType{DType::F32, {n, n}}, 1),
             b = random_tensor(TensorType{DType::F32, {n, n}}, 2);
  std::vector<HostTensor> c = exe->run({a, b});
  double worst = spot_error(a, b, c[0], n);
  double kiln_ms = cuda_time_kernels(*exe, runs);

  double blas_ms =
      cublas_gemm_ms(runs, a, b, n, n, n, false, CUBLAS_PEDANTIC_MATH);
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
  // The same product on each SIMT tile (KILN_CUDA_TILE), against the same
  // cuBLAS time: which tile the choice should prefer on this GPU.
  for (const char *tile : {"128x128", "128x64", "64x128", "64x64"}) {
    ScopedEnv env("KILN_CUDA_TILE", tile);
    std::unique_ptr<Executable> e = compile_kir(kir);
    double w = spot_error(a, b, e->run({a, b})[0], n);
    double ms = cuda_time_kernels(*e, runs);
    double g = flop / ms / 1e6;
    row(std::string("  tile ") + tile, fmt("%.0f", g) + fmt(" (%.2f ms)", ms),
        "cuBLAS " + fmt("%.0f", bg), fmt("%.2f", g / bg),
        std::string("{\"row\":\"gemm4096_tile_") + tile + "\",\"kiln_ms\":" +
            fmt("%.4f", ms) + ",\"cublas_ms\":" + fmt("%.4f", blas_ms) +
            ",\"max_rel_err\":" + fmt("%.3g", w) + "}");
  }
}

/// A weight-gradient-shaped product (few output tiles, deep K) with
/// kiln's split-K choice and with KILN_CUDA_SPLIT_K=1, against cuBLAS on a
/// GEMM of the same M, N, K (contiguous operands: the convolution's im2col
/// gather is kiln's alone; A is passed transposed, as in x^T dy). The
/// split and unsplit results must agree to f32 rounding.
void bench_split_k(const std::string &name, const std::string &kir, int64_t m,
                   int64_t n, int64_t k, int runs) {
  std::vector<HostTensor> args;
  {
    std::unique_ptr<Executable> probe = compile_kir(kir);
    for (size_t i = 0; i < probe->function().params().size(); ++i)
      args.push_back(random_tensor(probe->function().param(i)->type(), 20 + i));
  }
  double ms[2];
  std::vector<HostTensor> out[2];
  std::string launches;
  for (int unsplit = 0; unsplit < 2; ++unsplit) {
    ScopedEnv env("KILN_CUDA_SPLIT_K", unsplit ? "1" : "");
    std::unique_ptr<Executable> e = compile_kir(kir);
    out[unsplit] = e->run(args);
    ms[unsplit] = cuda_time_kernels(*e, runs);
    if (!unsplit) // the same choice as the executable's (f32: any arch)
      for (const codegen::CudaLaunch &l :
           codegen::emit_cuda(e->program(), "x").launches)
        launches += l.what + "; ";
  }
  // The two orders of summation agree to f32 rounding.
  double diff = 0, mag = 0;
  for (int64_t i = 0; i < out[0][0].numel(); ++i) {
    diff = std::max(diff, std::fabs(out[0][0].get(i) - out[1][0].get(i)));
    mag = std::max(mag, std::fabs(out[1][0].get(i)));
  }
  // x^T dy: A stored [k, m].
  double blas_ms =
      cublas_gemm_ms(runs, random_tensor(TensorType{DType::F32, {k, m}}, 30),
                     random_tensor(TensorType{DType::F32, {k, n}}, 31), m, n, k,
                     true, CUBLAS_PEDANTIC_MATH);
  double flop = 2.0 * double(m) * double(n) * double(k);
  double kg = flop / ms[0] / 1e6, ug = flop / ms[1] / 1e6,
         bg = flop / blas_ms / 1e6;
  row(name + " (GFLOP/s)", fmt("%.0f", kg) + fmt(" (unsplit %.0f)", ug),
      "cuBLAS " + fmt("%.0f", bg) + fmt(" (%.3f ms)", blas_ms),
      fmt("%.2f", kg / bg),
      "{\"row\":\"" + name + "\",\"kiln_ms\":" + fmt("%.4f", ms[0]) +
          ",\"unsplit_ms\":" + fmt("%.4f", ms[1]) + ",\"cublas_ms\":" +
          fmt("%.4f", blas_ms) + ",\"split_vs_unsplit_rel_diff\":" +
          fmt("%.3g", diff / std::max(mag, 1e-30)) + ",\"launches\":\"" +
          launches + "\"}");
  if (diff > 1e-4 * std::max(mag, 1e-30))
    throw Error(name + ": split-K and unsplit results differ by " +
                fmt("%.3g", diff / mag) + " relative");
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

  double blas_ms =
      cublas_gemm_ms(runs, a, b, n, n, n, false,
                     tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
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

/// The device-to-device copy bandwidth (bytes read + written per second,
/// GB/s) of \p bytes, and its median milliseconds in \p ms.
double bench_copy_gbs(int runs, size_t bytes, double &ms) {
  void *src, *dst;
  CHECK_CUDA(cudaMalloc(&src, bytes));
  CHECK_CUDA(cudaMalloc(&dst, bytes));
  ms = event_ms(runs, [&] {
    CHECK_CUDA(cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToDevice));
  });
  cudaFree(src);
  cudaFree(dst);
  return 2.0 * double(bytes) / ms / 1e6;
}

/// Host reference of one row-wise op on row \p r of \p x ([rows, n]):
/// softmax, or layer norm with scale 1 + 0.001 j and shift 0.01.
std::vector<double> row_reference(const HostTensor &x, int64_t r, int64_t n,
                                  bool softmax) {
  std::vector<double> v(size_t(n), 0.0), y(v.size());
  double a = softmax ? -INFINITY : 0, b = 0;
  for (int64_t j = 0; j < n; ++j) {
    v[size_t(j)] = x.get(r * n + j);
    a = softmax ? std::max(a, v[size_t(j)]) : a + v[size_t(j)] / double(n);
  }
  for (int64_t j = 0; j < n; ++j)
    b += softmax ? std::exp(v[size_t(j)] - a)
                 : (v[size_t(j)] - a) * (v[size_t(j)] - a) / double(n);
  for (int64_t j = 0; j < n; ++j)
    y[size_t(j)] = softmax ? std::exp(v[size_t(j)] - a) / b
                           : (v[size_t(j)] - a) / std::sqrt(b + 1e-5) *
                                     (1.0 + 0.001 * double(j)) +
                                 0.01;
  return y;
}

/// Memory-bound rows over x = [16384, 1024] f32 (64 MiB: beyond an H100's
/// 50 MB L2): softmax and layer norm (one pass: each reads x once and
/// writes y once) and a column sum (a bias gradient: reads x once), as
/// bandwidth against the device copy of the same bytes. Results are
/// checked on a few rows against a float64 host reference.
void bench_rows(int runs) {
  const int64_t rows = 16384, n = 1024;
  std::string t = "f32[16384,1024]", r1 = "f32[16384,1]";
  TensorType xt{DType::F32, {rows, n}};
  HostTensor x = random_tensor(xt, 5), g(TensorType{DType::F32, {n}}),
             b(TensorType{DType::F32, {n}});
  for (int64_t j = 0; j < n; ++j) {
    g.set(j, 1.0 + 0.001 * double(j));
    b.set(j, 0.01);
  }
  struct Case {
    const char *name, *row_name;
    std::string kir;
    std::vector<HostTensor> in;
    double bytes; ///< read + written by an ideal kernel
  };
  std::vector<Case> cases = {
      {"softmax",
       "softmax 16384x1024 (GB/s)",
       "func @softmax(%x: " + t + ") -> (" + t + ") {\n" +
           "  %m = reduce_max(%x) {axes = [1], keepdims = true} : " + r1 +
           "\n  %d = sub(%x, %m) : " + t + "\n  %e = exp(%d) : " + t +
           "\n  %s = reduce_sum(%e) {axes = [1], keepdims = true} : " + r1 +
           "\n  %y = div(%e, %s) : " + t + "\n  return %y\n}\n",
       {x},
       2.0 * double(rows * n) * 4},
      {"layer_norm",
       "layer norm 16384x1024 (GB/s)",
       "func @ln(%x: " + t + ", %g: f32[1024], %b: f32[1024]) -> (" + t +
           ") {\n  %m = reduce_mean(%x) {axes = [1], keepdims = true} : " + r1 +
           "\n  %d = sub(%x, %m) : " + t + "\n  %d2 = mul(%d, %d) : " + t +
           "\n  %v = reduce_mean(%d2) {axes = [1], keepdims = true} : " + r1 +
           "\n  %e = constant() {value = 0.00001} : f32[]\n" +
           "  %ve = add(%v, %e) : " + r1 + "\n  %rs = rsqrt(%ve) : " + r1 +
           "\n  %y0 = mul(%d, %rs) : " + t + "\n  %y1 = mul(%y0, %g) : " + t +
           "\n  %y = add(%y1, %b) : " + t + "\n  return %y\n}\n",
       {x, g, b},
       2.0 * double(rows * n) * 4},
      {"column_sum",
       "column sum 16384x1024 (GB/s)",
       "func @colsum(%x: " + t + ") -> (f32[1024]) {\n" +
           "  %s = reduce_sum(%x) {axes = [0], keepdims = false} : " +
           "f32[1024]\n  return %s\n}\n",
       {x},
       double(rows * n) * 4}};
  double copy_ms = 0;
  double copy = bench_copy_gbs(runs, size_t(rows * n) * 4, copy_ms);
  for (const Case &c : cases) {
    std::unique_ptr<Executable> exe = compile_kir(c.kir);
    HostTensor y = exe->run(c.in)[0];
    double worst = 0;
    for (int64_t r : {int64_t(0), int64_t(77), n - 1}) { // rows or columns
      if (std::string(c.name) == "column_sum") {
        double sum = 0, mag = 0;
        for (int64_t i = 0; i < rows; ++i) {
          sum += x.get(i * n + r);
          mag += std::fabs(x.get(i * n + r));
        }
        worst = std::max(worst, std::fabs(y.get(r) - sum) / mag);
        continue;
      }
      std::vector<double> want =
          row_reference(x, r, n, std::string(c.name) == "softmax");
      for (int64_t j = 0; j < n; ++j)
        worst = std::max(worst, std::fabs(y.get(r * n + j) - want[size_t(j)]) /
                                    (std::fabs(want[size_t(j)]) + 1e-3));
    }
    if (worst > 1e-4)
      throw Error(std::string(c.name) + " result wrong: relative error " +
                  fmt("%.3g", worst));
    double ms = cuda_time_kernels(*exe, runs), gbs = c.bytes / ms / 1e6;
    std::string launch =
        exe->program().kernels.size() == 1
            ? "1 kernel"
            : std::to_string(exe->program().kernels.size()) + " kernels";
    row(c.row_name, fmt("%.0f", gbs) + fmt(" (%.3f ms)", ms),
        "copy " + fmt("%.0f", copy) + fmt(" (%.3f ms)", copy_ms),
        fmt("%.2f", gbs / copy),
        "{\"row\":\"" + std::string(c.name) + "\",\"kiln_ms\":" +
            fmt("%.4f", ms) + ",\"kiln_gbs\":" + fmt("%.1f", gbs) +
            ",\"copy_gbs\":" + fmt("%.1f", copy) + ",\"kernels\":\"" + launch +
            "\",\"max_rel_error\":" + fmt("%.3g", worst) + "}");
  }
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
  double copy_ms = 0;
  // Both read n floats and write n floats.
  double kiln_gbs = 2.0 * double(bytes) / kiln_ms / 1e6,
         copy_gbs = bench_copy_gbs(runs, bytes, copy_ms);
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
    else if (a == "--only" && i + 1 < argc &&
             std::string(" gemm split ew rows steps tc ")
                     .find(" " + std::string(argv[i + 1]) + " ") !=
                 std::string::npos)
      only = argv[++i];
    else {
      std::fprintf(stderr, "usage: kiln_bench_gpu [--runs N] [--only "
                           "gemm|split|ew|rows|steps|tc]\n");
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
  if (only.empty() || only == "gemm" || only == "split") {
    // resnet18_train's first-stage weight gradient (M = 64, N = 64*3*3,
    // K = 16*32*32) and a matmul weight gradient x^T dy.
    bench_split_k("conv wgrad 64x576x16384",
                  "func @wg(%x: f32[16,64,32,32], %g: f32[16,64,32,32]) -> "
                  "(f32[64,64,3,3]) {\n  %w = conv2d_weight_grad(%x, %g) "
                  "{kernel = [3, 3], stride = [1, 1], padding = [1, 1], "
                  "dilation = [1, 1], groups = 1} : f32[64,64,3,3]\n  return "
                  "%w\n}\n",
                  64, 576, 16384, runs);
    bench_split_k("matmul x^T dy 256x256x8192",
                  "func @wg(%x: f32[8192,256], %g: f32[8192,256]) -> "
                  "(f32[256,256]) {\n  %xt = transpose(%x) {perm = [1, 0]} : "
                  "f32[256,8192]\n  %w = matmul(%xt, %g) : f32[256,256]\n  "
                  "return %w\n}\n",
                  256, 256, 8192, runs);
  }
  if (only.empty() || only == "ew")
    bench_elementwise(runs);
  if (only.empty() || only == "rows")
    bench_rows(runs);
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
