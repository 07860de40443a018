/// \file
/// The CUDA dialect of the C-family printer: a Loop IR program -> one CUDA
/// C++ translation unit of `extern "C" __global__` kernels (for NVRTC; no
/// #includes) and the launch list that runs it. Every statement at the top
/// of a Loop IR kernel becomes one launch; launches run in order on one
/// stream, so each is a barrier for the next. How a statement maps to the
/// grid (docs/cuda.md):
///  - a perfect loop nest whose iterations are independent (no stored
///    buffer is loaded in it, every store's index names every loop
///    variable and reads no memory): flattened, one thread per element, a
///    grid-stride loop; 4 (or 2) consecutive elements per thread with
///    vector loads and stores where contiguous and aligned (CudaRows.h);
///  - a parallel loop whose body is made of reductions (`acc = acc op e`
///    with op one of add, max, min and an identity initializer) and
///    independent loops: one block per iteration, the reductions combined
///    with warp shuffles and shared memory, the loops split over the
///    block's threads (loads repeated by several statements read once
///    into registers; rows contiguous in memory 8 to a block; few long
///    rows split over blocks through the scratch area); top-level
///    reductions (a full reduction to a scalar) run as one such block;
///  - another parallel loop: one thread per iteration;
///  - Gemm and Conv2d micro-kernel nodes: shared-memory tiled,
///    register-blocked contractions with the fused epilogue (CudaGemm.cpp),
///    on tensor cores (mma.sync, CudaMma.cpp) for f16/bf16 operands and,
///    when allowed, TF32;
///  - anything else: one thread, exactly as the CPU runs it.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/LoopIR.h"

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::codegen {

/// One kernel launch: `kernel<<<grid, block>>>(buffers...)`.
struct CudaLaunch {
  std::string kernel; ///< the extern "C" __global__ function
  int64_t grid = 1;   ///< blocks (x); z = grid_z
  int64_t grid_y = 1, grid_z = 1;
  int block = 1; ///< threads per block
  /// The kernel's parameters: device pointers to these buffers, in order.
  std::vector<int> buffers;
  /// The Loop IR kernel it belongs to and how it is mapped ("k3: row
  /// reduction, block per row"), for profiles and messages.
  std::string what;
};

struct CudaProgram {
  std::string source;
  std::vector<CudaLaunch> launches; ///< in order
  /// Device memory the launches need beyond the program's buffers (split-K
  /// partial sums), placed after the arena at cuda_scratch_offset(p); a
  /// launch names it as buffer index p.buffers.size().
  int64_t scratch_bytes = 0;
};

/// What the kernels may use of the target GPU.
struct CudaEmitOptions {
  /// The compute capability the source is for (86 = sm_86; a list of
  /// archs: the lowest). Tensor-core (mma.sync) contractions need 80.
  int sm = 80;
  /// f32 contractions on tensor cores with TF32 operands (10-bit mantissa;
  /// CompileOptions::allow_tf32). Off: f32 stays exact f32 (SIMT).
  bool tf32 = false;
  /// A block-per-row reduction with few rows is split over several blocks
  /// (two launches) only from this many elements in all: below it the
  /// second launch costs more than the idle SMs (tests lower it).
  int64_t split_rows_min = int64_t(1) << 18;
};

/// The byte offset of the scratch area in the arena's device allocation
/// (p.arena_bytes rounded up to 256); the allocation is that plus
/// CudaProgram::scratch_bytes.
int64_t cuda_scratch_offset(const loop::Program &p);

/// The CUDA C++ of \p p: kernels named `<entry>_<kernel>_<n>` and their
/// launches. Update copies (p.updates) are not included: the runtime does
/// them as device-to-device copies after the launches.
CudaProgram emit_cuda(const loop::Program &p, const std::string &entry,
                      const CudaEmitOptions &options = {});

/// emit_cuda's source followed by its launches as comments (grid, block and
/// mapping of each), for reading: kiln-opt --emit=cuda, kiln-run --emit-cuda.
std::string cuda_listing(const loop::Program &p, const std::string &entry,
                         const CudaEmitOptions &options = {});

} // namespace kiln::codegen
