/// \file
/// The CUDA printer: maps each top-level statement of a Loop IR kernel to a
/// launch (CudaPrinter.h gives the rules) and prints it with the shared
/// expression printer in the CUDA dialect.
// SPDX-License-Identifier: Apache-2.0
#include "codegen/CudaPrinter.h"

#include "codegen/Instrument.h"

#include "codegen/CExpr.h"
#include "codegen/CPrinter.h"
#include "codegen/CudaGemm.h"
#include "codegen/CudaMma.h"
#include "codegen/CudaPrelude.h"
#include "codegen/CudaRows.h"
#include "ir/Error.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>
#include <sstream>

namespace kiln::codegen {

using loop::ExprPtr;
using loop::Op;
using loop::Stmt;
using loop::StmtOp;
using loop::StmtPtr;
using Stmts = std::vector<StmtPtr>;

namespace {

constexpr int64_t kMaxGrid = 1 << 16; ///< blocks of a grid-stride launch

void expr_loads(const ExprPtr &e, std::set<int> &bufs) {
  if (!e)
    return;
  if (e->op == Op::Load)
    bufs.insert(e->buffer);
  for (const ExprPtr &a : e->args)
    expr_loads(a, bufs);
}

/// What a statement list reads, writes and declares.
struct Facts {
  std::set<int> loads, stores, declared, assigned;
  std::vector<const Stmt *> store_stmts;
  bool contraction = false, loop = false;
};

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

constexpr const char *kPlaceholder = "KILN_KERNEL";

/// The variables of \p s in order of first appearance.
void expr_vars(const ExprPtr &e, std::vector<int> &vars) {
  if (!e)
    return;
  if (e->op == Op::Var)
    vars.push_back(e->var);
  for (const ExprPtr &a : e->args)
    expr_vars(a, vars);
}

void stmt_vars(const StmtPtr &s, std::vector<int> &vars) {
  if (s->op == StmtOp::For || s->op == StmtOp::Decl || s->op == StmtOp::Assign)
    vars.push_back(s->var);
  expr_vars(s->index, vars);
  expr_vars(s->value, vars);
  for (const StmtPtr &c : s->body)
    stmt_vars(c, vars);
}

void loop_vars(const StmtPtr &s, std::set<int> &vars) {
  if (s->op == StmtOp::For)
    vars.insert(s->var);
  for (const StmtPtr &c : s->body)
    loop_vars(c, vars);
}

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

/// How a block-level statement of a block-per-row kernel runs.
enum class Coop { Uniform, Leader, Reduce, Split, No };

class CudaWriter {
public:
  CudaWriter(const loop::Program &p, std::string prefix,
             const CudaEmitOptions &o)
      : p_(p), prefix_(std::move(prefix)), opts_(o), ep_(p, kCudaDialect) {
    // 32-bit index arithmetic when every index fits (the common case):
    // 64-bit division costs tens of instructions on the GPU.
    ep_.index32 = std::all_of(
        p.buffers.begin(), p.buffers.end(),
        [](const loop::Buffer &b) { return b.numel < (int64_t(1) << 30); });
    for (const loop::Kernel &k : p.kernels)
      loop_vars(k.body, ep_.index_vars);
  }

  CudaProgram run() {
    for (const loop::Kernel &k : p_.kernels)
      kernel(k);
    std::string head = "/* generated by kiln from @" + p_.name +
                       " (CUDA) */\n" + kCudaPrelude + kCudaRowsPrelude +
                       (uses_mma_ ? kCudaMmaPrelude : "") + "typedef " +
                       (ep_.index32 ? "int" : "long long") + " kiln_ix;\n\n";
    return {head + out_.str(), std::move(launches_), scratch_bytes_};
  }

private:
  void kernel(const loop::Kernel &k) {
    kernel_ = &k;
    index_ = 0;
    const Stmts &top =
        k.body->op == StmtOp::Block ? k.body->body : Stmts{k.body};
    bool scalar_code = std::any_of(top.begin(), top.end(), [](auto &s) {
      return s->op != StmtOp::For && s->op != StmtOp::Gemm &&
             s->op != StmtOp::Conv2d && s->op != StmtOp::Block;
    });
    if (scalar_code) {
      // Top-level scalars (a reduction to one value): one block, or one
      // thread when the statements do not split over threads.
      KILN_CHECK(!facts(top).contraction)
          << "kernel " << k.name << " mixes scalar code and a contraction";
      int64_t work = 0;
      if (cooperative(top, work))
        return rows_kernel({}, top, true, pow2_threads(work, 1024));
      return serial(top);
    }
    for (const StmtPtr &s : top)
      statement(s);
  }

  void statement(const StmtPtr &s) {
    switch (s->op) {
    case StmtOp::Block:
      for (const StmtPtr &c : s->body)
        statement(c);
      return;
    case StmtOp::Gemm:
    case StmtOp::Conv2d:
      return contraction(*s);
    case StmtOp::For:
      return loop_nest(s);
    default:
      KILN_UNREACHABLE("scalar statements are handled per kernel");
    }
  }

  /// A top-level loop nest: the longest prefix of its perfect chain whose
  /// iterations are independent becomes the rows.
  void loop_nest(const StmtPtr &s) {
    std::vector<const Stmt *> chain = perfect_chain(s);
    for (size_t n = chain.size(); n > 0; --n) {
      std::vector<const Stmt *> rows(chain.begin(), chain.begin() + long(n));
      const Stmts &body = rows.back()->body;
      if (!independent(body, nonunit_vars(rows)))
        continue;
      int64_t work = 0;
      if (cooperative(body, work) && work >= 32)
        return rows_kernel(
            rows, body, true,
            pow2_threads(work, trip_count(rows) > 1 ? 256 : 1024));
      return rows_kernel(rows, body, false, 256);
    }
    // The lowering's promise: its parallel loop (below loops of one
    // iteration) runs on OpenMP threads on the CPU, so its iterations are
    // independent (a scatter-add parallel over columns).
    for (size_t n = 0; n < chain.size(); ++n) {
      if (chain[n]->loop == loop::LoopKind::Parallel) {
        std::vector<const Stmt *> rows(chain.begin(),
                                       chain.begin() + long(n) + 1);
        return rows_kernel(rows, chain[n]->body, false, 256);
      }
      if (chain[n]->extent != 1)
        break;
    }
    serial({s});
  }

  static int pow2_threads(int64_t work, int cap) {
    int t = 32;
    while (t < cap && t < work)
      t *= 2;
    return t;
  }

  // ---- block-level analysis -------------------------------------------

  /// True when every statement of \p body can run at block level, one row
  /// per block; \p work is the largest trip count of its loops.
  bool cooperative(const Stmts &body, int64_t &work) const {
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

  Coop classify(const StmtPtr &s, std::map<int, ExprPtr> &fresh) const {
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
      if (op == Op::IntImm || it == fresh.end() ||
          !is_identity(it->second, op) || f.declared.count(x->var))
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

  // ---- printing --------------------------------------------------------

  std::string next_name() {
    return prefix_ + c_identifier(kernel_->name) + "_" +
           std::to_string(index_++);
  }

  /// Starts the kernel of \p body in os_: names its buffers p0, p1, ...
  /// and its variables v0, v1, ... in order of appearance, so identical
  /// statements print identically, and opens `extern "C" __global__ void
  /// KILN_KERNEL(params) {`.
  void open_kernel(const Stmts &body, int threads, CudaLaunch l,
                   const std::string &scratch = "") {
    std::set<int> bufs;
    Facts f = facts(body);
    bufs.insert(f.loads.begin(), f.loads.end());
    bufs.insert(f.stores.begin(), f.stores.end());
    l.block = threads;
    l.buffers.assign(bufs.begin(), bufs.end());
    name_locals(l.buffers, body);
    std::string ps = params(l.buffers);
    if (!scratch.empty()) { // the scratch area: buffer index buffers.size()
      ps = (l.buffers.empty() ? "" : ps + ", ") + scratch + " kiln_scratch";
      l.buffers.push_back(int(p_.buffers.size()));
    }
    os_ << "extern \"C\" __global__ void __launch_bounds__(" << threads << ") "
        << kPlaceholder << "(" << ps << ") {\n";
    pending_ = std::move(l);
  }

  void name_locals(const std::vector<int> &bufs, const Stmts &body) {
    os_.str("");
    ep_.buf_names.clear();
    ep_.var_names.clear();
    for (int b : bufs)
      ep_.buf_names[b] = "p" + std::to_string(ep_.buf_names.size());
    std::vector<int> vars;
    for (const StmtPtr &s : body)
      stmt_vars(s, vars);
    for (int v : vars)
      if (!ep_.var_names.count(v))
        ep_.var_names[v] = "v" + std::to_string(ep_.var_names.size());
  }

  /// Ends the kernel in os_: emits it unless an identical one was, and
  /// records the launch.
  void close_kernel(const std::string &text) {
    std::string body = text;
    auto it = emitted_.find(body);
    std::string name;
    if (it != emitted_.end()) {
      name = it->second;
    } else {
      name = next_name();
      emitted_[body] = name;
      body.replace(body.find(kPlaceholder), std::strlen(kPlaceholder), name);
      out_ << kernel_comment(*kernel_, pending_.what) << body;
    }
    pending_.kernel = name;
    pending_.what = kernel_->name + ": " + pending_.what;
    launches_.push_back(std::move(pending_));
    pending_ = CudaLaunch();
  }

  std::string params(const std::vector<int> &bufs) const {
    std::set<int> all(bufs.begin(), bufs.end());
    std::string r;
    for (int b : bufs) {
      const loop::Buffer &buf = p_.buffers[size_t(b)];
      bool ro = buf.kind == loop::BufferKind::Input ||
                buf.kind == loop::BufferKind::Constant;
      r += std::string(r.empty() ? "" : ", ") + (ro ? "const " : "") +
           storage_type(buf.dtype) +
           (shares_memory(p_, b, all) ? " *" : " *__restrict__ ") + ep_.buf(b);
    }
    return r.empty() ? "int kiln_unused" : r;
  }

  /// Declares the variables of \p loops from the flat index \p flat (only
  /// those in \p used when given).
  void unflatten(const std::vector<const Stmt *> &loops,
                 const std::string &flat, const std::string &pad,
                 const std::vector<int> *used = nullptr) {
    int64_t stride = 1;
    for (size_t d = loops.size(); d-- > 0;) {
      const Stmt *l = loops[d];
      if (used &&
          std::find(used->begin(), used->end(), l->var) == used->end()) {
        stride *= l->extent;
        continue;
      }
      std::string v = flat;
      if (stride > 1)
        v = "(" + v + " / " + std::to_string(stride) + ")";
      if (d > 0)
        v = "(" + v + " % " + std::to_string(l->extent) + ")";
      os_ << pad << "const kiln_ix " << ep_.index_name(l->var) << " = "
          << (l->extent == 1 ? "0" : v) << ";\n";
      stride *= l->extent;
    }
  }

  /// One launch over the rows \p rows (a flattened loop nest; none: one
  /// row): a thread per row, or a block per row when \p block_rows.
  void rows_kernel(const std::vector<const Stmt *> &rows, const Stmts &body,
                   bool block_rows, int threads) {
    int64_t n = trip_count(rows);
    if (!block_rows) {
      VectorPlan vp = plan_vector(p_, rows, body);
      if (vp.width > 1)
        return vector_kernel(rows, body, vp);
    }
    if (block_rows && n >= 8 &&
        columns_contiguous(rows.back()->var, body, split_flags(body)))
      return column_kernel(rows, body);
    if (block_rows && split_rows(rows, body))
      return;
    CudaLaunch l;
    l.what = block_rows ? "block per row" : "thread per row";
    l.what += ", " + std::to_string(n) + " rows";
    if (block_rows) {
      plan_cache(rows, body, threads);
      if (!cache_.loads.empty())
        l.what += ", one pass: " + std::to_string(cache_.loads.size()) +
                  " row load(s) in registers, " +
                  std::to_string(cache_.per_thread) + " per thread";
    }
    l.grid = block_rows ? std::min(n, kMaxGrid)
                        : std::min((n + threads - 1) / threads, kMaxGrid);
    open_kernel(body, threads, l);
    std::string first = block_rows ? "(kiln_ix)blockIdx.x"
                                   : "(kiln_ix)blockIdx.x * blockDim.x + "
                                     "threadIdx.x";
    std::string step =
        block_rows ? "(kiln_ix)gridDim.x" : "(kiln_ix)gridDim.x * blockDim.x";
    os_ << "  for (kiln_ix kiln_row = " << first << "; kiln_row < " << n
        << "; kiln_row += " << step << ") {\n";
    unflatten(rows, "kiln_row", "    ");
    if (block_rows) {
      fill_cache();
      std::map<int, ExprPtr> fresh;
      for (const StmtPtr &s : body)
        block_statement(s, fresh);
    } else {
      for (const StmtPtr &s : body)
        print(s, 2);
    }
    os_ << "  }\n}\n\n";
    cache_ = RowCache();
    close_kernel(os_.str());
  }

  /// The vectorized form of rows_kernel: a thread per vp.width
  /// consecutive iterations of the innermost loop (CudaRows.h).
  void vector_kernel(const std::vector<const Stmt *> &rows, const Stmts &body,
                     const VectorPlan &vp) {
    const int w = vp.width, threads = 256;
    int64_t n = trip_count(rows), groups = n / w;
    CudaLaunch l;
    l.what = "thread per row, " + std::to_string(n) + " rows, " +
             std::to_string(w) + " per thread, vectorized";
    l.grid = std::min((groups + threads - 1) / threads, kMaxGrid);
    open_kernel(body, threads, l);
    os_ << "  for (kiln_ix kiln_row = (kiln_ix)blockIdx.x * blockDim.x + "
           "threadIdx.x; kiln_row < "
        << groups << "; kiln_row += (kiln_ix)gridDim.x * blockDim.x) {\n";
    std::vector<const Stmt *> loops(rows.begin(), rows.end() - 1);
    Stmt q = *rows.back(); // the innermost loop over groups of w
    q.extent /= w;
    q.var = kFreshVar - 1;
    ep_.var_names[q.var] = "kiln_q";
    loops.push_back(&q);
    unflatten(loops, "kiln_row", "    ");
    os_ << "    const kiln_ix kiln_v = kiln_q * " << w << ";\n";
    ep_.subst[vp.var] = "kiln_v";
    auto at = [&](int b, const ExprPtr &index) {
      return ep_.buf(b) + " + " + ep_.index(index);
    };
    for (size_t k = 0; k < vp.loads.size(); ++k) {
      const HoistedLoad &h = vp.loads[k];
      DType t = p_.buffers[size_t(h.load->buffer)].dtype;
      if (h.vector)
        os_ << "    const kiln_vec<" << storage_type(t) << ", " << w
            << "> kiln_l" << k << " = kiln_vload<" << w << ">("
            << at(h.load->buffer, h.load->args[0]) << ");\n";
      else
        os_ << "    const " << compute_type(t) << " kiln_l" << k << " = "
            << ep_(h.load) << ";\n";
    }
    for (size_t i = 0; i < body.size(); ++i)
      if (vp.vector_store[i])
        os_ << "    kiln_vec<"
            << storage_type(p_.buffers[size_t(body[i]->buffer)].dtype) << ", "
            << w << "> kiln_s" << i << ";\n";
    ep_.subst.erase(vp.var);
    for (int lane = 0; lane < w; ++lane) {
      std::string at_lane = "[" + std::to_string(lane) + "]";
      for (size_t k = 0; k < vp.loads.size(); ++k) {
        const HoistedLoad &h = vp.loads[k];
        std::string v = "kiln_l" + std::to_string(k);
        DType t = p_.buffers[size_t(h.load->buffer)].dtype;
        if (h.vector)
          v = t == DType::F16    ? "kiln_h2f(" + v + ".v" + at_lane + ")"
              : t == DType::BF16 ? "kiln_bf2f(" + v + ".v" + at_lane + ")"
                                 : v + ".v" + at_lane;
        ep_.subst[h.var] = v;
      }
      os_ << "    {\n";
      bool lane_var = false; // the innermost variable, per lane
      for (size_t i = 0; i < vp.body.size(); ++i)
        lane_var |=
            uses_var(vp.body[i]->value, vp.var) ||
            (!vp.vector_store[i] && uses_var(vp.body[i]->index, vp.var));
      if (lane_var)
        os_ << "      const kiln_ix " << ep_.index_name(vp.var)
            << " = kiln_v + " << lane << ";\n";
      for (size_t i = 0; i < vp.body.size(); ++i) {
        const StmtPtr &s = vp.body[i];
        if (!vp.vector_store[i]) {
          print(s, 3);
          continue;
        }
        os_ << "      kiln_s" << i << ".v" << at_lane << " = "
            << ExprPrinter::store_value(ep_(s->value),
                                        p_.buffers[size_t(s->buffer)].dtype)
            << ";\n";
      }
      os_ << "    }\n";
    }
    ep_.subst.clear();
    ep_.subst[vp.var] = "kiln_v";
    for (size_t i = 0; i < body.size(); ++i)
      if (vp.vector_store[i])
        os_ << "    kiln_vstore<" << w << ">("
            << at(body[i]->buffer, body[i]->index) << ", kiln_s" << i << ");\n";
    ep_.subst.clear();
    os_ << "  }\n}\n\n";
    close_kernel(os_.str());
  }

  // ---- the one-pass row cache (CudaRows.h) -------------------------------

  /// The statements of a block-per-row \p body split over the threads.
  std::vector<bool> split_flags(const Stmts &body) const {
    std::vector<bool> split;
    std::map<int, ExprPtr> fresh;
    for (const StmtPtr &s : body) {
      Coop c = classify(s, fresh);
      split.push_back(c == Coop::Reduce || c == Coop::Split);
    }
    return split;
  }

  /// The column form of a block-per-row kernel whose rows are contiguous
  /// in memory (a reduction over the rows of a matrix, per column): a
  /// block of 256 threads takes 8 consecutive rows (f32: one 32-byte
  /// sector), thread t row t % 8, and the 32 threads of each row split
  /// each statement's loop; partial reductions are combined per row by
  /// kiln_parts_reduce. Threads past the last row compute the last row
  /// again (in-range loads) and store nothing.
  void column_kernel(const std::vector<const Stmt *> &rows, const Stmts &body) {
    int64_t n = trip_count(rows), groups = (n + 7) / 8;
    CudaLaunch l;
    l.what = "block per row, " + std::to_string(n) +
             " rows, 8 rows a block (32 threads split each)";
    l.grid = std::min(groups, kMaxGrid);
    open_kernel(body, 256, l);
    os_ << "  const int kiln_lane = threadIdx.x & 7, kiln_part = threadIdx.x "
           ">> 3;\n  for (kiln_ix kiln_g = (kiln_ix)blockIdx.x; kiln_g < "
        << groups
        << "; kiln_g += (kiln_ix)gridDim.x) {\n    const bool kiln_live = "
           "kiln_g * 8 + kiln_lane < "
        << n << ";\n    const kiln_ix kiln_row = kiln_live ? kiln_g * 8 + "
        << "kiln_lane : " << n - 1 << ";\n";
    unflatten(rows, "kiln_row", "    ");
    columns_ = true;
    std::map<int, ExprPtr> fresh;
    for (const StmtPtr &s : body)
      block_statement(s, fresh);
    columns_ = false;
    os_ << "  }\n}\n\n";
    close_kernel(os_.str());
  }

  /// A block-per-row kernel with few long rows whose body is one reduction
  /// between uniform statements (batch-norm statistics: 64 channels of
  /// N*H*W elements): one block per row would leave most SMs idle, so the
  /// rows are split into S slices, a block per (row, slice) reduces its
  /// slice into the scratch area, and a thread per row combines the S
  /// partial results in slice order and runs the statements after the
  /// reduction. False (nothing printed) when \p body is not of that form.
  bool split_rows(const std::vector<const Stmt *> &rows, const Stmts &body) {
    int64_t n = trip_count(rows);
    std::map<int, ExprPtr> fresh;
    size_t at = body.size(); // the reduction
    for (size_t i = 0; i < body.size(); ++i) {
      Coop c = classify(body[i], fresh);
      if (c == Coop::Split || c == Coop::No ||
          (c == Coop::Reduce && at != body.size()) ||
          (c == Coop::Leader && at == body.size()))
        return false;
      if (c == Coop::Reduce)
        at = i;
    }
    if (at == body.size() || n >= 256)
      return false;
    std::vector<const Stmt *> chain = perfect_chain(body[at]);
    int64_t len = trip_count(chain);
    int64_t slices = std::min((512 + n - 1) / n, len / 1024);
    std::vector<const Stmt *> accs;
    for (const StmtPtr &x : chain.back()->body)
      if (x->op == StmtOp::Assign)
        accs.push_back(x.get());
    DType t = p_.var_types[size_t(accs[0]->var)];
    for (const Stmt *a : accs)
      if (p_.var_types[size_t(a->var)] != t)
        return false;
    if (slices < 2)
      return false;
    int64_t chunk = (len + slices - 1) / slices, na = int64_t(accs.size());
    std::string ty = compute_type(t);
    auto functor = [](Op op) {
      return op == Op::Add   ? "kiln_sum()"
             : op == Op::Max ? "kiln_maxop()"
                             : "kiln_minop()";
    };
    // Stage 1: a block per (row, slice).
    CudaLaunch l;
    l.what = "block per row slice, " + std::to_string(n) + " rows x " +
             std::to_string(slices) + " slices of " + std::to_string(chunk) +
             " (split rows, partial results to scratch)";
    l.grid = std::min(n * slices, kMaxGrid);
    open_kernel(body, 256, l, ty + " *__restrict__");
    os_ << "  for (kiln_ix kiln_p = (kiln_ix)blockIdx.x; kiln_p < "
        << n * slices << "; kiln_p += (kiln_ix)gridDim.x) {\n"
        << "    const kiln_ix kiln_s = kiln_p % " << slices << ";\n";
    if (!rows.empty())
      os_ << "    const kiln_ix kiln_row = kiln_p / " << slices << ";\n";
    unflatten(rows, "kiln_row", "    ");
    for (size_t i = 0; i < at; ++i)
      print(body[i], 2);
    os_ << "    for (kiln_ix kiln_t = kiln_s * " << chunk
        << " + threadIdx.x; kiln_t < (kiln_s + 1) * " << chunk
        << " && kiln_t < " << len << "; kiln_t += blockDim.x) {\n";
    unflatten(chain, "kiln_t", "      ");
    for (const StmtPtr &x : chain.back()->body)
      print(x, 3);
    os_ << "    }\n";
    for (int64_t a = 0; a < na; ++a) {
      std::string v = ep_.var(accs[size_t(a)]->var);
      os_ << "    " << v << " = kiln_block_reduce(" << v << ", "
          << functor(reduction_op(*accs[size_t(a)])) << ");\n";
    }
    os_ << "    if (threadIdx.x == 0) {\n";
    for (int64_t a = 0; a < na; ++a)
      os_ << "      kiln_scratch[kiln_p * " << na << " + " << a
          << "] = " << ep_.var(accs[size_t(a)]->var) << ";\n";
    os_ << "    }\n  }\n}\n\n";
    close_kernel(os_.str());
    scratch_bytes_ =
        std::max(scratch_bytes_, n * slices * na * int64_t(dtype_size(t)));
    // Stage 2: a thread per row combines the slices in order.
    Stmts rest(body.begin(), body.begin() + long(at));
    rest.insert(rest.end(), body.begin() + long(at) + 1, body.end());
    CudaLaunch c;
    c.what = "thread per row, " + std::to_string(n) + " rows (combines " +
             std::to_string(slices) + " slices)";
    c.grid = (n + 255) / 256;
    open_kernel(rest, 256, c, "const " + ty + " *__restrict__");
    os_ << "  for (kiln_ix kiln_row = (kiln_ix)blockIdx.x * blockDim.x + "
           "threadIdx.x; kiln_row < "
        << n << "; kiln_row += (kiln_ix)gridDim.x * blockDim.x) {\n";
    unflatten(rows, "kiln_row", "    ");
    for (size_t i = 0; i < at; ++i)
      print(body[i], 2);
    os_ << "    for (int kiln_s = 0; kiln_s < " << slices << "; ++kiln_s) {\n";
    for (int64_t a = 0; a < na; ++a) {
      std::string v = ep_.var(accs[size_t(a)]->var);
      os_ << "      " << v << " = " << functor(reduction_op(*accs[size_t(a)]))
          << "(" << v << ", kiln_scratch[(kiln_row * " << slices
          << " + kiln_s) * " << na << " + " << a << "]);\n";
    }
    os_ << "    }\n";
    for (size_t i = at + 1; i < body.size(); ++i)
      print(body[i], 2);
    os_ << "  }\n}\n\n";
    close_kernel(os_.str());
    return true;
  }

  /// Plans cache_ for a block-per-row kernel; may raise \p threads.
  void plan_cache(const std::vector<const Stmt *> &rows, const Stmts &body,
                  int &threads) {
    std::vector<int> row_vars;
    for (const Stmt *r : rows)
      row_vars.push_back(r->var);
    cache_ = plan_row_cache(row_vars, body, split_flags(body), threads);
    if (!cache_.loads.empty())
      threads = cache_.threads;
  }

  /// Opens `for (kiln_j ...)` over a thread's cached elements: kiln_t is
  /// the element of the row, as in the uncached `kiln_t += blockDim.x`.
  void open_cached_loop() {
    int64_t n = cache_.n;
    int p = cache_.per_thread, t = cache_.threads;
    os_ << "    #pragma unroll\n    for (int kiln_j = 0; kiln_j < " << p
        << "; ++kiln_j) {\n      const kiln_ix kiln_t = (kiln_ix)threadIdx.x + "
           "kiln_j * "
        << t << ";\n";
    os_ << "      if (kiln_t < " << n << ") {\n";
  }

  /// Reads the cached loads of the row into the registers kiln_c0, ...
  void fill_cache() {
    if (cache_.loads.empty())
      return;
    for (size_t k = 0; k < cache_.loads.size(); ++k)
      os_ << "    " << compute_type(cache_.loads[k].load->dtype) << " kiln_c"
          << k << "[" << cache_.per_thread << "];\n";
    open_cached_loop();
    std::set<const Stmt *> declared;
    std::vector<int> used;
    for (const HoistedLoad &h : cache_.loads)
      expr_vars(h.load, used);
    for (const HoistedLoad &h : cache_.loads)
      if (declared.insert(h.stmt).second)
        unflatten(perfect_chain(h.stmt), "kiln_t", "        ", &used);
    for (size_t k = 0; k < cache_.loads.size(); ++k)
      os_ << "        kiln_c" << k << "[kiln_j] = " << ep_(cache_.loads[k].load)
          << ";\n";
    os_ << "      } else {\n";
    for (size_t k = 0; k < cache_.loads.size(); ++k)
      os_ << "        kiln_c" << k << "[kiln_j] = 0;\n";
    os_ << "      }\n    }\n";
  }

  void block_statement(const StmtPtr &s, std::map<int, ExprPtr> &fresh) {
    Coop c = classify(s, fresh);
    KILN_CHECK(c != Coop::No) << "not a block-level statement";
    if (c == Coop::Uniform)
      return print(s, 2);
    if (c == Coop::Leader) {
      os_ << (columns_ ? "    if (kiln_part == 0 && kiln_live) {\n"
                       : "    if (threadIdx.x == 0) {\n");
      print(s, 3);
      os_ << "    }\n    __syncthreads();\n";
      return;
    }
    std::vector<const Stmt *> chain = perfect_chain(s);
    auto cached = cache_.inner.find(s.get());
    if (cached != cache_.inner.end()) {
      open_cached_loop();
      for (size_t k = 0; k < cache_.loads.size(); ++k)
        ep_.subst[cache_.loads[k].var] =
            "kiln_c" + std::to_string(k) + "[kiln_j]";
      std::vector<int> used;
      for (const StmtPtr &x : cached->second)
        stmt_vars(x, used);
      unflatten(chain, "kiln_t", "        ", &used);
      for (const StmtPtr &x : cached->second)
        print(x, 4);
      ep_.subst.clear();
      os_ << "      }\n    }\n";
    } else if (columns_) {
      os_ << "    for (kiln_ix kiln_t = kiln_part; "
          << (c == Coop::Split ? "kiln_live && " : "") << "kiln_t < "
          << trip_count(chain) << "; kiln_t += 32) {\n";
      unflatten(chain, "kiln_t", "      ");
      for (const StmtPtr &x : chain.back()->body)
        print(x, 3);
      os_ << "    }\n";
    } else {
      os_ << "    for (kiln_ix kiln_t = threadIdx.x; kiln_t < "
          << trip_count(chain) << "; kiln_t += blockDim.x) {\n";
      unflatten(chain, "kiln_t", "      ");
      for (const StmtPtr &x : chain.back()->body)
        print(x, 3);
      os_ << "    }\n";
    }
    if (c == Coop::Split) {
      os_ << "    __syncthreads();\n";
      return;
    }
    for (const StmtPtr &x : chain.back()->body) {
      if (x->op != StmtOp::Assign)
        continue;
      Op op = reduction_op(*x);
      os_ << "    " << ep_.var(x->var)
          << (columns_ ? " = kiln_parts_reduce(" : " = kiln_block_reduce(")
          << ep_.var(x->var) << ", "
          << (op == Op::Add   ? "kiln_sum()"
              : op == Op::Max ? "kiln_maxop()"
                              : "kiln_minop()")
          << ");\n";
    }
  }

  /// One thread runs \p body as the CPU would.
  void serial(const Stmts &body) {
    CudaLaunch l;
    l.what = "one thread";
    open_kernel(body, 1, l);
    for (const StmtPtr &s : body)
      print(s, 1);
    os_ << "}\n\n";
    close_kernel(os_.str());
  }

  void contraction(const Stmt &s) {
    std::set<int> bufs;
    if (s.op == StmtOp::Gemm) {
      bufs = {s.gemm->a, s.gemm->b, s.gemm->c};
      expr_loads(s.gemm->epilogue, bufs);
    } else {
      bufs = {s.conv->x, s.conv->w, s.conv->out};
      expr_loads(s.conv->epilogue, bufs);
    }
    CudaLaunch l;
    l.buffers.assign(bufs.begin(), bufs.end());
    name_locals(l.buffers, {});
    ExprPrinter ep(p_, kCudaDialect);
    ep.index32 = ep_.index32;
    ep.buf_names = ep_.buf_names;
    CudaContraction c = s.op == StmtOp::Gemm ? cuda_gemm(p_, *s.gemm, ep)
                                             : cuda_conv2d(p_, *s.conv, ep);
    c.name = kPlaceholder;
    c.params = params(l.buffers);
    std::string what =
        std::string(s.op == StmtOp::Gemm ? "gemm "
                                         : "conv2d (implicit gemm) ") +
        std::to_string(c.batch) + "x" + std::to_string(c.m) + "x" +
        std::to_string(c.n) + "x" + std::to_string(c.k) + ", tile ";
    if (MmaKind mk = cuda_mma_kind(p_, s, opts_); mk != MmaKind::None) {
      if (mk != MmaKind::TF32) // the f32 sum rounded, as on the CPU
        cuda_round_acc(c, p_.buffers[size_t(s.gemm->c)].dtype);
      CudaMmaTile t = choose_mma_tile(c.m, c.n, c.batch);
      int split = choose_cuda_split(c, {t.bm, t.bn, mma_tile_k(mk), 1, 1});
      l.block = t.threads();
      l.grid = (c.n + t.bn - 1) / t.bn;
      l.grid_y = (c.m + t.bm - 1) / t.bm;
      l.grid_z = c.batch * split;
      l.what = what + std::to_string(t.bm) + "x" + std::to_string(t.bn) +
               ", tensor cores (mma " + mma_name(mk) + ")";
      uses_mma_ = true;
      return launch_contraction(c, std::move(l), split,
                                emit_cuda_mma(c, mk, t, split));
    }
    if (s.op == StmtOp::Gemm) { // f16/bf16 without tensor cores: f32 SIMT
      DType at = p_.buffers[size_t(s.gemm->a)].dtype;
      if (at == DType::F16 || at == DType::BF16)
        cuda_half_to_float(c, at);
    }
    CudaTile t = choose_cuda_tile(c.m, c.n, c.batch);
    int split = choose_cuda_split(c, t);
    l.block = t.threads();
    l.grid = (c.n + t.bn - 1) / t.bn;
    l.grid_y = (c.m + t.bm - 1) / t.bm;
    l.grid_z = c.batch * split;
    l.what = what + std::to_string(t.bm) + "x" + std::to_string(t.bn) + "x" +
             std::to_string(t.bk);
    launch_contraction(c, std::move(l), split,
                       emit_cuda_contraction(c, t, split));
  }

  /// Records launch \p l of the contraction kernel \p text; with split-K,
  /// also its scratch area and the launch of the kernel that sums the
  /// partial tiles in slice order and stores.
  void launch_contraction(const CudaContraction &c, CudaLaunch l, int split,
                          const std::string &text) {
    if (split == 1) {
      pending_ = std::move(l);
      return close_kernel(text);
    }
    int scratch = int(p_.buffers.size());
    l.buffers.push_back(scratch);
    l.what += ", split-K " + std::to_string(split);
    scratch_bytes_ = std::max(scratch_bytes_, split * c.batch * c.m * c.n *
                                                  int64_t(sizeof(float)));
    CudaLaunch sum = l;
    pending_ = std::move(l);
    close_kernel(text);
    int64_t total = c.batch * c.m * c.n;
    sum.block = 256;
    sum.grid = std::min((total + 255) / 256, kMaxGrid);
    sum.grid_y = sum.grid_z = 1;
    sum.what = "split-K sum of " + std::to_string(split) +
               " slices, thread per row of C's elements";
    pending_ = std::move(sum);
    close_kernel(emit_cuda_split_sum(c, split));
  }

  /// Prints \p s as sequential code.
  void print(const StmtPtr &s, int depth) {
    std::string pad(size_t(depth) * 2, ' ');
    switch (s->op) {
    case StmtOp::Block:
      for (const StmtPtr &c : s->body)
        print(c, depth);
      return;
    case StmtOp::For: {
      std::string v = ep_.index_name(s->var);
      os_ << pad << "for (kiln_ix " << v << " = 0; " << v << " < " << s->extent
          << "; ++" << v << ") {\n";
      for (const StmtPtr &c : s->body)
        print(c, depth + 1);
      os_ << pad << "}\n";
      return;
    }
    case StmtOp::Store:
      os_ << pad << ep_.buf(s->buffer) << "[" << ep_.index(s->index) << "] = "
          << ExprPrinter::store_value(ep_(s->value),
                                      p_.buffers[size_t(s->buffer)].dtype)
          << ";\n";
      return;
    case StmtOp::Decl:
      os_ << pad << compute_type(s->dtype) << " " << ep_.var(s->var) << " = "
          << ep_(s->value) << ";\n";
      return;
    case StmtOp::Assign:
      os_ << pad << ep_.var(s->var) << " = " << ep_(s->value) << ";\n";
      return;
    case StmtOp::Gemm:
    case StmtOp::Conv2d:
      KILN_UNREACHABLE("a contraction inside a loop nest");
    case StmtOp::Call:
      KILN_UNREACHABLE("gather() rejects runtime calls");
    }
  }

  const loop::Program &p_;
  std::string prefix_;
  CudaEmitOptions opts_;
  bool uses_mma_ = false; ///< a kernel calls kCudaMmaPrelude's functions
  ExprPrinter ep_;
  std::ostringstream os_, out_; ///< the kernel being printed, the source
  CudaLaunch pending_;          ///< the launch of the kernel in os_
  std::map<std::string, std::string> emitted_; ///< kernel text -> name
  std::vector<CudaLaunch> launches_;
  int64_t scratch_bytes_ = 0;
  const loop::Kernel *kernel_ = nullptr;
  int index_ = 0;
  RowCache cache_;       ///< of the block-per-row kernel being printed
  bool columns_ = false; ///< printing a column_kernel
};

} // namespace

int64_t cuda_scratch_offset(const loop::Program &p) {
  return (p.arena_bytes + 255) / 256 * 256;
}

CudaProgram emit_cuda(const loop::Program &p, const std::string &entry,
                      const CudaEmitOptions &options) {
  return CudaWriter(p, c_identifier(entry) + "_", options).run();
}

std::string cuda_listing(const loop::Program &p, const std::string &entry,
                         const CudaEmitOptions &options) {
  CudaProgram cp = emit_cuda(p, entry, options);
  std::string s = cp.source;
  for (const CudaLaunch &l : cp.launches)
    s += "// launch " + l.kernel + " grid " + std::to_string(l.grid) + "x" +
         std::to_string(l.grid_y) + "x" + std::to_string(l.grid_z) + " block " +
         std::to_string(l.block) + ": " + l.what + "\n";
  return s;
}

} // namespace kiln::codegen
