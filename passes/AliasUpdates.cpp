/// \file
/// alias_updates: `{updates}` results computed directly in their state
/// buffers (step 0 of plan-memory, see PlanMemory.h).
// SPDX-License-Identifier: Apache-2.0
#include "passes/PlanMemory.h"

#include <map>

namespace kiln {

using loop::BufferKind;

namespace {

/// The kernels that read or write each buffer, in order.
std::vector<std::vector<int>> touching(const loop::Program &p) {
  std::vector<std::vector<int>> t(p.buffers.size());
  for (size_t k = 0; k < p.kernels.size(); ++k)
    for_each_access(p.kernels[k], [&](int b, bool) {
      if (b >= 0 && (t[size_t(b)].empty() || t[size_t(b)].back() != int(k)))
        t[size_t(b)].push_back(int(k));
    });
  return t;
}

/// True when update \p u may compute its value directly in its state
/// buffer: the state's old value is not read after the one kernel that
/// writes the new one, and that kernel reads it only in place.
bool can_alias(const loop::Program &p, const loop::UpdateCopy &u,
               const std::vector<std::vector<int>> &touch) {
  const loop::Buffer &from = p.buffers[size_t(u.from)];
  const loop::Buffer &to = p.buffers[size_t(u.to)];
  if (from.kind != BufferKind::Temp || to.kind != BufferKind::State ||
      from.bytes() != to.bytes() || touch[size_t(u.from)].empty())
    return false;
  int w = touch[size_t(u.from)].front();
  int writers = 0, first_writes = 0;
  for (int k : touch[size_t(u.from)])
    for_each_access(p.kernels[size_t(k)], [&](int b, bool write) {
      if (write && b == u.from)
        ++(k == w ? first_writes : writers);
    });
  const std::vector<int> &old = touch[size_t(u.to)];
  if (writers || !first_writes || (!old.empty() && old.back() > w))
    return false;
  return old.empty() || old.back() < w ||
         in_place_ok(p, p.kernels[size_t(w)], u.to, u.from);
}

} // namespace

int alias_updates(loop::Program &p) {
  std::vector<std::vector<int>> touch = touching(p);
  std::map<int, int> uses; // update sources and targets, counted
  for (const loop::UpdateCopy &u : p.updates)
    ++uses[u.from], ++uses[u.to];
  std::vector<loop::UpdateCopy> kept;
  int aliased = 0;
  for (const loop::UpdateCopy &u : p.updates) {
    if (uses[u.from] > 1 || uses[u.to] > 1 || !can_alias(p, u, touch)) {
      kept.push_back(u);
      continue;
    }
    loop::Buffer &b = p.buffers[size_t(u.from)];
    b.kind = BufferKind::State;
    b.arg_index = p.buffers[size_t(u.to)].arg_index;
    b.arena_offset = 0;
    ++aliased;
  }
  p.updates = std::move(kept);
  return aliased;
}

} // namespace kiln
