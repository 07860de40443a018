/// \file
/// The check-numerics failure report (runtime/Debug.h).
// SPDX-License-Identifier: Apache-2.0
#include "runtime/Debug.h"

#include "codegen/CPrinter.h"
#include "ir/Interpreter.h"

#include <cmath>
#include <cstring>
#include <set>
#include <unordered_map>

namespace kiln {

std::vector<const void *>
buffer_addresses(const loop::Program &p, const void *const *inputs,
                 void *const *outputs, const void *arena, void *const *state) {
  std::vector<const void *> r;
  for (const loop::Buffer &b : p.buffers) {
    switch (b.kind) {
    case loop::BufferKind::Input:
      r.push_back(inputs[b.arg_index]);
      break;
    case loop::BufferKind::State:
      r.push_back(state[b.arg_index]);
      break;
    case loop::BufferKind::Output:
      r.push_back(outputs[b.arg_index]);
      break;
    case loop::BufferKind::Temp:
      r.push_back(static_cast<const char *>(arena) + b.arena_offset);
      break;
    case loop::BufferKind::Constant:
      r.push_back(b.data.bytes());
      break;
    }
  }
  return r;
}

namespace {

/// The first non-finite element of buffer \p b and the counts; false when
/// every element is finite.
bool find_nonfinite(const loop::Buffer &b, const void *data, bool nan_only,
                    int64_t &first, double &value, int64_t &nans,
                    int64_t &infs) {
  TensorType t{b.dtype, {b.numel}};
  HostTensor h(t);
  std::memcpy(h.bytes(), data, size_t(b.bytes()));
  first = -1;
  nans = infs = 0;
  for (int64_t i = 0; i < b.numel; ++i) {
    double v = h.get(i);
    if (std::isfinite(v))
      continue;
    (std::isnan(v) ? nans : infs) += 1;
    if (first < 0 && (!nan_only || std::isnan(v))) {
      first = i;
      value = v;
    }
  }
  return first >= 0;
}

std::string describe(const loop::Buffer &b, const void *data,
                     bool nan_only = false) {
  int64_t first, nans, infs;
  double v = 0;
  if (!is_float(b.dtype) ||
      !find_nonfinite(b, data, nan_only, first, v, nans, infs))
    return "";
  return std::string(std::isnan(v) ? "nan"
                     : v > 0       ? "inf"
                                   : "-inf") +
         " in %" + b.name + " (" + std::string(dtype_name(b.dtype)) + ", " +
         std::to_string(b.numel) + " elements) at element " +
         std::to_string(first) + "; " + std::to_string(nans) + " NaN and " +
         std::to_string(infs) + " Inf in all";
}

/// Whether \p t holds a NaN (\p nan) or an infinity (\p inf).
void classes(const HostTensor &t, bool &nan, bool &inf) {
  for (int64_t i = 0; is_float(t.dtype()) && i < t.numel(); ++i) {
    double v = t.get(i);
    nan |= std::isnan(v);
    inf |= std::isinf(v);
  }
}

/// \p n made a NaN from operands without one, or an infinity from finite
/// operands (constants and selects pass infinities on by design: masks).
bool introduces(const Node &n, const std::vector<const HostTensor *> &in,
                const std::vector<HostTensor> &out) {
  bool in_nan = false, in_inf = false, out_nan = false, out_inf = false;
  for (const HostTensor *t : in)
    classes(*t, in_nan, in_inf);
  for (const HostTensor &t : out)
    classes(t, out_nan, out_inf);
  bool passes_inf = n.op() == OpKind::Constant || n.op() == OpKind::Select;
  return (out_nan && !in_nan) || (out_inf && !in_inf && !passes_inf);
}

/// Replays \p f with the interpreter up to the last op of \p k; the index
/// in k.sources of the first op that introduces a NaN or Inf, or -1.
int first_bad_op(const Function &f, const std::vector<HostTensor> &args,
                 const loop::Kernel &k) {
  int last = -1;
  for (const loop::SourceOp &s : k.sources)
    last = std::max(last, s.node);
  std::unordered_map<const Value *, HostTensor> vals;
  for (size_t i = 0; i < args.size() && i < f.params().size(); ++i)
    vals[f.param(i)] = args[i];
  int pos = 0;
  for (const auto &n : f.body()) {
    if (pos > last)
      break;
    std::vector<const HostTensor *> in;
    for (const Value *o : n->operands())
      in.push_back(&vals.at(o));
    std::vector<HostTensor> out = evaluate_node(*n, in);
    for (size_t s = 0; s < k.sources.size(); ++s)
      if (k.sources[s].node == pos && introduces(*n, in, out))
        return int(s);
    for (size_t r = 0; r < out.size(); ++r)
      vals[n->result(r)] = std::move(out[r]);
    ++pos;
  }
  return -1;
}

} // namespace

std::string describe_run_failure(const Function &f, const loop::Program &p,
                                 int rc,
                                 const std::vector<const void *> &buffers,
                                 const std::vector<HostTensor> &args) {
  const std::string &function = f.name();
  int k = rc - codegen::kNonFiniteStatus;
  if (k < 0 || size_t(k) >= p.kernels.size())
    return "@" + function + " failed with code " + std::to_string(rc);
  const loop::Kernel &kernel = p.kernels[size_t(k)];
  std::string msg = "check-numerics: @" + function + ": kernel " + kernel.name +
                    " (" + kernel.ops + ") produced ";
  std::set<int> out, in;
  loop::kernel_buffers(kernel.body, out, in);
  std::set<int> masks = loop::buffers_with_infinite_literals(kernel.body);
  for (int b : out) {
    std::string d =
        describe(p.buffers[size_t(b)], buffers[size_t(b)], masks.count(b) > 0);
    if (!d.empty()) {
      msg += d;
      break;
    }
  }
  int bad = -1;
  try {
    bad = first_bad_op(f, args, kernel);
  } catch (const std::exception &) {
    bad = -1; // the replay is a best effort; the kernel is still named
  }
  if (bad >= 0) {
    const loop::SourceOp &s = kernel.sources[size_t(bad)];
    msg += "\n  first non-finite op (replayed by the interpreter): " + s.op +
           " " + (s.value.empty() ? "(unnamed)" : "%" + s.value) +
           (s.loc.empty() ? "" : "  at " + s.loc);
  }
  msg += "\n  fused ops of " + kernel.name + ", in order:";
  for (const loop::SourceOp &s : kernel.sources)
    msg += "\n    " + s.op + " " +
           (s.value.empty() ? "(unnamed)" : "%" + s.value) +
           (s.loc.empty() ? "" : "  at " + s.loc);
  // Kernels' outputs were checked as they ran: only an argument or a
  // constant can have been bad before this kernel.
  for (int b : in) {
    const loop::Buffer &buf = p.buffers[size_t(b)];
    if (buf.kind == loop::BufferKind::Temp)
      continue;
    std::string d = describe(buf, buffers[size_t(b)]);
    if (!d.empty())
      msg += "\n  its input was already non-finite: " + d;
  }
  return msg;
}

} // namespace kiln
