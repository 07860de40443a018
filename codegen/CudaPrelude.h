/// \file
/// Private to codegen/: the CUDA prelude every generated .cu file starts
/// with — the same typedefs and helpers as the C prelude (CPrelude.h), with
/// the same meaning as the reference interpreter (NaN rules, integer
/// division by zero, saturating casts, round half to even, 16-bit floats,
/// Philox), written with CUDA's device math and bit-cast intrinsics instead
/// of clang builtins, plus the block-wide reduction (warp shuffles, then
/// one shared-memory exchange between warps) that reduction kernels use.
/// NVRTC needs no headers for it.
// SPDX-License-Identifier: Apache-2.0
#pragma once

namespace kiln::codegen {

inline const char *kCudaPrelude = R"KILN(
typedef signed char kiln_i8;
typedef int kiln_i32;
typedef long long kiln_i64;
typedef unsigned char kiln_u8;
typedef unsigned short kiln_u16;
typedef unsigned int kiln_u32;
typedef unsigned long long kiln_u64;
#define KILN_D __device__ __forceinline__

KILN_D float kiln_h2f(kiln_u16 h) {
  kiln_u32 sign = (kiln_u32)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  if (e == 0) {
    float r = (float)m * 5.9604644775390625e-08f;
    return sign ? -r : r;
  }
  kiln_u32 x = e == 31 ? (0x7f800000u | (m << 13)) : (((e - 15 + 127) << 23) | (m << 13));
  return __uint_as_float(x | sign);
}
KILN_D kiln_u16 kiln_f2h(float f) {
  kiln_u32 x = __float_as_uint(f);
  kiln_u32 sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
  if (a > 0x7f800000u) return (kiln_u16)(sign | 0x7e00u);
  if (a >= 0x477ff000u) return (kiln_u16)(sign | 0x7c00u);
  if (a < 0x38800000u)
    return (kiln_u16)(sign | (kiln_u32)rintf(__uint_as_float(a) * 16777216.0f));
  kiln_u32 h = (((a >> 23) - 112) << 10) | ((a & 0x7fffffu) >> 13), rest = a & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return (kiln_u16)(sign | h);
}
KILN_D float kiln_bf2f(kiln_u16 b) { return __uint_as_float((kiln_u32)b << 16); }
KILN_D kiln_u16 kiln_f2bf(float f) {
  kiln_u32 x = __float_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (kiln_u16)((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return (kiln_u16)(x >> 16);
}
KILN_D float kiln_maxf(float a, float b) { return (a != a || b != b) ? __int_as_float(0x7fc00000) : (a > b ? a : b); }
KILN_D float kiln_minf(float a, float b) { return (a != a || b != b) ? __int_as_float(0x7fc00000) : (a < b ? a : b); }
KILN_D double kiln_maxd(double a, double b) { return (a != a || b != b) ? __longlong_as_double(0x7ff8000000000000ll) : (a > b ? a : b); }
KILN_D double kiln_mind(double a, double b) { return (a != a || b != b) ? __longlong_as_double(0x7ff8000000000000ll) : (a < b ? a : b); }
KILN_D kiln_i64 kiln_maxi(kiln_i64 a, kiln_i64 b) { return a > b ? a : b; }
KILN_D kiln_i64 kiln_mini(kiln_i64 a, kiln_i64 b) { return a < b ? a : b; }
KILN_D float kiln_reluf(float x) { return x > 0.0f ? x : (x != x ? x : 0.0f); }
KILN_D double kiln_relud(double x) { return x > 0.0 ? x : (x != x ? x : 0.0); }
KILN_D float kiln_signf(float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x); }
KILN_D double kiln_signd(double x) { return x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : x); }
KILN_D kiln_i64 kiln_signi(kiln_i64 x) { return x > 0 ? 1 : (x < 0 ? -1 : 0); }
KILN_D kiln_i64 kiln_divi(kiln_i64 a, kiln_i64 b) {
  return b == 0 ? 0 : (b == -1 ? (kiln_i64)(0ull - (kiln_u64)a) : a / b);
}
KILN_D kiln_i64 kiln_powi(kiln_i64 a, kiln_i64 b) {
  if (b < 0) return a == 1 ? 1 : (a == -1 ? ((b & 1) ? -1 : 1) : 0);
  kiln_u64 r = 1, base = (kiln_u64)a;
  for (; b; b >>= 1, base *= base)
    if (b & 1) r *= base;
  return (kiln_i64)r;
}
KILN_D kiln_i64 kiln_f2i(double v, double lo, double hi) {
  if (v != v) return 0;
  if (v >= hi) return (kiln_i64)hi;
  if (v <= lo) return (kiln_i64)lo;
  return (kiln_i64)v;
}
KILN_D kiln_i64 kiln_f2i64(double v) {
  if (v != v) return 0;
  if (v >= 9.2233720368547758e18) return 0x7fffffffffffffffll;
  if (v <= -9.2233720368547758e18) return (kiln_i64)(-0x7fffffffffffffffll - 1);
  return (kiln_i64)v;
}
KILN_D void kiln_philox(kiln_u64 seed, kiln_u64 block, kiln_u64 offset, kiln_u32 out[4]) {
  kiln_u32 c0 = (kiln_u32)block, c1 = (kiln_u32)(block >> 32), c2 = (kiln_u32)offset,
           c3 = (kiln_u32)(offset >> 32), k0 = (kiln_u32)seed, k1 = (kiln_u32)(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    if (r > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
    kiln_u32 n0 = __umulhi(0xCD9E8D57u, c2) ^ c1 ^ k0, n1 = 0xCD9E8D57u * c2;
    kiln_u32 n2 = __umulhi(0xD2511F53u, c0) ^ c3 ^ k1, n3 = 0xD2511F53u * c0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}
KILN_D double kiln_uniform(kiln_i64 seed, kiln_i64 offset, kiln_i64 i) {
  kiln_u32 w[4];
  kiln_philox((kiln_u64)seed, (kiln_u64)i / 4, (kiln_u64)offset, w);
  return (double)(w[i % 4] >> 8) * (1.0 / 16777216.0);
}
KILN_D double kiln_normal(kiln_i64 seed, kiln_i64 offset, kiln_i64 i) {
  kiln_u32 w[4];
  kiln_philox((kiln_u64)seed, (kiln_u64)i / 2, (kiln_u64)offset, w);
  int lane = 2 * (int)(i % 2);
  double u1 = (double)((w[lane] >> 8) + 1) * (1.0 / 16777216.0);
  double u2 = (double)(w[lane + 1] >> 8) * (1.0 / 16777216.0);
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586476925 * u2);
}
/* CUDA's expf and tanhf are accurate to 2 ulp and vectorization is not a
   concern on the GPU: the CPU prelude's polynomials are not needed. */
KILN_D float kiln_expf(float x) { return expf(x); }
KILN_D float kiln_tanhf(float x) { return tanhf(x); }
KILN_D float kiln_sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* 16-byte loads and stores of 4 floats at a 16-byte aligned address (the
   contraction tiles; the emulator's shim checks the alignment). */
#ifndef KILN_LD4
#define KILN_LD4(p) (*reinterpret_cast<const float4 *>(p))
#define KILN_ST4(p, v) (*reinterpret_cast<float4 *>(p) = (v))
#endif

/* Combining functions of the block-wide reductions (NaN-propagating max and
   min, as the interpreter's). */
struct kiln_sum { template <class T> __device__ T operator()(T a, T b) const { return a + b; } };
struct kiln_maxop {
  __device__ float operator()(float a, float b) const { return kiln_maxf(a, b); }
  __device__ double operator()(double a, double b) const { return kiln_maxd(a, b); }
  __device__ kiln_i64 operator()(kiln_i64 a, kiln_i64 b) const { return kiln_maxi(a, b); }
  __device__ kiln_i32 operator()(kiln_i32 a, kiln_i32 b) const { return (kiln_i32)kiln_maxi(a, b); }
};
struct kiln_minop {
  __device__ float operator()(float a, float b) const { return kiln_minf(a, b); }
  __device__ double operator()(double a, double b) const { return kiln_mind(a, b); }
  __device__ kiln_i64 operator()(kiln_i64 a, kiln_i64 b) const { return kiln_mini(a, b); }
  __device__ kiln_i32 operator()(kiln_i32 a, kiln_i32 b) const { return (kiln_i32)kiln_mini(a, b); }
};
/* Reduces v over the whole block (blockDim.x a power of two from 32 to
   1024): shuffles within each warp, one shared slot per warp, shuffles over
   the warps' results in the first lanes, then lane 0's result to all; every
   thread returns the result. Every thread of the block must call it (it
   synchronizes, also before reusing its slots). */
template <class T, class F> __device__ T kiln_block_reduce(T v, F f) {
  __shared__ T slots[32];
  for (int o = 16; o > 0; o >>= 1) v = f(v, __shfl_xor_sync(0xffffffffu, v, o));
  int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) slots[warp] = v;
  __syncthreads();
  v = slots[lane < warps ? lane : 0];
  for (int o = warps >> 1; o > 0; o >>= 1) v = f(v, __shfl_xor_sync(0xffffffffu, v, o));
  return __shfl_sync(0xffffffffu, v, 0);
}
)KILN";

/// Appended to kCudaPrelude when a contraction runs on tensor cores
/// (codegen/CudaMma.cpp): one warp-wide mma.sync, c += a * b, in the PTX
/// ISA's fragment layouts (a: 16 x k row-major, b: k x 8 column-major,
/// c: 16 x 8 f32; m16n8k16 for f16 and bf16, m16n8k8 for tf32), and the
/// f32 -> TF32 rounding. Every lane of the warp must call them together.
/// The tests' CUDA emulator defines KILN_EMULATED_MMA and its own
/// kiln_mma_* (tests/unit/CudaEmulator.h).
inline const char *kCudaMmaPrelude = R"KILN(
#ifndef KILN_EMULATED_MMA
KILN_D void kiln_mma_f16(float *c, const kiln_u32 *a, const kiln_u32 *b) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
KILN_D void kiln_mma_bf16(float *c, const kiln_u32 *a, const kiln_u32 *b) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
/* ldmatrix.x4: four 8x8 matrices of 16-bit pairs from shared memory; lane l
   gives the address of row l % 8 of matrix l / 8 (16 bytes) and receives
   in r[q] word l % 4 of row l / 4 of matrix q. */
KILN_D void kiln_ldsm4(kiln_u32 *r, const kiln_u32 *p) {
  asm volatile("{ .reg .u64 s; cvta.to.shared.u64 s, %4; ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [s]; }"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "l"(p));
}
KILN_D void kiln_mma_tf32(float *c, const kiln_u32 *a, const kiln_u32 *b) {
  asm volatile("mma.sync.aligned.m16n8k8.row.col.f32.tf32.tf32.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
#endif
/* f32 -> TF32 as cvt.rna.tf32.f32 rounds (to nearest, ties away from zero;
   NaN stays NaN): the bits of an f32 whose low 13 mantissa bits are 0. */
KILN_D kiln_u32 kiln_f2tf32(float f) {
  kiln_u32 x = __float_as_uint(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return 0x7fffffffu;
  return (x + 0x1000u) & 0xffffe000u;
}
)KILN";

} // namespace kiln::codegen
