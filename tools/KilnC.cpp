/// \file
/// kilnc: the ahead-of-time compiler (docs/aot.md). Compiles one function of
/// a .kir file to an ELF object and a C header that run it with only libc,
/// libm and libomp (--target cuda: libc, and the CUDA driver loaded at run
/// time): no kiln library, no LLVM. Initial parameters and state
/// come from a safetensors file, embedded in the object or written to a
/// side file. Outputs are written to temporary files and renamed into place
/// at the end, so a failure leaves no partial output.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Aot.h"
#include "ir/Parser.h"
#include "runtime/Safetensors.h"
#include "tools/ToolSupport.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <unistd.h>

using namespace kiln;
namespace fs = std::filesystem;

namespace {

const char *kUsage = R"(usage: kilnc FILE.kir -o NAME.o [options]

Compiles a function of FILE ahead of time into the object NAME.o and the C
header NAME.h (docs/aot.md). Link the object with -lomp -lm (--target cuda:
with libc only); nothing of kiln or LLVM is needed at run time.

options:
  -o FILE              the object file to write (required)
  --header FILE        the header to write (default: FILE of -o with .h)
  --func NAME          the function to compile (default: the first)
  --name PREFIX        the C symbol prefix (default: the function's name)
  --weights W          initial {param}/{state} values from the safetensors
                       file W, by name; every parameter must be in W, with
                       its dtype and shape (else zeros, with a warning)
  --allow-unused       skip tensors of W that name no parameter
  --weights-file PATH  write the initial values to the safetensors file PATH
                       and have NAME_init_state read it at run time, instead
                       of embedding them in the object
  --cpu CPU            an LLVM CPU name, e.g. x86-64-v3 (default for the
                       host), skylake-avx512, native (host only), generic
                       (default for another --triple)
  --target cpu|cuda    the backend (default cpu). cuda embeds the kernels
                       compiled by NVRTC and host code that runs them through
                       the CUDA driver (loaded with dlopen: link with libc
                       only); the host code is compiled for --cpu/--triple
  --arch ARCH[,ARCH]   cuda: sm_XX, a CUBIN for that GPU (default sm_90), or
                       compute_XX, PTX that the driver compiles on load; a
                       list embeds each, and the program loads the one that
                       fits its GPU
  --tf32               cuda: f32 matmuls and convolutions on tensor cores
                       with TF32 operands (10-bit mantissa; sm_80 and newer)
  --triple T           cross-compile for the LLVM triple T, e.g.
                       aarch64-linux-gnu (default: this machine's)
  -j, --jobs N         compile the C as N units on N threads, merged into
                       one object with ld -r (default: one unit per 24
                       kernels, at most one per hardware thread)
  --no-canonicalize    compile the function as written
  --no-cache           do not use the compile cache
  -h, --help           this text
)";

struct Options {
  std::string input, output, header, func, name, weights, weights_file;
  std::string cpu, triple, arch;
  aot::AotTarget target = aot::AotTarget::Cpu;
  bool allow_unused = false, canonicalize = true, use_cache = true;
  bool tf32 = false;
  int jobs = 0;
};

/// 0 to go on, -1 to exit 0, or an exit code.
int parse_args(int argc, char **argv, Options &o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has = i + 1 < argc;
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return -1;
    } else if (a == "-o" && has) {
      o.output = argv[++i];
    } else if (a == "--header" && has) {
      o.header = argv[++i];
    } else if (a == "--func" && has) {
      o.func = argv[++i];
    } else if (a == "--name" && has) {
      o.name = argv[++i];
    } else if (a == "--weights" && has) {
      o.weights = argv[++i];
    } else if (a == "--weights-file" && has) {
      o.weights_file = argv[++i];
    } else if (a == "--target" && has) {
      std::string t = argv[++i];
      if (t != "cpu" && t != "cuda") {
        std::cerr << "kilnc: error: --target " << t
                  << ": unknown target (cpu or cuda)\n";
        return 2;
      }
      o.target = t == "cuda" ? aot::AotTarget::Cuda : aot::AotTarget::Cpu;
    } else if ((a == "-j" || a == "--jobs") && has) {
      o.jobs = std::atoi(argv[++i]);
      if (o.jobs < 1) {
        std::cerr << "kilnc: error: " << a << " " << argv[i]
                  << ": not a positive number\n";
        return 2;
      }
    } else if (a == "--arch" && has) {
      o.arch = argv[++i];
    } else if (a == "--triple" && has) {
      o.triple = argv[++i];
    } else if (a == "--cpu" && has) {
      o.cpu = argv[++i];
    } else if (a == "--tf32") {
      o.tf32 = true;
    } else if (a == "--allow-unused") {
      o.allow_unused = true;
    } else if (a == "--no-canonicalize") {
      o.canonicalize = false;
    } else if (a == "--no-cache") {
      o.use_cache = false;
    } else if (a.size() > 1 && a[0] == '-') {
      std::cerr << "kilnc: error: unknown option or missing value '" << a
                << "' (see kilnc --help)\n";
      return 2;
    } else if (o.input.empty()) {
      o.input = a;
    } else {
      std::cerr << "kilnc: error: more than one input file\n";
      return 2;
    }
  }
  if (o.input.empty() || o.output.empty()) {
    std::cerr << "kilnc: error: "
              << (o.input.empty() ? "no input file" : "no -o") << "\n"
              << kUsage;
    return 2;
  }
  if (!o.arch.empty() && o.target != aot::AotTarget::Cuda) {
    std::cerr << "kilnc: error: --arch " << o.arch << " needs --target cuda\n";
    return 2;
  }
  if (o.tf32 && o.target != aot::AotTarget::Cuda) {
    std::cerr << "kilnc: error: --tf32 needs --target cuda\n";
    return 2;
  }
  if (o.header.empty())
    o.header = fs::path(o.output).replace_extension(".h").string();
  return 0;
}

/// The function to compile, parsed and verified; null after printing.
std::unique_ptr<Module> load(const Options &o, const Function *&f) {
  std::string text, err;
  if (!tools::read_input(o.input, text, err)) {
    std::cerr << "kilnc: error: " << err << "\n";
    return nullptr;
  }
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(text, o.input, diags);
  diags.print(std::cerr);
  if (!m)
    return nullptr;
  f = o.func.empty()
          ? (m->functions().empty() ? nullptr : m->functions()[0].get())
          : m->find(o.func);
  if (!f) {
    std::cerr << o.input << ": error: "
              << (o.func.empty() ? "the module has no function"
                                 : "no function @" + o.func)
              << "\n";
    return nullptr;
  }
  return m;
}

/// The initial values of the {param}/{state} parameters from --weights.
bool initial_state(const Function &f, const Options &o,
                   std::vector<HostTensor> &state) {
  if (o.weights.empty()) {
    bool any = false;
    for (const auto &p : f.params())
      any |= p->arg_kind() != ArgKind::Input;
    if (any)
      std::cerr << "kilnc: warning: no --weights: the parameters and state "
                   "of @"
                << f.name() << " start as zeros\n";
    return true;
  }
  std::vector<HostTensor> args;
  for (const auto &p : f.params())
    args.emplace_back(p->type());
  NamedTensors tensors;
  BindOptions bind;
  bind.require_all = false;
  bind.allow_unused = o.allow_unused;
  bind.source = o.weights;
  Status s = read_safetensors(o.weights, tensors);
  if (s)
    s = bind_by_name(f, tensors, args, bind);
  for (const auto &p : f.params()) {
    if (!s)
      break;
    bool found = false;
    for (const auto &t : tensors)
      found |= t.first == p->name();
    if (p->arg_kind() != ArgKind::Input && !found)
      s = Status::error(o.weights + ": no tensor for %" + p->name() + " (" +
                        type_str(p->type()) + ")");
  }
  if (!s) {
    std::cerr << "kilnc: error: " << s.message() << "\n";
    return false;
  }
  for (size_t i = 0; i < args.size(); ++i)
    if (f.param(i)->arg_kind() != ArgKind::Input)
      state.push_back(std::move(args[i]));
  return true;
}

/// Writes \p bytes to a temporary file next to \p path; returns its name.
bool write_temp(const std::string &path, const std::string &bytes,
                std::string &tmp) {
  tmp = path + ".kilnc-tmp" + std::to_string(::getpid());
  std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  out.close();
  if (out)
    return true;
  std::cerr << "kilnc: error: cannot write " << path << "\n";
  std::remove(tmp.c_str());
  return false;
}

/// Writes every (path, bytes) pair or none of them.
bool write_all(const std::vector<std::pair<std::string, std::string>> &files) {
  std::vector<std::string> tmps;
  bool ok = true;
  for (const auto &[path, bytes] : files) {
    std::string tmp;
    if (!(ok = write_temp(path, bytes, tmp)))
      break;
    tmps.push_back(tmp);
  }
  for (size_t i = 0; ok && i < tmps.size(); ++i)
    if (std::rename(tmps[i].c_str(), files[i].first.c_str()) != 0) {
      std::cerr << "kilnc: error: cannot write " << files[i].first << "\n";
      ok = false;
    }
  for (const std::string &t : tmps)
    std::remove(t.c_str());
  return ok;
}

int run(const Options &o) {
  const Function *f = nullptr;
  std::unique_ptr<Module> m = load(o, f);
  if (!m)
    return 1;
  aot::AotOptions ao;
  ao.name = o.name;
  ao.cpu = o.cpu;
  ao.triple = o.triple;
  ao.target = o.target;
  ao.arch = o.arch;
  ao.allow_tf32 = o.tf32;
  ao.threads = o.jobs;
  ao.canonicalize = o.canonicalize;
  ao.use_cache = o.use_cache;
  ao.weights_file = o.weights_file;
  if (!initial_state(*f, o, ao.initial_state))
    return 1;
  aot::AotResult r = aot::compile(*f, ao);
  std::vector<std::pair<std::string, std::string>> files = {
      {o.output, r.object}, {o.header, r.header}};
  if (!o.weights_file.empty())
    files.emplace_back(o.weights_file, r.weights_file);
  if (!write_all(files))
    return 1;
  std::fprintf(
      stderr, "kilnc: @%s: %zu kernels, object %zu bytes, arena %lld bytes%s\n",
      f->name().c_str(), r.num_kernels, r.object.size(), r.arena_bytes,
      r.num_units > 1
          ? (" (" + std::to_string(r.num_units) + " C units)").c_str()
          : "");
  for (size_t i = 0; i < r.device_archs.size(); ++i)
    std::fprintf(stderr, "kilnc: @%s: %zu CUDA launches, %s image %zu bytes\n",
                 f->name().c_str(), r.num_launches, r.device_archs[i].c_str(),
                 r.device_images[i].size());
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  return kiln::tools::tool_main<Options>("kilnc", argc, argv, parse_args, run,
                                         /*error_code=*/1);
}
