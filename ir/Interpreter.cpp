/// \file
/// Walks a function in order and evaluates each node with its op's kernel.
// SPDX-License-Identifier: Apache-2.0
#include "ir/Interpreter.h"

#include "ir/Error.h"
#include "ir/OpRegistry.h"

#include <unordered_map>

namespace kiln {

std::vector<HostTensor>
evaluate_node(const Node &n, const std::vector<const HostTensor *> &in) {
  std::vector<HostTensor> out;
  op_def(n.op()).interp(n, in, out);
  KILN_CHECK(out.size() == n.num_results())
      << n.op_name() << " kernel made " << out.size() << " results";
  for (size_t i = 0; i < out.size(); ++i)
    KILN_CHECK(out[i].type() == n.type(i))
        << n.op_name() << " kernel made " << type_str(out[i].type())
        << ", expected " << type_str(n.type(i));
  return out;
}

std::vector<HostTensor> interpret(const Function &f,
                                  const std::vector<HostTensor> &args) {
  if (args.size() != f.params().size())
    throw Error("interpret @" + f.name() + ": expected " +
                std::to_string(f.params().size()) + " arguments, got " +
                std::to_string(args.size()));
  std::unordered_map<const Value *, HostTensor> env;
  for (size_t i = 0; i < args.size(); ++i) {
    const Value *p = f.param(i);
    if (args[i].type() != p->type())
      throw Error("interpret @" + f.name() + ": argument %" + p->name() +
                  " has type " + type_str(args[i].type()) + ", expected " +
                  type_str(p->type()));
    env[p] = args[i];
  }
  // Remaining uses per value, so intermediates are freed when last read.
  std::unordered_map<const Value *, size_t> pending;
  for (const auto &n : f.body())
    for (size_t i = 0; i < n->num_results(); ++i)
      pending[n->result(i)] = n->result(i)->uses().size();
  for (const auto &n : f.body()) {
    std::vector<const HostTensor *> in;
    for (const Value *v : n->operands())
      in.push_back(&env.at(v));
    std::vector<HostTensor> out = evaluate_node(*n, in);
    for (const Value *v : n->operands()) {
      auto it = pending.find(v);
      if (it != pending.end() && --it->second == 0)
        env.erase(v);
    }
    for (size_t i = 0; i < out.size(); ++i)
      env[n->result(i)] = std::move(out[i]);
  }
  std::vector<HostTensor> results;
  for (const Value *r : f.results())
    results.push_back(env.at(r));
  return results;
}

void apply_updates(const Function &f, const std::vector<HostTensor> &results,
                   std::vector<HostTensor> &args) {
  KILN_CHECK(results.size() == f.results().size())
      << "apply_updates: " << results.size() << " results for @" << f.name()
      << " with " << f.results().size();
  KILN_CHECK(args.size() == f.params().size())
      << "apply_updates: " << args.size() << " arguments for @" << f.name();
  for (size_t i = 0; i < results.size(); ++i)
    if (const Value *p = f.result_updates()[i])
      args[size_t(p->index())] = results[i];
}

} // namespace kiln
