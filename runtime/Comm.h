/// \file
/// The communication layer of distributed runs: what the collective ops of a
/// compiled step (all_reduce_start / all_reduce_wait, lowered to calls of
/// the `kiln_comm_*` entry points) and the distributed helpers of the
/// frontend call. It runs on Open MPI when kiln is built with MPI and the
/// process was started by mpirun; otherwise it is one process of one rank,
/// where every all-reduce is the identity (the interpreter's meaning).
///
/// With MPI, one dedicated communication thread makes every MPI call
/// (MPI_THREAD_FUNNELED): compiled code hands a bucket over and goes on
/// computing, and that thread posts MPI_Iallreduce and keeps calling
/// MPI_Test until it completes, so the reduction progresses while the rest
/// of the backward pass runs (Open MPI's non-blocking collectives otherwise
/// only progress inside MPI calls). Every blocking wait has a timeout
/// (set_timeout, $KILN_COMM_TIMEOUT, default 60 s); on expiry the layer
/// records an error that Executable::run throws as kiln::Error, and the
/// process aborts the MPI job at exit instead of hanging in MPI_Finalize.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace kiln::comm {

/// Starts the layer (idempotent; every other function calls it): MPI when
/// built with it and launched by mpirun (Open MPI's or PMIx's environment
/// is set), else one rank. Throws kiln::Error when launched by mpirun with
/// several ranks but kiln was built without MPI.
void init();
/// This process's rank and the number of ranks (1 without MPI).
int rank();
int size();
/// True when the layer runs on MPI (even with one rank).
bool uses_mpi();

/// Seconds a blocking wait may take before it fails with a message.
void set_timeout(double seconds);
double timeout();

/// Copies \p bytes at \p data from rank \p root to every rank (blocking,
/// with the timeout). Throws kiln::Error on failure.
void broadcast(void *data, size_t bytes, int root = 0);
/// Every rank passes the text of the program it is about to run (its IR
/// and options) and what it is, for the message. The ranks compare hashes
/// of it; when they differ, throws kiln::Error on every rank, naming the
/// ranks and hashes.
void check_same_program(const std::string &text, const std::string &what);
/// Blocking point-to-point transfers with the timeout (pipeline stages).
void send(const void *data, size_t bytes, int peer, int tag);
void recv(void *data, size_t bytes, int peer, int tag);

/// Waits (with the timeout) until every message that compiled `send` ops
/// handed over has been delivered. Throws kiln::Error on failure.
void flush_sends();

/// Throws kiln::Error with the first recorded failure (a timeout inside a
/// compiled step's collective), if any. Executable::run calls it.
void raise_if_failed();

/// Time spent in the collectives of compiled steps since reset_stats().
struct Stats {
  int64_t all_reduces = 0; ///< buckets reduced
  int64_t bytes = 0;       ///< bytes reduced
  /// Posting to completion, as the communication thread saw it.
  double comm_ms = 0;
  /// What compute could not hide: time compiled code blocked in waits.
  double wait_ms = 0;
  /// comm_ms - wait_ms per bucket, summed (clamped at 0 per bucket).
  double overlapped_ms = 0;
};
Stats stats();
void reset_stats();

/// Makes the `kiln_comm_*` entry points resolvable by JIT-compiled code
/// (codegen::register_host_symbol). compile_cpu calls it.
void register_jit_symbols();

} // namespace kiln::comm
