/// \file
/// Private to passes/Lower*.cpp: the state of one lowering.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/LoopIR.h"
#include "passes/Lower.h"

#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace kiln::lowering {

using loop::ExprPtr;
using loop::StmtPtr;
using Index = std::vector<ExprPtr>;

/// Collective: a call into the runtime's communication layer, whose
/// operands are always whole buffers (LowerCollective.cpp).
enum class Kind { Injective, Reduction, Contraction, Opaque, Collective };
Kind kind_of(OpKind op);
/// Views and sources that cost nothing to recompute in every consumer.
bool is_cheap(OpKind op);

/// The loop-IR op with the same meaning as an elementwise Graph op.
loop::Op scalar_op(OpKind op);

/// A matmul operand read as a strided view of one buffer: its offset and
/// the stride of each index var (LowerGemm.cpp).
struct Strided {
  int buffer = -1;
  int64_t offset = 0;
  std::map<int, int64_t> stride;
};

class Lowering {
public:
  Lowering(const Function &f, const LowerOptions &o) : f_(f), opts_(o) {}
  loop::Program run();

  // ---- used by the per-op files ----
  /// The expression of \p v at multi-index \p idx (one i64 expr per dim).
  ExprPtr value_at(const Value *v, const Index &idx);
  /// A new loop variable (i64) or scalar (of \p t).
  int new_var(const std::string &hint, DType t = DType::I64) {
    return prog_.new_var(t, hint);
  }
  /// Loops over \p shape around \p inner(idx): the outermost loop is
  /// parallel when the work (elements times \p cost_per_element) is large.
  StmtPtr
  loop_nest(const Shape &shape, int64_t cost_per_element,
            const std::function<std::vector<StmtPtr>(const Index &)> &inner);
  int buffer_of(const Value *v) const;
  bool is_materialized(const Value *v) const { return buffers_.count(v) > 0; }
  const LowerOptions &options() const { return opts_; }
  loop::Program &program() { return prog_; }
  /// While set, value_at(v, ...) returns \p e (a contraction's accumulator
  /// inside its epilogue).
  std::unordered_map<const Value *, ExprPtr> overrides;
  /// The materialized value whose kernel is being built: value_at computes
  /// it instead of loading it.
  const Value *computing = nullptr;

  // Kernels for materialized values (LowerKernels.cpp, LowerOpaque.cpp).
  StmtPtr reduction_kernel(const Node &n, int out);
  /// A reduction over leading axes as row sweeps into blocks of output
  /// columns, or nullptr (LowerColumns.cpp).
  StmtPtr column_reduction_kernel(const Node &n, int out);
  /// Statements that declare \p acc (of \p t) = combine over r in
  /// [0, extent) of value(r), accumulated in kReduceLanes interleaved
  /// partial results combined pairwise at the end: the lanes' updates are
  /// independent, so LLVM's SLP vectorizer makes them one vector op, where
  /// one accumulator is a serial chain of adds or NaN-propagating maxes
  /// (LowerColumns.cpp). \p extent is a multiple of kReduceLanes.
  std::vector<StmtPtr>
  lane_reduce(int acc, DType t, loop::Op combine, const ExprPtr &init,
              int64_t extent, const std::function<ExprPtr(ExprPtr)> &value);
  StmtPtr contraction_kernel(const Node &c, const Value *root, int out);
  /// A matmul as a Gemm micro-kernel node, or nullptr when its operands are
  /// not strided views of buffers of its dtype (LowerGemm.cpp).
  StmtPtr gemm_kernel(const Node &c, const Value *root, int out);
  /// Fills \p s with matmul operand \p v read at \p idx (strides of
  /// \p vars); when \p v is no strided view, appends to \p staging a copy
  /// of it into a row-major Temp buffer and reads that. False when \p v is
  /// not of dtype \p t.
  bool gemm_operand(const Value *v, const Index &idx,
                    const std::vector<int> &vars, DType t, Strided &s,
                    std::vector<StmtPtr> &staging);
  /// A conv2d as a Conv2d implicit-GEMM node, or nullptr when it is not f32,
  /// is small, or its operands are not contiguous buffers.
  StmtPtr conv_kernel(const Node &c, const Value *root, int out);
  StmtPtr opaque_kernel(const Node &n, int out);
  /// conv2d_transpose or conv2d_weight_grad as a Conv2d node (InputGrad,
  /// WeightGrad) when f32, contiguous and big enough; else nullptr.
  StmtPtr conv_grad_kernel(const Node &n, int out);
  StmtPtr collective_kernel(const Node &n, int out);

  /// Row fusion (LowerRows.cpp): reductions computed per row inside the
  /// kernel of the elementwise value that consumes them.
  struct RowGroup {
    std::vector<bool> axes;               ///< reduced axes of the root's shape
    std::vector<const Node *> reductions; ///< in body order
  };
  StmtPtr row_kernel(const Value *root, const RowGroup &g, int out);

private:
  void find_row_groups();
  bool grow_row_group(const Value *v, const Shape &s, RowGroup &g,
                      std::unordered_set<const Value *> &group,
                      const std::unordered_set<const Value *> &boundary);
  bool row_local(const Value *root,
                 const std::unordered_set<const Value *> &group,
                 const std::vector<bool> &axes) const;
  /// Position of \p n in the body.
  size_t position(const Node *n) const { return position_.at(n); }
  void plan();
  void find_anchors();
  bool must_materialize(const Value *v) const;
  /// A multi-use elementwise node cheap enough to recompute per consumer.
  bool recomputed(const Node &n) const;
  void assign_buffers();
  int add_buffer(const std::string &name, const TensorType &t,
                 loop::BufferKind kind, int arg_index);
  void emit_kernel(const Value *root, int out);
  /// The kernel of a probe whose value is not materialized.
  void emit_probe(const Value *v);
  void emit_result_copies(const std::vector<std::pair<int, int>> &copies);
  /// The nodes fused into the kernel of \p root, in body order.
  std::vector<const Node *> kernel_nodes(const Value *root) const;
  bool is_probe_slot(size_t result) const {
    return result + size_t(opts_.probe_results) >= f_.results().size();
  }
  /// A use by a probe result, which fusion decisions ignore.
  bool is_probe_use(const Use &u) const {
    return !u.user && is_probe_slot(size_t(u.index));
  }
  /// The contraction whose epilogue computes the non-materialized \p v,
  /// or nullptr.
  const Node *epilogue_contraction(const Value *v) const;
  /// The uses of \p v that are not probes.
  std::vector<Use> real_uses(const Value *v) const;
  void layout_arena();

  const Function &f_;
  LowerOptions opts_;
  loop::Program prog_;
  std::unordered_map<const Value *, int> buffers_;
  std::unordered_set<const Value *> materialize_;
  /// Epilogue roots -> the contraction they absorb.
  std::unordered_map<const Value *, const Node *> anchor_;
  std::unordered_set<const Node *> anchored_;
  /// Results that are parameters or returned twice: copied at the end.
  std::vector<std::pair<int, int>> copies_;
  /// Probes of parameters: copied before the first kernel, so that they
  /// show the value the function was called with, not an update's.
  std::vector<std::pair<int, int>> probe_copies_;
  std::unordered_map<const Value *, RowGroup> row_groups_;
  std::unordered_map<const Node *, size_t> position_;
  /// Probed values that are not materialized -> their output buffers.
  std::unordered_map<const Value *, int> probe_outs_;
};

/// Adds \p scale * e to \p coef (per variable) and \p off when \p e is an
/// affine function of loop variables; false otherwise.
bool affine(const ExprPtr &e, int64_t scale, std::map<int, int64_t> &coef,
            int64_t &off);
/// Moves each kernel's costly loop-invariant subexpressions into scalars
/// declared before its loops (LowerHoist.cpp); kernels with a contraction
/// or a runtime call are left alone.
void hoist_invariants(loop::Program &p);
/// Partial accumulators of a row reduction (Lowering::lane_reduce).
constexpr int kReduceLanes = 16;
/// The block of \p cols contiguous columns a row sweep works on:
/// \p cols itself when at most 64, else its largest divisor in [16, 64], or
/// 0 when there is none (LowerColumns.cpp).
int64_t column_block(int64_t cols);
/// Flat row-major index of \p idx in \p shape.
ExprPtr flat_index(const Index &idx, const Shape &shape);
/// Multi-index of \p flat in \p shape.
Index unflatten(const ExprPtr &flat, const Shape &shape);
/// The operand index NumPy broadcasting reads for output index \p idx.
Index broadcast_index(const Index &idx, const Shape &operand);
ExprPtr clamp_index(const ExprPtr &i, int64_t lo, int64_t hi);
ExprPtr bool_and(ExprPtr a, ExprPtr b);
ExprPtr cmp(loop::Op op, ExprPtr a, ExprPtr b);
/// The dtype kernels accumulate \p t in: 16-bit floats in f32, integers
/// and bool in i64, others as themselves.
DType acc_type(DType t);
/// \p e converted to \p t (itself when it already is).
ExprPtr convert(ExprPtr e, DType t);
/// The identity of max (\p max) or min reductions: -inf/+inf or the
/// extreme integers.
ExprPtr lowest(DType t, bool max);
/// The reduced axes of a reduction node, as flags per input axis.
std::vector<bool> reduced_axes(const Node &n);

} // namespace kiln::lowering
