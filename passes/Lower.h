/// \file
/// lower: Graph IR function -> Loop IR program, deciding fusion on the way.
///
/// Fusion is inlining (DESIGN.md "Views, fusion and kernels"):
///  1. Every value is either materialized (it gets a buffer and a kernel
///     computes it) or inlined into the expressions of its consumers.
///     Materialized: parameters, results, constants with element lists,
///     reductions, contractions and opaque ops (pooling, scatter,
///     transposed convolution), operands of contractions and opaque ops that
///     are not views of a materialized value, and values with several uses
///     that are not cheap to recompute (views, constants and iota are).
///  2. Elementwise and injective ops (unary, binary, select, cast, reshape,
///     transpose, broadcast_to, slice, pad, concat, gather, one_hot, iota,
///     random) are index maps and scalar expressions: inlined, never copied.
///  3. A contraction (matmul, conv2d) whose only use starts a chain of
///     single-use same-shape elementwise ops takes the chain as its
///     epilogue: one kernel stores epilogue(acc) per output element.
///  4. A reduction takes its inlined producers as its prologue.
/// Each materialized value becomes one kernel, in the function's order.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"
#include "ir/LoopIR.h"

namespace kiln {

struct LowerOptions {
  /// false: every node gets its own buffer and kernel (the unfused program,
  /// to check that fusion changes no value).
  bool fuse = true;
  /// Contractions as micro-kernel nodes: matmuls (Gemm) whose operands are
  /// strided views of buffers, f32 conv2d (Conv2d) whose operands are
  /// contiguous buffers; false: plain loop nests.
  bool use_gemm = true;
  /// Smaller matmuls (m*n*k) stay plain loop nests: a packed kernel is
  /// about 150 lines of C, which costs compile time that small products
  /// never pay back.
  int64_t gemm_min_work = 64 * 64 * 64;
  /// f16 and bf16 matmuls become Gemm nodes too (accumulated in f32 and
  /// rounded once to the result dtype before the epilogue, as the loop
  /// nest does; C may be f32 when the epilogue casts). Only the CUDA target
  /// sets it (tensor-core kernels, codegen/CudaMma.cpp); the CPU's
  /// micro-kernels are f32/f64 only.
  bool half_gemm = false;
  /// Smaller f32 convolutions (output elements times C/groups*KH*KW) stay
  /// direct loop nests instead of implicit-GEMM Conv2d nodes (use_gemm).
  int64_t conv_min_work = 64 * 64 * 64;
  /// Loops with fewer iterations (times the work inside) than this run on
  /// one thread.
  int64_t parallel_threshold = 32768;
  /// Place Temp buffers with plan_memory (passes/PlanMemory.h), reusing
  /// dead buffers' bytes; false: one arena slot per buffer.
  bool plan_memory = true;
  /// Verify the arena plan with check_memory (always on in builds without
  /// NDEBUG and under $KILN_CHECK_MEMORY=1).
  bool check_memory = false;
  /// The last this many results of the function are probes (CompileOptions
  /// ::probes, docs/debugging.md): each gets an output buffer, and one not
  /// otherwise materialized is computed by a kernel of its own, so fusion
  /// and every other kernel stay exactly as without the probes.
  int probe_results = 0;
  /// Declare costly loop-invariant subexpressions once before their loop
  /// nest (passes/LowerHoist.cpp); the CUDA target turns it off (a kernel
  /// with top-level scalars runs on one thread there).
  bool hoist_invariants = true;
  /// Reductions over leading axes, and scatter_add, sweep the rows into a
  /// block of output columns (passes/LowerColumns.cpp, LowerScatter.cpp);
  /// the CUDA target turns it off (one thread per column suits it).
  bool column_reductions = true;
  /// Reductions along the last axis accumulate in 16 interleaved partial
  /// results (vectorized; the sum's rounding order differs from the
  /// interpreter's sequential one); the CUDA target turns it off.
  bool lane_reductions = true;
};

/// Lowers \p f. Throws kiln::Error when an op cannot be lowered.
loop::Program lower(const Function &f, const LowerOptions &options = {});

} // namespace kiln
