/// \file
/// Loop IR builders (with index simplification) and the text printer.
// SPDX-License-Identifier: Apache-2.0
#include "ir/LoopIR.h"

#include <cmath>

#include "ir/Attribute.h"
#include "ir/Error.h"
#include "ir/Type.h"

#include <sstream>

namespace kiln::loop {

const char *op_name(Op op) {
  static const char *const kNames[] = {
      "int",          "float", "var",  "load",      "neg",   "abs",
      "sign",         "exp",   "log",  "sqrt",      "rsqrt", "tanh",
      "sigmoid",      "relu",  "sin",  "cos",       "erf",   "floor",
      "ceil",         "round", "not",  "is_finite", "add",   "sub",
      "mul",          "div",   "pow",  "max",       "min",   "and",
      "or",           "eq",    "ne",   "lt",        "le",    "gt",
      "ge",           "idiv",  "imod", "select",    "cast",  "random_uniform",
      "random_normal"};
  static_assert(sizeof(kNames) / sizeof(kNames[0]) ==
                    size_t(Op::RandomNormal) + 1,
                "one name per Loop IR op");
  return kNames[int(op)];
}

ExprPtr int_imm(int64_t v, DType t) {
  auto e = std::make_shared<Expr>();
  e->op = Op::IntImm;
  e->dtype = t;
  e->ival = v;
  return e;
}

ExprPtr float_imm(double v, DType t) {
  auto e = std::make_shared<Expr>();
  e->op = Op::FloatImm;
  e->dtype = t;
  e->fval = v;
  return e;
}

ExprPtr imm(double v, DType t) {
  return is_float(t) ? float_imm(v, t) : int_imm(int64_t(v), t);
}

ExprPtr var(int id, DType t) {
  auto e = std::make_shared<Expr>();
  e->op = Op::Var;
  e->dtype = t;
  e->var = id;
  return e;
}

ExprPtr load(int buffer, DType t, ExprPtr index) {
  auto e = std::make_shared<Expr>();
  e->op = Op::Load;
  e->dtype = t;
  e->buffer = buffer;
  e->args = {std::move(index)};
  return e;
}

bool is_int_imm(const ExprPtr &e, int64_t v) {
  return e->op == Op::IntImm && e->ival == v;
}

namespace {
bool both_int_imm(const std::vector<ExprPtr> &a) {
  return a.size() == 2 && a[0]->op == Op::IntImm && a[1]->op == Op::IntImm;
}

/// Folds i64 index arithmetic; returns nullptr when nothing simplifies.
ExprPtr simplify_index(Op op, const std::vector<ExprPtr> &a) {
  if (both_int_imm(a)) {
    int64_t x = a[0]->ival, y = a[1]->ival;
    switch (op) {
    case Op::Add:
      return int_imm(x + y);
    case Op::Sub:
      return int_imm(x - y);
    case Op::Mul:
      return int_imm(x * y);
    case Op::IDiv:
      return y ? int_imm(x / y) : nullptr;
    case Op::IMod:
      return y ? int_imm(x % y) : nullptr;
    default:
      return nullptr;
    }
  }
  switch (op) {
  case Op::Add:
    return is_int_imm(a[0], 0) ? a[1] : is_int_imm(a[1], 0) ? a[0] : nullptr;
  case Op::Sub:
    return is_int_imm(a[1], 0) ? a[0] : nullptr;
  case Op::Mul:
    if (is_int_imm(a[0], 0) || is_int_imm(a[1], 0))
      return int_imm(0);
    return is_int_imm(a[0], 1) ? a[1] : is_int_imm(a[1], 1) ? a[0] : nullptr;
  case Op::IDiv:
    return is_int_imm(a[1], 1) ? a[0] : nullptr;
  case Op::IMod:
    return is_int_imm(a[1], 1) ? int_imm(0) : nullptr;
  default:
    return nullptr;
  }
}
} // namespace

ExprPtr make(Op op, DType t, std::vector<ExprPtr> args) {
  if (t == DType::I64 && args.size() == 2 && args[0]->dtype == DType::I64 &&
      args[1]->dtype == DType::I64)
    if (ExprPtr s = simplify_index(op, args))
      return s;
  auto e = std::make_shared<Expr>();
  e->op = op;
  e->dtype = t;
  e->args = std::move(args);
  return e;
}

ExprPtr add(ExprPtr a, ExprPtr b) {
  DType t = a->dtype;
  return make(Op::Add, t, {std::move(a), std::move(b)});
}
ExprPtr mul(ExprPtr a, ExprPtr b) {
  DType t = a->dtype;
  return make(Op::Mul, t, {std::move(a), std::move(b)});
}
ExprPtr idiv(ExprPtr a, int64_t b) {
  return make(Op::IDiv, DType::I64, {std::move(a), int_imm(b)});
}
ExprPtr imod(ExprPtr a, int64_t b) {
  return make(Op::IMod, DType::I64, {std::move(a), int_imm(b)});
}

StmtPtr block(std::vector<StmtPtr> body) {
  auto s = std::make_shared<Stmt>();
  s->op = StmtOp::Block;
  s->body = std::move(body);
  return s;
}

StmtPtr for_loop(int v, int64_t extent, LoopKind kind,
                 std::vector<StmtPtr> body) {
  auto s = std::make_shared<Stmt>();
  s->op = StmtOp::For;
  s->var = v;
  s->extent = extent;
  s->loop = kind;
  s->body = std::move(body);
  return s;
}

StmtPtr store(int buffer, ExprPtr index, ExprPtr value) {
  auto s = std::make_shared<Stmt>();
  s->op = StmtOp::Store;
  s->buffer = buffer;
  s->index = std::move(index);
  s->value = std::move(value);
  return s;
}

StmtPtr decl(int v, DType t, ExprPtr init) {
  auto s = std::make_shared<Stmt>();
  s->op = StmtOp::Decl;
  s->var = v;
  s->dtype = t;
  s->value = std::move(init);
  return s;
}

StmtPtr assign(int v, ExprPtr value) {
  auto s = std::make_shared<Stmt>();
  s->op = StmtOp::Assign;
  s->var = v;
  s->value = std::move(value);
  return s;
}

int64_t GemmDesc::batch_count() const {
  int64_t n = 1;
  for (const GemmBatchDim &d : batch)
    n *= d.extent;
  return n;
}

std::vector<int64_t> GemmDesc::batch_extents() const {
  std::vector<int64_t> e;
  for (const GemmBatchDim &d : batch)
    e.push_back(d.extent);
  return e;
}

StmtPtr gemm(GemmDesc d) {
  auto s = std::make_shared<Stmt>();
  s->op = StmtOp::Gemm;
  s->gemm = std::make_shared<GemmDesc>(std::move(d));
  return s;
}

StmtPtr conv2d(Conv2dDesc d) {
  auto s = std::make_shared<Stmt>();
  s->op = StmtOp::Conv2d;
  s->conv = std::make_shared<Conv2dDesc>(std::move(d));
  return s;
}

StmtPtr runtime_call(CallDesc d) {
  auto s = std::make_shared<Stmt>();
  s->op = StmtOp::Call;
  s->call = std::make_shared<CallDesc>(std::move(d));
  return s;
}

int Program::new_var(DType t, const std::string &hint) {
  var_names.push_back(hint);
  var_types.push_back(t);
  return int(var_names.size()) - 1;
}

namespace {

class TextPrinter {
public:
  TextPrinter(const Program &p, std::ostringstream &os) : p_(p), os_(os) {}

  std::string var_name(int v) const {
    const std::string &h = p_.var_names[size_t(v)];
    return (h.empty() ? "v" : h) + std::to_string(v);
  }

  std::string expr(const ExprPtr &e) const {
    switch (e->op) {
    case Op::IntImm:
      return std::to_string(e->ival);
    case Op::FloatImm:
      return format_double(e->fval);
    case Op::Var:
      return var_name(e->var);
    case Op::Load:
      return p_.buffers[size_t(e->buffer)].name + "[" + expr(e->args[0]) + "]";
    case Op::Cast:
      return "cast<" + std::string(dtype_name(e->dtype)) + ">(" +
             expr(e->args[0]) + ")";
    default:
      break;
    }
    std::string r = std::string(op_name(e->op)) + "(";
    for (size_t i = 0; i < e->args.size(); ++i)
      r += (i ? ", " : "") + expr(e->args[i]);
    return r + ")";
  }

  void stmt(const StmtPtr &s, int depth) {
    std::string pad(size_t(depth) * 2, ' ');
    switch (s->op) {
    case StmtOp::Block:
      for (const StmtPtr &c : s->body)
        stmt(c, depth);
      return;
    case StmtOp::For: {
      static const char *const kKinds[] = {"for", "parallel for",
                                           "vectorized for", "unrolled for"};
      os_ << pad << kKinds[int(s->loop)] << " " << var_name(s->var)
          << " in [0, " << s->extent << ")\n";
      for (const StmtPtr &c : s->body)
        stmt(c, depth + 1);
      return;
    }
    case StmtOp::Store:
      os_ << pad << "store " << p_.buffers[size_t(s->buffer)].name << "["
          << expr(s->index) << "] = " << expr(s->value) << "\n";
      return;
    case StmtOp::Decl:
      os_ << pad << "decl " << dtype_name(s->dtype) << " " << var_name(s->var)
          << " = " << expr(s->value) << "\n";
      return;
    case StmtOp::Assign:
      os_ << pad << var_name(s->var) << " = " << expr(s->value) << "\n";
      return;
    case StmtOp::Gemm: {
      const GemmDesc &g = *s->gemm;
      os_ << pad << "gemm " << p_.buffers[size_t(g.c)].name << " = "
          << p_.buffers[size_t(g.a)].name << " x "
          << p_.buffers[size_t(g.b)].name << " [";
      if (!g.batch.empty()) {
        os_ << "batch=";
        for (size_t d = 0; d < g.batch.size(); ++d)
          os_ << (d ? "x" : "") << g.batch[d].extent;
        os_ << ", ";
      }
      os_ << "m=" << g.m << ", n=" << g.n << ", k=" << g.k << "]\n"
          << pad << "  epilogue " << expr(g.epilogue) << "\n";
      return;
    }
    case StmtOp::Conv2d:
      conv2d(*s->conv, pad);
      return;
    case StmtOp::Call:
      call(*s->call, pad);
      return;
    }
  }

private:
  void call(const CallDesc &c, const std::string &pad) {
    os_ << pad << "call " << c.fn << "(";
    for (size_t i = 0; i < c.ints.size(); ++i)
      os_ << (i ? ", " : "") << c.ints[i];
    os_ << ")";
    for (int b : c.reads)
      os_ << " reads " << p_.buffers[size_t(b)].name;
    for (int b : c.writes)
      os_ << " writes " << p_.buffers[size_t(b)].name;
    os_ << "\n";
  }

  void conv2d(const Conv2dDesc &c, const std::string &pad) {
    static const char *const kNames[] = {"conv2d ", "conv2d_input_grad ",
                                         "conv2d_weight_grad "};
    os_ << pad << kNames[int(c.kind)] << p_.buffers[size_t(c.out)].name << " = "
        << p_.buffers[size_t(c.x)].name << " * " << p_.buffers[size_t(c.w)].name
        << " [n=" << c.N << ", c=" << c.C << ", h=" << c.H << ", w=" << c.W
        << ", o=" << c.O << ", k=" << c.KH << "x" << c.KW
        << ", stride=" << c.stride_h << "x" << c.stride_w << ", pad=" << c.pad_h
        << "x" << c.pad_w << ", dil=" << c.dil_h << "x" << c.dil_w
        << ", groups=" << c.groups << "]\n"
        << pad << "  epilogue " << expr(c.epilogue) << "\n";
  }

  const Program &p_;
  std::ostringstream &os_;
};

const char *kind_name(BufferKind k) {
  static const char *const kNames[] = {"input", "state", "output", "temp",
                                       "constant"};
  return kNames[int(k)];
}

} // namespace

std::string to_string(const Program &p) {
  std::ostringstream os;
  os << "program @" << p.name << " (arena " << p.arena_bytes << " bytes)\n";
  for (const Buffer &b : p.buffers) {
    os << "  buffer " << b.name << ": " << dtype_name(b.dtype) << "[" << b.numel
       << "] " << kind_name(b.kind);
    if (b.kind == BufferKind::Temp)
      os << " @" << b.arena_offset;
    os << "\n";
  }
  TextPrinter tp(p, os);
  for (const Kernel &k : p.kernels) {
    os << "kernel " << k.name << " \"" << k.ops << "\"\n";
    tp.stmt(k.body, 1);
  }
  for (const UpdateCopy &u : p.updates)
    os << "update " << p.buffers[size_t(u.to)].name << " <- "
       << p.buffers[size_t(u.from)].name << "\n";
  return os.str();
}

namespace {
void expr_loads(const ExprPtr &e, std::set<int> &read) {
  if (!e)
    return;
  if (e->op == Op::Load)
    read.insert(e->buffer);
  for (const ExprPtr &a : e->args)
    expr_loads(a, read);
}
bool has_infinite_literal(const ExprPtr &e) {
  if (!e)
    return false;
  if (e->op == Op::FloatImm && std::isinf(e->fval))
    return true;
  for (const ExprPtr &a : e->args)
    if (has_infinite_literal(a))
      return true;
  return false;
}

void infinite_stores(const StmtPtr &s, std::set<int> &out) {
  if (!s)
    return;
  if (s->op == StmtOp::Store && has_infinite_literal(s->value))
    out.insert(s->buffer);
  if (s->gemm && has_infinite_literal(s->gemm->epilogue))
    out.insert(s->gemm->c);
  if (s->conv && has_infinite_literal(s->conv->epilogue))
    out.insert(s->conv->out);
  for (const StmtPtr &c : s->body)
    infinite_stores(c, out);
}
} // namespace

std::set<int> buffers_with_infinite_literals(const StmtPtr &s) {
  std::set<int> r;
  infinite_stores(s, r);
  return r;
}

void kernel_buffers(const StmtPtr &s, std::set<int> &written,
                    std::set<int> &read) {
  if (!s)
    return;
  expr_loads(s->index, read);
  expr_loads(s->value, read);
  if (s->op == StmtOp::Store)
    written.insert(s->buffer);
  if (s->gemm) {
    written.insert(s->gemm->c);
    read.insert({s->gemm->a, s->gemm->b});
    expr_loads(s->gemm->epilogue, read);
  }
  if (s->conv) {
    written.insert(s->conv->out);
    read.insert({s->conv->x, s->conv->w});
    expr_loads(s->conv->epilogue, read);
  }
  for (const StmtPtr &c : s->body)
    kernel_buffers(c, written, read);
}

} // namespace kiln::loop
