/// \file
/// kiln-run's debugging options (tools/RunDebug.h).
// SPDX-License-Identifier: Apache-2.0
#include "tools/RunDebug.h"

#include "codegen/CPrinter.h"
#include "codegen/CudaPrinter.h"
#include "ir/Interpreter.h"
#include "passes/Probes.h"
#include "runtime/Profile.h"
#include "runtime/Safetensors.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

namespace kiln::tools {

const char *kDebugUsage = R"(
debugging (docs/debugging.md):
  --probe NAME       also return the value NAME ("%h", "h", "%3" as
                     printed by --print-ir, "blocks.0.attn.scores") and
                     print its statistics; repeat for several. The regular
                     results stay bit-identical
  --dump DIR         write each probed value to DIR/NAME.npy; a name ending
                     in .safetensors writes them all to that one file,
                     by name (without '%')
  --check-numerics   after each kernel scan what it wrote and stop at the
                     first NaN or Inf, naming the kernel, its fused ops
                     and their .kir locations (exit 1)
  --profile FILE     time every kernel and write a Chrome trace (JSON for
                     chrome://tracing or ui.perfetto.dev): compile phases,
                     then each kernel with its ops, FLOPs, bytes, GFLOP/s
                     and GB/s; also prints the kernels, slowest first
  --time-passes      print where the compile time went
  --emit-c DIR       write the generated C (one file, DIR/FUNC.c)
  --emit-cuda DIR    write the CUDA C the cuda target would compile, with
                     each launch's grid and block (DIR/FUNC.cu; no GPU
                     needed)
)";

int DebugOptions::parse(int argc, char **argv, int &i) {
  std::string a = argv[i];
  bool has_value = i + 1 < argc;
  if (a == "--check-numerics") {
    check_numerics = true;
  } else if (a == "--time-passes") {
    time_passes = true;
  } else if (a == "--probe" || a == "--dump" || a == "--profile" ||
             a == "--emit-c" || a == "--emit-cuda") {
    if (!has_value) {
      std::cerr << "kiln-run: error: " << a << " needs a value\n";
      return 2;
    }
    std::string v = argv[++i];
    if (a == "--probe")
      probes.push_back(v);
    else
      (a == "--dump"      ? dump_dir
       : a == "--profile" ? profile
       : a == "--emit-c"  ? emit_c_dir
                          : emit_cuda_dir) = v;
  } else {
    return 0;
  }
  return 1;
}

void DebugOptions::apply(CompileOptions &co) const {
  co.probes = probes;
  co.check_numerics = check_numerics;
  co.profile = !profile.empty();
  co.progress = true;
}

void DebugOptions::add_load_phase(Executable &exe) const {
  std::vector<CompilePhase> &ph = exe.debug().compile_phases;
  for (CompilePhase &p : ph)
    p.start_ms += load_ms;
  ph.insert(ph.begin(), {"parse, verify, canonicalize (kiln-run)", 0, load_ms});
}

std::vector<HostTensor>
DebugOptions::interpret(const Function &f,
                        const std::vector<HostTensor> &args) const {
  if (probes.empty())
    return kiln::interpret(f, args);
  std::unique_ptr<Function> g = f.clone();
  add_probes(*g, probes);
  return kiln::interpret(*g, args);
}

namespace {

void print_stats(const std::string &name, const HostTensor &t) {
  double lo = INFINITY, hi = -INFINITY, sum = 0, sq = 0;
  int64_t nans = 0, infs = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = t.get(i);
    if (std::isnan(v) || std::isinf(v)) {
      ++(std::isnan(v) ? nans : infs);
      continue;
    }
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  }
  int64_t n = t.numel() - nans - infs;
  double mean = n ? sum / double(n) : NAN;
  for (int64_t i = 0; i < t.numel(); ++i)
    if (std::isfinite(t.get(i)))
      sq += (t.get(i) - mean) * (t.get(i) - mean);
  std::printf("probe %s: %s\n  min %.6g  max %.6g  mean %.6g  std %.6g  "
              "nan %lld  inf %lld\n",
              name.c_str(), type_str(t.type()).c_str(), lo, hi, mean,
              n ? std::sqrt(sq / double(n)) : NAN, (long long)nans,
              (long long)infs);
}

std::string file_name(const std::string &probe) {
  std::string r;
  for (char c : probe)
    if (c != '%')
      r += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_'
               ? c
               : '_';
  return r.empty() ? "probe" : r;
}

bool write_bytes(const std::string &path, const std::string &bytes,
                 std::string &err) {
  std::ofstream os(path, std::ios::binary);
  os << bytes;
  os.close();
  if (!os)
    err = "cannot write " + path;
  return bool(os);
}

bool write_file(const std::string &path, const std::string &bytes) {
  std::string err;
  if (write_bytes(path, bytes, err))
    return true;
  std::cerr << "kiln-run: error: " << err << "\n";
  return false;
}

} // namespace

bool write_npy(const std::string &path, const HostTensor &t, std::string &err) {
  const char *descr = nullptr;
  HostTensor data = t;
  switch (t.dtype()) {
  case DType::F32:
  case DType::BF16:
    descr = "<f4";
    if (t.dtype() == DType::BF16) {
      data = HostTensor(TensorType{DType::F32, t.shape()});
      for (int64_t i = 0; i < t.numel(); ++i)
        data.set(i, t.get(i));
    }
    break;
  case DType::F64:
    descr = "<f8";
    break;
  case DType::F16:
    descr = "<f2";
    break;
  case DType::I32:
    descr = "<i4";
    break;
  case DType::I64:
    descr = "<i8";
    break;
  case DType::Bool:
    descr = "|b1";
    break;
  }
  std::string shape; // "(4, 8)", "(4,)", "()"
  for (size_t d = 0; d < t.shape().size(); ++d)
    shape += (d ? ", " : "") + std::to_string(t.shape()[d]);
  if (t.shape().size() == 1)
    shape += ",";
  std::string header = "{'descr': '" + std::string(descr) +
                       "', 'fortran_order': False, 'shape': (" + shape + "), }";
  // Magic, version, header length, header: a multiple of 64 bytes.
  size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::string out = "\x93NUMPY\x01";
  out += '\0';
  out += char(header.size() & 0xff);
  out += char(header.size() >> 8);
  out += header;
  out.append(reinterpret_cast<const char *>(data.bytes()),
             size_t(data.type().bytes()));
  return write_bytes(path, out, err);
}

bool DebugOptions::report_probes(std::vector<HostTensor> &results) const {
  if (probes.empty())
    return true;
  std::vector<HostTensor> values(results.end() - long(probes.size()),
                                 results.end());
  results.resize(results.size() - probes.size());
  bool one_file =
      dump_dir.size() > 12 &&
      dump_dir.compare(dump_dir.size() - 12, 12, ".safetensors") == 0;
  if (!dump_dir.empty() && !one_file) {
    std::error_code ec;
    std::filesystem::create_directories(dump_dir, ec);
  }
  for (size_t i = 0; i < probes.size(); ++i) {
    std::string name = probes[i][0] == '%' ? probes[i] : "%" + probes[i];
    print_stats(name, values[i]);
    if (dump_dir.empty() || one_file)
      continue;
    std::string path = dump_dir + "/" + file_name(probes[i]) + ".npy", err;
    if (!write_npy(path, values[i], err)) {
      std::cerr << "kiln-run: error: " << err << "\n";
      return false;
    }
    std::printf("  wrote %s\n", path.c_str());
  }
  if (!one_file)
    return true;
  std::vector<std::pair<std::string, const HostTensor *>> named;
  for (size_t i = 0; i < probes.size(); ++i)
    named.emplace_back(probes[i][0] == '%' ? probes[i].substr(1) : probes[i],
                       &values[i]);
  Status st = write_safetensors(dump_dir, named, {{"producer", "kiln-run"}});
  if (!st) {
    std::cerr << "kiln-run: error: " << st.message() << "\n";
    return false;
  }
  std::printf("  wrote %s\n", dump_dir.c_str());
  return true;
}

bool DebugOptions::report_run(const Executable &exe) const {
  if (time_passes)
    std::fprintf(stderr, "%s", compile_phase_table(exe).c_str());
  if (!profile.empty()) {
    std::printf("%s", kernel_time_table(exe).c_str());
    if (!write_file(profile, chrome_trace(exe)))
      return false;
    std::printf("profile: wrote %s\n", profile.c_str());
  }
  if (!emit_c_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(emit_c_dir, ec);
    codegen::EmitOptions eo;
    eo.check_numerics = check_numerics;
    eo.profile = !profile.empty();
    std::string entry = codegen::c_identifier("kiln_" + exe.function().name());
    std::string path = emit_c_dir + "/" + exe.function().name() + ".c";
    if (!write_file(path, codegen::emit_c(exe.program(), entry, eo)))
      return false;
    std::fprintf(stderr, "kiln-run: wrote %s\n", path.c_str());
  }
  return true;
}

bool DebugOptions::write_cuda(const Function &f,
                              const CompileOptions &co) const {
  if (emit_cuda_dir.empty())
    return true;
  std::error_code ec;
  std::filesystem::create_directories(emit_cuda_dir, ec);
  loop::Program p =
      lower(f, lower_options_for(CompileOptions::Target::Cuda, co.lower));
  std::string path = emit_cuda_dir + "/" + f.name() + ".cu";
  codegen::CudaEmitOptions eo; // sm_80: what the first tensor-core GPU runs
  eo.tf32 = co.allow_tf32;
  if (!write_file(path, codegen::cuda_listing(p, "kiln_" + f.name(), eo)))
    return false;
  std::fprintf(stderr, "kiln-run: wrote %s\n", path.c_str());
  return true;
}

} // namespace kiln::tools
