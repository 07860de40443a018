/// \file
/// kiln::compile: the pipeline from a Graph IR function to an Executable —
/// canonicalize, remat, lower (fusion), and a device's compiler (DESIGN.md).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"
#include "passes/DataParallel.h"
#include "passes/Lower.h"
#include "passes/Remat.h"
#include "runtime/Executable.h"

#include <memory>

namespace kiln {

/// Distributed training (docs/distributed.md).
struct DistributedOptions {
  /// Data parallel: every rank runs the step on its shard of the batch and
  /// the gradients are all-reduced across ranks before the update
  /// (passes/DataParallel.h; the step must name its gradients `grad.NAME`,
  /// as train_step does). At compile time the ranks check that they
  /// compiled the same program; before the first run each rank takes the
  /// params of rank 0. One process without mpirun is one rank.
  bool data_parallel = false;
  /// Buckets and averaging (average: a mean loss over the whole batch).
  DataParallelOptions buckets;
  /// Seconds any wait on another rank may take (0: runtime/Comm.h's
  /// default, $KILN_COMM_TIMEOUT or 60).
  double timeout_s = 0;
};

struct CompileOptions {
  enum class Target { Cpu, Cuda };
  /// Cuda: NVRTC and the driver API (runtime/CudaDevice.h); without a
  /// driver or GPU, compile throws "no CUDA driver ..." / "no CUDA device".
  Target target = Target::Cpu;
  /// The CUDA device ordinal (Target::Cuda).
  int device = 0;
  /// Target::Cuda on sm_80 and newer: f32 matmuls and convolutions run on
  /// tensor cores with TF32 operands (inputs rounded to 10 mantissa bits,
  /// f32 accumulation; like torch.backends.cuda.matmul.allow_tf32), about
  /// 1e-3 relative error instead of f32's. Off by default. f16/bf16
  /// matmuls always use tensor cores there (docs/cuda.md).
  bool allow_tf32 = false;
  /// OpenMP threads (0: all cores).
  int threads = 0;
  /// Run canonicalize before lowering.
  bool canonicalize = true;
  /// Rematerialization of a training step, after canonicalize and before
  /// lowering: RematPolicy::none() (the default), sqrt_n() or
  /// budget(bytes) (passes/Remat.h, docs/remat.md).
  RematPolicy remat;
  /// Fusion and contraction choices (LowerOptions::fuse = false compiles
  /// every node as its own kernel).
  LowerOptions lower;
  /// Use the on-disk compile cache.
  bool use_cache = true;

  // Debugging (docs/debugging.md); each is off by default and costs nothing
  // when off.
  /// Values to return as extra results, after the regular ones, in this
  /// order: "%h", "%3" (the printer's number) or a C++ API name such as
  /// "blocks.0.attn.scores". Names refer to the function as given (before
  /// canonicalize). Fusion and every regular result stay bit-identical.
  std::vector<std::string> probes;
  /// Stop at the first kernel that writes a NaN or Inf: run() throws
  /// kiln::Error naming the kernel, its ops and their .kir locations.
  bool check_numerics = false;
  /// Time every kernel (Executable::debug().kernel_times).
  bool profile = false;
  /// Print a progress line on stderr when the compile passes one second.
  bool progress = false;
  DistributedOptions distributed;
};

/// \p base adjusted for \p target: for Cuda every independent outer loop
/// is marked parallel (the grid needs no minimum amount of work) and every
/// matmul and f32 convolution becomes a micro-kernel node.
LowerOptions lower_options_for(CompileOptions::Target target,
                               LowerOptions base);

/// Compiles \p f. The Executable's params and state start as zeros; set
/// them with set_state (or run_all). Throws kiln::Error on failure.
std::unique_ptr<Executable> compile(const Function &f,
                                    const CompileOptions &options = {});

/// Overwrites every {param} of \p exe with rank 0's values (a collective:
/// every rank calls it). compile() arranges it before a data-parallel
/// step's first run; call it again after loading params on rank 0 only.
void broadcast_params(Executable &exe);

} // namespace kiln
