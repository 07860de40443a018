/// \file
/// kiln-run: runs a .kir function end to end. Today: parse, verify,
/// canonicalize and evaluate with the reference interpreter on seeded random
/// inputs or tensors from a safetensors file, printing every result and
/// optionally writing the results to a safetensors file. (The
/// compile-and-run path and timing come with the CPU backend: they plug in
/// at `execute`.)
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Compile.h"
#include "ir/Interpreter.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "passes/PassManager.h"
#include "passes/PlanMemory.h"
#include "runtime/Comm.h"
#include "runtime/Safetensors.h"
#include "tools/RunDebug.h"
#include "tools/ToolSupport.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <random>

using namespace kiln;

namespace {

const char *kUsage = R"(usage: kiln-run FILE.kir [options]

Parses and verifies FILE, canonicalizes it, compiles a function for the CPU
(or evaluates it with the reference interpreter: --interpret) and runs it.
Each parameter (input, {param} or {state}) takes
the tensor of the same name (without '%') from --inputs when given, and is
otherwise seeded random: floats ~ normal(0, 1), integers uniform in
[0, --int-max), bools fair coins. Prints each result's type, statistics and
leading values.

options:
  --func NAME        the function to run (default: the first)
  --inputs IN        read parameters by name from the safetensors file IN; a
                     tensor of the wrong dtype or shape is an error, and so
                     is a name that matches no parameter (see --allow-unused)
  --allow-unused     skip tensors of IN that match no parameter
  --outputs OUT      write the results to the safetensors file OUT as out0,
                     out1, ... in return order
  --save-state FILE  after the run, write every {param} and {state} buffer
                     (updated in place by a training step) to the
                     safetensors FILE by name; feed it back with --inputs
  --seed N           seed of the random inputs (default 0)
  --int-max N        integers are drawn from [0, N) (default 10)
  --no-canonicalize  run the function as written
  --interpret        evaluate with the reference interpreter, not compiled
  --check            also run the interpreter and compare every result:
                     exit 1 if the largest error exceeds --tolerance times
                     the result's largest magnitude, printing the worst
                     element
  --tolerance X      for --check (default 1e-4)
  --bench N          time N runs of the compiled function: median, min, max
  --threads N        OpenMP threads of the compiled code (default: all)
  --target T         cpu (default) or cuda: NVRTC and the CUDA driver;
                     without a driver or GPU it fails with the reason
  --tf32             with --target cuda (or --emit-cuda): f32 matmuls and
                     convolutions on tensor cores with TF32 operands (10-bit
                     mantissa, about 1e-3 relative error; sm_80 and newer)
  --print-ir         print the module that is run
  --memory           print the compiled program's arena plan: each buffer
                     (name, producing ops, bytes, live kernels, offset), then
                     memory: arena_bytes=A lower_bound=L no_reuse=N peak_at=K
  --show N           print the first N values of each result (default 8)
  --mpi              run a training step data parallel across the ranks of
                     `mpirun -np N kiln-run FILE --mpi` (docs/distributed.md):
                     each rank runs the function as written on its shard of
                     the batch, gradients grad.<param> are averaged across
                     ranks, params start as rank 0's. An --inputs tensor N
                     times the input's size along axis 0 is split so that
                     rank r takes the r-th part; random inputs differ per
                     rank. Rank 0 prints; --bench adds communication times
  -h, --help         this text
)";

struct Options {
  std::string input, func, inputs, outputs, save_state;
  bool allow_unused = false;
  uint64_t seed = 0;
  int64_t int_max = 10;
  bool canonicalize = true, print_ir = false;
  int64_t show = 8;
  bool interpret = false, check = false, memory = false, tf32 = false;
  double tolerance = 1e-4;
  int64_t bench = 0, threads = 0;
  CompileOptions::Target target = CompileOptions::Target::Cpu;
  tools::DebugOptions debug;
  bool mpi = false;
};

bool parse_int(const char *s, int64_t &out) {
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(s, &end, 10);
  if (errno || end == s || *end)
    return false;
  out = v;
  return true;
}

/// Returns 0 to go on, -1 to exit 0, or an exit code.
int parse_args(int argc, char **argv, Options &o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto num = [&](int64_t &out, int64_t min) {
      if (i + 1 >= argc || !parse_int(argv[i + 1], out) || out < min) {
        std::cerr << "kiln-run: error: " << a << " needs an integer >= " << min
                  << "\n";
        return false;
      }
      ++i;
      return true;
    };
    int64_t v;
    if (int d = o.debug.parse(argc, argv, i)) {
      if (d == 2)
        return 2;
    } else if (a == "-h" || a == "--help") {
      std::cout << kUsage << tools::kDebugUsage;
      return -1;
    } else if (a == "--func" && i + 1 < argc) {
      o.func = argv[++i];
    } else if (a == "--inputs" && i + 1 < argc) {
      o.inputs = argv[++i];
    } else if (a == "--outputs" && i + 1 < argc) {
      o.outputs = argv[++i];
    } else if (a == "--save-state" && i + 1 < argc) {
      o.save_state = argv[++i];
    } else if (a == "--allow-unused") {
      o.allow_unused = true;
    } else if (a == "--seed") {
      if (!num(v, 0))
        return 2;
      o.seed = uint64_t(v);
    } else if (a == "--int-max") {
      if (!num(o.int_max, 1))
        return 2;
    } else if (a == "--show") {
      if (!num(o.show, 0))
        return 2;
    } else if (a == "--interpret") {
      o.interpret = true;
    } else if (a == "--memory") {
      o.memory = true;
    } else if (a == "--check") {
      o.check = true;
    } else if (a == "--tolerance" && i + 1 < argc) {
      o.tolerance = std::strtod(argv[++i], nullptr);
    } else if (a == "--bench") {
      if (!num(o.bench, 1))
        return 2;
    } else if (a == "--target") {
      std::string t = i + 1 < argc ? argv[++i] : "";
      if (t != "cpu" && t != "cuda") {
        std::cerr << "kiln-run: error: --target needs cpu or cuda, got '" << t
                  << "'\n";
        return 2;
      }
      o.target = t == "cuda" ? CompileOptions::Target::Cuda
                             : CompileOptions::Target::Cpu;
    } else if (a == "--tf32") {
      o.tf32 = true;
    } else if (a == "--threads") {
      if (!num(o.threads, 1))
        return 2;
    } else if (a == "--no-canonicalize") {
      o.canonicalize = false;
    } else if (a == "--print-ir") {
      o.print_ir = true;
    } else if (a == "--mpi") {
      o.mpi = true;
    } else if (a.size() > 1 && a[0] == '-') {
      std::cerr << "kiln-run: error: unknown option '" << a
                << "' (see kiln-run --help)\n";
      return 2;
    } else if (o.input.empty()) {
      o.input = a;
    } else {
      std::cerr << "kiln-run: error: more than one input file\n";
      return 2;
    }
  }
  if (o.input.empty()) {
    std::cerr << "kiln-run: error: no input file\n" << kUsage;
    return 2;
  }
  if (o.mpi && (o.interpret || o.check)) {
    std::cerr << "kiln-run: error: --mpi runs compiled code across ranks; "
                 "--interpret and --check mean one process\n";
    return 2;
  }
  if (o.tf32 && o.target != CompileOptions::Target::Cuda &&
      o.debug.emit_cuda_dir.empty()) {
    std::cerr << "kiln-run: error: --tf32 needs --target cuda (or "
                 "--emit-cuda)\n";
    return 2;
  }
  return 0;
}

HostTensor random_tensor(const TensorType &t, std::mt19937_64 &rng,
                         int64_t int_max) {
  HostTensor r(t);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::uniform_int_distribution<int64_t> ints(0, int_max - 1);
  for (int64_t i = 0; i < r.numel(); ++i) {
    if (is_float(t.dtype))
      r.set(i, normal(rng));
    else if (is_integer(t.dtype))
      r.set_int(i, ints(rng));
    else
      r.set(i, double(rng() & 1));
  }
  return r;
}

void print_result(const std::string &label, const HostTensor &t, int64_t show) {
  std::printf("%s: %s\n", label.c_str(), type_str(t.type()).c_str());
  if (t.numel() == 0)
    return;
  double lo = INFINITY, hi = -INFINITY, sum = 0;
  int64_t nonfinite = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = t.get(i);
    if (!std::isfinite(v)) {
      ++nonfinite;
      continue;
    }
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  }
  int64_t finite = t.numel() - nonfinite;
  std::printf("  min %.6g  max %.6g  mean %.6g", lo, hi,
              finite ? sum / double(finite) : NAN);
  if (nonfinite)
    std::printf("  non-finite %lld", (long long)nonfinite);
  std::printf("\n  [");
  int64_t n = std::min(show, t.numel());
  for (int64_t i = 0; i < n; ++i)
    std::printf("%s%.6g", i ? ", " : "", t.get(i));
  std::printf("%s]\n", n < t.numel() ? ", ..." : "");
}

std::string value_label(const Function &f, size_t i) {
  const std::string &name = f.result(i)->name();
  return "result " + std::to_string(i) +
         (name.empty() ? "" : " (%" + name + ")");
}

/// Parses, verifies and (unless told not to) canonicalizes the input file;
/// null after printing the diagnostics.
std::unique_ptr<Module> load_module(const Options &o) {
  std::string text, err;
  if (!tools::read_input(o.input, text, err)) {
    std::cerr << "kiln-run: error: " << err << "\n";
    return nullptr;
  }
  Diagnostics diags;
  std::unique_ptr<Module> m = parse_and_verify(text, o.input, diags);
  std::vector<PassStep> steps;
  PassManagerOptions pm;
  pm.time_passes = o.debug.time_passes;
  // --mpi: compile() finds the gradients by name before it canonicalizes.
  if (m && o.canonicalize && !o.mpi &&
      parse_pipeline("canonicalize", steps, err) &&
      !run_pipeline(*m, steps, pm, diags, std::cerr))
    m.reset();
  diags.print(std::cerr);
  return m;
}

/// --mpi: an input tensor comm::size() times the parameter's rows becomes
/// this rank's rows.
void shard_inputs(const Function &f, NamedTensors &tensors) {
  int ranks = comm::size(), me = comm::rank();
  for (auto &[name, t] : tensors) {
    const Value *p = f.find_value(name);
    if (!p || !p->is_param() || p->arg_kind() != ArgKind::Input ||
        p->type().rank() == 0 || t.dtype() != p->type().dtype)
      continue;
    Shape whole = p->type().shape;
    whole[0] *= ranks;
    if (t.shape() != whole)
      continue;
    HostTensor part(p->type());
    std::memcpy(part.bytes(), t.bytes() + size_t(me) * p->type().bytes(),
                p->type().bytes());
    t = std::move(part);
  }
}

/// Seeded random arguments, then those named in --inputs. Prints the
/// function's summary line. False after printing an error.
bool make_args(const Function &f, const Options &o,
               std::vector<HostTensor> &args) {
  std::mt19937_64 rng(o.seed);
  for (const auto &p : f.params())
    args.push_back(random_tensor(p->type(), rng, o.int_max));
  if (o.mpi && comm::rank() > 0) { // each rank its own random batch
    std::mt19937_64 mine(o.seed + 1000003 * uint64_t(comm::rank()));
    for (size_t i = 0; i < args.size(); ++i)
      if (f.param(i)->arg_kind() == ArgKind::Input)
        args[i] = random_tensor(f.param(i)->type(), mine, o.int_max);
  }
  size_t from_file = 0;
  if (!o.inputs.empty()) {
    NamedTensors tensors;
    BindOptions bind;
    bind.allow_unused = o.allow_unused;
    bind.source = o.inputs;
    Status s = read_safetensors(o.inputs, tensors);
    if (s && o.mpi)
      shard_inputs(f, tensors);
    if (s)
      s = bind_by_name(f, tensors, args, bind, &from_file);
    if (!s) {
      std::cerr << "kiln-run: error: " << s.message() << "\n";
      return false;
    }
  }
  std::printf("@%s: %zu nodes, %zu inputs (", f.name().c_str(), f.num_nodes(),
              args.size());
  if (!o.inputs.empty())
    std::printf("%zu from %s, ", from_file, o.inputs.c_str());
  std::printf("seed %llu)\n", (unsigned long long)o.seed);
  return true;
}

/// The largest error of \p got against \p want over the largest magnitude
/// of \p want (floored at 1e-2), and where it is.
double normwise_error(const HostTensor &got, const HostTensor &want,
                      int64_t &at) {
  double scale = 1e-2, worst = 0;
  for (int64_t i = 0; i < want.numel(); ++i)
    if (std::isfinite(want.get(i)))
      scale = std::max(scale, std::fabs(want.get(i)));
  at = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    double g = got.get(i), w = want.get(i);
    double e = std::isnan(w)   ? (std::isnan(g) ? 0 : INFINITY)
               : std::isinf(w) ? (g == w ? 0 : INFINITY)
                               : std::fabs(g - w);
    if (!(e <= worst)) {
      worst = e;
      at = i;
    }
  }
  return worst / scale;
}

/// --check: compares compiled \p got with the interpreter; false on a
/// mismatch (after printing the worst element of each bad result).
bool check_results(const Function &f, const Options &o,
                   const std::vector<HostTensor> &args,
                   const std::vector<HostTensor> &got) {
  std::vector<HostTensor> want = interpret(f, args);
  bool ok = true;
  double worst_all = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    int64_t at;
    double e = normwise_error(got[i], want[i], at);
    worst_all = std::max(worst_all, e);
    if (e <= o.tolerance)
      continue;
    ok = false;
    std::printf("mismatch in %s: element %lld is %.9g, the interpreter says "
                "%.9g (error %.3g of the largest magnitude)\n",
                value_label(f, i).c_str(), (long long)at, got[i].get(at),
                want[i].get(at), e);
  }
  std::printf("check: %s (largest error %.3g, tolerance %.3g)\n",
              ok ? "compiled results match the interpreter" : "MISMATCH",
              worst_all, o.tolerance);
  return ok;
}

/// --bench: times \p n runs of \p exe on the inputs among \p args.
void bench(Executable &exe, const Function &f,
           const std::vector<HostTensor> &args, int64_t n) {
  std::vector<HostTensor> inputs;
  for (size_t i = 0; i < args.size(); ++i)
    if (f.param(i)->arg_kind() == ArgKind::Input)
      inputs.push_back(args[i]);
  exe.run(inputs); // warm up
  std::vector<double> ms;
  for (int64_t i = 0; i < n; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    exe.run(inputs);
    ms.push_back(std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - t0)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("bench: %lld runs: median %.4f ms, min %.4f ms, max %.4f ms\n",
              (long long)n, ms[ms.size() / 2], ms.front(), ms.back());
}

/// Runs \p f on \p args (compiled, or interpreted with --interpret) and
/// returns its results; --check and --bench happen here.
bool execute(const Function &f, const Options &o,
             const std::vector<HostTensor> &args,
             std::vector<HostTensor> &results) {
  if (o.interpret) {
    results = o.debug.interpret(f, args);
    return o.debug.report_probes(results);
  }
  CompileOptions co;
  o.debug.apply(co);
  // load_module already did, unless asked not to (or --mpi: compile()
  // finds the gradients by name before it canonicalizes).
  co.canonicalize = o.mpi && o.canonicalize;
  co.threads = int(o.threads);
  co.target = o.target;
  co.allow_tf32 = o.tf32;
  co.distributed.data_parallel = o.mpi;
  if (!o.debug.write_cuda(f, co))
    return false;
  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<Executable> exe = compile(f, co);
  o.debug.add_load_phase(*exe);
  double ms = std::chrono::duration<double, std::milli>(
                  std::chrono::steady_clock::now() - t0)
                  .count();
  std::fprintf(stderr, "kiln-run: compiled @%s in %.1f ms: %zu kernels\n",
               f.name().c_str(), ms, exe->program().kernels.size());
  if (o.memory)
    std::printf("%s", memory_report(exe->program()).c_str());
  std::vector<HostTensor> copy = args;
  results = exe->run_all(copy);
  if (!o.debug.report_probes(results))
    return false;
  if (!o.save_state.empty() && (!o.mpi || comm::rank() == 0))
    exe->save_state(o.save_state);
  if (o.bench > 0)
    bench(*exe, f, args, o.bench);
  if (!o.debug.report_run(*exe))
    return false;
  if (o.mpi) {
    comm::Stats st = comm::stats();
    std::printf("mpi: rank 0 of %d: %lld all-reduces (%lld bytes): comm "
                "%.3f ms, waited %.3f ms, overlapped %.3f ms\n",
                comm::size(), (long long)st.all_reduces, (long long)st.bytes,
                st.comm_ms, st.wait_ms, st.overlapped_ms);
  }
  return !o.check || check_results(f, o, args, results);
}

/// Writes \p results to --outputs as out0, out1, ...
bool write_outputs(const Function &f, const Options &o,
                   const std::vector<HostTensor> &results) {
  std::vector<std::pair<std::string, const HostTensor *>> named;
  for (size_t i = 0; i < results.size(); ++i)
    named.emplace_back("out" + std::to_string(i), &results[i]);
  Status s = write_safetensors(
      o.outputs, named, {{"producer", "kiln-run"}, {"function", f.name()}});
  if (!s)
    std::cerr << "kiln-run: error: " << s.message() << "\n";
  return bool(s);
}

int run(const Options &o) {
  if (o.mpi && comm::rank() != 0 && !std::freopen("/dev/null", "w", stdout))
    return 1; // rank 0 prints; errors come from every rank
  auto t_load = std::chrono::steady_clock::now();
  std::unique_ptr<Module> m = load_module(o);
  o.debug.load_ms = std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - t_load)
                        .count();
  if (!m)
    return 1;
  if (m->functions().empty()) {
    std::cerr << o.input << ": error: the module has no function\n";
    return 1;
  }
  const Function *f =
      o.func.empty() ? m->functions()[0].get() : m->find(o.func);
  if (!f) {
    std::cerr << o.input << ": error: no function @" << o.func << "\n";
    return 1;
  }
  if (o.print_ir)
    print_module(*m, std::cout);
  std::vector<HostTensor> args;
  if (!make_args(*f, o, args))
    return 1;
  std::vector<HostTensor> results;
  bool ok = execute(*f, o, args, results);
  for (size_t i = 0; i < results.size(); ++i)
    print_result(value_label(*f, i), results[i], o.show);
  if (!ok)
    return 1;
  if (!o.outputs.empty() && (!o.mpi || comm::rank() == 0) &&
      !write_outputs(*f, o, results))
    return 1;
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  return kiln::tools::tool_main<Options>("kiln-run", argc, argv, parse_args,
                                         run);
}
