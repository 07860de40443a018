/// \file
/// Pipeline-parallel training (GPipe): a model's forward graph is cut into
/// K stages (passes/PipelineSplit.h), one per rank of the run; a step runs
/// M micro-batches through the stages, which pass activations forward and
/// gradients backward with send/recv ops inside their compiled functions,
/// accumulates each stage's parameter gradients over the micro-batches, and
/// then applies one optimizer update per stage.
///
///   Graph g("net");  ... Tensor loss = cross_entropy(logits, y);  //
///   micro-batch PipelineOptions o; o.micro_batches = 4; o.cuts = {"h2"}; // or
///   empty: balanced by FLOPs o.train.optimizer = optim::sgd(0.1, 0.9);
///   Pipeline p(g, loss, params, o);     // every rank builds the same
///   double l = p.step(micro_inputs);     // micro_inputs[m]: g's inputs
///
/// Schedule on stage k (GPipe with rematerialization): forward of every
/// micro-batch in order (receive, compute, send on), keeping only the
/// received boundary values; then, in reverse order, the backward function,
/// which recomputes the stage's forward from those values, receives the
/// output gradients and sends the input gradients back. Sends return at
/// once, so a stage computes micro-batch m+1 while the next works on m.
/// The loss is the mean over the micro-batches of each micro-batch's loss,
/// so a step equals one step on the concatenated batch.
///
/// With one process and several stages, the process runs every stage in
/// turn (sends to itself): the same functions, for tests and debugging.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "frontend/Compile.h"
#include "frontend/Train.h"

#include <memory>
#include <string>
#include <vector>

namespace kiln {

struct PipelineOptions {
  /// Stages (0: the number of ranks). Several ranks: exactly one per rank.
  int stages = 0;
  int micro_batches = 4;
  /// Names of the values after which each stage ends (stages - 1 of them,
  /// in body order); empty: cut where the FLOPs balance.
  std::vector<std::string> cuts;
  /// The optimizer (clip_grad_norm and diagnostics are not supported).
  TrainStepOptions train;
  /// How each stage function compiles (CompileOptions::distributed is
  /// ignored).
  CompileOptions compile;
};

class Pipeline {
public:
  /// \p forward computes the scalar \p loss (a mean over its micro-batch)
  /// from its inputs and \p params, at the micro-batch size. Params start
  /// at the graph's initial values. Every rank must build the same graph:
  /// the ranks compare a hash of it. Throws kiln::Error for a bad cut, a
  /// {param} read by two stages, or ranks that disagree.
  Pipeline(const Graph &forward, Tensor loss, const NamedParams &params,
           const PipelineOptions &options);
  ~Pipeline();
  Pipeline(const Pipeline &) = delete;
  Pipeline &operator=(const Pipeline &) = delete;

  /// One training step: \p micro[m] holds the forward graph's plain inputs
  /// (in order) for micro-batch m. Returns the step's loss (on every rank).
  double step(const std::vector<std::vector<HostTensor>> &micro);

  int stages() const;
  /// The stages this process runs (one per rank; all with one process).
  std::vector<int> local_stages() const;
  /// The stage that owns param \p name.
  int stage_of(const std::string &name) const;
  /// The current value of param \p name (its stage must be local).
  HostTensor get_param(const std::string &name) const;
  /// The functions of stage \p k as .kir text (forward, backward, update).
  std::string stage_ir(int k) const;

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

} // namespace kiln
