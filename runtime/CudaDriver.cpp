/// \file
/// Loading the CUDA driver with dlopen (CudaDriver.h).
// SPDX-License-Identifier: Apache-2.0
#ifdef KILN_HAVE_CUDA
#include "runtime/CudaDriver.h"

#include "ir/Error.h"

#include <dlfcn.h>

namespace kiln::cuda {
namespace {

/// Loads libcuda.so.1 and every symbol, then cuInit(0); the outcome (a
/// driver or an error message) is computed once per process.
struct Loaded {
  Driver d;
  std::string error;

  Loaded() {
    void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char *why = dlerror();
      error = std::string("no CUDA driver: libcuda.so.1 not found (") +
              (why ? why : "dlopen failed") +
              "); install the NVIDIA driver, or compile for target cpu";
      return;
    }
#define KILN_CU_FN(name)                                                       \
  d.name = reinterpret_cast<decltype(&::name)>(dlsym(h, #name));               \
  if (!d.name) {                                                               \
    error = "the CUDA driver in libcuda.so.1 lacks " #name                     \
            ": update the NVIDIA driver";                                      \
    return;                                                                    \
  }
#include "runtime/CudaDriverFns.def"
#undef KILN_CU_FN
    CUresult r = d.cuInit(0);
    if (r != CUDA_SUCCESS) {
      error = describe(r, "cuInit");
      return;
    }
    int count = 0;
    r = d.cuDeviceGetCount(&count);
    if (r != CUDA_SUCCESS)
      error = describe(r, "cuDeviceGetCount");
    else if (count == 0)
      error = "no CUDA device: the driver found no GPU";
  }

  std::string describe(CUresult r, const char *call) const {
    const char *name = nullptr, *text = nullptr;
    if (d.cuGetErrorName)
      d.cuGetErrorName(r, &name);
    if (d.cuGetErrorString)
      d.cuGetErrorString(r, &text);
    std::string s = std::string(call) + ": " +
                    (name ? name : "CUDA error " + std::to_string(int(r)));
    if (text)
      s += std::string(" (") + text + ")";
    return s;
  }
};

const Loaded &loaded() {
  static const Loaded l;
  return l;
}

} // namespace

const Driver &driver() {
  const Loaded &l = loaded();
  if (!l.error.empty())
    throw Error(l.error);
  return l.d;
}

bool available(std::string *why) {
  const Loaded &l = loaded();
  if (why)
    *why = l.error;
  return l.error.empty();
}

void check(CUresult r, const char *call) {
  if (r != CUDA_SUCCESS)
    throw Error(loaded().describe(r, call));
}

} // namespace kiln::cuda

#endif
