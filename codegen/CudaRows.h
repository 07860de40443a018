/// \file
/// Private to codegen/: the Loop IR analyses behind the CUDA printer's
/// grid mapping (docs/cuda.md "Grid mapping"), separate from the printing
/// in CudaPrinter.cpp: what statements read and write, independence, the
/// block-level classification of a row's statements, and the
/// memory-bound forms:
///  - the vectorized elementwise form: a thread of a flattened independent
///    nest handles `width` consecutive iterations of the innermost loop,
///    reading each operand that is contiguous and aligned in that loop as
///    one 8- or 16-byte vector, each operand that does not vary with it
///    once, and storing contiguous results as one vector;
///  - the one-pass row cache: in a block-per-row kernel, a load that
///    several of the row's reductions and loops read at the same element
///    (the same buffer, the same index as a function of the row and the
///    split loop's variables) is read from global memory once into
///    registers, and every statement reads it from there.
/// Both rewrite statements: each load they take over becomes a fresh
/// variable (ids from kFreshVar up) that the printer substitutes.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/LoopIR.h"

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace kiln::codegen {

/// The first id of the variables that replace hoisted loads (above any
/// program's own).
constexpr int kFreshVar = 1 << 24;

bool uses_var(const loop::ExprPtr &e, int v);

/// The loops of a perfect nest from \p s (each body one For), innermost
/// last.
std::vector<const loop::Stmt *> perfect_chain(const loop::Stmt *s);
inline std::vector<const loop::Stmt *> perfect_chain(const loop::StmtPtr &s) {
  return perfect_chain(s.get());
}

int64_t trip_count(const std::vector<const loop::Stmt *> &chain);

void expr_loads(const loop::ExprPtr &e, std::set<int> &bufs);

/// What a statement list reads, writes and declares.
struct Facts {
  std::set<int> loads, stores, declared, assigned;
  std::vector<const loop::Stmt *> store_stmts;
  bool contraction = false, loop = false;
};

Facts facts(const std::vector<loop::StmtPtr> &body);

/// Iterations over \p vars of a loop nest with innermost \p body may run
/// in any order and at once: no scalar carried between them, no stored
/// buffer read, and every store's index names every variable (distinct
/// iterations write distinct elements) and reads no memory.
bool independent(const std::vector<loop::StmtPtr> &body,
                 const std::vector<int> &vars);

/// The variables of \p chain's loops with more than one iteration.
std::vector<int> nonunit_vars(const std::vector<const loop::Stmt *> &chain);

/// `acc = op(acc, e)` (or `op(e, acc)`) with op add, max or min and e free
/// of acc: returns op, else Op::IntImm.
loop::Op reduction_op(const loop::Stmt &s);

/// How a block-level statement of a block-per-row kernel runs.
enum class Coop { Uniform, Leader, Reduce, Split, No };

/// How \p s runs at block level; \p fresh holds the accumulators still at
/// their identity (updated).
Coop classify(const loop::StmtPtr &s, std::map<int, loop::ExprPtr> &fresh);

/// True when every statement of \p body can run at block level, one row
/// per block; \p work is the largest trip count of its loops.
bool cooperative(const std::vector<loop::StmtPtr> &body, int64_t &work);

/// \p e as `coef * v + rest`, where rest does not depend on v and is
/// always a multiple of `multiple` (0: rest is 0); ok is false when e is
/// not of that form (v under a division, a product of v and a variable).
/// Variables in \p zero are 0 (loops of one iteration).
struct Affine {
  bool ok = false;
  int64_t coef = 0, multiple = 0;
};
Affine affine_in(const loop::ExprPtr &e, int v, const std::set<int> &zero = {});

/// A load read once and shared: replaced by variable `var`.
struct HoistedLoad {
  loop::ExprPtr load;
  int var = -1;
  /// VectorPlan: one `width`-lane vector (else one scalar for every lane).
  bool vector = false;
  /// RowCache: the statement whose loop variables the index is printed
  /// with.
  const loop::Stmt *stmt = nullptr;
};

/// The vectorized form of an independent loop nest.
struct VectorPlan {
  int width = 1;   ///< iterations per thread: 1 (the scalar form), 2 or 4
  int var = -1;    ///< the innermost loop's variable
  size_t loop = 0; ///< its position in the nest (loops of one may follow)
  std::vector<HoistedLoad> loads;
  std::vector<loop::StmtPtr> body; ///< with the hoisted loads replaced
  std::vector<bool> vector_store;  ///< per statement of body
};

/// Plans the vectorized form of the nest \p rows (innermost last) with
/// body \p body: width 4 (else 2) when the innermost extent (of the loops
/// with more than one iteration) is a multiple
/// of it, the body is straight-line code, and at least one load or store
/// is contiguous in the innermost variable with a start that keeps the
/// vector's alignment (buffers are 256-byte aligned, temps at their arena
/// offsets). Width 1 otherwise.
VectorPlan plan_vector(const loop::Program &p,
                       const std::vector<const loop::Stmt *> &rows,
                       const std::vector<loop::StmtPtr> &body);

/// The registers of a one-pass block-per-row kernel.
struct RowCache {
  int64_t n = 0;                  ///< iterations of each cached statement
  int threads = 0;                ///< the block (a power of two)
  int per_thread = 0;             ///< elements of each cached array per thread
  std::vector<HoistedLoad> loads; ///< one register array each
  /// A cached statement (a top-level For of the row) -> the innermost
  /// body of its loop chain with the cached loads replaced.
  std::map<const loop::Stmt *, std::vector<loop::StmtPtr>> inner;
};

/// Plans the row cache of a block-per-row kernel whose row (the variables
/// \p row_vars) runs \p body; \p split marks the statements split over the
/// block's threads (reductions and independent loops). The cached loads
/// are those that two or more split statements with the same trip count
/// read at the same element, evaluated unconditionally, of buffers the
/// kernel does not write. \p threads is the block the kernel would use; the
/// plan may raise it (up to 1024) so that each thread holds at most 8
/// elements per array. Empty loads: no cache.
RowCache plan_row_cache(const std::vector<int> &row_vars,
                        const std::vector<loop::StmtPtr> &body,
                        const std::vector<bool> &split, int threads);

/// A block-per-row kernel whose split statements (\p split) access memory
/// contiguously across rows (coefficient 1 in the innermost row variable
/// \p row_var) and never along a row (coefficient 1 in a statement's
/// innermost loop variable): a reduction over the rows of a matrix for
/// each column, such as a bias gradient.
bool columns_contiguous(int row_var, const std::vector<loop::StmtPtr> &body,
                        const std::vector<bool> &split);

/// Helpers of the memory-bound forms printed after the prelude: aligned
/// vector types, vector loads and stores (KILN_CHECK_ALIGN lets the
/// emulator check the alignment).
extern const char *kCudaRowsPrelude;

} // namespace kiln::codegen
