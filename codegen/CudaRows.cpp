/// \file
/// The analyses of the CUDA printer's memory-bound forms (CudaRows.h):
/// affine index analysis, the vectorized elementwise plan and the one-pass
/// row cache.
// SPDX-License-Identifier: Apache-2.0
#include "codegen/CudaRows.h"

#include "ir/Error.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <numeric>
#include <set>

namespace kiln::codegen {

using loop::ExprPtr;
using loop::Op;
using loop::Stmt;
using loop::StmtOp;
using loop::StmtPtr;
using Stmts = std::vector<StmtPtr>;

const char *kCudaRowsPrelude = R"KILN(
#ifndef KILN_CHECK_ALIGN
#define KILN_CHECK_ALIGN(p, n)
#endif
/* N values of T read or written as one 2-, 4-, 8- or 16-byte access. */
template <class T, int N> struct alignas(sizeof(T) * N) kiln_vec { T v[N]; };
template <int N, class T> KILN_D kiln_vec<T, N> kiln_vload(const T *p) {
  KILN_CHECK_ALIGN(p, sizeof(T) * N);
  return *reinterpret_cast<const kiln_vec<T, N> *>(p);
}
/* Combines v over the 32 threads of each of the 8 rows of a 256-thread block
   (thread t works on row t % 8): every thread returns its row's result, the
   parts combined in order. Every thread of the block must call it. */
template <class T, class F> __device__ T kiln_parts_reduce(T v, F f) {
  __shared__ T slots[32][8];
  __syncthreads();
  slots[threadIdx.x >> 3][threadIdx.x & 7] = v;
  __syncthreads();
  v = slots[0][threadIdx.x & 7];
  for (int k = 1; k < 32; ++k) v = f(v, slots[k][threadIdx.x & 7]);
  return v;
}
template <int N, class T> KILN_D void kiln_vstore(T *p, const kiln_vec<T, N> &v) {
  KILN_CHECK_ALIGN(p, sizeof(T) * N);
  *reinterpret_cast<kiln_vec<T, N> *>(p) = v;
}
)KILN";

bool uses_var(const ExprPtr &e, int v) {
  if (!e)
    return false;
  if (e->op == Op::Var && e->var == v)
    return true;
  return std::any_of(e->args.begin(), e->args.end(),
                     [&](const ExprPtr &a) { return uses_var(a, v); });
}

std::vector<const Stmt *> perfect_chain(const Stmt *s) {
  std::vector<const Stmt *> chain;
  const Stmt *at = s;
  while (at->op == StmtOp::For) {
    chain.push_back(at);
    if (at->body.size() != 1 || at->body[0]->op != StmtOp::For)
      break;
    at = at->body[0].get();
  }
  return chain;
}

int64_t trip_count(const std::vector<const Stmt *> &chain) {
  int64_t n = 1;
  for (const Stmt *l : chain)
    n *= l->extent;
  return n;
}

void expr_loads(const ExprPtr &e, std::set<int> &bufs) {
  if (!e)
    return;
  if (e->op == Op::Load)
    bufs.insert(e->buffer);
  for (const ExprPtr &a : e->args)
    expr_loads(a, bufs);
}

namespace {

void gather(const StmtPtr &s, Facts &f) {
  expr_loads(s->index, f.loads);
  expr_loads(s->value, f.loads);
  switch (s->op) {
  case StmtOp::Gemm:
  case StmtOp::Conv2d:
    f.contraction = true;
    return;
  case StmtOp::Store:
    f.stores.insert(s->buffer);
    f.store_stmts.push_back(s.get());
    return;
  case StmtOp::Decl:
    f.declared.insert(s->var);
    return;
  case StmtOp::Assign:
    f.assigned.insert(s->var);
    return;
  case StmtOp::For:
    f.loop = true;
    f.declared.insert(s->var);
    break;
  case StmtOp::Block:
    break;
  case StmtOp::Call:
    throw Error("cuda: " + s->call->fn +
                ": the collective ops have no CUDA lowering yet (NCCL is not "
                "wired; docs/distributed.md)");
  }
  for (const StmtPtr &c : s->body)
    gather(c, f);
}

} // namespace

Facts facts(const Stmts &body) {
  Facts f;
  for (const StmtPtr &s : body)
    gather(s, f);
  return f;
}

/// Iterations over \p vars of a loop nest with innermost \p body may run
/// in any order and at once: no scalar carried between them, no stored
/// buffer read, and every store's index names every variable (distinct
/// iterations write distinct elements) and reads no memory.
bool independent(const Stmts &body, const std::vector<int> &vars) {
  Facts f = facts(body);
  if (f.contraction)
    return false;
  for (int a : f.assigned)
    if (!f.declared.count(a))
      return false;
  for (int b : f.stores)
    if (f.loads.count(b))
      return false;
  for (const Stmt *s : f.store_stmts) {
    std::set<int> idx_loads;
    expr_loads(s->index, idx_loads);
    if (!idx_loads.empty())
      return false;
    for (int v : vars)
      if (!uses_var(s->index, v))
        return false;
  }
  return true;
}

/// The variables of \p chain's loops with more than one iteration.
std::vector<int> nonunit_vars(const std::vector<const Stmt *> &chain) {
  std::vector<int> v;
  for (const Stmt *l : chain)
    if (l->extent > 1)
      v.push_back(l->var);
  return v;
}

namespace {

bool is_identity(const ExprPtr &init, Op op) {
  if (init->op == Op::FloatImm) {
    if (op == Op::Add)
      return init->fval == 0.0;
    return std::isinf(init->fval) && (op == Op::Max) == (init->fval < 0);
  }
  if (init->op != Op::IntImm)
    return false;
  if (op == Op::Add)
    return init->ival == 0;
  bool i32 = init->dtype == DType::I32;
  int64_t lo = i32 ? std::numeric_limits<int32_t>::min()
                   : std::numeric_limits<int64_t>::min();
  int64_t hi = i32 ? std::numeric_limits<int32_t>::max()
                   : std::numeric_limits<int64_t>::max();
  return init->ival == (op == Op::Max ? lo : hi);
}

} // namespace

/// `acc = op(acc, e)` (or `op(e, acc)`) with op add, max or min and e free
/// of acc: returns op, else Op::IntImm.
Op reduction_op(const Stmt &s) {
  if (s.op != StmtOp::Assign)
    return Op::IntImm;
  const ExprPtr &v = s.value;
  if (v->op != Op::Add && v->op != Op::Max && v->op != Op::Min)
    return Op::IntImm;
  if (v->dtype == DType::Bool || v->dtype == DType::F16 ||
      v->dtype == DType::BF16)
    return Op::IntImm;
  auto is_acc = [&](const ExprPtr &e) {
    return e->op == Op::Var && e->var == s.var;
  };
  bool left = is_acc(v->args[0]) && !uses_var(v->args[1], s.var);
  bool right = is_acc(v->args[1]) && !uses_var(v->args[0], s.var);
  return left || right ? v->op : Op::IntImm;
}

/// True when every statement of \p body can run at block level, one row
/// per block; \p work is the largest trip count of its loops.
bool cooperative(const Stmts &body, int64_t &work) {
  std::map<int, ExprPtr> fresh; // accumulators still at their identity
  work = 0;
  for (const StmtPtr &s : body) {
    Coop c = classify(s, fresh);
    if (c == Coop::No)
      return false;
    if (c == Coop::Reduce || c == Coop::Split)
      work = std::max(work, trip_count(perfect_chain(s)));
  }
  return true;
}

Coop classify(const StmtPtr &s, std::map<int, ExprPtr> &fresh) {
  switch (s->op) {
  case StmtOp::Decl:
    fresh[s->var] = s->value;
    return Coop::Uniform;
  case StmtOp::Assign:
    fresh.erase(s->var);
    return Coop::Uniform;
  case StmtOp::Store:
    return Coop::Leader;
  case StmtOp::For:
    break;
  default:
    return Coop::No;
  }
  std::vector<const Stmt *> chain = perfect_chain(s);
  const Stmts &inner = chain.back()->body;
  Facts f = facts(inner);
  if (f.contraction)
    return Coop::No;
  if (f.assigned.empty() ||
      std::all_of(f.assigned.begin(), f.assigned.end(),
                  [&](int a) { return f.declared.count(a) > 0; }))
    return independent(inner, nonunit_vars(chain)) ? Coop::Split : Coop::No;
  // A reduction: only Decls and `acc = acc op e` of fresh accumulators.
  if (!f.stores.empty())
    return Coop::No;
  std::vector<int> accs;
  for (const StmtPtr &x : inner) {
    if (x->op == StmtOp::Decl)
      continue;
    Op op = reduction_op(*x);
    auto it = fresh.find(x->var);
    if (op == Op::IntImm || it == fresh.end() || !is_identity(it->second, op) ||
        f.declared.count(x->var))
      return Coop::No;
    accs.push_back(x->var);
  }
  // Assigned only by the top-level reduction statements above.
  for (int a : f.assigned)
    if (!f.declared.count(a) &&
        std::find(accs.begin(), accs.end(), a) == accs.end())
      return Coop::No;
  for (int a : accs)
    fresh.erase(a);
  return Coop::Reduce;
}

Affine affine_in(const ExprPtr &e, int v, const std::set<int> &zero) {
  Affine r;
  if (e->op == Op::IntImm || e->op == Op::Var) {
    r.ok = true;
    r.coef = e->op == Op::Var && e->var == v;
    r.multiple = e->op == Op::IntImm            ? std::abs(e->ival)
                 : r.coef || zero.count(e->var) ? 0
                                                : 1;
    return r;
  }
  bool binary = e->op == Op::Add || e->op == Op::Sub || e->op == Op::Mul;
  if (!binary) { // anything else: v-free, of unknown value
    r.ok = !uses_var(e, v);
    r.multiple = 1;
    return r;
  }
  Affine a = affine_in(e->args[0], v, zero), b = affine_in(e->args[1], v, zero);
  if (!a.ok || !b.ok)
    return r;
  r.ok = true;
  if (e->op != Op::Mul) {
    r.coef = e->op == Op::Add ? a.coef + b.coef : a.coef - b.coef;
    r.multiple = std::gcd(a.multiple, b.multiple);
    return r;
  }
  if (a.coef == 0 && b.coef == 0) {
    r.multiple = a.multiple * b.multiple;
    return r;
  }
  // v times a factor: only a literal keeps it affine.
  const ExprPtr &k = a.coef == 0 ? e->args[0] : e->args[1];
  const Affine &x = a.coef == 0 ? b : a;
  r.ok = k->op == Op::IntImm;
  r.coef = x.coef * k->ival;
  r.multiple = x.multiple * std::abs(k->ival);
  return r;
}

namespace {

/// Calls \p f on every load of \p e that is evaluated whenever \p e is
/// (not under a select's or a logical op's operands, not inside another
/// load's index); a nonnull return replaces the load.
ExprPtr map_loads(const ExprPtr &e,
                  const std::function<ExprPtr(const ExprPtr &)> &f) {
  if (!e)
    return e;
  if (e->op == Op::Load) {
    ExprPtr r = f(e);
    return r ? r : e;
  }
  if (e->op == Op::Select || e->op == Op::And || e->op == Op::Or ||
      e->args.empty())
    return e;
  auto out = std::make_shared<loop::Expr>(*e);
  bool changed = false;
  for (ExprPtr &a : out->args) {
    ExprPtr b = map_loads(a, f);
    changed |= b != a;
    a = b;
  }
  return changed ? ExprPtr(out) : e;
}

/// \p s with map_loads applied to its expressions and nested statements.
StmtPtr map_stmt_loads(const StmtPtr &s,
                       const std::function<ExprPtr(const ExprPtr &)> &f) {
  auto out = std::make_shared<Stmt>(*s);
  out->value = map_loads(s->value, f);
  for (StmtPtr &c : out->body)
    c = map_stmt_loads(c, f);
  return out;
}

void visit_loads(const StmtPtr &s,
                 const std::function<void(const ExprPtr &)> &f) {
  map_stmt_loads(s, [&](const ExprPtr &e) {
    f(e);
    return ExprPtr();
  });
}

/// A structural key of \p e with the variables in \p rename printed as
/// their position; false when e names a variable in neither \p rename nor
/// \p allowed, or loads memory.
bool expr_key(const ExprPtr &e, const std::map<int, int> &rename,
              const std::set<int> &allowed, std::string &key) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "(%d:%d:", int(e->op), int(e->dtype));
  key += buf;
  switch (e->op) {
  case Op::IntImm:
    key += std::to_string(e->ival);
    break;
  case Op::FloatImm:
    std::snprintf(buf, sizeof buf, "%a", e->fval);
    key += buf;
    break;
  case Op::Var:
    if (rename.count(e->var))
      key += "#" + std::to_string(rename.at(e->var));
    else if (allowed.count(e->var))
      key += "v" + std::to_string(e->var);
    else
      return false;
    break;
  case Op::Load:
    return false;
  default:
    break;
  }
  for (const ExprPtr &a : e->args)
    if (!expr_key(a, rename, allowed, key))
      return false;
  key += ")";
  return true;
}

/// The key of load \p e: its buffer and index.
bool load_key(const ExprPtr &e, const std::map<int, int> &rename,
              const std::set<int> &allowed, std::string &key) {
  key = "b" + std::to_string(e->buffer);
  return expr_key(e->args[0], rename, allowed, key);
}

bool straight_line(const Stmts &body) {
  return std::all_of(body.begin(), body.end(), [](const StmtPtr &s) {
    return s->op == StmtOp::Decl || s->op == StmtOp::Assign ||
           s->op == StmtOp::Store;
  });
}

/// An access of \p buf at \p index moves by one element per lane and
/// starts on a \p width-element boundary that is aligned in memory.
bool vector_access(const loop::Program &p, int buf, const ExprPtr &index, int v,
                   int width, const std::set<int> &zero) {
  const loop::Buffer &b = p.buffers[size_t(buf)];
  int64_t bytes = int64_t(dtype_size(b.dtype)) * width;
  if (bytes > 16 || (bytes & (bytes - 1)) != 0)
    return false;
  if (b.kind == loop::BufferKind::Temp && b.arena_offset % bytes != 0)
    return false;
  Affine a = affine_in(index, v, zero);
  return a.ok && a.coef == 1 && a.multiple % width == 0;
}

VectorPlan plan_width(const loop::Program &p,
                      const std::vector<const Stmt *> &rows, const Stmts &body,
                      size_t loop, int width) {
  VectorPlan plan;
  plan.loop = loop;
  plan.var = rows[loop]->var;
  std::set<int> row_vars, zero; // zero: loops of one iteration
  for (const Stmt *l : rows) {
    row_vars.insert(l->var);
    if (l->extent == 1)
      zero.insert(l->var);
  }
  std::map<std::string, size_t> seen;
  bool any_vector = false;
  auto hoist = [&](const ExprPtr &e) -> ExprPtr {
    std::string key;
    if (!load_key(e, {}, row_vars, key))
      return nullptr;
    auto it = seen.find(key);
    if (it == seen.end()) {
      HoistedLoad h;
      h.load = e;
      h.var = kFreshVar + int(plan.loads.size());
      h.vector = uses_var(e->args[0], plan.var);
      if (h.vector &&
          !vector_access(p, e->buffer, e->args[0], plan.var, width, zero))
        return nullptr; // read per lane
      any_vector |= h.vector;
      it = seen.emplace(key, plan.loads.size()).first;
      plan.loads.push_back(h);
    }
    return loop::var(plan.loads[it->second].var, e->dtype);
  };
  for (const StmtPtr &s : body) {
    StmtPtr r = map_stmt_loads(s, hoist);
    bool vs = s->op == StmtOp::Store &&
              vector_access(p, s->buffer, s->index, plan.var, width, zero);
    any_vector |= vs;
    plan.body.push_back(r);
    plan.vector_store.push_back(vs);
  }
  if (any_vector)
    plan.width = width;
  return plan;
}

} // namespace

VectorPlan plan_vector(const loop::Program &p,
                       const std::vector<const Stmt *> &rows,
                       const Stmts &body) {
  // The innermost loop of more than one iteration (loops of one after it
  // are 0).
  size_t loop = rows.size();
  while (loop > 0 && rows[loop - 1]->extent == 1)
    --loop;
  if (loop == 0 || !straight_line(body))
    return {};
  --loop;
  for (int width : {4, 2}) {
    if (rows[loop]->extent % width != 0)
      continue;
    VectorPlan plan = plan_width(p, rows, body, loop, width);
    if (plan.width > 1)
      return plan;
  }
  return {};
}

RowCache plan_row_cache(const std::vector<int> &row_vars, const Stmts &body,
                        const std::vector<bool> &split, int threads) {
  // Split statements grouped by the extents of their loop chains: the same
  // element of a row is the same index with the chain variables renamed
  // by position.
  std::set<int> stored;
  std::function<void(const StmtPtr &)> stores = [&](const StmtPtr &x) {
    if (x->op == StmtOp::Store)
      stored.insert(x->buffer);
    for (const StmtPtr &c : x->body)
      stores(c);
  };
  for (const StmtPtr &s : body)
    stores(s);
  std::set<int> allowed(row_vars.begin(), row_vars.end());
  struct Group {
    std::vector<size_t> stmts;
    std::vector<std::string> order;                ///< keys, first seen
    std::map<std::string, std::set<size_t>> users; ///< key -> statements
    std::map<std::string, std::pair<ExprPtr, size_t>> first;
  };
  std::map<std::string, Group> groups;
  std::vector<std::map<int, int>> renames(body.size());
  for (size_t i = 0; i < body.size(); ++i) {
    if (!split[i] || body[i]->op != StmtOp::For)
      continue;
    std::vector<const Stmt *> chain = perfect_chain(body[i]);
    std::string sig;
    for (size_t k = 0; k < chain.size(); ++k) {
      sig += std::to_string(chain[k]->extent) + ",";
      renames[i][chain[k]->var] = int(k);
    }
    Group &g = groups[sig];
    g.stmts.push_back(i);
    for (const StmtPtr &x : chain.back()->body)
      visit_loads(x, [&](const ExprPtr &e) {
        std::string key;
        if (stored.count(e->buffer) || !load_key(e, renames[i], allowed, key) ||
            key.find('#') == std::string::npos)
          return;
        if (!g.users.count(key)) {
          g.order.push_back(key);
          g.first[key] = {e, i};
        }
        g.users[key].insert(i);
      });
  }
  // The group with the most loads read by two or more statements.
  const Group *best = nullptr;
  std::vector<std::string> shared, best_shared;
  for (const auto &[sig, g] : groups) {
    shared.clear();
    for (const std::string &k : g.order)
      if (g.users.at(k).size() >= 2)
        shared.push_back(k);
    if (shared.size() > best_shared.size()) {
      best = &g;
      best_shared = shared;
    }
  }
  RowCache rc;
  if (!best)
    return rc;
  rc.n = trip_count(perfect_chain(body[best->stmts[0]]));
  rc.threads = threads;
  while (rc.threads < 1024 && (rc.n + rc.threads - 1) / rc.threads > 8)
    rc.threads *= 2;
  int64_t per = (rc.n + rc.threads - 1) / rc.threads;
  if (per > 8)
    return RowCache();
  rc.per_thread = int(per);
  size_t arrays = std::min(best_shared.size(), size_t(32 / per));
  std::map<std::string, int> var_of;
  for (size_t k = 0; k < arrays; ++k) {
    const auto &[load, stmt] = best->first.at(best_shared[k]);
    HoistedLoad h;
    h.load = load;
    h.var = kFreshVar + int(k);
    h.stmt = body[stmt].get();
    var_of[best_shared[k]] = h.var;
    rc.loads.push_back(h);
  }
  for (size_t i : best->stmts) {
    const Stmt *top = body[i].get();
    std::vector<StmtPtr> inner;
    for (const StmtPtr &x : perfect_chain(body[i]).back()->body)
      inner.push_back(map_stmt_loads(x, [&](const ExprPtr &e) -> ExprPtr {
        std::string key;
        if (!load_key(e, renames[i], allowed, key) || !var_of.count(key))
          return nullptr;
        return loop::var(var_of[key], e->dtype);
      }));
    rc.inner[top] = std::move(inner);
  }
  return rc;
}

bool columns_contiguous(int row_var, const Stmts &body,
                        const std::vector<bool> &split) {
  int across = 0;
  bool along = false;
  auto access = [&](const ExprPtr &index, int inner) {
    Affine a = affine_in(index, row_var), b = affine_in(index, inner);
    along |= b.ok && b.coef == 1;
    across += a.ok && a.coef == 1;
  };
  auto walk = [&](const StmtPtr &x, int inner) {
    if (x->op == StmtOp::Store)
      access(x->index, inner);
    visit_loads(x, [&](const ExprPtr &e) { access(e->args[0], inner); });
  };
  for (size_t i = 0; i < body.size(); ++i) {
    if (!split[i])
      continue;
    std::vector<const Stmt *> chain = perfect_chain(body[i]);
    for (const StmtPtr &x : chain.back()->body)
      walk(x, chain.back()->var);
  }
  return across > 0 && !along;
}

} // namespace kiln::codegen
