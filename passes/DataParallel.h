/// \file
/// Data parallelism on the Graph IR of a training step. Every rank runs the
/// same step on its own shard of the batch; the gradients of the {param}
/// parameters are reduced across ranks (summed, or averaged, as a mean loss
/// over the full batch requires) before the optimizer update reads them.
/// The gradients are grouped in buckets, in the order the backward pass
/// finishes them; each bucket's all_reduce_start sits right after its last
/// gradient is computed, so the reduction overlaps the rest of the backward
/// pass, and each gradient's all_reduce_wait sits just before its first
/// use (the update). Everything else (batch-norm statistics, the loss
/// output) stays per rank.
///
/// Before:                              After (one bucket):
///   %grad.w = matmul(%xt, %dy)           %grad.w = matmul(%xt, %dy)
///   %grad.b = reduce_sum(%dy) ...        %grad.b = reduce_sum(%dy) ...
///   %u = mul(%grad.w, %lr)               %bucket0 = all_reduce_start(
///                                            %grad.w, %grad.b) {bucket = 0}
///                                        %grad.w.reduced = all_reduce_wait(
///                                            %bucket0, %grad.w)
///                                        %u = mul(%grad.w.reduced, %lr)
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"

#include <cstdint>
#include <vector>

namespace kiln {

struct DataParallelOptions {
  /// A bucket is closed once it holds this many bytes (smaller buckets
  /// start earlier; larger ones cost fewer messages).
  int64_t bucket_bytes = 1 << 20;
  /// Average the gradients over ranks (the loss is a mean over the batch);
  /// false sums them (a summed loss).
  bool average = true;
};

/// The gradients of \p f's {param} parameters by the naming convention of
/// autodiff and train_step: the value named `grad.NAME` for each {param}
/// `%NAME` (params without one are left out).
std::vector<Value *> find_gradients(const Function &f);

/// Inserts the all-reduce of each of \p grads (values of \p f, f32 or f64)
/// as described in the file comment. Returns the number of buckets. Throws
/// kiln::Error when a gradient is not f32/f64 or \p f already communicates.
int make_data_parallel(Function &f, const std::vector<Value *> &grads,
                       const DataParallelOptions &options = {});

} // namespace kiln
