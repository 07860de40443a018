/// \file
/// Prints Loop IR as C: expressions with the interpreter's exact semantics
/// (through the prelude's helpers), loops with OpenMP pragmas, one static
/// function per kernel, constant data, and the entry point.
// SPDX-License-Identifier: Apache-2.0
#include "codegen/CPrinter.h"

#include "codegen/CExpr.h"
#include "codegen/CPrelude.h"
#include "codegen/Gemm.h"
#include "codegen/Instrument.h"
#include "ir/Error.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <sstream>

namespace kiln::codegen {

using loop::Expr;
using loop::ExprPtr;
using loop::Op;
using loop::Stmt;
using loop::StmtOp;
using loop::StmtPtr;

std::string c_identifier(const std::string &name) {
  std::string r;
  for (char c : name)
    r += (std::isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  if (r.empty() || std::isdigit(static_cast<unsigned char>(r[0])))
    r = "_" + r;
  return r;
}

namespace {

class CWriter {
public:
  CWriter(const loop::Program &p, std::ostringstream &os, int vector_width)
      : p_(p), os_(os), expr_(p, kCDialect), vector_width_(vector_width) {}

  static void collect_expr(const ExprPtr &e, std::set<int> &bufs) {
    if (!e)
      return;
    if (e->op == Op::Load)
      bufs.insert(e->buffer);
    for (const ExprPtr &a : e->args)
      collect_expr(a, bufs);
  }

  void collect(const StmtPtr &s, std::set<int> &bufs) const {
    if (s->op == StmtOp::Store)
      bufs.insert(s->buffer);
    collect_expr(s->index, bufs);
    collect_expr(s->value, bufs);
    for (const StmtPtr &c : s->body)
      collect(c, bufs);
  }

  /// The buffers an epilogue reads besides the output \p out, in order.
  static std::vector<int> epilogue_buffers(const ExprPtr &epilogue, int out) {
    std::set<int> bufs;
    collect_expr(epilogue, bufs);
    bufs.erase(out);
    return std::vector<int>(bufs.begin(), bufs.end());
  }

  /// The extra C parameters that pass \p bufs to a contraction function.
  std::string extra_params(const std::vector<int> &bufs) const {
    std::string r;
    for (int b : bufs)
      r += std::string(r.empty() ? "" : ", ") + "const " +
           storage_type(p_.buffers[size_t(b)].dtype) + " *restrict " +
           expr_.buf(b);
    return r;
  }

  /// Writes a generated contraction function made file-local (`static`),
  /// so modules linked into one process never collide, under a name taken
  /// from its text: the same contraction (shapes, epilogue, parameters) in
  /// several kernels of one translation unit is defined once (a guard skips
  /// the repeats), so LLVM compiles it once.
  void emit_static(std::string src, const std::string &name) {
    size_t at = src.find("\nvoid " + name + "(");
    if (at != std::string::npos)
      src.insert(at + 1, "static ");
    auto renamed = [&](const std::string &to) {
      std::string r = src;
      for (size_t i = r.find(name); i != std::string::npos;
           i = r.find(name, i + to.size()))
        r.replace(i, name.size(), to);
      return r;
    };
    std::ostringstream shared;
    shared << "kiln_c" << std::hex << std::hash<std::string>()(renamed("@"));
    shared_names_[name] = shared.str();
    os_ << "#ifndef " << shared.str() << "_defined\n#define " << shared.str()
        << "_defined\n"
        << renamed(shared.str()) << "#endif /* " << shared.str()
        << "_defined */\n\n";
  }

  /// `NAME(a + a_off, b + b_off, out, epilogue buffers...);`, NAME as
  /// emit_static defined it.
  void contraction_call(const std::string &name, int a, int64_t a_off, int b,
                        int64_t b_off, int out, const ExprPtr &epilogue,
                        const std::string &pad) {
    auto it = shared_names_.find(name);
    os_ << pad << (it == shared_names_.end() ? name : it->second) << "("
        << expr_.buf(a) << " + " << a_off << ", " << expr_.buf(b) << " + "
        << b_off << ", " << expr_.buf(out);
    for (int e : epilogue_buffers(epilogue, out))
      os_ << ", " << expr_.buf(e);
    os_ << ");\n";
  }

  /// Emits `static void NAME(A, B, C, epilogue buffers...)` for \p g.
  void gemm_function(const loop::GemmDesc &g, const std::string &name) {
    DType t = p_.buffers[size_t(g.c)].dtype;
    GemmSpec s;
    s.name = name;
    s.vector_width = vector_width_;
    s.dtype = t == DType::F64 ? GemmDType::F64 : GemmDType::F32;
    s.M = g.m;
    s.N = g.n;
    s.K = g.k;
    for (const loop::GemmBatchDim &d : g.batch)
      s.batch_dims.push_back({d.extent, d.a_stride, d.b_stride, -1});
    const std::vector<int64_t> ext = g.batch_extents();
    s.a_row_stride = g.a_row_stride;
    s.a_col_stride = g.a_col_stride;
    s.b_row_stride = g.b_row_stride;
    s.b_col_stride = g.b_col_stride;
    s.extra_params = extra_params(epilogue_buffers(g.epilogue, g.c));
    bool identity = g.epilogue->op == Op::Var && g.epilogue->var == g.acc_var;
    if (!identity)
      s.epilogue = [&, g, ext](const std::string &b, const std::string &i,
                               const std::string &j, const std::string &acc) {
        ExprPrinter ep(p_, kCDialect);
        ep.buf_names = expr_.buf_names;
        for (size_t d = 0; d < g.batch.size(); ++d)
          if (g.batch[d].var >= 0)
            ep.subst[g.batch[d].var] = batch_level_index(b, ext, d);
        ep.subst[g.i_var] = "(" + i + ")";
        ep.subst[g.j_var] = "(" + j + ")";
        ep.subst[g.acc_var] = "(" + acc + ")";
        return ep(g.epilogue);
      };
    emit_static(emit_gemm(s), name);
  }

  void gemm_call(const loop::GemmDesc &g, const std::string &pad) {
    contraction_call(kernel_name_ + "_gemm" + std::to_string(gemm_index_++),
                     g.a, g.a_offset, g.b, g.b_offset, g.c, g.epilogue, pad);
  }

  /// Emits `static void NAME(x, w, out, epilogue buffers...)` for \p c.
  void conv_function(const loop::Conv2dDesc &c, const std::string &name) {
    Conv2dSpec s;
    s.name = name;
    s.vector_width = vector_width_;
    s.N = c.N;
    s.C = c.C;
    s.H = c.H;
    s.W = c.W;
    s.O = c.O;
    s.KH = c.KH;
    s.KW = c.KW;
    s.stride_h = c.stride_h;
    s.stride_w = c.stride_w;
    s.pad_h = c.pad_h;
    s.pad_w = c.pad_w;
    s.dil_h = c.dil_h;
    s.dil_w = c.dil_w;
    s.groups = c.groups;
    s.extra_params = extra_params(epilogue_buffers(c.epilogue, c.out));
    if (!(c.epilogue->op == Op::Var && c.epilogue->var == c.acc_var))
      s.epilogue = [&, c](const std::string &n, const std::string &o,
                          const std::string &oh, const std::string &ow,
                          const std::string &acc) {
        ExprPrinter ep(p_, kCDialect);
        ep.buf_names = expr_.buf_names;
        ep.subst[c.n_var] = "(" + n + ")";
        ep.subst[c.o_var] = "(" + o + ")";
        ep.subst[c.oh_var] = "(" + oh + ")";
        ep.subst[c.ow_var] = "(" + ow + ")";
        ep.subst[c.acc_var] = "(" + acc + ")";
        return ep(c.epilogue);
      };
    emit_static(c.kind == loop::ConvKind::Forward ? emit_conv2d(s)
                : c.kind == loop::ConvKind::InputGrad
                    ? emit_conv2d_input_grad(s)
                    : emit_conv2d_weight_grad(s),
                name);
  }

  void conv_call(const loop::Conv2dDesc &c, const std::string &pad) {
    contraction_call(kernel_name_ + "_conv" + std::to_string(gemm_index_++),
                     c.x, c.x_offset, c.w, c.w_offset, c.out, c.epilogue, pad);
  }

  /// The Gemm and Conv2d functions of a kernel, numbered in body order.
  void contraction_function(const Stmt &s, const std::string &kernel,
                            size_t i) {
    if (s.op == StmtOp::Conv2d)
      conv_function(*s.conv, kernel + "_conv" + std::to_string(i));
    else
      gemm_function(*s.gemm, kernel + "_gemm" + std::to_string(i));
  }

  /// The buffers a Gemm or Conv2d reads and writes.
  static void contraction_buffers(const Stmt &s, std::set<int> &bufs) {
    if (s.op == StmtOp::Conv2d) {
      bufs.insert({s.conv->x, s.conv->w, s.conv->out});
      collect_expr(s.conv->epilogue, bufs);
    } else {
      bufs.insert({s.gemm->a, s.gemm->b, s.gemm->c});
      collect_expr(s.gemm->epilogue, bufs);
    }
  }

  /// The C pointer type of buffer \p b among \p bufs: const for inputs and
  /// constants, restrict unless an in-place pair of the memory plan shares
  /// its bytes.
  std::string pointer_type(int b, const std::set<int> &bufs) const {
    const loop::Buffer &buf = p_.buffers[size_t(b)];
    bool ro = buf.kind == loop::BufferKind::Input ||
              buf.kind == loop::BufferKind::Constant;
    return (ro ? "const " : "") + std::string(storage_type(buf.dtype)) +
           (shares_memory(p_, b, bufs) ? " *" : " *restrict ");
  }

  static void stmt_vars(const StmtPtr &s, std::vector<int> &vars) {
    if (s->op == StmtOp::For || s->op == StmtOp::Decl)
      vars.push_back(s->var);
    for (const StmtPtr &c : s->body)
      stmt_vars(c, vars);
  }

  static bool has_call(const StmtPtr &s) {
    if (s->op == StmtOp::Call)
      return true;
    for (const StmtPtr &c : s->body)
      if (has_call(c))
        return true;
    return false;
  }

  void kernel(const loop::Kernel &k) {
    std::vector<StmtPtr> gemms;
    for (const StmtPtr &s : k.body->body)
      if (s->op == StmtOp::Gemm || s->op == StmtOp::Conv2d)
        gemms.push_back(s);
    std::set<int> bufs;
    collect(k.body, bufs);
    for (const StmtPtr &s : gemms)
      contraction_buffers(*s, bufs);
    // A kernel without runtime calls prints its body with local names (p0..
    // in buffer order, v0.. in statement order) as a function of its
    // buffers, defined once per program under a name taken from its text
    // (emit_static): kernels of the same shapes and ops (one per layer, say)
    // share one compiled body and each is a call of it.
    const bool shared = !has_call(k.body);
    if (shared) {
      for (int b : bufs)
        expr_.buf_names[b] = "p" + std::to_string(expr_.buf_names.size());
      std::vector<int> vars;
      stmt_vars(k.body, vars);
      for (int v : vars)
        if (!expr_.var_names.count(v))
          expr_.var_names[v] = "v" + std::to_string(expr_.var_names.size());
    }
    for (size_t i = 0; i < gemms.size(); ++i)
      contraction_function(*gemms[i], k.name, i);
    gemm_index_ = 0;
    kernel_name_ = k.name;
    const std::string kernel = external_ + k.name;
    if (!shared) {
      os_ << kernel_comment(k) << (external_.empty() ? "static " : "")
          << "void " << kernel << "(void *const *B) {\n";
      for (int b : bufs) {
        std::string t = pointer_type(b, bufs);
        os_ << "  " << t << expr_.buf(b) << " = (" << t.substr(0, t.find('*'))
            << "*)B[" << b << "]; /* " << p_.buffers[size_t(b)].name << " */\n";
      }
      stmt(k.body, 1);
      os_ << "}\n\n";
      return;
    }
    std::ostringstream body; // the body's text, printed through os_
    std::swap(os_, body);
    std::string params;
    for (int b : bufs)
      params +=
          (params.empty() ? "" : ", ") + pointer_type(b, bufs) + expr_.buf(b);
    os_ << "__attribute__((noinline))\nvoid " << kernel << "_body(" << params
        << ") {\n";
    stmt(k.body, 1);
    os_ << "}\n";
    std::swap(os_, body);
    emit_static(body.str(), kernel + "_body");
    expr_.buf_names.clear();
    expr_.var_names.clear();
    // The kernel only calls its body: no optimization (saves LLVM time).
    const char *linkage = external_.empty() ? "static " : "";
    os_ << "__attribute__((optnone, noinline)) " << linkage << "void " << kernel
        << "(void *const *B);\n";
    os_ << kernel_comment(k) << linkage << "void " << kernel
        << "(void *const *B) {\n  " << shared_names_[kernel + "_body"] << "(";
    const char *sep = "";
    for (int b : bufs) {
      std::string t = pointer_type(b, bufs);
      os_ << sep << "\n      (" << t.substr(0, t.find('*')) << "*)B[" << b
          << "] /* " << p_.buffers[size_t(b)].name << " */";
      sep = ",";
    }
    os_ << ");\n}\n\n";
  }

  void stmt(const StmtPtr &s, int depth) {
    std::string pad(size_t(depth) * 2, ' ');
    switch (s->op) {
    case StmtOp::Block:
      for (const StmtPtr &c : s->body)
        stmt(c, depth);
      return;
    case StmtOp::For:
      // Unrolling triples LLVM's time on kernel code and buys little next
      // to vectorization; the packed GEMM kernels keep theirs.
      if (s->loop == loop::LoopKind::Parallel)
        os_ << pad << "#pragma omp parallel for schedule(static)\n";
      else
        os_ << pad << "#pragma clang loop unroll(disable)\n";
      os_ << pad << "for (kiln_i64 " << expr_.var(s->var) << " = 0; "
          << expr_.var(s->var) << " < " << s->extent << "; ++"
          << expr_.var(s->var) << ") {\n";
      for (const StmtPtr &c : s->body)
        stmt(c, depth + 1);
      os_ << pad << "}\n";
      return;
    case StmtOp::Store: {
      DType t = p_.buffers[size_t(s->buffer)].dtype;
      std::string v = ExprPrinter::store_value(expr_(s->value), t);
      os_ << pad << expr_.buf(s->buffer) << "[" << expr_(s->index)
          << "] = " << v << ";\n";
      return;
    }
    case StmtOp::Decl:
      os_ << pad << compute_type(s->dtype) << " " << expr_.var(s->var) << " = "
          << expr_(s->value) << ";\n";
      return;
    case StmtOp::Assign:
      os_ << pad << expr_.var(s->var) << " = " << expr_(s->value) << ";\n";
      return;
    case StmtOp::Gemm:
      gemm_call(*s->gemm, pad);
      return;
    case StmtOp::Conv2d:
      conv_call(*s->conv, pad);
      return;
    case StmtOp::Call:
      runtime_call(*s->call, pad);
      return;
    }
  }

  /// A call into the runtime (loop::CallDesc), declared where it is made.
  void runtime_call(const loop::CallDesc &c, const std::string &pad) {
    os_ << pad << "{\n"
        << pad << "  extern void " << c.fn
        << "(const long long *, void *const *);\n"
        << pad << "  static const long long I[] = {";
    for (size_t i = 0; i < c.ints.size(); ++i)
      os_ << (i ? ", " : "") << c.ints[i] << "ll";
    os_ << (c.ints.empty() ? "0" : "") << "};\n" << pad << "  void *P[] = {";
    size_t n = 0;
    for (const std::vector<int> *list : {&c.reads, &c.writes})
      for (int b : *list)
        os_ << (n++ ? ", " : "") << "B[" << b << "]";
    os_ << (n ? "" : "0") << "};\n"
        << pad << "  " << c.fn << "(I, P);\n"
        << pad << "}\n";
  }

  void constants() {
    for (size_t b = 0; b < p_.buffers.size(); ++b) {
      const loop::Buffer &buf = p_.buffers[b];
      if (buf.kind != loop::BufferKind::Constant)
        continue;
      os_ << "static const " << storage_type(buf.dtype) << " kiln_const" << b
          << "[" << std::max<int64_t>(buf.numel, 1) << "] = {";
      for (int64_t i = 0; i < buf.numel; ++i) {
        os_ << (i ? ", " : "");
        if (buf.dtype == DType::F16 || buf.dtype == DType::BF16)
          os_ << buf.data.data<uint16_t>()[i];
        else if (is_float(buf.dtype))
          os_ << float_literal(buf.data.get(i), buf.dtype, kCDialect);
        else
          os_ << int_literal(buf.data.get_int(i), buf.dtype);
      }
      os_ << (buf.numel ? "" : "0") << "};\n";
    }
  }

  void entry(const std::string &name, const EmitOptions &opts) {
    os_ << "const long long " << name << "_arena_bytes = " << p_.arena_bytes
        << "ll;\n\n";
    os_ << instrument_globals(p_, name, opts);
    // Stores of buffer pointers and kernel calls: nothing to optimize, and
    // LLVM's passes over hundreds of calls cost a large program ~0.4 s.
    os_ << "__attribute__((optnone, noinline)) int " << name
        << "_run(const void *const *inputs, void *const *outputs, void "
           "*arena, void *const *state) {\n";
    os_ << "  void *B[" << std::max<size_t>(p_.buffers.size(), 1) << "];\n";
    os_ << "  (void)inputs; (void)outputs; (void)arena; (void)state;\n";
    for (size_t b = 0; b < p_.buffers.size(); ++b) {
      const loop::Buffer &buf = p_.buffers[b];
      os_ << "  B[" << b << "] = ";
      switch (buf.kind) {
      case loop::BufferKind::Input:
        os_ << "(void *)inputs[" << buf.arg_index << "]";
        break;
      case loop::BufferKind::State:
        os_ << "state[" << buf.arg_index << "]";
        break;
      case loop::BufferKind::Output:
        os_ << "outputs[" << buf.arg_index << "]";
        break;
      case loop::BufferKind::Temp:
        os_ << "(char *)arena + " << buf.arena_offset;
        break;
      case loop::BufferKind::Constant:
        os_ << "(void *)kiln_const" << b;
        break;
      }
      os_ << "; /* " << buf.name << " */\n";
    }
    for (size_t k = 0; k < p_.kernels.size(); ++k)
      os_ << instrument_before(p_, k, name, opts) << "  " << external_
          << p_.kernels[k].name << "(B);\n"
          << instrument_after(p_, k, name, opts);
    for (const loop::UpdateCopy &u : p_.updates)
      os_ << "  __builtin_memcpy(B[" << u.to << "], B[" << u.from << "], "
          << p_.buffers[size_t(u.to)].bytes() << ");\n";
    os_ << "  return 0;\n}\n";
  }

private:
  const loop::Program &p_;
  std::ostringstream &os_;
  ExprPrinter expr_;
  int vector_width_ = 0; ///< EmitOptions::vector_width
  std::string kernel_name_;

public:
  /// Non-empty: kernels are external functions named PREFIX + name (for a
  /// program split into several translation units).
  std::string external_;

private:
  int gemm_index_ = 0;
  /// Contraction function names -> the shared names emit_static gave them.
  std::map<std::string, std::string> shared_names_;
};

} // namespace

namespace {

/// The shared contraction functions (emit_static's guards) \p text defines.
std::vector<std::string> shared_definitions(const std::string &text) {
  std::vector<std::string> r;
  const std::string tag = "#ifndef kiln_c";
  for (size_t at = text.find(tag); at != std::string::npos;
       at = text.find(tag, at + 1))
    r.push_back(text.substr(at + 8, text.find('\n', at) - at - 8));
  return r;
}

/// \p text without the guarded definitions already in \p seen (which it
/// extends): the guard would skip them anyway, and the parts are balanced
/// by size.
std::string drop_repeated(const std::string &text,
                          std::set<std::string> &seen) {
  std::string r;
  const std::string tag = "#ifndef kiln_c";
  size_t from = 0;
  for (size_t at = text.find(tag, from); at != std::string::npos;
       at = text.find(tag, from)) {
    std::string id = text.substr(at + 8, text.find('\n', at) - at - 8);
    // The guard's own #endif (a definition may hold nested guards).
    const std::string end = "\n#endif /* " + id + " */\n";
    size_t stop = text.find(end, at);
    stop = stop == std::string::npos ? text.size() : stop + end.size();
    r += text.substr(from, at - from);
    if (seen.insert(id).second)
      r += text.substr(at, stop - at);
    from = stop;
  }
  return r + text.substr(from);
}

} // namespace

std::vector<std::string> emit_c_parts(const loop::Program &p,
                                      const std::string &entry, int parts,
                                      const EmitOptions &opts) {
  parts = std::max(1, std::min<int>(parts, int(p.kernels.size())));
  if (parts == 1)
    return {emit_c(p, entry, opts)};
  std::string name = c_identifier(entry);
  std::string head = "/* generated by kiln from @" + p.name + " */\n" +
                     std::string(kCPrelude) + "\n";
  // Each kernel on its own; kernels that share a contraction function
  // (emit_static) together, with one definition; then the largest first
  // into the smallest part.
  std::vector<std::string> texts;
  std::vector<size_t> parent; // union-find over kernels
  auto root = [&](size_t x) {
    while (parent[x] != x)
      x = parent[x] = parent[parent[x]];
    return x;
  };
  std::map<std::string, size_t> definer; // shared function -> a kernel
  for (const loop::Kernel &k : p.kernels) {
    std::ostringstream ks;
    CWriter w(p, ks, opts.vector_width);
    w.external_ = name + "_";
    w.kernel(k);
    size_t i = texts.size();
    parent.push_back(i);
    for (const std::string &d : shared_definitions(ks.str())) {
      auto [it, fresh] = definer.emplace(d, i);
      size_t a = root(it->second), b = root(i);
      if (!fresh && a != b)
        parent[std::max(a, b)] = std::min(a, b);
    }
    texts.push_back(ks.str());
  }
  std::vector<std::string> grouped(texts.size());
  std::vector<std::set<std::string>> seen(texts.size());
  for (size_t i = 0; i < texts.size(); ++i)
    grouped[root(i)] += drop_repeated(texts[i], seen[root(i)]);
  texts.clear();
  for (std::string &t : grouped)
    if (!t.empty())
      texts.push_back(std::move(t));
  std::vector<size_t> order(texts.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return texts[a].size() > texts[b].size();
  });
  std::vector<std::string> bodies(static_cast<size_t>(parts));
  for (size_t i : order) {
    size_t j = 0;
    for (size_t q = 1; q < bodies.size(); ++q)
      if (bodies[q].size() < bodies[j].size())
        j = q;
    bodies[j] += texts[i];
  }
  std::ostringstream entry_tu;
  entry_tu << head;
  CWriter w(p, entry_tu, opts.vector_width);
  w.external_ = name + "_";
  w.constants();
  for (const loop::Kernel &k : p.kernels)
    entry_tu << "void " << name << "_" << k.name << "(void *const *B);\n";
  entry_tu << "\n" << bodies[0];
  w.entry(name, opts);
  std::vector<std::string> out = {entry_tu.str()};
  for (size_t q = 1; q < bodies.size(); ++q)
    out.push_back(head + bodies[q]);
  return out;
}

std::string emit_c(const loop::Program &p, const std::string &entry,
                   const EmitOptions &opts) {
  std::ostringstream os;
  os << "/* generated by kiln from @" << p.name << " */\n" << kCPrelude << "\n";
  CWriter w(p, os, opts.vector_width);
  w.constants();
  os << "\n";
  for (const loop::Kernel &k : p.kernels)
    w.kernel(k);
  w.entry(c_identifier(entry), opts);
  return os.str();
}

} // namespace kiln::codegen
