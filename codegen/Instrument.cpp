/// \file
/// The debugging instrumentation of the generated entry point: after each
/// kernel a scan of the floating-point buffers it wrote (check-numerics),
/// and omp_get_wtime() stamps around each kernel (profile). The scans read
/// the bits, so they hold under -ffinite-math-only.
// SPDX-License-Identifier: Apache-2.0
#include "codegen/Instrument.h"

#include <set>
#include <sstream>

namespace kiln::codegen {

namespace {

/// The scanner's name for \p t ("kiln_nonfinite32", or with \p nan_only
/// "kiln_nan32"), or "" for types without NaN or Inf.
std::string scanner(DType t, bool nan_only) {
  const char *bits = t == DType::F32    ? "32"
                     : t == DType::F64  ? "64"
                     : t == DType::F16  ? "16"
                     : t == DType::BF16 ? "bf16"
                                        : nullptr;
  if (!bits)
    return "";
  return std::string(nan_only ? "kiln_nan" : "kiln_nonfinite") + bits;
}

const char *kScanners =
    R"(/* check-numerics: 1 when any element is NaN or +-Inf (exponent all ones) */
static int kiln_nonfinite32(const void *p, long long n) {
  const unsigned *u = (const unsigned *)p; int bad = 0;
  for (long long i = 0; i < n; ++i) bad |= (u[i] & 0x7f800000u) == 0x7f800000u;
  return bad;
}
static int kiln_nonfinite64(const void *p, long long n) {
  const unsigned long long *u = (const unsigned long long *)p; int bad = 0;
  for (long long i = 0; i < n; ++i)
    bad |= (u[i] & 0x7ff0000000000000ull) == 0x7ff0000000000000ull;
  return bad;
}
static int kiln_nonfinite16(const void *p, long long n) {
  const unsigned short *u = (const unsigned short *)p; int bad = 0;
  for (long long i = 0; i < n; ++i) bad |= (u[i] & 0x7c00u) == 0x7c00u;
  return bad;
}
static int kiln_nonfinitebf16(const void *p, long long n) {
  const unsigned short *u = (const unsigned short *)p; int bad = 0;
  for (long long i = 0; i < n; ++i) bad |= (u[i] & 0x7f80u) == 0x7f80u;
  return bad;
}
/* NaN only (exponent all ones, mantissa not zero): for buffers that hold
   infinities by design (masks) */
static int kiln_nan32(const void *p, long long n) {
  const unsigned *u = (const unsigned *)p; int bad = 0;
  for (long long i = 0; i < n; ++i) bad |= (u[i] & 0x7fffffffu) > 0x7f800000u;
  return bad;
}
static int kiln_nan64(const void *p, long long n) {
  const unsigned long long *u = (const unsigned long long *)p; int bad = 0;
  for (long long i = 0; i < n; ++i)
    bad |= (u[i] & 0x7fffffffffffffffull) > 0x7ff0000000000000ull;
  return bad;
}
static int kiln_nan16(const void *p, long long n) {
  const unsigned short *u = (const unsigned short *)p; int bad = 0;
  for (long long i = 0; i < n; ++i) bad |= (u[i] & 0x7fffu) > 0x7c00u;
  return bad;
}
static int kiln_nanbf16(const void *p, long long n) {
  const unsigned short *u = (const unsigned short *)p; int bad = 0;
  for (long long i = 0; i < n; ++i) bad |= (u[i] & 0x7fffu) > 0x7f80u;
  return bad;
}
)";

} // namespace

std::string instrument_globals(const loop::Program &p, const std::string &entry,
                               const EmitOptions &opts) {
  std::string s;
  if (opts.check_numerics)
    s += kScanners;
  if (opts.profile)
    s += "extern double omp_get_wtime(void);\n/* profile: wall time before "
         "and after each kernel, in seconds */\ndouble " +
         entry + "_profile[" + std::to_string(2 * p.kernels.size() + 1) +
         "];\n";
  return s.empty() ? s : s + "\n";
}

std::string instrument_before(const loop::Program &, size_t k,
                              const std::string &entry,
                              const EmitOptions &opts) {
  if (!opts.profile)
    return "";
  return "  " + entry + "_profile[" + std::to_string(2 * k) +
         "] = omp_get_wtime();\n";
}

std::string instrument_after(const loop::Program &p, size_t k,
                             const std::string &entry,
                             const EmitOptions &opts) {
  std::string s;
  if (opts.profile)
    s += "  " + entry + "_profile[" + std::to_string(2 * k + 1) +
         "] = omp_get_wtime();\n";
  if (!opts.check_numerics)
    return s;
  std::set<int> bufs, read;
  loop::kernel_buffers(p.kernels[k].body, bufs, read);
  std::set<int> masks = loop::buffers_with_infinite_literals(p.kernels[k].body);
  for (int b : bufs) {
    const loop::Buffer &buf = p.buffers[size_t(b)];
    std::string fn = scanner(buf.dtype, masks.count(b) > 0);
    if (!fn.empty())
      s += "  if (" + fn + "(B[" + std::to_string(b) + "], " +
           std::to_string(buf.numel) + "ll)) return " +
           std::to_string(kNonFiniteStatus + int(k)) + "; /* " + buf.name +
           " */\n";
  }
  return s;
}

std::string kernel_comment(const loop::Kernel &k, const std::string &what) {
  // A file name could hold "*/"; it would end the comment.
  auto safe = [](std::string s) {
    for (size_t i = s.find("*/"); i != std::string::npos; i = s.find("*/"))
      s.replace(i, 2, "*_/");
    return s;
  };
  std::ostringstream os;
  os << "/* " << k.name << ": " << k.ops
     << (what.empty() ? "" : " \xe2\x80\x94 " + safe(what)) << "\n";
  for (const loop::SourceOp &s : k.sources) {
    std::string value = s.value.empty() ? "(unnamed)" : "%" + s.value;
    os << " *   " << s.op
       << std::string(s.op.size() < 12 ? 12 - s.op.size() : 1, ' ')
       << safe(value) << (s.loc.empty() ? "" : "  " + safe(s.loc)) << "\n";
  }
  os << " */\n";
  return os.str();
}

} // namespace kiln::codegen
