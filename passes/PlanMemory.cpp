/// \file
/// plan-memory: live intervals, in-place pairs and greedy arena placement.
///
/// The pass, step by step:
///  0. Update aliasing (alias_updates). An `{updates}` result whose state's
///     old value is dead once it is written is computed directly in the
///     state buffer: no arena slot, no copy after the last kernel.
///  1. Live intervals. Walk every kernel's stores, loads, Gemm/Conv2d
///     operands and epilogues in kernel order: a Temp buffer is live from
///     the first kernel that touches it to the last; an UpdateCopy source
///     to step kernels.size() (the copies after the last kernel).
///  2. In-place pairs. At kernel k, an input X whose interval ends at k and
///     the output Y whose interval starts at k join one allocation unit when
///     in_place_ok(k, X, Y) holds (each X and each Y at most once).
///  3. Lower bound. The largest sum of unit sizes (bytes rounded up to 64)
///     live at one step.
///  4. Placement. For each ordering of the units (size, start, lifetime,
///     size x lifetime, bytes live around the unit; all descending but
///     start), place each unit at the best-fitting gap between the units
///     already placed whose intervals overlap its own, or above them all.
///     Keep the smallest arena; stop once it equals the lower bound.
///  5. Promotion. While above the bound, move the units that reach the top
///     of the best plan to the front of its order and place again (32
///     rounds at most).
// SPDX-License-Identifier: Apache-2.0
#include "passes/PlanMemory.h"

#include <algorithm>
#include <functional>
#include <map>
#include <numeric>

namespace kiln {

using loop::BufferKind;
using loop::ExprPtr;
using loop::Op;
using loop::StmtOp;
using loop::StmtPtr;

int64_t arena_size(const loop::Buffer &b) { return (b.bytes() + 63) / 64 * 64; }

namespace {

using Access = std::function<void(int buffer, bool write)>;

void walk_expr(const ExprPtr &e, const Access &fn) {
  if (!e)
    return;
  if (e->op == Op::Load)
    fn(e->buffer, false);
  for (const ExprPtr &a : e->args)
    walk_expr(a, fn);
}

void walk_stmt(const StmtPtr &s, const Access &fn) {
  switch (s->op) {
  case StmtOp::Block:
  case StmtOp::For:
    for (const StmtPtr &c : s->body)
      walk_stmt(c, fn);
    return;
  case StmtOp::Store:
    walk_expr(s->index, fn);
    walk_expr(s->value, fn);
    fn(s->buffer, true);
    return;
  case StmtOp::Decl:
  case StmtOp::Assign:
    walk_expr(s->value, fn);
    return;
  case StmtOp::Gemm:
    fn(s->gemm->a, false);
    fn(s->gemm->b, false);
    walk_expr(s->gemm->epilogue, fn);
    fn(s->gemm->c, true);
    return;
  case StmtOp::Conv2d:
    fn(s->conv->x, false);
    fn(s->conv->w, false);
    walk_expr(s->conv->epilogue, fn);
    fn(s->conv->out, true);
    return;
  case StmtOp::Call:
    for (int b : s->call->reads)
      fn(b, false);
    for (int b : s->call->writes)
      fn(b, true);
    return;
  }
}

bool same_expr(const ExprPtr &a, const ExprPtr &b) {
  if (a == b)
    return true;
  if (!a || !b || a->op != b->op || a->dtype != b->dtype ||
      a->ival != b->ival || a->fval != b->fval || a->var != b->var ||
      a->buffer != b->buffer || a->args.size() != b->args.size())
    return false;
  for (size_t i = 0; i < a->args.size(); ++i)
    if (!same_expr(a->args[i], b->args[i]))
      return false;
  return true;
}

/// \p e as sum(coef[var] * var) + constant; false when it is not affine.
bool affine(const ExprPtr &e, std::map<int, int64_t> &coef, int64_t &constant,
            int64_t scale) {
  switch (e->op) {
  case Op::IntImm:
    constant += scale * e->ival;
    return true;
  case Op::Var:
    coef[e->var] += scale;
    return true;
  case Op::Add:
    return affine(e->args[0], coef, constant, scale) &&
           affine(e->args[1], coef, constant, scale);
  case Op::Mul:
    for (int i = 0; i < 2; ++i)
      if (e->args[size_t(i)]->op == Op::IntImm)
        return affine(e->args[size_t(1 - i)], coef, constant,
                      scale * e->args[size_t(i)]->ival);
    return false;
  default:
    return false;
  }
}

/// True when \p index takes a different value at every point of the loops
/// \p extents (var -> extent): affine with positive coefficients that nest
/// like mixed-radix digits.
bool injective(const ExprPtr &index, const std::map<int, int64_t> &extents) {
  std::map<int, int64_t> coef;
  int64_t constant = 0;
  if (!affine(index, coef, constant, 1))
    return false;
  std::vector<std::pair<int64_t, int64_t>> digits; // coefficient, extent
  for (const auto &[v, c] : coef) {
    auto it = extents.find(v);
    if (it == extents.end())
      return false;
    if (it->second > 1)
      digits.push_back({c, it->second});
  }
  for (const auto &[v, n] : extents)
    if (n > 1 && !coef.count(v))
      return false; // a loop the index ignores: stores repeat
  std::sort(digits.begin(), digits.end());
  int64_t reach = 0; // the largest index offset of the smaller digits
  for (const auto &[c, n] : digits) {
    if (c <= reach)
      return false;
    reach += c * (n - 1);
  }
  return true;
}

/// Finds the one Store of a nest of For loops and the scalars declared
/// around it (\p decls); false for anything else.
bool single_store(const StmtPtr &s, std::map<int, int64_t> &extents,
                  const loop::Stmt *&store,
                  std::vector<const loop::Stmt *> &decls) {
  switch (s->op) {
  case StmtOp::Block:
  case StmtOp::For:
    if (s->op == StmtOp::For)
      extents[s->var] = s->extent;
    for (const StmtPtr &c : s->body)
      if (!single_store(c, extents, store, decls))
        return false;
    return true;
  case StmtOp::Store:
    if (store)
      return false;
    store = s.get();
    return true;
  case StmtOp::Decl:
    decls.push_back(s.get());
    return true;
  default:
    return false;
  }
}

/// \p a and \p b have the same value at every point of the loops
/// \p extents: the same expression, or the same affine form once the loops
/// of extent 1 (always 0) are dropped.
bool same_index(const ExprPtr &a, const ExprPtr &b,
                const std::map<int, int64_t> &extents) {
  if (same_expr(a, b))
    return true;
  std::map<int, int64_t> ca, cb;
  int64_t ka = 0, kb = 0;
  if (!a || !b || !affine(a, ca, ka, 1) || !affine(b, cb, kb, 1))
    return false;
  auto strip = [&](std::map<int, int64_t> &c) {
    for (auto it = c.begin(); it != c.end();) {
      auto e = extents.find(it->first);
      bool zero = it->second == 0 || (e != extents.end() && e->second == 1);
      it = zero ? c.erase(it) : std::next(it);
    }
  };
  strip(ca);
  strip(cb);
  return ka == kb && ca == cb;
}

/// Every load of \p buffer in \p e is at \p index (null: none is).
bool loads_only_at(const ExprPtr &e, int buffer, const ExprPtr &index,
                   const std::map<int, int64_t> &extents) {
  if (!e)
    return true;
  if (e->op == Op::Load && e->buffer == buffer &&
      !(index && same_index(e->args[0], index, extents)))
    return false;
  for (const ExprPtr &a : e->args)
    if (!loads_only_at(a, buffer, index, extents))
      return false;
  return true;
}

} // namespace

std::vector<LiveInterval> live_intervals(const loop::Program &p) {
  std::vector<LiveInterval> iv(p.buffers.size());
  auto touch = [&](int b, int step) {
    if (b < 0 || p.buffers[size_t(b)].kind != BufferKind::Temp)
      return;
    LiveInterval &i = iv[size_t(b)];
    if (i.first < 0)
      i.first = step;
    i.first = std::min(i.first, step);
    i.last = std::max(i.last, step);
  };
  for (size_t k = 0; k < p.kernels.size(); ++k)
    walk_stmt(p.kernels[k].body, [&](int b, bool) { touch(b, int(k)); });
  for (const loop::UpdateCopy &u : p.updates)
    touch(u.from, int(p.kernels.size()));
  return iv;
}

void for_each_access(const loop::Kernel &k,
                     const std::function<void(int buffer, bool write)> &fn) {
  walk_stmt(k.body, fn);
}

int first_writer(const loop::Program &p, int buffer) {
  for (size_t k = 0; k < p.kernels.size(); ++k) {
    bool writes = false;
    walk_stmt(p.kernels[k].body,
              [&](int b, bool write) { writes |= write && b == buffer; });
    if (writes)
      return int(k);
  }
  return -1;
}

bool in_place_ok(const loop::Program &p, const loop::Kernel &k, int in,
                 int out) {
  const loop::Buffer &a = p.buffers[size_t(in)], &b = p.buffers[size_t(out)];
  if (in == out || a.numel != b.numel ||
      dtype_size(a.dtype) != dtype_size(b.dtype))
    return false;
  std::map<int, int64_t> extents;
  const loop::Stmt *store = nullptr;
  std::vector<const loop::Stmt *> decls;
  if (!single_store(k.body, extents, store, decls) || !store ||
      store->buffer != out)
    return false;
  // A scalar (a hoisted invariant) must not read the input at all.
  for (const loop::Stmt *d : decls)
    if (!loads_only_at(d->value, in, nullptr, extents))
      return false;
  return loads_only_at(store->value, in, store->index, extents) &&
         loads_only_at(store->index, in, nullptr, extents) &&
         injective(store->index, extents);
}

namespace {

/// Buffers that share one arena slot: a chain of in-place pairs.
struct Unit {
  std::vector<int> buffers;
  LiveInterval iv;
  int64_t size = 0;
};

using PairFn = std::function<bool(int kernel, int in, int out)>;

/// Groups the live Temp buffers of \p p into units, joining the pairs that
/// \p pair accepts (each input and each output once).
std::vector<Unit> make_units(const loop::Program &p,
                             const std::vector<LiveInterval> &iv,
                             const PairFn &pair) {
  size_t steps = p.kernels.size() + 1;
  std::vector<std::vector<int>> starting(steps), ending(steps);
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    if (!iv[b].live() || arena_size(p.buffers[b]) == 0)
      continue;
    starting[size_t(iv[b].first)].push_back(int(b));
    if (iv[b].first < iv[b].last)
      ending[size_t(iv[b].last)].push_back(int(b));
  }
  std::vector<Unit> units;
  std::vector<int> unit_of(p.buffers.size(), -1);
  for (size_t k = 0; k < steps; ++k)
    for (int y : starting[k]) {
      const LiveInterval &yi = iv[size_t(y)];
      for (int &x : ending[k]) {
        if (x < 0 || k >= p.kernels.size() || !pair(int(k), x, y))
          continue;
        Unit &u = units[size_t(unit_of[size_t(x)])];
        u.buffers.push_back(y);
        u.iv.last = std::max(u.iv.last, yi.last);
        unit_of[size_t(y)] = unit_of[size_t(x)];
        x = -1; // each input hosts one output
        break;
      }
      if (unit_of[size_t(y)] >= 0)
        continue;
      unit_of[size_t(y)] = int(units.size());
      units.push_back({{y}, yi, arena_size(p.buffers[size_t(y)])});
    }
  return units;
}

/// Bytes of the units live at each step.
std::vector<int64_t> profile(const std::vector<Unit> &units, size_t steps) {
  std::vector<int64_t> d(steps + 1, 0);
  for (const Unit &u : units) {
    d[size_t(u.iv.first)] += u.size;
    d[size_t(u.iv.last) + 1] -= u.size;
  }
  std::vector<int64_t> live(steps, 0);
  int64_t run = 0;
  for (size_t t = 0; t < steps; ++t)
    live[t] = run += d[t];
  return live;
}

MemoryStats stats_of(const loop::Program &p, const std::vector<Unit> &units) {
  MemoryStats st;
  for (const loop::Buffer &b : p.buffers)
    if (b.kind == BufferKind::Temp)
      st.no_reuse += arena_size(b);
  std::vector<int64_t> live = profile(units, p.kernels.size() + 1);
  for (size_t t = 0; t < live.size(); ++t)
    if (live[t] > st.lower_bound) {
      st.lower_bound = live[t];
      st.peak_step = int(t);
    }
  return st;
}

/// Places the units in \p order, each at the smallest gap that fits among
/// the placed units live at the same time (or above them); the arena size.
int64_t place(const std::vector<Unit> &units, const std::vector<size_t> &order,
              std::vector<int64_t> &offset) {
  offset.assign(units.size(), 0);
  std::vector<size_t> placed;
  std::vector<std::pair<int64_t, int64_t>> taken;
  int64_t arena = 0;
  for (size_t i : order) {
    const Unit &u = units[i];
    taken.clear();
    for (size_t j : placed)
      if (units[j].iv.overlaps(u.iv))
        taken.push_back({offset[j], offset[j] + units[j].size});
    std::sort(taken.begin(), taken.end());
    int64_t at = -1, best_gap = INT64_MAX, end = 0;
    for (const auto &[lo, hi] : taken) {
      int64_t gap = lo - end;
      if (gap >= u.size && gap < best_gap) {
        best_gap = gap;
        at = end;
      }
      end = std::max(end, hi);
    }
    offset[i] = at >= 0 ? at : end;
    arena = std::max(arena, offset[i] + u.size);
    placed.push_back(i);
  }
  return arena;
}

/// The orderings plan_memory tries, by name: sort keys, larger first.
std::vector<std::pair<const char *, std::vector<int64_t>>>
orderings(const std::vector<Unit> &units, const std::vector<int64_t> &live) {
  std::vector<std::pair<const char *, std::vector<int64_t>>> keys = {
      {"size", {}},
      {"start", {}},
      {"lifetime", {}},
      {"area", {}},
      {"peak", {}}};
  for (const Unit &u : units) {
    int64_t len = u.iv.last - u.iv.first + 1, around = 0;
    for (int t = u.iv.first; t <= u.iv.last; ++t)
      around = std::max(around, live[size_t(t)]);
    keys[0].second.push_back(u.size);
    keys[1].second.push_back(-int64_t(u.iv.first));
    keys[2].second.push_back(len);
    keys[3].second.push_back(u.size * len);
    keys[4].second.push_back(around);
  }
  return keys;
}

/// Places \p units in every ordering, then (while above \p bound) moves the
/// units that reach the top of the best plan to the front of its order and
/// places again; returns the smallest plan's offsets.
std::vector<int64_t> search(const std::vector<Unit> &units,
                            const std::vector<int64_t> &live, int64_t bound,
                            bool stop, int64_t &best_arena,
                            std::string &strategy) {
  std::vector<int64_t> best, offset;
  std::vector<size_t> best_order;
  best_arena = INT64_MAX;
  auto consider = [&](const std::vector<size_t> &order, const char *name) {
    int64_t arena = place(units, order, offset);
    if (arena < best_arena) {
      best_arena = arena;
      best = offset;
      best_order = order;
      strategy = name;
    }
    return stop && best_arena <= bound;
  };
  for (const auto &[name, key] : orderings(units, live)) {
    std::vector<size_t> order(units.size());
    std::iota(order.begin(), order.end(), 0);
    const std::vector<int64_t> &k = key;
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
      return k[a] != k[b] ? k[a] > k[b] : units[a].size > units[b].size;
    });
    if (consider(order, name))
      return best;
  }
  std::vector<size_t> order = best_order;
  for (int round = 0; round < 32 && !units.empty(); ++round) {
    int64_t top = place(units, order, offset);
    std::stable_partition(order.begin(), order.end(), [&](size_t i) {
      return offset[i] + units[i].size == top;
    });
    if (consider(order, "promote"))
      break;
  }
  return best;
}

} // namespace

MemoryStats plan_memory(loop::Program &p, const PlanOptions &options) {
  if (options.alias_updates)
    alias_updates(p);
  std::vector<LiveInterval> iv = live_intervals(p);
  std::vector<Unit> units = make_units(p, iv, [&](int k, int x, int y) {
    return options.in_place && in_place_ok(p, p.kernels[size_t(k)], x, y);
  });
  MemoryStats st = stats_of(p, units);
  int64_t best_arena = 0;
  std::vector<int64_t> best =
      search(units, profile(units, p.kernels.size() + 1), st.lower_bound,
             options.stop_at_lower_bound, best_arena, st.strategy);
  int64_t arena = units.empty() ? 0 : best_arena;
  for (size_t b = 0; b < p.buffers.size(); ++b)
    if (p.buffers[b].kind == BufferKind::Temp) {
      p.buffers[b].arena_offset = 0; // dead or empty: any place will do
      if (!iv[b].live())
        arena = std::max(arena, arena_size(p.buffers[b]));
    }
  for (size_t u = 0; u < units.size(); ++u)
    for (int b : units[u].buffers)
      p.buffers[size_t(b)].arena_offset = best[u];
  p.arena_bytes = arena;
  st.arena_bytes = arena;
  return st;
}

namespace {
/// The units of \p p's current plan: eligible pairs that share an offset.
std::vector<Unit> planned_units(const loop::Program &p) {
  return make_units(p, live_intervals(p), [&](int k, int x, int y) {
    return p.buffers[size_t(x)].arena_offset ==
               p.buffers[size_t(y)].arena_offset &&
           in_place_ok(p, p.kernels[size_t(k)], x, y);
  });
}
} // namespace

MemoryStats memory_summary(const loop::Program &p) {
  MemoryStats st = stats_of(p, planned_units(p));
  st.arena_bytes = p.arena_bytes;
  return st;
}

std::vector<int64_t> live_bytes(const loop::Program &p) {
  return profile(planned_units(p), p.kernels.size() + 1);
}

} // namespace kiln
