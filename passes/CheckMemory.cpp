/// \file
/// check_memory: verifies a program's arena plan without the planner's
/// code. Written on purpose as a second, separate implementation: its own
/// walk of the kernels, its own affine-index reasoning.
///
///  1. For every kernel, the sets of buffers it reads and writes (stores,
///     loads anywhere, Gemm/Conv2d operands and epilogues).
///  2. Every Temp buffer's life: the first to the last kernel touching it;
///     an UpdateCopy source to the step after the last kernel.
///  3. Every Temp buffer of nonzero size lies in [0, arena_bytes) at a
///     64-byte-aligned offset.
///  4. Sweeping the buffers by offset, any two whose bytes overlap and whose
///     lives share a step must be an exact in-place pair: the same offset
///     and size, one dies at kernel k where the other is born, and k stores
///     only the newborn, once per element, reading the dying one only at
///     the stored element's own index.
///  5. State buffers sharing an arg_index (updates computed in place): the
///     old value dies no later than the new one is born, and only in place.
// SPDX-License-Identifier: Apache-2.0
#include "passes/PlanMemory.h"

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

namespace kiln {

namespace {

using loop::Expr;
using loop::Op;
using loop::Stmt;
using loop::StmtOp;

struct Touch {
  std::set<int> reads, writes;
};

void reads_of(const Expr *e, std::set<int> &out) {
  if (!e)
    return;
  if (e->op == Op::Load)
    out.insert(e->buffer);
  for (const auto &a : e->args)
    reads_of(a.get(), out);
}

void touches(const Stmt &s, Touch &t) {
  for (const auto &c : s.body)
    touches(*c, t);
  reads_of(s.index.get(), t.reads);
  reads_of(s.value.get(), t.reads);
  if (s.op == StmtOp::Store)
    t.writes.insert(s.buffer);
  if (s.op == StmtOp::Gemm) {
    t.reads.insert({s.gemm->a, s.gemm->b});
    reads_of(s.gemm->epilogue.get(), t.reads);
    t.writes.insert(s.gemm->c);
  }
  if (s.op == StmtOp::Conv2d) {
    t.reads.insert({s.conv->x, s.conv->w});
    reads_of(s.conv->epilogue.get(), t.reads);
    t.writes.insert(s.conv->out);
  }
  if (s.op == StmtOp::Call) {
    t.reads.insert(s.call->reads.begin(), s.call->reads.end());
    t.writes.insert(s.call->writes.begin(), s.call->writes.end());
  }
}

bool equal(const Expr *a, const Expr *b) {
  if (a == b)
    return true;
  if (!a || !b)
    return false;
  if (a->op != b->op || a->dtype != b->dtype || a->ival != b->ival ||
      a->fval != b->fval || a->var != b->var || a->buffer != b->buffer ||
      a->args.size() != b->args.size())
    return false;
  return std::equal(
      a->args.begin(), a->args.end(), b->args.begin(),
      [](const auto &x, const auto &y) { return equal(x.get(), y.get()); });
}

/// The linear form of \p e: var -> coefficient (var -1: the constant).
bool linear(const Expr &e, int64_t k, std::map<int, int64_t> &form) {
  if (e.op == Op::IntImm)
    return form[-1] += k * e.ival, true;
  if (e.op == Op::Var)
    return form[e.var] += k, true;
  if (e.op == Op::Add)
    return linear(*e.args[0], k, form) && linear(*e.args[1], k, form);
  if (e.op != Op::Mul)
    return false;
  const Expr &a = *e.args[0], &b = *e.args[1];
  if (b.op == Op::IntImm)
    return linear(a, k * b.ival, form);
  return a.op == Op::IntImm && linear(b, k * a.ival, form);
}

/// The loops (var -> extent) around the kernel's only store; null when
/// the kernel is anything but loops around one store.
const Stmt *lone_store(const Stmt &s, std::map<int, int64_t> &loops,
                       int &stores, std::vector<const Stmt *> &decls) {
  if (s.op == StmtOp::Store)
    return ++stores, &s;
  if (s.op == StmtOp::Decl)
    return decls.push_back(&s), nullptr;
  if (s.op != StmtOp::Block && s.op != StmtOp::For)
    return stores = 2, nullptr;
  if (s.op == StmtOp::For)
    loops[s.var] = s.extent;
  const Stmt *found = nullptr;
  for (const auto &c : s.body)
    if (const Stmt *f = lone_store(*c, loops, stores, decls))
      found = f;
  return stores == 1 ? found : nullptr;
}

/// Every element index of the store is distinct over its loops.
bool distinct(const Expr &index, const std::map<int, int64_t> &loops) {
  std::map<int, int64_t> form;
  if (!linear(index, 1, form))
    return false;
  form.erase(-1);
  std::vector<std::pair<int64_t, int64_t>> terms; // |coefficient|, extent
  for (const auto &[v, n] : loops) {
    auto it = form.find(v);
    int64_t c = it == form.end() ? 0 : it->second;
    if (n > 1 && c <= 0)
      return false;
    if (n > 1)
      terms.push_back({c, n});
  }
  for (const auto &[v, c] : form)
    if (c != 0 && !loops.count(v))
      return false;
  std::sort(terms.begin(), terms.end());
  int64_t span = 0;
  for (const auto &[c, n] : terms) {
    if (c <= span)
      return false;
    span += c * (n - 1);
  }
  return true;
}

/// \p x and \p y are equal at every point of \p loops: the same tree, or
/// linear forms equal once loops of extent 1 (always 0) are dropped.
bool same_value(const Expr *x, const Expr *y,
                const std::map<int, int64_t> &loops) {
  if (equal(x, y))
    return true;
  std::map<int, int64_t> fx, fy;
  if (!x || !y || !linear(*x, 1, fx) || !linear(*y, 1, fy))
    return false;
  for (auto *f : {&fx, &fy})
    for (auto it = f->begin(); it != f->end();)
      if (it->second == 0 ||
          (loops.count(it->first) && loops.at(it->first) == 1))
        it = f->erase(it);
      else
        ++it;
  return fx == fy;
}

/// Loads of \p b in \p e all at \p at (null: none allowed).
bool loads_at(const Expr *e, int b, const Expr *at,
              const std::map<int, int64_t> &loops) {
  if (!e)
    return true;
  if (e->op == Op::Load && e->buffer == b &&
      !(at && same_value(e->args[0].get(), at, loops)))
    return false;
  return std::all_of(e->args.begin(), e->args.end(), [&](const auto &a) {
    return loads_at(a.get(), b, at, loops);
  });
}

/// Kernel \p k may overwrite \p dying with \p born element by element.
bool exact_in_place(const loop::Kernel &k, int dying, int born) {
  std::map<int, int64_t> loops;
  int stores = 0;
  std::vector<const Stmt *> decls;
  const Stmt *s = lone_store(*k.body, loops, stores, decls);
  for (const Stmt *d : decls) // scalars (hoisted invariants) read no dying
    if (!loads_at(d->value.get(), dying, nullptr, loops))
      return false;
  return s && s->buffer == born && distinct(*s->index, loops) &&
         loads_at(s->index.get(), dying, nullptr, loops) &&
         loads_at(s->value.get(), dying, s->index.get(), loops);
}

/// State buffers that share an arg_index (an update computed in place):
/// the older must be dead when the newer is born, or die there in place,
/// and no UpdateCopy may also write that state.
std::string check_state_aliases(const loop::Program &p,
                                const std::vector<int> &born,
                                const std::vector<int> &dies) {
  std::map<int, std::vector<int>> by_arg;
  for (size_t b = 0; b < p.buffers.size(); ++b)
    if (p.buffers[b].kind == loop::BufferKind::State)
      by_arg[p.buffers[b].arg_index].push_back(int(b));
  for (const auto &[arg, bufs] : by_arg) {
    for (const loop::UpdateCopy &u : p.updates)
      if (bufs.size() > 1 && std::count(bufs.begin(), bufs.end(), u.to))
        return "state " + std::to_string(arg) + " is aliased and copied";
    for (size_t i = 0; i + 1 < bufs.size(); ++i) {
      int x = bufs[i], y = bufs[i + 1], k = born[size_t(y)];
      if (k < 0 || dies[size_t(x)] < k)
        continue;
      const loop::Buffer &a = p.buffers[size_t(x)], &b = p.buffers[size_t(y)];
      if (dies[size_t(x)] == k && a.bytes() == b.bytes() &&
          dtype_size(a.dtype) == dtype_size(b.dtype) &&
          k < int(p.kernels.size()) &&
          exact_in_place(p.kernels[size_t(k)], x, y))
        continue;
      return "state %" + a.name + " is still read when %" + b.name +
             " overwrites it";
    }
  }
  return "";
}

/// The first and last step at which each buffer is touched (-1: never).
void lives(const loop::Program &p, std::vector<int> &born,
           std::vector<int> &dies) {
  born.assign(p.buffers.size(), -1);
  dies.assign(p.buffers.size(), -1);
  auto live_at = [&](int b, int step) {
    if (born[size_t(b)] < 0)
      born[size_t(b)] = step;
    dies[size_t(b)] = step;
  };
  for (size_t k = 0; k < p.kernels.size(); ++k) {
    Touch t;
    touches(*p.kernels[k].body, t);
    for (int b : t.reads)
      live_at(b, int(k));
    for (int b : t.writes)
      live_at(b, int(k));
  }
  for (const loop::UpdateCopy &u : p.updates)
    live_at(u.from, int(p.kernels.size()));
}

/// Every Temp buffer is an aligned slot inside the arena; \p temps gets
/// the live ones.
std::string check_slots(const loop::Program &p, const std::vector<int> &born,
                        std::vector<int> &temps) {
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    const loop::Buffer &buf = p.buffers[b];
    if (buf.kind != loop::BufferKind::Temp || buf.bytes() == 0)
      continue;
    std::ostringstream err;
    if (buf.arena_offset < 0 || buf.arena_offset % 64 != 0 ||
        buf.arena_offset + buf.bytes() > p.arena_bytes) {
      err << "%" << buf.name << " at [" << buf.arena_offset << ", "
          << buf.arena_offset + buf.bytes() << ") is not a 64-byte-aligned "
          << "slot inside the arena of " << p.arena_bytes << " bytes";
      return err.str();
    }
    if (born[b] >= 0)
      temps.push_back(int(b));
  }
  return "";
}

} // namespace

std::string check_memory(const loop::Program &p) {
  const int end = int(p.kernels.size());
  std::vector<int> born, dies, temps;
  lives(p, born, dies);
  std::string err = check_slots(p, born, temps);
  if (!err.empty())
    return err;
  std::sort(temps.begin(), temps.end(), [&](int a, int b) {
    return p.buffers[size_t(a)].arena_offset <
           p.buffers[size_t(b)].arena_offset;
  });
  for (size_t i = 0; i < temps.size(); ++i) {
    const loop::Buffer &a = p.buffers[size_t(temps[i])];
    for (size_t j = i + 1; j < temps.size(); ++j) {
      const loop::Buffer &b = p.buffers[size_t(temps[j])];
      if (b.arena_offset >= a.arena_offset + a.bytes())
        break; // sorted by offset: no later buffer reaches into a
      int x = temps[i], y = temps[j];
      if (born[size_t(x)] > born[size_t(y)])
        std::swap(x, y); // x is born first
      if (dies[size_t(x)] < born[size_t(y)])
        continue; // never live together
      int k = born[size_t(y)];
      if (dies[size_t(x)] == k && born[size_t(x)] < k && k < end &&
          a.arena_offset == b.arena_offset && a.bytes() == b.bytes() &&
          dtype_size(a.dtype) == dtype_size(b.dtype) &&
          exact_in_place(p.kernels[size_t(k)], x, y))
        continue;
      return "%" + p.buffers[size_t(x)].name + " and %" +
             p.buffers[size_t(y)].name +
             " overlap in the arena and are both live at " +
             (k < end ? p.kernels[size_t(k)].name : std::string("the end"));
    }
  }
  return check_state_aliases(p, born, dies);
}

} // namespace kiln
