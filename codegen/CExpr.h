/// \file
/// Private to codegen/: the expression half of the one C-family printer,
/// shared by the C/OpenMP printer (CPrinter.cpp) and the CUDA printer
/// (CudaPrinter.cpp). A CDialect holds the few spellings that differ: math
/// functions (`__builtin_logf` in C, `logf` in CUDA), NaN and infinity
/// literals and the restrict qualifier. Everything else (types, casts with
/// the interpreter's saturating rules, integer wrap-around, the prelude
/// helpers kiln_maxf, kiln_divi, ...) is printed identically; each dialect's
/// prelude defines the helpers with the same meaning.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/LoopIR.h"

#include <map>
#include <set>
#include <string>

namespace kiln::codegen {

/// The spellings in which C and CUDA C differ (STYLE.md B9 example 5).
struct CDialect {
  /// Prepended to a libm name ("logf"): "__builtin_" in C, "" in CUDA.
  const char *math_prefix;
  /// The restrict qualifier: "restrict" (C99) or "__restrict__" (CUDA).
  const char *restrict_kw;
  /// f32 NaN, f32 +infinity, f64 NaN, f64 +infinity.
  const char *nan_f, *inf_f, *nan_d, *inf_d;
};

/// C99 for clang (codegen/CPrinter.cpp).
extern const CDialect kCDialect;
/// CUDA C++ for NVRTC (codegen/CudaPrinter.cpp).
extern const CDialect kCudaDialect;

enum class Num { F32, F64, Int };

/// How a dtype computes: 16-bit floats as float.
Num num_of(DType t);
/// The C type a value of \p t computes in ("float" for f16/bf16).
const char *compute_type(DType t);
/// The C type a buffer of \p t stores (kiln_u16 for f16/bf16).
const char *storage_type(DType t);
/// \p v as a literal of \p t (hex floats: exact).
std::string float_literal(double v, DType t, const CDialect &d);
std::string int_literal(int64_t v, DType t);

/// Buffer \p b of \p p shares bytes with another of \p bufs: a Temp that
/// overlaps it in the arena (an in-place pair of the memory plan), or a
/// State with its arg_index. Such pointers must not be restrict.
bool shares_memory(const loop::Program &p, int b, const std::set<int> &bufs);

/// Prints Loop IR expressions as C expressions in dialect \p d.
class ExprPrinter {
public:
  ExprPrinter(const loop::Program &p, const CDialect &d) : p_(p), d_(d) {}

  /// The C name of variable \p v (or its subst).
  std::string var(int v) const;
  /// Variables printed as given C expressions (a Gemm epilogue's indices).
  std::map<int, std::string> subst;
  std::string buf(int b) const {
    auto it = buf_names.find(b);
    return it != buf_names.end() ? it->second : "b" + std::to_string(b);
  }
  /// Names that replace the default bN / vN (CUDA: per-kernel names, so
  /// that identical kernels print identically and are emitted once).
  std::map<int, std::string> buf_names, var_names;

  std::string operator()(const loop::ExprPtr &e) const;
  /// The declared name of variable \p v (never widened).
  std::string index_name(int v) const {
    auto it = var_names.find(v);
    return it != var_names.end() ? it->second : "v" + std::to_string(v);
  }
  /// \p e as an array index (with index32: 32-bit literals).
  std::string index(const loop::ExprPtr &e) const;

  /// CUDA, every index below 2^31: the variables in index_vars are 32-bit
  /// ints, integer literals inside array indices are printed without `ll`
  /// (so index arithmetic, division included, runs in 32 bits), and those
  /// variables are widened to kiln_i64 where they appear as values.
  bool index32 = false;
  std::set<int> index_vars;
  /// \p x (of dtype \p from) converted to \p to with the interpreter's
  /// rules.
  static std::string cast(const std::string &x, DType from, DType to);
  /// The value \p v converted for a store into a buffer of \p t.
  static std::string store_value(const std::string &v, DType t);

private:
  std::string load(const loop::ExprPtr &e) const;
  std::string random(const loop::ExprPtr &e) const;
  std::string fn(Num n, const char *f32, const char *f64, const char *i64,
                 const std::string &args) const;
  std::string unary(loop::Op op, const loop::ExprPtr &a) const;
  std::string binary(loop::Op op, DType t, const loop::ExprPtr &ea,
                     const loop::ExprPtr &eb) const;

  const loop::Program &p_;
  const CDialect &d_;
  mutable bool in_index_ = false;
};

} // namespace kiln::codegen
