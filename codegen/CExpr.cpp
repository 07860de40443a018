/// \file
/// The shared expression printer of the C-family printers (CExpr.h).
// SPDX-License-Identifier: Apache-2.0
#include "codegen/CExpr.h"

#include "ir/Error.h"

#include <cmath>
#include <cstdint>
#include <cstdio>

namespace kiln::codegen {

using loop::ExprPtr;
using loop::Op;

const CDialect kCDialect = {"__builtin_",           "restrict",
                            "__builtin_nanf(\"\")", "__builtin_inff()",
                            "__builtin_nan(\"\")",  "__builtin_inf()"};

const CDialect kCudaDialect = {"",
                               "__restrict__",
                               "__int_as_float(0x7fc00000)",
                               "__int_as_float(0x7f800000)",
                               "__longlong_as_double(0x7ff8000000000000ll)",
                               "__longlong_as_double(0x7ff0000000000000ll)"};

Num num_of(DType t) {
  if (t == DType::F64)
    return Num::F64;
  return is_float(t) ? Num::F32 : Num::Int;
}

const char *compute_type(DType t) {
  switch (t) {
  case DType::F64:
    return "double";
  case DType::F32:
  case DType::F16:
  case DType::BF16:
    return "float";
  case DType::I32:
    return "kiln_i32";
  case DType::I64:
    return "kiln_i64";
  case DType::Bool:
    return "kiln_u8";
  }
  return "?";
}

const char *storage_type(DType t) {
  switch (t) {
  case DType::F16:
  case DType::BF16:
    return "kiln_u16";
  default:
    return compute_type(t);
  }
}

std::string float_literal(double v, DType t, const CDialect &d) {
  bool f = num_of(t) != Num::F64;
  if (std::isnan(v))
    return f ? d.nan_f : d.nan_d;
  if (std::isinf(v))
    return std::string(v < 0 ? "(-" : "(") + (f ? d.inf_f : d.inf_d) + ")";
  char buf[64];
  if (f)
    std::snprintf(buf, sizeof buf, "%af", double(float(v)));
  else
    std::snprintf(buf, sizeof buf, "%a", v);
  return buf;
}

std::string int_literal(int64_t v, DType t) {
  if (t == DType::I64) {
    if (v == INT64_MIN)
      return "(-9223372036854775807ll - 1)";
    return "(" + std::to_string(v) + "ll)";
  }
  return "(" + std::to_string(v) + ")";
}

std::string ExprPrinter::operator()(const ExprPtr &e) const {
  switch (e->op) {
  case Op::IntImm:
    if (index32 && in_index_ && e->ival >= INT32_MIN && e->ival <= INT32_MAX)
      return "(" + std::to_string(e->ival) + ")";
    return int_literal(e->ival, e->dtype);
  case Op::FloatImm:
    return float_literal(e->fval, e->dtype, d_);
  case Op::Var:
    return var(e->var);
  case Op::Load:
    return load(e);
  case Op::Cast:
    return cast((*this)(e->args[0]), e->args[0]->dtype, e->dtype);
  case Op::Select:
    return "(" + (*this)(e->args[0]) + " ? " + (*this)(e->args[1]) + " : " +
           (*this)(e->args[2]) + ")";
  case Op::RandomUniform:
  case Op::RandomNormal:
    return random(e);
  default:
    break;
  }
  if (e->args.size() == 1)
    return unary(e->op, e->args[0]);
  return binary(e->op, e->dtype, e->args[0], e->args[1]);
}

std::string ExprPrinter::var(int v) const {
  auto it = subst.find(v);
  if (it != subst.end())
    return it->second;
  std::string name = index_name(v);
  if (index32 && !in_index_ && index_vars.count(v))
    return "((kiln_i64)" + name + ")";
  return name;
}

std::string ExprPrinter::index(const ExprPtr &e) const {
  bool outer = in_index_;
  in_index_ = true;
  std::string s = (*this)(e);
  in_index_ = outer;
  return s;
}

std::string ExprPrinter::load(const ExprPtr &e) const {
  std::string s = buf(e->buffer) + "[" + index(e->args[0]) + "]";
  DType t = p_.buffers[size_t(e->buffer)].dtype;
  if (t == DType::F16)
    return "kiln_h2f(" + s + ")";
  if (t == DType::BF16)
    return "kiln_bf2f(" + s + ")";
  return s;
}

std::string ExprPrinter::random(const ExprPtr &e) const {
  std::string call = std::string(e->op == Op::RandomUniform ? "kiln_uniform("
                                                            : "kiln_normal(") +
                     (*this)(e->args[0]) + ", " + (*this)(e->args[1]) + ", " +
                     (*this)(e->args[2]) + ")";
  return cast(call, DType::F64, e->dtype);
}

std::string ExprPrinter::fn(Num n, const char *f32, const char *f64,
                            const char *i64, const std::string &args) const {
  const char *f = n == Num::F32 ? f32 : n == Num::F64 ? f64 : i64;
  bool helper = std::string(f).rfind("kiln_", 0) == 0;
  return (helper ? "" : d_.math_prefix) + std::string(f) + "(" + args + ")";
}

std::string ExprPrinter::unary(Op op, const ExprPtr &a) const {
  std::string x = (*this)(a);
  Num n = num_of(a->dtype);
  bool i32 = a->dtype == DType::I32;
  switch (op) {
  case Op::Neg:
    return i32 ? "((kiln_i32)(0u - (kiln_u32)" + x + "))" : "(-" + x + ")";
  case Op::Abs:
    return n == Num::Int ? "(" + x + " < 0 ? -" + x + " : " + x + ")"
                         : fn(n, "fabsf", "fabs", "", x);
  case Op::Sign:
    return fn(n, "kiln_signf", "kiln_signd", "kiln_signi", x);
  case Op::Exp:
    return fn(n, "kiln_expf", "exp", "", x);
  case Op::Log:
    return fn(n, "logf", "log", "", x);
  case Op::Sqrt:
    return fn(n, "sqrtf", "sqrt", "", x);
  case Op::Rsqrt:
    return n == Num::F64
               ? "(1.0 / " + std::string(d_.math_prefix) + "sqrt(" + x + "))"
               : "(1.0f / " + std::string(d_.math_prefix) + "sqrtf(" + x + "))";
  case Op::Tanh:
    return fn(n, "kiln_tanhf", "tanh", "", x);
  case Op::Sigmoid:
    return n == Num::F64 ? "(1.0 / (1.0 + " + std::string(d_.math_prefix) +
                               "exp(-" + x + ")))"
                         : "kiln_sigmoidf(" + x + ")";
  case Op::Relu:
    return n == Num::Int ? "(" + x + " > 0 ? " + x + " : 0)"
                         : fn(n, "kiln_reluf", "kiln_relud", "", x);
  case Op::Sin:
    return fn(n, "sinf", "sin", "", x);
  case Op::Cos:
    return fn(n, "cosf", "cos", "", x);
  case Op::Erf:
    return fn(n, "erff", "erf", "", x);
  case Op::Floor:
    return fn(n, "floorf", "floor", "", x);
  case Op::Ceil:
    return fn(n, "ceilf", "ceil", "", x);
  case Op::Round:
    return fn(n, "rintf", "rint", "", x);
  case Op::Not:
    return "(!" + x + ")";
  case Op::IsFinite:
    return "(" + std::string(d_.math_prefix) + "isfinite(" + x + ") ? 1 : 0)";
  default:
    KILN_UNREACHABLE(std::string("not a unary op: ") + loop::op_name(op));
  }
}

std::string ExprPrinter::binary(Op op, DType t, const ExprPtr &ea,
                                const ExprPtr &eb) const {
  std::string a = (*this)(ea), b = (*this)(eb);
  Num n = num_of(ea->dtype);
  auto infix = [&](const char *o) {
    if (t == DType::I32)
      return "((kiln_i32)((kiln_u32)" + a + " " + o + " (kiln_u32)" + b + "))";
    return "(" + a + " " + o + " " + b + ")";
  };
  switch (op) {
  case Op::Add:
    return infix("+");
  case Op::Sub:
    return infix("-");
  case Op::Mul:
    return infix("*");
  case Op::Div:
    return n == Num::Int ? "((" + std::string(compute_type(t)) + ")kiln_divi(" +
                               a + ", " + b + "))"
                         : "(" + a + " / " + b + ")";
  case Op::Pow:
    return n == Num::Int ? "((" + std::string(compute_type(t)) + ")kiln_powi(" +
                               a + ", " + b + "))"
                         : fn(n, "powf", "pow", "", a + ", " + b);
  case Op::Max:
    return fn(n, "kiln_maxf", "kiln_maxd", "kiln_maxi", a + ", " + b);
  case Op::Min:
    return fn(n, "kiln_minf", "kiln_mind", "kiln_mini", a + ", " + b);
  case Op::And:
    return "(" + a + " && " + b + ")";
  case Op::Or:
    return "(" + a + " || " + b + ")";
  case Op::Eq:
    return "(" + a + " == " + b + ")";
  case Op::Ne:
    return "(" + a + " != " + b + ")";
  case Op::Lt:
    return "(" + a + " < " + b + ")";
  case Op::Le:
    return "(" + a + " <= " + b + ")";
  case Op::Gt:
    return "(" + a + " > " + b + ")";
  case Op::Ge:
    return "(" + a + " >= " + b + ")";
  case Op::IDiv:
    return "(" + a + " / " + b + ")";
  case Op::IMod:
    return "(" + a + " % " + b + ")";
  default:
    KILN_UNREACHABLE(std::string("not a binary op: ") + loop::op_name(op));
  }
}

std::string ExprPrinter::cast(const std::string &x, DType from, DType to) {
  if (is_bool(to))
    return "((kiln_u8)((" + x + ") != 0))";
  if (is_float(to)) {
    std::string v = "((" + std::string(compute_type(to)) + ")(" + x + "))";
    if (to == DType::F16)
      return "kiln_h2f(kiln_f2h(" + v + "))";
    if (to == DType::BF16)
      return "kiln_bf2f(kiln_f2bf(" + v + "))";
    return v;
  }
  if (is_float(from))
    return to == DType::I64 ? "kiln_f2i64((double)(" + x + "))"
                            : "((kiln_i32)kiln_f2i((double)(" + x +
                                  "), -2147483648.0, 2147483647.0))";
  return "((" + std::string(compute_type(to)) + ")(" + x + "))";
}

bool shares_memory(const loop::Program &p, int b, const std::set<int> &bufs) {
  const loop::Buffer &x = p.buffers[size_t(b)];
  for (int o : bufs) {
    const loop::Buffer &y = p.buffers[size_t(o)];
    if (o == b || x.kind != y.kind)
      continue;
    if (x.kind == loop::BufferKind::State && x.arg_index == y.arg_index)
      return true;
    if (x.kind == loop::BufferKind::Temp &&
        x.arena_offset < y.arena_offset + y.bytes() &&
        y.arena_offset < x.arena_offset + x.bytes())
      return true;
  }
  return false;
}

std::string ExprPrinter::store_value(const std::string &v, DType t) {
  if (t == DType::F16)
    return "kiln_f2h(" + v + ")";
  if (t == DType::BF16)
    return "kiln_f2bf(" + v + ")";
  return "(" + std::string(storage_type(t)) + ")(" + v + ")";
}

} // namespace kiln::codegen
