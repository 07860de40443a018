/// \file
/// The communication layer: global state, the one-rank loopback backend,
/// and the `kiln_comm_*` entry points that compiled collectives call.
// SPDX-License-Identifier: Apache-2.0
#include "runtime/Comm.h"

#include "codegen/ClangJit.h"
#include "ir/Error.h"
#include "runtime/CommBackend.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <sstream>
#include <vector>

namespace kiln::comm {

namespace detail {
namespace {

/// One rank: reductions over one rank change nothing, and a send to
/// oneself is queued for the matching recv.
class LoopbackBackend : public Backend {
public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  bool uses_mpi() const override { return false; }
  int64_t all_reduce(void *, int64_t, bool) override { return done(); }
  int64_t broadcast(void *, size_t, int) override { return done(); }
  int64_t all_gather(const void *in, void *out, size_t bytes) override {
    std::memcpy(out, in, bytes);
    return done();
  }
  int64_t send(const void *data, size_t bytes, int, int tag) override {
    const char *p = static_cast<const char *>(data);
    mailbox_[tag].emplace_back(p, p + bytes);
    return done();
  }
  int64_t recv(void *data, size_t bytes, int, int tag) override {
    auto &q = mailbox_[tag];
    if (q.empty() || q.front().size() != bytes)
      return -1;
    std::memcpy(data, q.front().data(), bytes);
    q.pop_front();
    return done();
  }
  bool wait(int64_t handle, Clock::time_point, double *comm_ms) override {
    *comm_ms = 0;
    return handle >= 0;
  }
  void shutdown(bool) override {}

private:
  int64_t done() { return next_++; }
  int64_t next_ = 0;
  std::map<int, std::deque<std::vector<char>>> mailbox_;
};

} // namespace
} // namespace detail

namespace {

using detail::Clock;

/// A gradient bucket: its operands packed, reduced in place.
struct Bucket {
  std::vector<char> data;
  int64_t count = 0;
  bool f64 = false, average = true;
  int64_t handle = -1; ///< in flight when >= 0
  double comm_ms = 0;
};

/// A message of a compiled send, in flight.
struct Outgoing {
  std::vector<char> data;
  int64_t handle;
  std::string what;
};

struct State {
  std::mutex mu;
  std::deque<Outgoing> outgoing;
  std::unique_ptr<detail::Backend> backend;
  double timeout_s = 60;
  std::string failure;
  std::map<int64_t, Bucket> buckets;
  Stats stats;
};

State &state() {
  static State *s = new State; // outlives static destructors (atexit order)
  return *s;
}

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

int env_int(const char *name) {
  const char *v = std::getenv(name);
  return v ? std::atoi(v) : 0;
}

void at_exit() {
  State &s = state();
  bool in_flight = false;
  for (const auto &kv : s.buckets)
    in_flight |= kv.second.handle >= 0;
  for (const Outgoing &o : s.outgoing) { // undelivered messages
    double ms;
    if (s.failure.empty() && s.backend &&
        !s.backend->wait(o.handle, Clock::now() + std::chrono::seconds(1), &ms))
      in_flight = true;
  }
  if (s.backend)
    s.backend->shutdown(!s.failure.empty() || in_flight);
}

detail::Backend &backend() {
  init();
  return *state().backend;
}

Clock::time_point deadline() {
  return Clock::now() + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(timeout()));
}

std::string who() {
  return "kiln comm: rank " + std::to_string(rank()) + " of " +
         std::to_string(size());
}

/// Waits for \p handle or throws the timeout message about \p what.
void wait_or_throw(int64_t handle, const std::string &what) {
  double ms = 0;
  if (handle >= 0 && backend().wait(handle, deadline(), &ms))
    return;
  std::ostringstream os;
  os << who() << ": " << what << " did not complete within " << timeout()
     << " s; another rank has exited, failed or runs a different program "
        "(raise the limit with KILN_COMM_TIMEOUT=seconds)";
  std::lock_guard<std::mutex> lock(state().mu);
  if (state().failure.empty())
    state().failure = os.str();
  throw Error(os.str());
}

void fail(const std::string &msg) {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.failure.empty())
    s.failure = msg;
}

} // namespace

void init() {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.backend)
    return;
  if (const char *t = std::getenv("KILN_COMM_TIMEOUT"))
    s.timeout_s = std::atof(t) > 0 ? std::atof(t) : s.timeout_s;
  bool launched = std::getenv("OMPI_COMM_WORLD_SIZE") ||
                  std::getenv("PMIX_RANK") || std::getenv("PMI_SIZE");
  int ranks =
      std::max({env_int("OMPI_COMM_WORLD_SIZE"), env_int("PMI_SIZE"), 1});
  if (launched)
    s.backend = detail::make_mpi_backend();
  if (!s.backend && ranks > 1)
    throw Error("kiln comm: started by mpirun with " + std::to_string(ranks) +
                " ranks, but this kiln was built without MPI; install "
                "libopenmpi-dev and rebuild");
  if (!s.backend)
    s.backend = std::make_unique<detail::LoopbackBackend>();
  std::atexit(at_exit);
}

int rank() { return backend().rank(); }
int size() { return backend().size(); }
bool uses_mpi() { return backend().uses_mpi(); }

void set_timeout(double seconds) {
  if (!(seconds > 0))
    throw Error("comm::set_timeout: the timeout must be positive, got " +
                std::to_string(seconds));
  state().timeout_s = seconds;
}
double timeout() { return state().timeout_s; }

void broadcast(void *data, size_t bytes, int root) {
  wait_or_throw(backend().broadcast(data, bytes, root),
                "broadcast of " + std::to_string(bytes) + " bytes from rank " +
                    std::to_string(root));
}

void check_same_program(const std::string &text, const std::string &what) {
  uint64_t hash = 1469598103934665603ull; // FNV-1a
  for (unsigned char c : text)
    hash = (hash ^ c) * 1099511628211ull;
  std::vector<uint64_t> all(static_cast<size_t>(size()));
  wait_or_throw(backend().all_gather(&hash, all.data(), sizeof hash),
                "the program check of " + what);
  std::ostringstream os;
  for (size_t r = 0; r < all.size(); ++r)
    if (all[r] != all[0])
      os << (os.tellp() ? ", " : "") << "rank " << r << " has " << std::hex
         << all[r] << std::dec;
  if (os.tellp())
    throw Error(who() + ": the ranks run different programs for " + what +
                ": rank 0 has " +
                [&] {
                  std::ostringstream h;
                  h << std::hex << all[0];
                  return h.str();
                }() +
                ", " + os.str() +
                "; launch the same program with the same options on every "
                "rank");
}

void send(const void *data, size_t bytes, int peer, int tag) {
  wait_or_throw(backend().send(data, bytes, peer, tag),
                "send of " + std::to_string(bytes) + " bytes to rank " +
                    std::to_string(peer) + " (tag " + std::to_string(tag) +
                    ")");
}

void recv(void *data, size_t bytes, int peer, int tag) {
  wait_or_throw(backend().recv(data, bytes, peer, tag),
                "receive of " + std::to_string(bytes) + " bytes from rank " +
                    std::to_string(peer) + " (tag " + std::to_string(tag) +
                    ")");
}

void flush_sends() {
  State &s = state();
  while (!s.outgoing.empty()) {
    Outgoing o = std::move(s.outgoing.front());
    s.outgoing.pop_front();
    wait_or_throw(o.handle, o.what);
  }
}

void raise_if_failed() {
  State &s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  if (!s.failure.empty())
    throw Error(s.failure);
}

Stats stats() {
  std::lock_guard<std::mutex> lock(state().mu);
  return state().stats;
}

void reset_stats() {
  std::lock_guard<std::mutex> lock(state().mu);
  state().stats = Stats();
}

} // namespace kiln::comm

using kiln::comm::Bucket;

/// all_reduce_start. I: bucket, average, f64, n, numel[n]; P: the n operand
/// buffers, then the i32 token.
extern "C" void kiln_comm_all_reduce_start(const long long *I, void *const *P) {
  using namespace kiln::comm;
  State &s = state();
  int64_t id = I[0], n = I[3];
  *static_cast<int32_t *>(P[n]) = int32_t(id);
  if (!s.failure.empty())
    return;
  Bucket &b = s.buckets[id];
  b.average = I[1] != 0;
  b.f64 = I[2] != 0;
  size_t elem = b.f64 ? 8 : 4;
  b.count = 0;
  for (int64_t i = 0; i < n; ++i)
    b.count += I[4 + i];
  b.data.resize(size_t(b.count) * elem);
  size_t off = 0;
  for (int64_t i = 0; i < n; ++i) {
    std::memcpy(b.data.data() + off, P[i], size_t(I[4 + i]) * elem);
    off += size_t(I[4 + i]) * elem;
  }
  b.handle = backend().all_reduce(b.data.data(), b.count, b.f64);
  b.comm_ms = -1;
}

/// all_reduce_wait. I: bucket, offset, numel; P: the token, the result.
extern "C" void kiln_comm_all_reduce_wait(const long long *I, void *const *P) {
  using namespace kiln::comm;
  State &s = state();
  auto it = s.buckets.find(I[0]);
  if (!s.failure.empty())
    return;
  if (it == s.buckets.end())
    return fail(who() + ": all_reduce_wait of bucket " + std::to_string(I[0]) +
                " before its start");
  Bucket &b = it->second;
  if (b.handle >= 0) {
    Clock::time_point t0 = Clock::now();
    double comm_ms = 0;
    if (!backend().wait(b.handle, deadline(), &comm_ms))
      return fail(who() + ": the all-reduce of gradient bucket " +
                  std::to_string(I[0]) + " (" + std::to_string(b.data.size()) +
                  " bytes) did not complete within " +
                  std::to_string(int(timeout())) +
                  " s; another rank has exited, failed or runs a different "
                  "program (raise the limit with KILN_COMM_TIMEOUT=seconds)");
    double waited = ms_since(t0);
    b.handle = -1;
    std::lock_guard<std::mutex> lock(s.mu);
    s.stats.all_reduces += 1;
    s.stats.bytes += int64_t(b.data.size());
    s.stats.comm_ms += comm_ms;
    s.stats.wait_ms += waited;
    s.stats.overlapped_ms += std::max(0.0, comm_ms - waited);
  }
  double scale = b.average ? 1.0 / size() : 1.0;
  int64_t off = I[1], n = I[2];
  if (b.f64) {
    const double *src = reinterpret_cast<const double *>(b.data.data()) + off;
    double *dst = static_cast<double *>(P[1]);
    for (int64_t i = 0; i < n; ++i)
      dst[i] = src[i] * scale;
  } else {
    const float *src = reinterpret_cast<const float *>(b.data.data()) + off;
    float *dst = static_cast<float *>(P[1]);
    float sc = float(scale);
    for (int64_t i = 0; i < n; ++i)
      dst[i] = src[i] * sc;
  }
}

/// send. I: peer, tag, bytes; P: the operand, the token. The message is
/// copied and left in flight; flush_sends (or later sends) reap it.
extern "C" void kiln_comm_send(const long long *I, void *const *P) {
  using namespace kiln::comm;
  State &s = state();
  *static_cast<int32_t *>(P[1]) = 0;
  if (!s.failure.empty())
    return;
  while (!s.outgoing.empty()) { // reap what was delivered
    double ms;
    if (!backend().wait(s.outgoing.front().handle, Clock::now(), &ms))
      break;
    s.outgoing.pop_front();
  }
  const char *p = static_cast<const char *>(P[0]);
  Outgoing o{std::vector<char>(p, p + I[2]), -1,
             "send of " + std::to_string(I[2]) + " bytes to rank " +
                 std::to_string(I[0]) + " (tag " + std::to_string(I[1]) + ")"};
  s.outgoing.push_back(std::move(o));
  Outgoing &q = s.outgoing.back();
  q.handle = backend().send(q.data.data(), q.data.size(), int(I[0]), int(I[1]));
}

/// recv. I: peer, tag, bytes; P: the result. Blocks with the timeout.
extern "C" void kiln_comm_recv(const long long *I, void *const *P) {
  using namespace kiln::comm;
  if (!state().failure.empty())
    return;
  double ms;
  int64_t h = backend().recv(P[0], size_t(I[2]), int(I[0]), int(I[1]));
  if (h < 0 || !backend().wait(h, deadline(), &ms))
    fail(who() + ": the receive of " + std::to_string(I[2]) +
         " bytes from rank " + std::to_string(I[0]) + " (tag " +
         std::to_string(I[1]) + ") did not complete within " +
         std::to_string(int(timeout())) +
         " s; the sending rank has exited, failed or runs a different "
         "program (raise the limit with KILN_COMM_TIMEOUT=seconds)");
}

namespace kiln::comm {
void register_jit_symbols() {
  codegen::register_host_symbol("kiln_comm_send",
                                reinterpret_cast<void *>(&kiln_comm_send));
  codegen::register_host_symbol("kiln_comm_recv",
                                reinterpret_cast<void *>(&kiln_comm_recv));
  codegen::register_host_symbol(
      "kiln_comm_all_reduce_start",
      reinterpret_cast<void *>(&kiln_comm_all_reduce_start));
  codegen::register_host_symbol(
      "kiln_comm_all_reduce_wait",
      reinterpret_cast<void *>(&kiln_comm_all_reduce_wait));
}
} // namespace kiln::comm
