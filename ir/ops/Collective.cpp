/// \file
/// Collective communication ops, which the data-parallel pass
/// (passes/DataParallel.cpp) puts into a training step. A gradient bucket is
/// reduced across the ranks of a run in two halves, so that the reduction
/// overlaps the compute between them:
///
///   %tok = all_reduce_start(%g1, %g2) {bucket = 0, average = true} : i32[]
///   ... more of the backward pass ...
///   %r1 = all_reduce_wait(%tok, %g1) : f32[64,32]
///
/// all_reduce_start hands its operands to the communication layer (which
/// copies them, so their buffers may be reused at once) and starts a
/// non-blocking all-reduce; its result is a token naming the bucket.
/// all_reduce_wait waits for that bucket and returns the reduced value of
/// one of the start's operands: the sum over ranks, or the mean when the
/// start says `average = true`. In one process (the interpreter, or a
/// compiled step run without mpirun) the sum and the mean over the one rank
/// are the operand itself, which is what the interpreter kernels compute.
///
/// Pipeline stages (frontend/Pipeline.h) pass activations and gradients
/// with point-to-point ops:
///
///   %t = send(%x) {peer = 1, tag = 0} : i32[]
///   %y = recv() {peer = 0, tag = 0} : f32[8,64]
///
/// send hands a copy of %x to rank `peer` and returns at once (a token);
/// recv waits for the next message of that tag from `peer`, which must
/// have the written type. Messages of one tag between two ranks arrive in
/// the order they were sent. In one process a rank sends to itself: the
/// interpreter keeps a queue per tag, and a recv with nothing queued is an
/// error.
// SPDX-License-Identifier: Apache-2.0
#include "ir/ops/OpDefs.h"

#include "ir/Error.h"

#include <deque>
#include <map>

namespace kiln::ops {

namespace {

bool want_all_reducible(ShapeCtx &c, size_t i) {
  DType t = c.in[i].dtype;
  if (t == DType::F32 || t == DType::F64)
    return true;
  c.fail() << "operand " << i << " must be f32 or f64, got "
           << type_str(c.in[i]) << "; cast it first";
  return false;
}

bool shape_all_reduce_start(ShapeCtx &c) {
  if (c.int_attr("bucket") < 0) {
    c.fail() << "'bucket' must be at least 0, got " << c.int_attr("bucket");
    return false;
  }
  for (size_t i = 0; i < c.in.size(); ++i)
    if (!want_all_reducible(c, i))
      return false;
  if (!same_dtypes(c))
    return false;
  c.out.push_back({DType::I32, {}});
  return true;
}

void interp_all_reduce_start(const Node &n,
                             const std::vector<const HostTensor *> &,
                             std::vector<HostTensor> &out) {
  HostTensor r(n.type());
  r.set_int(0, n.int_attr("bucket"));
  out.push_back(std::move(r));
}

bool shape_all_reduce_wait(ShapeCtx &c) {
  if (c.in[0] != TensorType{DType::I32, {}}) {
    c.fail() << "operand 0 must be the i32[] token of an all_reduce_start, "
                "got "
             << type_str(c.in[0]);
    return false;
  }
  if (!want_all_reducible(c, 1))
    return false;
  c.out.push_back(c.in[1]);
  return true;
}

void interp_all_reduce_wait(const Node &,
                            const std::vector<const HostTensor *> &in,
                            std::vector<HostTensor> &out) {
  // One rank: its sum and its mean are the value itself.
  out.push_back(*in[1]);
}

bool want_peer_tag(ShapeCtx &c) {
  for (const char *a : {"peer", "tag"})
    if (c.int_attr(a) < 0 || c.int_attr(a) > 32767) {
      c.fail() << "'" << a << "' must be in [0, 32767], got " << c.int_attr(a);
      return false;
    }
  return true;
}

/// The one-process meaning of send and recv: a queue per tag.
std::map<int64_t, std::deque<HostTensor>> &loopback() {
  thread_local std::map<int64_t, std::deque<HostTensor>> queues;
  return queues;
}

bool shape_send(ShapeCtx &c) {
  if (!want_peer_tag(c))
    return false;
  c.out.push_back({DType::I32, {}});
  return true;
}

void interp_send(const Node &n, const std::vector<const HostTensor *> &in,
                 std::vector<HostTensor> &out) {
  loopback()[n.int_attr("tag")].push_back(*in[0]);
  out.push_back(HostTensor(n.type()));
}

bool shape_recv(ShapeCtx &c) {
  TensorType t;
  if (!want_peer_tag(c) || !declared_type(c, t))
    return false;
  c.out.push_back(t);
  return true;
}

void interp_recv(const Node &n, const std::vector<const HostTensor *> &,
                 std::vector<HostTensor> &out) {
  auto &q = loopback()[n.int_attr("tag")];
  if (q.empty() || q.front().type() != n.type())
    throw Error("recv: " +
                (q.empty() ? std::string("nothing was sent")
                           : "a " + type_str(q.front().type()) + " was sent") +
                " with tag " + std::to_string(n.int_attr("tag")) +
                " in this process, expected a " + type_str(n.type()) +
                "; in one process a recv takes what an earlier send sent");
  out.push_back(std::move(q.front()));
  q.pop_front();
}

} // namespace

const OpDef kOpDef_send = {
    "send",
    "sends a copy of its operand to rank 'peer' with 'tag' and returns at "
    "once; the result is a token (one process: queued for a recv)",
    "%t = send(%x) {peer = 1, tag = 0} : i32[]",
    1,
    1,
    {{"peer", AttrKind::Int, std::nullopt},
     {"tag", AttrKind::Int, Attribute(0)}},
    shape_send,
    interp_send,
    /*needs_result_type=*/false,
    /*communicates=*/true};

const OpDef kOpDef_recv = {
    "recv",
    "waits for the next message with 'tag' from rank 'peer' (in send order) "
    "and returns it; it must have the written type",
    "%y = recv() {peer = 0, tag = 0} : f32[8,64]",
    0,
    0,
    {{"peer", AttrKind::Int, std::nullopt},
     {"tag", AttrKind::Int, Attribute(0)}},
    shape_recv,
    interp_recv,
    /*needs_result_type=*/true,
    /*communicates=*/true};

const OpDef kOpDef_all_reduce_start = {
    "all_reduce_start",
    "starts a non-blocking all-reduce (sum, or mean with 'average') of its "
    "f32/f64 operands across the ranks of the run; the result is a token "
    "for all_reduce_wait. Operands are copied at once",
    "%tok = all_reduce_start(%g1, %g2) {bucket = 0, average = true} : i32[]",
    1,
    -1,
    {{"bucket", AttrKind::Int, std::nullopt},
     {"average", AttrKind::Bool, Attribute(true)}},
    shape_all_reduce_start,
    interp_all_reduce_start,
    /*needs_result_type=*/false,
    /*communicates=*/true};

const OpDef kOpDef_all_reduce_wait = {
    "all_reduce_wait",
    "waits for the all-reduce of token operand 0 and returns the reduced "
    "value of operand 1, one of that all_reduce_start's operands (in one "
    "process: operand 1 itself)",
    "%r = all_reduce_wait(%tok, %g1) : f32[64,32]",
    2,
    2,
    {},
    shape_all_reduce_wait,
    interp_all_reduce_wait,
    /*needs_result_type=*/false,
    /*communicates=*/true};

} // namespace kiln::ops
