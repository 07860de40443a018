/// \file
/// Kernels of the collective ops: each is one call into the runtime's
/// communication layer (runtime/Comm.h) with whole buffers.
///  - all_reduce_start(%g1, ..., %gn) {bucket = b, average = a} calls
///    kiln_comm_all_reduce_start({b, a, f64, n, numel(g1), ...},
///    {g1, ..., gn, token}): the layer copies the operands into the
///    bucket and starts the reduction, so their buffers die here.
///  - all_reduce_wait(%tok, %gi) calls kiln_comm_all_reduce_wait({b,
///    offset of gi in the bucket, numel(gi)}, {token, result}): it waits
///    for the bucket (the first wait of a step blocks) and copies gi's
///    reduced slice out. It does not read gi's buffer.
///  - send and recv call kiln_comm_send / kiln_comm_recv (see below).
// SPDX-License-Identifier: Apache-2.0
#include "passes/LowerImpl.h"

#include "ir/Error.h"

namespace kiln::lowering {

namespace {

StmtPtr start_call(Lowering &l, const Node &n, int out) {
  loop::CallDesc c;
  c.fn = "kiln_comm_all_reduce_start";
  c.ints = {n.int_attr("bucket"), n.bool_attr("average") ? 1 : 0,
            n.operand(0)->type().dtype == DType::F64 ? 1 : 0,
            int64_t(n.num_operands())};
  for (const Value *g : n.operands()) {
    c.ints.push_back(g->type().numel());
    c.reads.push_back(l.buffer_of(g));
  }
  c.writes = {out};
  return loop::runtime_call(std::move(c));
}

StmtPtr wait_call(Lowering &l, const Node &n, int out) {
  const Value *tok = n.operand(0), *g = n.operand(1);
  const Node *start = tok->def();
  if (!start || start->op() != OpKind::AllReduceStart)
    throw Error("all_reduce_wait: operand 0 must be the token of an "
                "all_reduce_start, got a " +
                std::string(start ? start->op_name() : "function parameter"));
  int64_t offset = 0;
  bool found = false;
  for (const Value *o : start->operands()) {
    if (o == g) {
      found = true;
      break;
    }
    offset += o->type().numel();
  }
  if (!found)
    throw Error("all_reduce_wait: operand 1 (" + type_str(g->type()) +
                ") is not an operand of the all_reduce_start of bucket " +
                std::to_string(start->int_attr("bucket")) +
                "; wait on a value that the start reduces");
  loop::CallDesc c;
  c.fn = "kiln_comm_all_reduce_wait";
  c.ints = {start->int_attr("bucket"), offset, g->type().numel()};
  c.reads = {l.buffer_of(tok)};
  c.writes = {out};
  return loop::runtime_call(std::move(c));
}

/// send: kiln_comm_send({peer, tag, bytes}, {x, token}); recv:
/// kiln_comm_recv({peer, tag, bytes}, {result}).
StmtPtr point_to_point(Lowering &l, const Node &n, int out) {
  loop::CallDesc c;
  bool send = n.op() == OpKind::Send;
  c.fn = send ? "kiln_comm_send" : "kiln_comm_recv";
  const TensorType &t = send ? n.operand(0)->type() : n.type();
  c.ints = {n.int_attr("peer"), n.int_attr("tag"), int64_t(t.bytes())};
  if (send)
    c.reads = {l.buffer_of(n.operand(0))};
  c.writes = {out};
  return loop::runtime_call(std::move(c));
}

} // namespace

StmtPtr Lowering::collective_kernel(const Node &n, int out) {
  switch (n.op()) {
  case OpKind::Send:
  case OpKind::Recv:
    return loop::block({point_to_point(*this, n, out)});
  case OpKind::AllReduceStart:
    return loop::block({start_call(*this, n, out)});
  case OpKind::AllReduceWait:
    return loop::block({wait_call(*this, n, out)});
  default:
    KILN_UNREACHABLE(std::string("not a collective op: ") + n.op_name());
  }
}

} // namespace kiln::lowering
