/// \file
/// Private to codegen/: the C prelude every generated file starts with —
/// typedefs and helper functions that give each Loop IR op exactly the
/// meaning the reference interpreter gives it (NaN rules, integer division
/// by zero, saturating casts, round half to even, 16-bit floats, Philox).
/// Generated code includes no headers.
// SPDX-License-Identifier: Apache-2.0
#pragma once

namespace kiln::codegen {

inline const char *kCPrelude = R"KILN(
typedef signed char kiln_i8;
typedef int kiln_i32;
typedef long long kiln_i64;
typedef unsigned char kiln_u8;
typedef unsigned short kiln_u16;
typedef unsigned int kiln_u32;
typedef unsigned long long kiln_u64;
int omp_get_thread_num(void);
int omp_get_num_threads(void);

static inline float kiln_h2f(kiln_u16 h) {
  kiln_u32 sign = (kiln_u32)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  float r;
  if (e == 0) {
    r = (float)m * 5.9604644775390625e-08f;
    return sign ? -r : r;
  }
  kiln_u32 x = e == 31 ? (0x7f800000u | (m << 13)) : (((e - 15 + 127) << 23) | (m << 13));
  x |= sign;
  __builtin_memcpy(&r, &x, 4);
  return r;
}
static inline kiln_u16 kiln_f2h(float f) {
  kiln_u32 x;
  __builtin_memcpy(&x, &f, 4);
  kiln_u32 sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
  if (a > 0x7f800000u) return (kiln_u16)(sign | 0x7e00u);
  if (a >= 0x477ff000u) return (kiln_u16)(sign | 0x7c00u);
  if (a < 0x38800000u) {
    float v;
    __builtin_memcpy(&v, &a, 4);
    return (kiln_u16)(sign | (kiln_u32)__builtin_rintf(v * 16777216.0f));
  }
  kiln_u32 h = (((a >> 23) - 112) << 10) | ((a & 0x7fffffu) >> 13), rest = a & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;
  return (kiln_u16)(sign | h);
}
static inline float kiln_bf2f(kiln_u16 b) {
  kiln_u32 x = (kiln_u32)b << 16;
  float r;
  __builtin_memcpy(&r, &x, 4);
  return r;
}
static inline kiln_u16 kiln_f2bf(float f) {
  kiln_u32 x;
  __builtin_memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (kiln_u16)((x >> 16) | 0x40u);
  x += 0x7fffu + ((x >> 16) & 1u);
  return (kiln_u16)(x >> 16);
}
static inline float kiln_maxf(float a, float b) { return (a != a || b != b) ? __builtin_nanf("") : (a > b ? a : b); }
static inline float kiln_minf(float a, float b) { return (a != a || b != b) ? __builtin_nanf("") : (a < b ? a : b); }
static inline double kiln_maxd(double a, double b) { return (a != a || b != b) ? __builtin_nan("") : (a > b ? a : b); }
static inline double kiln_mind(double a, double b) { return (a != a || b != b) ? __builtin_nan("") : (a < b ? a : b); }
static inline kiln_i64 kiln_maxi(kiln_i64 a, kiln_i64 b) { return a > b ? a : b; }
static inline kiln_i64 kiln_mini(kiln_i64 a, kiln_i64 b) { return a < b ? a : b; }
static inline float kiln_reluf(float x) { return x > 0.0f ? x : (x != x ? x : 0.0f); }
static inline double kiln_relud(double x) { return x > 0.0 ? x : (x != x ? x : 0.0); }
static inline float kiln_signf(float x) { return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x); }
static inline double kiln_signd(double x) { return x > 0.0 ? 1.0 : (x < 0.0 ? -1.0 : x); }
static inline kiln_i64 kiln_signi(kiln_i64 x) { return x > 0 ? 1 : (x < 0 ? -1 : 0); }
static inline kiln_i64 kiln_divi(kiln_i64 a, kiln_i64 b) {
  return b == 0 ? 0 : (b == -1 ? (kiln_i64)(0ull - (kiln_u64)a) : a / b);
}
static inline kiln_i64 kiln_powi(kiln_i64 a, kiln_i64 b) {
  if (b < 0) return a == 1 ? 1 : (a == -1 ? ((b & 1) ? -1 : 1) : 0);
  kiln_u64 r = 1, base = (kiln_u64)a;
  for (; b; b >>= 1, base *= base)
    if (b & 1) r *= base;
  return (kiln_i64)r;
}
static inline kiln_i64 kiln_f2i(double v, double lo, double hi) {
  if (v != v) return 0;
  if (v >= hi) return (kiln_i64)hi;
  if (v <= lo) return (kiln_i64)lo;
  return (kiln_i64)v;
}
static inline kiln_i64 kiln_f2i64(double v) {
  if (v != v) return 0;
  if (v >= 9.2233720368547758e18) return 0x7fffffffffffffffll;
  if (v <= -9.2233720368547758e18) return (kiln_i64)(-0x7fffffffffffffffll - 1);
  return (kiln_i64)v;
}
static inline void kiln_philox(kiln_u64 seed, kiln_u64 block, kiln_u64 offset, kiln_u32 out[4]) {
  kiln_u32 c0 = (kiln_u32)block, c1 = (kiln_u32)(block >> 32), c2 = (kiln_u32)offset,
           c3 = (kiln_u32)(offset >> 32), k0 = (kiln_u32)seed, k1 = (kiln_u32)(seed >> 32);
  for (int r = 0; r < 10; ++r) {
    if (r > 0) { k0 += 0x9E3779B9u; k1 += 0xBB67AE85u; }
    kiln_u64 p0 = (kiln_u64)0xD2511F53u * c0, p1 = (kiln_u64)0xCD9E8D57u * c2;
    kiln_u32 n0 = (kiln_u32)(p1 >> 32) ^ c1 ^ k0, n1 = (kiln_u32)p1;
    kiln_u32 n2 = (kiln_u32)(p0 >> 32) ^ c3 ^ k1, n3 = (kiln_u32)p0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}
static inline double kiln_uniform(kiln_i64 seed, kiln_i64 offset, kiln_i64 i) {
  kiln_u32 w[4];
  kiln_philox((kiln_u64)seed, (kiln_u64)i / 4, (kiln_u64)offset, w);
  return (double)(w[i % 4] >> 8) * (1.0 / 16777216.0);
}
static inline double kiln_normal(kiln_i64 seed, kiln_i64 offset, kiln_i64 i) {
  kiln_u32 w[4];
  kiln_philox((kiln_u64)seed, (kiln_u64)i / 2, (kiln_u64)offset, w);
  int lane = 2 * (int)(i % 2);
  double u1 = (double)((w[lane] >> 8) + 1) * (1.0 / 16777216.0);
  double u2 = (double)(w[lane + 1] >> 8) * (1.0 / 16777216.0);
  return __builtin_sqrt(-2.0 * __builtin_log(u1)) * __builtin_cos(6.283185307179586476925 * u2);
}
/* exp, tanh and sigmoid in f32 without libm, so that loops over them
   vectorize (LLVM 14 emits scalar calls for __builtin_expf): Cephes'
   polynomials, about 2 ulp. 2^n is applied in two halves so that results
   down to the subnormal range stay exact. */
static inline float kiln_pow2i(int n) {
  kiln_u32 b = (kiln_u32)(n + 127) << 23;
  float f;
  __builtin_memcpy(&f, &b, 4);
  return f;
}
static inline float kiln_expf(float x) {
  /* Below -103.97 the result is 0: compute exp(0) there instead of a
     subnormal product (a microcode assist per element on x86: masked
     attention scores, exp(-inf), ran 8x slower). */
  float xc = x < -103.972076416f ? 0.0f : (x > 88.8f ? 88.8f : x);
  float n = __builtin_rintf(xc * 1.44269504088896341f);
  float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
  float p = (((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r +
              4.1665795894e-2f) * r + 1.6666665459e-1f) * r + 5.0000001201e-1f) * (r * r) +
            r + 1.0f;
  int ni = (int)n, h = ni >> 1;
  float res = p * kiln_pow2i(h) * kiln_pow2i(ni - h);
  res = x > 88.72283935546875f ? __builtin_inff() : res;
  res = x < -103.972076416f ? 0.0f : res;
  return x != x ? x : res;
}
static inline float kiln_tanhf(float x) {
  float a = __builtin_fabsf(x), z = x * x;
  float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                  1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
  float big = 1.0f - 2.0f / (kiln_expf(2.0f * a) + 1.0f);
  big = x < 0.0f ? -big : big;
  return a < 0.625f ? small : big;
}
static inline float kiln_sigmoidf(float x) { return 1.0f / (1.0f + kiln_expf(-x)); }
)KILN";

} // namespace kiln::codegen
