/// \file
/// Private to runtime/: the transport under runtime/Comm.h. One backend per
/// process: Open MPI (MpiComm.cpp, built when CMake finds MPI) or the
/// one-rank loopback (Comm.cpp). Operations are non-blocking: post, then
/// wait with a deadline.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace kiln::comm::detail {

using Clock = std::chrono::steady_clock;

class Backend {
public:
  virtual ~Backend() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual bool uses_mpi() const = 0;
  /// Each post returns a handle for wait(). In-place sum of \p count
  /// f32 (or f64) elements at \p data.
  virtual int64_t all_reduce(void *data, int64_t count, bool f64) = 0;
  virtual int64_t broadcast(void *data, size_t bytes, int root) = 0;
  /// Gathers \p bytes from every rank into \p out (size() * bytes).
  virtual int64_t all_gather(const void *in, void *out, size_t bytes) = 0;
  virtual int64_t send(const void *data, size_t bytes, int peer, int tag) = 0;
  virtual int64_t recv(void *data, size_t bytes, int peer, int tag) = 0;
  /// Waits for \p handle until \p deadline; false on timeout (the operation
  /// stays in flight). On success sets \p comm_ms to the time from posting
  /// to completion.
  virtual bool wait(int64_t handle, Clock::time_point deadline,
                    double *comm_ms) = 0;
  /// At exit. \p abort: a failure left the ranks out of step, so end the
  /// whole job (MPI_Abort) instead of finalizing.
  virtual void shutdown(bool abort) = 0;
};

/// The Open MPI backend (its communication thread started), or nullptr in
/// a build without MPI.
std::unique_ptr<Backend> make_mpi_backend();

} // namespace kiln::comm::detail
