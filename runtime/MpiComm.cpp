/// \file
/// The Open MPI backend of runtime/Comm.h. One communication thread makes
/// every MPI call (it calls MPI_Init_thread with MPI_THREAD_FUNNELED and,
/// at exit, MPI_Finalize or MPI_Abort): other threads queue an operation,
/// the thread posts it (MPI_Iallreduce, MPI_Ibcast, ...) and then keeps
/// calling MPI_Test on everything in flight, sleeping briefly between
/// rounds, so non-blocking collectives progress while compute runs instead
/// of only inside the next MPI call. Waiters block on a condition variable
/// with a deadline, so no wait outlives the layer's timeout.
/// Built only when CMake finds MPI (KILN_HAVE_MPI).
// SPDX-License-Identifier: Apache-2.0
#include "runtime/CommBackend.h"

#ifdef KILN_HAVE_MPI

#include "ir/Error.h"

// The C API only (Open MPI would otherwise pull in its C++ bindings).
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln::comm::detail {

namespace {

struct Op {
  std::function<void(MPI_Request *)> post;
  MPI_Request req = MPI_REQUEST_NULL;
  Clock::time_point posted;
  double comm_ms = 0;
  bool done = false;
};

class MpiBackend : public Backend {
public:
  MpiBackend() {
    thread_ = std::thread([this] { loop(); });
    std::unique_lock<std::mutex> lock(mu_);
    if (!done_cv_.wait_for(lock, std::chrono::seconds(120),
                           [&] { return ready_; }))
      throw Error("kiln comm: MPI_Init_thread did not return within 120 s");
    if (!init_error_.empty())
      throw Error(init_error_);
  }
  ~MpiBackend() override {
    if (thread_.joinable())
      thread_.detach();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  bool uses_mpi() const override { return true; }

  int64_t all_reduce(void *data, int64_t count, bool f64) override {
    return enqueue([=](MPI_Request *r) {
      MPI_Iallreduce(MPI_IN_PLACE, data, int(count),
                     f64 ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, r);
    });
  }
  int64_t broadcast(void *data, size_t bytes, int root) override {
    return enqueue([=](MPI_Request *r) {
      MPI_Ibcast(data, int(bytes), MPI_BYTE, root, MPI_COMM_WORLD, r);
    });
  }
  int64_t all_gather(const void *in, void *out, size_t bytes) override {
    return enqueue([=](MPI_Request *r) {
      MPI_Iallgather(in, int(bytes), MPI_BYTE, out, int(bytes), MPI_BYTE,
                     MPI_COMM_WORLD, r);
    });
  }
  int64_t send(const void *data, size_t bytes, int peer, int tag) override {
    return enqueue([=](MPI_Request *r) {
      MPI_Isend(data, int(bytes), MPI_BYTE, peer, tag, MPI_COMM_WORLD, r);
    });
  }
  int64_t recv(void *data, size_t bytes, int peer, int tag) override {
    return enqueue([=](MPI_Request *r) {
      MPI_Irecv(data, int(bytes), MPI_BYTE, peer, tag, MPI_COMM_WORLD, r);
    });
  }

  bool wait(int64_t handle, Clock::time_point deadline,
            double *comm_ms) override {
    std::unique_lock<std::mutex> lock(mu_);
    auto it = ops_.find(handle);
    if (it == ops_.end())
      return false;
    std::shared_ptr<Op> op = it->second;
    if (!done_cv_.wait_until(lock, deadline, [&] { return op->done; }))
      return false;
    *comm_ms = op->comm_ms;
    ops_.erase(it);
    return true;
  }

  void shutdown(bool abort) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      abort_ = abort;
    }
    cv_.notify_all();
    if (thread_.joinable())
      thread_.join();
  }

private:
  int64_t enqueue(std::function<void(MPI_Request *)> post) {
    auto op = std::make_shared<Op>();
    op->post = std::move(post);
    int64_t id;
    {
      std::lock_guard<std::mutex> lock(mu_);
      id = next_++;
      ops_[id] = op;
      pending_.push_back(op);
    }
    cv_.notify_all();
    return id;
  }

  void loop() {
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) !=
        MPI_SUCCESS)
      init_error_ = "kiln comm: MPI_Init_thread failed";
    else {
      MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
      MPI_Comm_size(MPI_COMM_WORLD, &size_);
      MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ready_ = true;
    }
    done_cv_.notify_all();
    if (!init_error_.empty())
      return;
    std::vector<std::shared_ptr<Op>> active;
    for (;;) {
      std::deque<std::shared_ptr<Op>> todo;
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (active.empty())
          cv_.wait(lock, [&] { return stop_ || !pending_.empty(); });
        if (stop_ && (abort_ || (active.empty() && pending_.empty())))
          break;
        // Ranks still in flight at exit are out of step: end the job.
        if (stop_ && !active.empty() && pending_.empty()) {
          abort_ = true;
          break;
        }
        todo.swap(pending_);
      }
      for (auto &op : todo) {
        op->post(&op->req);
        op->posted = Clock::now();
        active.push_back(op);
      }
      progress(active);
      if (!active.empty())
        std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    if (abort_)
      MPI_Abort(MPI_COMM_WORLD, 1);
    else
      MPI_Finalize();
  }

  /// Tests everything in flight once; completed operations leave \p active.
  void progress(std::vector<std::shared_ptr<Op>> &active) {
    bool any = false;
    for (auto &op : active) {
      int flag = 0;
      MPI_Test(&op->req, &flag, MPI_STATUS_IGNORE);
      if (!flag)
        continue;
      op->comm_ms =
          std::chrono::duration<double, std::milli>(Clock::now() - op->posted)
              .count();
      std::lock_guard<std::mutex> lock(mu_);
      op->done = true;
      any = true;
    }
    if (!any)
      return;
    active.erase(std::remove_if(active.begin(), active.end(),
                                [](const auto &op) { return op->done; }),
                 active.end());
    done_cv_.notify_all();
  }

  std::thread thread_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::deque<std::shared_ptr<Op>> pending_;
  std::map<int64_t, std::shared_ptr<Op>> ops_;
  int64_t next_ = 0;
  bool ready_ = false, stop_ = false, abort_ = false;
  std::string init_error_;
  int rank_ = 0, size_ = 1;
};

} // namespace

std::unique_ptr<Backend> make_mpi_backend() {
  return std::make_unique<MpiBackend>();
}

} // namespace kiln::comm::detail

#else

namespace kiln::comm::detail {
std::unique_ptr<Backend> make_mpi_backend() { return nullptr; }
} // namespace kiln::comm::detail

#endif
