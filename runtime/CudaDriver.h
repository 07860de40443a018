/// \file
/// Private to runtime/: the CUDA driver API, loaded at run time with
/// dlopen("libcuda.so.1") — kiln never links -lcuda, so it builds and runs
/// on machines without a GPU or driver, and asking for the GPU there fails
/// with a clear kiln::Error. The function types come from the toolkit's
/// cuda.h (a header only), so every call is type-checked at build time.
/// Only built with the CUDA toolkit (KILN_HAVE_CUDA).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cuda.h>

#include <string>

namespace kiln::cuda {

/// The driver entry points kiln uses (exact exported symbol names).
struct Driver {
#define KILN_CU_FN(name) decltype(&::name) name = nullptr;
#include "runtime/CudaDriverFns.def"
#undef KILN_CU_FN
};

/// The process's driver, loaded and initialized (cuInit) once. Throws
/// kiln::Error "no CUDA driver: libcuda.so.1 not found ..." when the
/// library is missing, or names the failing call (e.g. cuInit:
/// CUDA_ERROR_NO_DEVICE) when the driver cannot start.
const Driver &driver();

/// True when driver() would succeed and at least one device exists; else
/// false with the reason in \p why (never throws).
bool available(std::string *why = nullptr);

/// Throws kiln::Error "CALL: CUDA_ERROR_NAME (description)" unless \p r is
/// CUDA_SUCCESS.
void check(CUresult r, const char *call);

} // namespace kiln::cuda
