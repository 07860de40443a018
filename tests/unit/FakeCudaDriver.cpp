/// \file
/// A fake CUDA driver for tests on machines without a GPU (AotCudaTest):
/// built at test time as libcuda.so.1 and found by dlopen through
/// LD_LIBRARY_PATH, it implements the driver entry points that a kilnc
/// --target cuda object calls, with cuda.h's exact prototypes, over host
/// memory. A launch runs the kernel in the CUDA emulator's library
/// (CudaEmulator.h build_emulator) named by $KILN_FAKE_CUDA_KERNELS. The
/// device's compute capability is $KILN_FAKE_CUDA_CC (default 90). It
/// checks what a driver would reject: a CUBIN (CUDA ELF) of another major
/// arch or a newer minor one, PTX for a newer arch, kernel names the image
/// lacks, copies outside an allocation,
/// frees of unknown pointers, unbalanced context pushes and pops; and at
/// exit prints "fake-cuda: ..." counts on stderr for the test to check
/// that everything was released.
// SPDX-License-Identifier: Apache-2.0
#include <cuda.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <map>
#include <string>
#include <vector>

namespace {

struct State {
  std::map<char *, size_t> allocs; ///< base -> bytes
  std::vector<CUcontext> stack;
  std::map<std::string, std::string> images; ///< module -> image bytes
  void *kernels = nullptr;
  int (*launch)(const char *, void **, unsigned *, unsigned) = nullptr;
  int (*arity)(const char *) = nullptr;
  long retains = 0, loads = 0, launches = 0;
  bool initialized = false;
  std::string loaded = "none"; ///< the arch of the last image loaded
  ~State() {
    std::fprintf(stderr,
                 "fake-cuda: image %s, %ld launches, %zu allocations left, "
                 "%zu contexts pushed, %ld retained, %zu modules loaded\n",
                 loaded.c_str(), launches, allocs.size(), stack.size(), retains,
                 images.size());
  }
};
State &st() {
  static State s;
  return s;
}
int ctx_token;

/// The device's compute capability, e.g. 90.
int device_cc() {
  const char *e = std::getenv("KILN_FAKE_CUDA_CC");
  return e ? std::atoi(e) : 90;
}

/// Whether [p, p+n) lies inside one allocation.
bool inside(CUdeviceptr p, size_t n) {
  char *c = reinterpret_cast<char *>(p);
  auto it = st().allocs.upper_bound(c);
  if (it == st().allocs.begin())
    return false;
  --it;
  return c >= it->first && c + n <= it->first + it->second;
}

CUresult ready() {
  if (!st().initialized)
    return CUDA_ERROR_NOT_INITIALIZED;
  return st().stack.empty() ? CUDA_ERROR_INVALID_CONTEXT : CUDA_SUCCESS;
}

} // namespace

extern "C" {

CUresult cuInit(unsigned flags) {
  if (flags != 0)
    return CUDA_ERROR_INVALID_VALUE;
  st().initialized = true;
  return CUDA_SUCCESS;
}

CUresult cuGetErrorName(CUresult e, const char **s) {
  switch (e) {
  case CUDA_ERROR_INVALID_VALUE:
    *s = "CUDA_ERROR_INVALID_VALUE";
    return CUDA_SUCCESS;
  case CUDA_ERROR_INVALID_IMAGE:
    *s = "CUDA_ERROR_INVALID_IMAGE";
    return CUDA_SUCCESS;
  case CUDA_ERROR_NOT_FOUND:
    *s = "CUDA_ERROR_NOT_FOUND";
    return CUDA_SUCCESS;
  default:
    *s = "CUDA_ERROR_(fake)";
    return CUDA_SUCCESS;
  }
}

CUresult cuDeviceGetCount(int *n) {
  *n = st().initialized ? 1 : 0;
  return st().initialized ? CUDA_SUCCESS : CUDA_ERROR_NOT_INITIALIZED;
}

CUresult cuDeviceGet(CUdevice *d, int ordinal) {
  if (ordinal != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  *d = 0;
  return CUDA_SUCCESS;
}

CUresult cuDeviceGetAttribute(int *v, CUdevice_attribute a, CUdevice d) {
  if (d != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  if (a == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR)
    *v = device_cc() / 10;
  else if (a == CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR)
    *v = device_cc() % 10;
  else
    return CUDA_ERROR_INVALID_VALUE;
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRetain(CUcontext *c, CUdevice d) {
  if (d != 0)
    return CUDA_ERROR_INVALID_DEVICE;
  *c = reinterpret_cast<CUcontext>(&ctx_token);
  ++st().retains;
  return CUDA_SUCCESS;
}

CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) {
  if (d != 0 || st().retains == 0)
    return CUDA_ERROR_INVALID_CONTEXT;
  --st().retains;
  return CUDA_SUCCESS;
}

CUresult cuCtxPushCurrent_v2(CUcontext c) {
  if (c != reinterpret_cast<CUcontext>(&ctx_token))
    return CUDA_ERROR_INVALID_CONTEXT;
  st().stack.push_back(c);
  return CUDA_SUCCESS;
}

CUresult cuCtxPopCurrent_v2(CUcontext *c) {
  if (st().stack.empty())
    return CUDA_ERROR_INVALID_CONTEXT;
  if (c)
    *c = st().stack.back();
  st().stack.pop_back();
  return CUDA_SUCCESS;
}

CUresult cuModuleLoadData(CUmodule *m, const void *image) {
  if (CUresult r = ready())
    return r;
  // A CUDA ELF (e_machine 190) whose e_flags name the arch (in the low
  // byte, or the next one in newer toolkits), or PTX text.
  const unsigned char *e = static_cast<const unsigned char *>(image);
  const char *text = static_cast<const char *>(image);
  int cc = device_cc();
  size_t bytes = 0;
  if (std::memcmp(e,
                  "\x7f"
                  "ELF",
                  4) == 0) {
    int arch = e[48] >= 50 ? e[48] : e[49];
    if (e[4] != 2 || e[18] != 190 || arch / 10 != cc / 10 || arch > cc)
      return CUDA_ERROR_NO_BINARY_FOR_GPU;
    uint64_t shoff = 0;
    uint16_t shentsize = 0, shnum = 0;
    std::memcpy(&shoff, e + 40, 8);
    std::memcpy(&shentsize, e + 58, 2);
    std::memcpy(&shnum, e + 60, 2);
    bytes = size_t(shoff) + size_t(shentsize) * shnum;
    st().loaded = "sm_" + std::to_string(arch);
  } else {
    const char *target = std::strstr(text, ".target sm_");
    if (!target || !std::strstr(text, ".version"))
      return CUDA_ERROR_INVALID_IMAGE;
    int arch = std::atoi(target + 11);
    if (arch > cc)
      return CUDA_ERROR_UNSUPPORTED_PTX_VERSION;
    bytes = std::strlen(text) + 1;
    st().loaded = "compute_" + std::to_string(arch);
  }
  const char *path = std::getenv("KILN_FAKE_CUDA_KERNELS");
  if (!path || !(st().kernels = dlopen(path, RTLD_NOW | RTLD_LOCAL)))
    return CUDA_ERROR_FILE_NOT_FOUND;
  st().launch =
      reinterpret_cast<int (*)(const char *, void **, unsigned *, unsigned)>(
          dlsym(st().kernels, "kiln_emulate_launch"));
  st().arity = reinterpret_cast<int (*)(const char *)>(
      dlsym(st().kernels, "kiln_kernel_arity"));
  std::string key = std::to_string(++st().loads);
  st().images[key].assign(static_cast<const char *>(image), bytes);
  *m = reinterpret_cast<CUmodule>(new std::string(key));
  return st().launch && st().arity ? CUDA_SUCCESS : CUDA_ERROR_NOT_FOUND;
}

CUresult cuModuleUnload(CUmodule m) {
  auto *key = reinterpret_cast<std::string *>(m);
  if (!st().images.erase(*key))
    return CUDA_ERROR_INVALID_HANDLE;
  delete key;
  return CUDA_SUCCESS;
}

CUresult cuModuleGetFunction(CUfunction *f, CUmodule m, const char *name) {
  if (CUresult r = ready())
    return r;
  const std::string &image =
      st().images.at(*reinterpret_cast<std::string *>(m));
  // The name, NUL-terminated, in a CUBIN's string tables, or a PTX entry.
  if (image.find(std::string(name) + '\0') == std::string::npos &&
      image.find(".entry " + std::string(name) + "(") == std::string::npos)
    return CUDA_ERROR_NOT_FOUND;
  *f = reinterpret_cast<CUfunction>(new std::string(name));
  return CUDA_SUCCESS;
}

CUresult cuMemAlloc_v2(CUdeviceptr *p, size_t n) {
  if (CUresult r = ready())
    return r;
  if (n == 0)
    return CUDA_ERROR_INVALID_VALUE;
  char *c = static_cast<char *>(std::aligned_alloc(256, (n + 255) / 256 * 256));
  std::memset(c, 0xa5, n); // not zeros: the caller must clear what it reads
  st().allocs[c] = n;
  *p = reinterpret_cast<CUdeviceptr>(c);
  return CUDA_SUCCESS;
}

CUresult cuMemFree_v2(CUdeviceptr p) {
  char *c = reinterpret_cast<char *>(p);
  if (!st().allocs.erase(c))
    return CUDA_ERROR_INVALID_VALUE;
  std::free(c);
  return CUDA_SUCCESS;
}

CUresult cuMemsetD8_v2(CUdeviceptr p, unsigned char v, size_t n) {
  if (CUresult r = ready())
    return r;
  if (!inside(p, n))
    return CUDA_ERROR_INVALID_VALUE;
  std::memset(reinterpret_cast<void *>(p), v, n);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr to, const void *from, size_t n) {
  if (CUresult r = ready())
    return r;
  if (!inside(to, n))
    return CUDA_ERROR_INVALID_VALUE;
  std::memcpy(reinterpret_cast<void *>(to), from, n);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyDtoH_v2(void *to, CUdeviceptr from, size_t n) {
  if (CUresult r = ready())
    return r;
  if (!inside(from, n))
    return CUDA_ERROR_INVALID_VALUE;
  std::memcpy(to, reinterpret_cast<const void *>(from), n);
  return CUDA_SUCCESS;
}

CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr to, const void *from, size_t n,
                              CUstream) {
  return cuMemcpyHtoD_v2(to, from, n);
}

CUresult cuMemcpyDtoHAsync_v2(void *to, CUdeviceptr from, size_t n, CUstream) {
  return cuMemcpyDtoH_v2(to, from, n);
}

CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr to, CUdeviceptr from, size_t n,
                              CUstream) {
  if (CUresult r = ready())
    return r;
  if (!inside(to, n) || !inside(from, n))
    return CUDA_ERROR_INVALID_VALUE;
  std::memmove(reinterpret_cast<void *>(to),
               reinterpret_cast<const void *>(from), n);
  return CUDA_SUCCESS;
}

CUresult cuLaunchKernel(CUfunction f, unsigned gx, unsigned gy, unsigned gz,
                        unsigned bx, unsigned by, unsigned bz, unsigned shared,
                        CUstream, void **params, void **extra) {
  if (CUresult r = ready())
    return r;
  if (by != 1 || bz != 1 || shared != 0 || extra || bx == 0 || bx > 1024 ||
      gx == 0 || gy == 0 || gz == 0)
    return CUDA_ERROR_INVALID_VALUE;
  // kiln's kernels take device pointers only; each must be in an allocation.
  const std::string &name = *reinterpret_cast<std::string *>(f);
  int n = st().arity(name.c_str());
  if (n < 0 || (n > 0 && !params))
    return CUDA_ERROR_NOT_FOUND;
  std::vector<void *> args;
  for (int i = 0; i < n; ++i) {
    CUdeviceptr p = *static_cast<CUdeviceptr *>(params[i]);
    if (!inside(p, 1))
      return CUDA_ERROR_ILLEGAL_ADDRESS;
    args.push_back(reinterpret_cast<void *>(p));
  }
  unsigned grid[3] = {gx, gy, gz};
  ++st().launches;
  return st().launch(name.c_str(), args.data(), grid, bx) == 0
             ? CUDA_SUCCESS
             : CUDA_ERROR_NOT_FOUND;
}

CUresult cuStreamSynchronize(CUstream) { return ready(); }

} // extern "C"
