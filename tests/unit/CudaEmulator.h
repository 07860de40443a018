/// \file
/// A CUDA emulator for tests on machines without a GPU: the CUDA printer's
/// source is compiled as host C++ (g++, -O0: the programs are tiny) with a shim
/// that makes each CUDA thread of a block a std::thread (blocks run one after
/// another, so
/// `__shared__` becomes `static`), __syncthreads a barrier, and warp
/// shuffles an exchange through per-block slots (kiln's kernels call them
/// from block-uniform control flow). It runs the launch list over host
/// buffers laid out as the device runtime lays them out (the arena with the
/// memory plan's offsets, so in-place pairs alias), which checks the grid
/// mapping, the block reductions and the tiled contractions against the
/// interpreter. It does not check the driver calls or GPU performance.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "codegen/CudaPrinter.h"
#include "ir/Error.h"
#include "ir/Graph.h"
#include "ir/HostTensor.h"
#include "ir/LoopIR.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <unistd.h>
#include <vector>

namespace kiln::test {

inline const char *kCudaShim = R"SHIM(
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>
using std::isfinite;
/* A vector load or store (kiln_vload/kiln_vstore) at an address that is not
   a multiple of its size would fault on the GPU: stop with a message. */
#define KILN_CHECK_ALIGN(p, n) \
  do { \
    if (reinterpret_cast<unsigned long long>(p) % (n)) { \
      std::fprintf(stderr, "kiln CUDA emulator: misaligned %d-byte vector access at %p\n", int(n), (const void *)(p)); \
      std::abort(); \
    } \
  } while (0)
struct dim3 { unsigned x = 1, y = 1, z = 1; };
thread_local dim3 threadIdx, blockIdx;
static dim3 blockDim, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __launch_bounds__(n)
#define __align__(n) __attribute__((aligned(n)))
struct float4 { float x, y, z, w; };
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline float4 kiln_ld4(const float *p) { KILN_CHECK_ALIGN(p, 16); float4 v; std::memcpy(&v, p, 16); return v; }
inline void kiln_st4(float *p, float4 v) { KILN_CHECK_ALIGN(p, 16); std::memcpy(p, &v, 16); }
#define KILN_LD4(p) kiln_ld4(p)
#define KILN_ST4(p, v) kiln_st4(p, v)
struct kiln_barrier {
  std::mutex m; std::condition_variable cv; unsigned n = 0, waiting = 0, gen = 0;
  void wait() {
    std::unique_lock<std::mutex> l(m);
    unsigned g = gen;
    if (++waiting == n) { waiting = 0; ++gen; cv.notify_all(); return; }
    cv.wait(l, [&] { return gen != g; });
  }
};
static kiln_barrier kiln_bar;
static unsigned long long kiln_slots[1024];
inline void __syncthreads() { kiln_bar.wait(); }
template <class T> T kiln_exchange(T v, unsigned from) {
  unsigned long long s = 0;
  std::memcpy(&s, &v, sizeof v);
  kiln_bar.wait();
  kiln_slots[threadIdx.x] = s;
  kiln_bar.wait();
  s = kiln_slots[from];
  kiln_bar.wait();
  std::memcpy(&v, &s, sizeof v);
  return v;
}
template <class T> T __shfl_xor_sync(unsigned, T v, int o) { return kiln_exchange(v, threadIdx.x ^ unsigned(o)); }
template <class T> T __shfl_sync(unsigned, T v, int src) { return kiln_exchange(v, (threadIdx.x & ~31u) + unsigned(src)); }
inline float __int_as_float(int x) { float f; std::memcpy(&f, &x, 4); return f; }
inline float __uint_as_float(unsigned x) { float f; std::memcpy(&f, &x, 4); return f; }
inline unsigned __float_as_uint(float x) { unsigned u; std::memcpy(&u, &x, 4); return u; }
inline double __longlong_as_double(long long x) { double d; std::memcpy(&d, &x, 8); return d; }
inline unsigned __umulhi(unsigned a, unsigned b) { return unsigned(((unsigned long long)a * b) >> 32); }
/* Tensor cores: kiln_mma_* (codegen/CudaPrelude.h) as warp collectives.
   Every thread of the block calls them together (like the shuffles): each
   lane posts its fragment registers, then rebuilds the warp's whole A
   (16 x k) and B (k x 8) from the 32 lanes' registers by the PTX ISA's
   fragment layouts (groupID = lane >> 2, threadID_in_group = lane % 4;
   .f16x2 registers hold the lower element in the low half) and computes
   its own four accumulators c0..c3 by the accumulator layout. A kernel
   that indexes fragments wrongly computes wrong products here, as on the
   GPU. */
#define KILN_EMULATED_MMA 1
inline float kiln_h2f(unsigned short);
static unsigned kiln_mma_regs[1024][6];
template <class Elem> void kiln_mma(float *c, const unsigned *a, const unsigned *b, int k, Elem elem) {
  const unsigned self = threadIdx.x, warp = self & ~31u;
  kiln_bar.wait(); // every lane is done reading the previous mma's registers
  for (int r = 0; r < 4; ++r) kiln_mma_regs[self][r] = a[r];
  kiln_mma_regs[self][4] = b[0];
  kiln_mma_regs[self][5] = b[1];
  kiln_bar.wait();
  float A[16][16], B[16][8];
  for (int lane = 0; lane < 32; ++lane) {
    const unsigned *reg = kiln_mma_regs[warp + unsigned(lane)];
    const int g = lane >> 2, t = lane % 4;
    if (k == 16) { // m16n8k16 .f16/.bf16: a0..a7 in 4 registers, b0..b3 in 2
      for (int i = 0; i < 8; ++i)
        A[(i < 2 || (i >= 4 && i < 6)) ? g : g + 8][t * 2 + (i & 1) + (i >= 4 ? 8 : 0)] = elem(reg[i / 2], i & 1);
      for (int i = 0; i < 4; ++i)
        B[t * 2 + (i & 1) + (i >= 2 ? 8 : 0)][g] = elem(reg[4 + i / 2], i & 1);
    } else { // m16n8k8 .tf32: a0..a3 and b0, b1, one per register
      for (int i = 0; i < 4; ++i)
        A[(i == 0 || i == 2) ? g : g + 8][i < 2 ? t : t + 4] = elem(reg[i], 0);
      for (int i = 0; i < 2; ++i)
        B[i == 0 ? t : t + 4][g] = elem(reg[4 + i], 0);
    }
  }
  const int g = int(self & 31) >> 2, t = int(self & 31) % 4;
  for (int i = 0; i < 4; ++i) {
    const int row = i < 2 ? g : g + 8, col = t * 2 + (i & 1);
    float sum = c[i];
    for (int q = 0; q < k; ++q) sum += A[row][q] * B[q][col];
    c[i] = sum;
  }
}
/* ldmatrix.x4 as the PTX ISA gives it: threads 8q..8q+7 give the row
   addresses of matrix q; lane l receives, for each q, the 32 bits at
   word l % 4 of row l / 4 of matrix q. */
static const unsigned *kiln_ldsm_rows[1024];
inline void kiln_ldsm4(unsigned *r, const unsigned *p) {
  const unsigned self = threadIdx.x, warp = self & ~31u, lane = self & 31;
  kiln_bar.wait(); // every lane is done reading the previous addresses
  kiln_ldsm_rows[self] = p;
  kiln_bar.wait();
  for (unsigned q = 0; q < 4; ++q) r[q] = kiln_ldsm_rows[warp + q * 8 + lane / 4][lane % 4];
}
inline float kiln_mma_bits(unsigned x) { float f; std::memcpy(&f, &x, 4); return f; }
inline void kiln_mma_f16(float *c, const unsigned *a, const unsigned *b) {
  kiln_mma(c, a, b, 16, [](unsigned r, int h) { return kiln_h2f((unsigned short)(h ? r >> 16 : r & 0xffffu)); });
}
inline void kiln_mma_bf16(float *c, const unsigned *a, const unsigned *b) {
  kiln_mma(c, a, b, 16, [](unsigned r, int h) { return kiln_mma_bits(h ? r & 0xffff0000u : r << 16); });
}
inline void kiln_mma_tf32(float *c, const unsigned *a, const unsigned *b) {
  // The tensor core reads the upper 19 bits of each register.
  kiln_mma(c, a, b, 8, [](unsigned r, int) { return kiln_mma_bits(r & 0xffffe000u); });
}
)SHIM";

inline const char *kCudaLauncher = R"SHIM(
template <class A> A kiln_arg(void *p) { return reinterpret_cast<A>(p); }
template <class... A, size_t... I>
void kiln_call(void (*f)(A...), void **p, std::index_sequence<I...>) { f(kiln_arg<A>(p[I])...); }
template <class... A> void kiln_launch(void (*f)(A...), void **p, unsigned grid[3], unsigned block, int threads) {
  blockDim.x = block;
  gridDim.x = grid[0]; gridDim.y = grid[1]; gridDim.z = grid[2];
  kiln_bar.n = block;
  for (unsigned z = 0; z < grid[2]; ++z)
    for (unsigned y = 0; y < grid[1]; ++y)
      for (unsigned x = 0; x < grid[0]; ++x) {
        if (!threads) { // no barriers or shuffles: one thread after another
          blockIdx.x = x; blockIdx.y = y; blockIdx.z = z;
          for (unsigned t = 0; t < block; ++t) {
            threadIdx.x = t;
            kiln_call(f, p, std::index_sequence_for<A...>{});
          }
          continue;
        }
        std::vector<std::thread> ts;
        for (unsigned t = 0; t < block; ++t)
          ts.emplace_back([=] {
            blockIdx.x = x; blockIdx.y = y; blockIdx.z = z; threadIdx.x = t;
            kiln_call(f, p, std::index_sequence_for<A...>{});
          });
        for (auto &th : ts) th.join();
      }
}
)SHIM";

/// How the emulator runs a launch of \p l: its grid (grid-stride kernels
/// loop over what fewer blocks leave) and whether its threads need to run
/// concurrently (barriers, shuffles) or may run one after another.
inline void emulated_launch_mode(const codegen::CudaLaunch &l, bool &threads,
                                 int64_t &grid_cap) {
  bool rows = l.what.find(" per row") != std::string::npos;
  threads = l.what.find("block per row") != std::string::npos ||
            (!rows && l.what.find("one thread") == std::string::npos);
  grid_cap = rows ? 2 : INT64_MAX;
}

/// Compiles \p cp's kernels with the shim into the shared library
/// \p dir/k.so, which exports
///   int kiln_emulate(const char *kernel, void **args, unsigned *grid,
///                    unsigned block, int threads);
///   int kiln_emulate_launch(const char *kernel, void **args,
///                           unsigned *grid, unsigned block);
///   int kiln_kernel_arity(const char *kernel);
/// (the second chooses threads and the grid as emulated_launch_mode does;
/// both return nonzero for an unknown kernel; the third returns the
/// kernel's parameter count, -1 when unknown). False with \p error when it
/// does not compile.
inline bool build_emulator(const codegen::CudaProgram &cp,
                           const std::string &dir, std::string &error) {
  std::string src = std::string(kCudaShim) + cp.source + kCudaLauncher;
  std::set<std::string> names;
  std::string modes;
  for (const codegen::CudaLaunch &l : cp.launches) {
    if (!names.insert(l.kernel).second)
      continue;
    bool threads = false;
    int64_t cap = 0;
    emulated_launch_mode(l, threads, cap);
    modes += "  if (!std::strcmp(k, \"" + l.kernel +
             "\")) { threads = " + (threads ? "1" : "0") +
             "; cap = " + (cap == INT64_MAX ? "~0u" : std::to_string(cap)) +
             "; }\n";
  }
  src += "extern \"C\" int kiln_emulate(const char *k, void **p, unsigned "
         "*grid, unsigned block, int threads) {\n";
  for (const std::string &n : names)
    src += "  if (!std::strcmp(k, \"" + n + "\")) { kiln_launch(&" + n +
           ", p, grid, block, threads); return 0; }\n";
  src += "  return 1;\n}\ntemplate <class... A> int kiln_arity(void "
         "(*)(A...)) { return int(sizeof...(A)); }\nextern \"C\" int "
         "kiln_kernel_arity(const char *k) {\n";
  for (const std::string &n : names)
    src += "  if (!std::strcmp(k, \"" + n + "\")) return kiln_arity(&" + n +
           ");\n";
  src += "  return -1;\n}\n";
  src += "extern \"C\" int kiln_emulate_launch(const char *k, void **p, "
         "unsigned *grid, unsigned block) {\n  int threads = 1;\n  unsigned "
         "cap = ~0u;\n" +
         modes +
         "  unsigned g[3] = {grid[0] < cap ? grid[0] : cap, grid[1], "
         "grid[2]};\n  return kiln_emulate(k, p, g, block, threads);\n}\n";
  std::system(("mkdir -p " + dir).c_str());
  std::ofstream(dir + "/k.cpp") << src;
  std::string cmd = "c++ -std=c++17 -O0 -w -fPIC -shared -pthread -o " + dir +
                    "/k.so " + dir + "/k.cpp > " + dir + "/log 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream in(dir + "/log");
    error.assign(std::istreambuf_iterator<char>(in), {});
    return false;
  }
  return true;
}

/// Runs \p cp (printed from \p p) on the host. \p inputs, \p state and the
/// returned outputs follow the entry's argument order; \p state is
/// updated in place (the {updates} copies). Returns false with \p error
/// when the shim does not compile.
inline bool emulate_cuda(const loop::Program &p, const codegen::CudaProgram &cp,
                         const std::vector<HostTensor> &inputs,
                         std::vector<HostTensor> &state,
                         std::vector<HostTensor> &outputs, std::string &error) {
  // A fresh path each time: a library with thread_local state stays loaded
  // after dlclose, and dlopen of the same path would return it.
  static int serial = 0;
  std::string dir = "/tmp/kiln_emu_" + std::to_string(::getpid()) + "_" +
                    std::to_string(serial++);
  if (!build_emulator(cp, dir, error))
    return false;
  void *h = dlopen((dir + "/k.so").c_str(), RTLD_NOW | RTLD_LOCAL);
  KILN_CHECK(h) << dlerror();
  auto run = reinterpret_cast<int (*)(const char *, void **, unsigned *,
                                      unsigned, int)>(dlsym(h, "kiln_emulate"));
  KILN_CHECK(run) << "kiln_emulate";
  // The split-K scratch follows the arena, as on the device.
  int64_t scratch_at = codegen::cuda_scratch_offset(p);
  std::vector<unsigned char> arena(size_t(std::max<int64_t>(
      cp.scratch_bytes > 0 ? scratch_at + cp.scratch_bytes : p.arena_bytes,
      1)));
  std::vector<HostTensor> ins = inputs, consts(p.buffers.size());
  std::vector<void *> addr(p.buffers.size() + 1);
  addr.back() = arena.data() + scratch_at;
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    const loop::Buffer &buf = p.buffers[b];
    size_t i = size_t(std::max(buf.arg_index, 0));
    switch (buf.kind) {
    case loop::BufferKind::Input:
      addr[b] = ins[i].bytes();
      break;
    case loop::BufferKind::State:
      addr[b] = state[i].bytes();
      break;
    case loop::BufferKind::Output:
      addr[b] = outputs[i].bytes();
      break;
    case loop::BufferKind::Temp:
      addr[b] = arena.data() + buf.arena_offset;
      break;
    case loop::BufferKind::Constant:
      consts[b] = buf.data;
      addr[b] = consts[b].bytes();
      break;
    }
  }
  for (const codegen::CudaLaunch &l : cp.launches) {
    std::vector<void *> args;
    for (int b : l.buffers)
      args.push_back(addr[size_t(b)]);
    bool threads = false;
    int64_t cap = 0;
    emulated_launch_mode(l, threads, cap);
    unsigned grid[3] = {unsigned(std::min(l.grid, cap)), unsigned(l.grid_y),
                        unsigned(l.grid_z)};
    KILN_CHECK(run(l.kernel.c_str(), args.data(), grid, unsigned(l.block),
                   threads) == 0)
        << l.kernel;
  }
  for (const loop::UpdateCopy &u : p.updates)
    std::memmove(addr[size_t(u.to)], addr[size_t(u.from)],
                 size_t(p.buffers[size_t(u.to)].bytes()));
  dlclose(h);
  std::system(("rm -rf " + dir).c_str());
  return true;
}

/// Lowers \p f for Cuda (fused or not), emulates it on \p args (one per
/// parameter) and compares every result, and every updated param and
/// state, with the interpreter's (relative norm-wise error \p tol); returns
/// the CUDA program it ran (CudaEmulatorTest.cpp).
codegen::CudaProgram check_emulated(const Function &f,
                                    const std::vector<HostTensor> &args,
                                    bool fuse, double tol,
                                    const std::string &what,
                                    const codegen::CudaEmitOptions &eo = {});

/// NVRTC's verdict on \p source for \p arch: "" when it compiles with an
/// empty log, else the error or the warnings (CudaCodegenTest.cpp).
std::string nvrtc_verdict(const std::string &source, const std::string &arch,
                          const std::vector<std::string> &flags);

} // namespace kiln::test
