/// \file
/// The Loop IR: what a fused kernel computes, as loop nests over flat
/// buffers with scalar expressions. `lower` (passes/Lower.h) builds it from
/// the Graph IR; one C-family printer (codegen/) turns it into C/OpenMP or
/// CUDA. It is small on purpose: buffers, loops, stores, scalar variables,
/// expressions with the same meaning as the Graph IR's elementwise ops, and
/// two micro-kernel nodes (Gemm, Conv2d) that the printer expands into
/// specialized contractions with an ordinary-expression epilogue.
///
///   kernel k0 "matmul+add+relu" (writes %h)
///     parallel for i0 in [0, 256)
///       for i1 in [0, 1024)
///         decl f32 acc2 = 0.0
///         for i3 in [0, 784)
///           acc2 = add(acc2, mul(x[i0*784+i3], w1[i3*1024+i1]))
///         store h[i0*1024+i1] = relu(add(acc2, b1[i1]))
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/DType.h"
#include "ir/HostTensor.h"

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace kiln {
class Value;
}

namespace kiln::loop {

// ---- Expressions -----------------------------------------------------------

/// Scalar operations. Unary and binary ops mean exactly what the Graph IR op
/// of the same name means (NaN rules, integer division by zero = 0, round
/// half to even, saturating casts): the reference interpreter is the oracle.
enum class Op {
  IntImm,
  FloatImm,
  Var,
  Load, ///< args[0] = flat element index into `buffer`
  // Unary.
  Neg,
  Abs,
  Sign,
  Exp,
  Log,
  Sqrt,
  Rsqrt,
  Tanh,
  Sigmoid,
  Relu,
  Sin,
  Cos,
  Erf,
  Floor,
  Ceil,
  Round,
  Not,
  IsFinite,
  // Binary.
  Add,
  Sub,
  Mul,
  Div,
  Pow,
  Max,
  Min,
  And,
  Or,
  Eq,
  Ne,
  Lt,
  Le,
  Gt,
  Ge,
  /// Index arithmetic on non-negative i64: floor division and remainder.
  IDiv,
  IMod,
  Select, ///< args: condition (bool), then, else
  Cast,   ///< args[0] converted to `dtype`
  /// Philox bits of (seed, offset, element): args = seed, offset, element
  /// (i64); the same numbers as the random_uniform / random_normal ops.
  RandomUniform,
  RandomNormal,
};

/// The spelling of \p op in the Loop IR text ("add", "idiv", ...).
const char *op_name(Op op);

struct Expr;
using ExprPtr = std::shared_ptr<const Expr>;

/// An immutable scalar expression node; share freely.
struct Expr {
  Op op;
  DType dtype;
  int64_t ival = 0; ///< IntImm
  double fval = 0;  ///< FloatImm
  int var = -1;     ///< Var
  int buffer = -1;  ///< Load
  std::vector<ExprPtr> args;
};

ExprPtr int_imm(int64_t v, DType t = DType::I64);
ExprPtr float_imm(double v, DType t);
/// A literal of dtype \p t: integer for integer and bool types.
ExprPtr imm(double v, DType t);
ExprPtr var(int id, DType t = DType::I64);
ExprPtr load(int buffer, DType t, ExprPtr index);
/// An op on \p args; the result dtype is \p t. Index arithmetic (Add, Mul,
/// IDiv, IMod on i64 immediates) is simplified as it is built: x*1, x+0,
/// constant folding, so index expressions stay readable and cheap.
ExprPtr make(Op op, DType t, std::vector<ExprPtr> args);
ExprPtr add(ExprPtr a, ExprPtr b);
ExprPtr mul(ExprPtr a, ExprPtr b);
ExprPtr idiv(ExprPtr a, int64_t b);
ExprPtr imod(ExprPtr a, int64_t b);
bool is_int_imm(const ExprPtr &e, int64_t v);

// ---- Statements ------------------------------------------------------------

enum class LoopKind { Serial, Parallel, Vectorized, Unrolled };

enum class StmtOp {
  Block,  ///< body in order
  For,    ///< for var in [0, extent): body
  Store,  ///< buffer[index] = value
  Decl,   ///< declares scalar `var` of `dtype` = value
  Assign, ///< var = value
  Gemm,   ///< a contraction micro-kernel (see GemmDesc)
  Conv2d, ///< an implicit-GEMM convolution (see Conv2dDesc)
  Call,   ///< a call into the runtime (see CallDesc)
};

struct Stmt;
using StmtPtr = std::shared_ptr<Stmt>;

/// One batch level of a Gemm: C's index along it runs over [0, extent),
/// where A and B advance by their strides (0: a broadcast operand).
struct GemmBatchDim {
  int64_t extent = 1;
  int64_t a_stride = 0, b_stride = 0;
  int var = -1; ///< the epilogue's index var of this level (-1: unused)
};

/// C[b...][i][j] = epilogue(sum_k A[b...][i][k] * B[b...][k][j]) for every
/// batch index b... (any number of levels), i, j: the printer expands it
/// into a packed, register-tiled kernel specialized to these static sizes.
/// Operands are read in place through their strides (a transposed or
/// batch-broadcast operand is never copied); levels whose strides cannot be
/// merged (e.g. [B, H, T, D] read through a transpose of [B, T, H, D]) stay
/// separate levels.
struct GemmDesc {
  int a = -1, b = -1, c = -1; ///< buffers
  /// Batch levels, outermost first; none for a plain matmul.
  std::vector<GemmBatchDim> batch;
  int64_t m = 0, n = 0, k = 0;
  int64_t a_offset = 0, a_row_stride = 0, a_col_stride = 1;
  int64_t b_offset = 0, b_row_stride = 0, b_col_stride = 1;
  /// C is row-major [batch extents..., m, n].
  /// The stored value: an expression of the accumulator var `acc_var` (of
  /// C's dtype; for f16/bf16 operands, LowerOptions::half_gemm, the sum is
  /// accumulated in f32 and rounded to the operands' dtype, and C may be
  /// f32), the index vars `i_var`, `j_var` and each level's `var`.
  ExprPtr epilogue;
  int acc_var = -1, i_var = -1, j_var = -1;
  /// The number of products: the product of the levels' extents.
  int64_t batch_count() const;
  /// The levels' extents, outermost first.
  std::vector<int64_t> batch_extents() const;
};

/// Which product of a convolution a Conv2dDesc computes. The geometry
/// fields always describe the forward convolution.
enum class ConvKind {
  Forward,   ///< out = conv2d(x, w), [N, O, OH, OW]
  InputGrad, ///< out = conv2d_transpose(x = gy, w), [N, C, H, W]
  WeightGrad ///< out = conv2d_weight_grad(x, w = gy), [O, C/groups, KH, KW]
};

/// out[n][o][oh][ow] = epilogue(sum over c in o's group, kh, kw of
/// w[o][c][kh][kw] * x[n][g*C/groups + c][oh*stride_h - pad_h + kh*dil_h]
/// [ow*stride_w - pad_w + kw*dil_w]), zero padding: an f32 NCHW x OIHW
/// convolution that the printer expands into the implicit-GEMM kernel of
/// codegen/Gemm.h (emit_conv2d). x, w and out are contiguous row-major
/// (x from x_offset, w from w_offset); out is [N, O, OH, OW]. With another
/// `kind`, the buffers x and w hold that kind's two operands (InputGrad: the
/// output gradient [N, O, OH, OW] and the weight; WeightGrad: the input and
/// the output gradient), the sizes stay those of the forward convolution,
/// and the epilogue is the accumulator itself (emit_conv2d_input_grad and
/// emit_conv2d_weight_grad).
struct Conv2dDesc {
  ConvKind kind = ConvKind::Forward;
  int x = -1, w = -1, out = -1; ///< buffers
  int64_t x_offset = 0, w_offset = 0;
  int64_t N = 1, C = 1, H = 1, W = 1; ///< input
  int64_t O = 1, KH = 1, KW = 1;      ///< weight: O x C/groups x KH x KW
  int64_t stride_h = 1, stride_w = 1, pad_h = 0, pad_w = 0;
  int64_t dil_h = 1, dil_w = 1, groups = 1;
  /// The stored value: an expression of the accumulator var `acc_var` (f32)
  /// and the index vars `n_var`, `o_var`, `oh_var`, `ow_var`.
  ExprPtr epilogue;
  int acc_var = -1, n_var = -1, o_var = -1, oh_var = -1, ow_var = -1;
};

/// A call into the runtime's communication layer (runtime/Comm.h), for the
/// collective ops: `void fn(const long long *ints, void *const *bufs)`,
/// where bufs holds the pointers of `reads` then `writes`. The callee
/// reads and writes exactly those buffers, whole, before it returns.
struct CallDesc {
  std::string fn;
  std::vector<int> reads, writes;
  std::vector<int64_t> ints;
};

struct Stmt {
  StmtOp op;
  // For:
  int var = -1;
  int64_t extent = 0;
  LoopKind loop = LoopKind::Serial;
  std::vector<StmtPtr> body; ///< Block and For
  // Store:
  int buffer = -1;
  ExprPtr index;
  // Store, Decl, Assign:
  ExprPtr value;
  DType dtype = DType::F32; ///< Decl
  std::shared_ptr<GemmDesc> gemm;
  std::shared_ptr<Conv2dDesc> conv; ///< Conv2d
  std::shared_ptr<CallDesc> call;   ///< Call
};

StmtPtr block(std::vector<StmtPtr> body);
StmtPtr for_loop(int var, int64_t extent, LoopKind kind,
                 std::vector<StmtPtr> body);
StmtPtr store(int buffer, ExprPtr index, ExprPtr value);
StmtPtr decl(int var, DType t, ExprPtr init);
StmtPtr assign(int var, ExprPtr value);
StmtPtr gemm(GemmDesc d);
StmtPtr conv2d(Conv2dDesc d);
StmtPtr runtime_call(CallDesc d);

// ---- Programs ---------------------------------------------------------------

enum class BufferKind {
  Input,    ///< a plain input of the function (read only)
  State,    ///< a param or state buffer, persistent across runs
  Output,   ///< a result of the function
  Temp,     ///< an intermediate, placed in the arena
  Constant, ///< constant data embedded in the program
};

struct Buffer {
  std::string name;
  DType dtype = DType::F32;
  int64_t numel = 0;
  BufferKind kind = BufferKind::Temp;
  /// Position in the entry's inputs / state / outputs arrays.
  int arg_index = -1;
  /// Temp: byte offset in the arena (64-byte aligned).
  int64_t arena_offset = 0;
  /// Constant: the data.
  HostTensor data;
  int64_t bytes() const { return numel * int64_t(dtype_size(dtype)); }
};

/// One Graph IR node fused into a kernel: for the generated code's
/// comments, dot graphs and check-numerics reports (docs/debugging.md).
struct SourceOp {
  std::string op;    ///< "matmul"
  std::string value; ///< the result's name without '%'; "" when unnamed
  std::string loc;   ///< "model.kir:5:8"; "" when unknown
  int node = -1;     ///< position in the lowered function's body
};

/// One kernel: a statement over buffers, and what it came from.
struct Kernel {
  std::string name;
  /// The Graph IR ops fused into it, in order ("matmul+add+relu").
  std::string ops;
  /// The same nodes with names and locations, in body order.
  std::vector<SourceOp> sources;
  StmtPtr body;
  int num_vars = 0;
};

/// Copies a temp result into a state buffer after all kernels ran: the
/// in-place `{updates = %p}` contract.
struct UpdateCopy {
  int from = -1, to = -1;
};

struct Program {
  std::string name;
  std::vector<Buffer> buffers;
  std::vector<Kernel> kernels;
  std::vector<UpdateCopy> updates;
  int num_inputs = 0, num_state = 0, num_outputs = 0;
  int64_t arena_bytes = 0;
  /// Variable names for printing (index = var id); "" = default name.
  std::vector<std::string> var_names;
  std::vector<DType> var_types;
  /// A new variable id.
  int new_var(DType t, const std::string &hint = "");
};

/// The buffers kernel body \p s writes (stores, Gemm/Conv2d outputs) into
/// \p written and reads (loads, contraction operands) into \p read.
void kernel_buffers(const StmtPtr &s, std::set<int> &written,
                    std::set<int> &read);

/// The buffers that a store (or a Gemm/Conv2d epilogue) in \p s writes an
/// expression holding an infinite literal into: masks such as
/// select(keep, x, -inf) put infinities there by design, so check-numerics
/// looks only for NaN in them.
std::set<int> buffers_with_infinite_literals(const StmtPtr &s);

/// The Loop IR as text (for kiln-opt --emit=loop and lit tests).
std::string to_string(const Program &p);

} // namespace kiln::loop
