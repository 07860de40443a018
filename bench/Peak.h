/// \file
/// The measured fp32 FMA peak of this machine (bench/peak.cpp), shared by
/// bench/peak and bench/gemm so that fractions of peak use one definition.
// SPDX-License-Identifier: Apache-2.0
#pragma once

namespace kiln::bench {

struct PeakResult {
  int lanes = 0;   ///< floats per vector the loop used
  int threads = 0; ///< OpenMP threads of the all-cores run
  double single_gflops = 0, all_gflops = 0;
  /// One thread, per second of that thread's CPU time: the per-core peak
  /// even when other processes share the cores.
  double single_cpu_gflops = 0;
};

/// Runs the FMA loop (about 0.1 s per run) on one thread and on all
/// OpenMP threads, best of \p reps runs each.
PeakResult measure_peak(int reps);

} // namespace kiln::bench
