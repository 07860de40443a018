/// \file
/// kiln-opt: parses .kir, runs passes, prints the resulting module. The tool
/// of lit tests: `kiln-opt FILE|- [-p pass1,pass2] [--split-input-file]`.
// SPDX-License-Identifier: Apache-2.0
#include "codegen/CPrinter.h"
#include "codegen/CudaPrinter.h"
#include "codegen/Nvrtc.h"
#include "frontend/Compile.h"
#include "ir/Parser.h"
#include "ir/Printer.h"
#include "passes/Dot.h"
#include "passes/Lower.h"
#include "passes/PassManager.h"
#include "passes/PlanMemory.h"
#include "tools/ToolSupport.h"

#include <cstring>
#include <fstream>
#include <iostream>

using namespace kiln;

namespace {

const char *kUsage = R"(usage: kiln-opt FILE|- [options]

Parses a .kir module, verifies it, runs passes and prints the result.

options:
  -p, --passes LIST         passes to run, comma separated, with options in
                            braces: -p 'canonicalize,remat{budget-bytes=64}'
  --split-input-file        treat '// -----' lines as separate inputs
  --no-verify               do not verify after each pass
  --verify-each             verify after each pass (the default)
  --print-ir-after-all      print the IR after every pass (to stderr)
  --print-ir-after=PASS     print the IR after PASS (to stderr)
  --print-ir-after-change   print the IR after each pass that changed it
  --stop-after=PASS         stop the pipeline after PASS
  --time-passes             print a table of pass times (to stderr)
  --stats                   print each pass's statistics (to stderr)
  --emit=kir|loop|c|cuda|dot what to print after the passes: the module
                            (default), the Loop IR of every function after
                            lowering (fusion), the generated C, the CUDA C++
                            of the CUDA target with its launch list
                            (docs/cuda.md), or --dot
  --no-fuse                 with --emit=loop|c|dot: one kernel per node
  --cuda-arch=ARCH          with --emit=cuda: print for ARCH (sm_90,
                            compute_80...; default sm_80): tensor-core
                            contractions need sm_80 or newer
  --tf32                    with --emit=cuda: f32 contractions on TF32
                            tensor cores (CompileOptions::allow_tf32)
  --dot                     print each function as a Graphviz graph (same as
                            --emit=dot): nodes with types and .kir
                            locations, fused kernels as clusters, edges
                            labelled with shapes and bytes (bold: in memory
                            between kernels; dashed: fused)
  --print-memory-plan       lower every function and print its arena plan:
                            each buffer (name, producing ops, bytes, live
                            kernels, offset), then a totals line
  -o FILE                   write the module to FILE instead of stdout
  --list-passes             list the registered passes
  --op-reference            print the op reference (docs/ops.md)
  -h, --help                this text
)";

struct Options {
  std::string input;
  std::string output;
  std::string pipeline;
  bool split = false;
  std::string emit = "kir";
  bool fuse = true;
  bool print_memory = false;
  codegen::CudaEmitOptions cuda;
  bool cuda_flags = false; ///< --cuda-arch or --tf32 given
  PassManagerOptions pm;
};

bool starts_with(const char *s, const char *prefix, const char **rest) {
  size_t n = std::strlen(prefix);
  if (std::strncmp(s, prefix, n) != 0)
    return false;
  *rest = s + n;
  return true;
}

/// Returns 0 to go on, or an exit code.
int parse_args(int argc, char **argv, Options &o) {
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i], *rest;
    auto value = [&](const char *flag) -> const char * {
      if (i + 1 >= argc) {
        std::cerr << "kiln-opt: error: " << flag << " needs a value\n";
        return nullptr;
      }
      return argv[++i];
    };
    if (!std::strcmp(a, "-h") || !std::strcmp(a, "--help")) {
      std::cout << kUsage;
      return -1;
    } else if (!std::strcmp(a, "--list-passes")) {
      for (const PassInfo &p : all_passes())
        std::cout << p.name << "\t" << p.summary << "\n";
      return -1;
    } else if (!std::strcmp(a, "--op-reference")) {
      std::cout << tools::op_reference_markdown();
      return -1;
    } else if (!std::strcmp(a, "-p") || !std::strcmp(a, "--passes")) {
      const char *v = value(a);
      if (!v)
        return 2;
      o.pipeline += (o.pipeline.empty() ? "" : ",") + std::string(v);
    } else if (starts_with(a, "--passes=", &rest) ||
               starts_with(a, "-p=", &rest)) {
      o.pipeline += (o.pipeline.empty() ? "" : ",") + std::string(rest);
    } else if (!std::strcmp(a, "-o")) {
      const char *v = value(a);
      if (!v)
        return 2;
      o.output = v;
    } else if (starts_with(a, "--emit=", &rest)) {
      o.emit = rest;
      if (o.emit != "kir" && o.emit != "loop" && o.emit != "c" &&
          o.emit != "cuda" && o.emit != "dot") {
        std::cerr
            << "kiln-opt: error: --emit takes kir, loop, c, cuda or dot\n";
        return 2;
      }
    } else if (starts_with(a, "--cuda-arch=", &rest)) {
      std::string arch = rest;
      int sm = codegen::arch_number(arch);
      if ((arch.rfind("sm_", 0) != 0 && arch.rfind("compute_", 0) != 0) ||
          sm < 50) {
        std::cerr << "kiln-opt: error: --cuda-arch takes sm_XX or "
                     "compute_XX (e.g. sm_90), not '"
                  << arch << "'\n";
        return 2;
      }
      o.cuda.sm = sm;
      o.cuda_flags = true;
    } else if (!std::strcmp(a, "--tf32")) {
      o.cuda.tf32 = true;
      o.cuda_flags = true;
    } else if (!std::strcmp(a, "--dot")) {
      o.emit = "dot";
    } else if (!std::strcmp(a, "--print-memory-plan")) {
      o.print_memory = true;
    } else if (!std::strcmp(a, "--no-fuse")) {
      o.fuse = false;
    } else if (!std::strcmp(a, "--split-input-file")) {
      o.split = true;
    } else if (!std::strcmp(a, "--no-verify")) {
      o.pm.verify_each = false;
    } else if (!std::strcmp(a, "--verify-each")) {
      o.pm.verify_each = true;
    } else if (!std::strcmp(a, "--print-ir-after-all")) {
      o.pm.print_ir_after_all = true;
    } else if (!std::strcmp(a, "--print-ir-after-change")) {
      o.pm.print_ir_after_change = true;
    } else if (starts_with(a, "--print-ir-after=", &rest)) {
      o.pm.print_ir_after.push_back(rest);
    } else if (starts_with(a, "--stop-after=", &rest)) {
      o.pm.stop_after = rest;
    } else if (!std::strcmp(a, "--time-passes")) {
      o.pm.time_passes = true;
    } else if (!std::strcmp(a, "--stats")) {
      o.pm.print_stats = true;
    } else if (a[0] == '-' && a[1] != '\0') {
      std::cerr << "kiln-opt: error: unknown option '" << a
                << "' (see kiln-opt --help)\n";
      return 2;
    } else if (o.input.empty()) {
      o.input = a;
    } else {
      std::cerr << "kiln-opt: error: more than one input file ('" << o.input
                << "' and '" << a << "')\n";
      return 2;
    }
  }
  if (o.input.empty()) {
    std::cerr << "kiln-opt: error: no input file (use - for stdin)\n" << kUsage;
    return 2;
  }
  if (o.cuda_flags && o.emit != "cuda") {
    std::cerr << "kiln-opt: error: --cuda-arch and --tf32 apply to "
                 "--emit=cuda only\n";
    return 2;
  }
  return 0;
}
/// Parses, verifies, runs the pipeline over and prints one chunk; returns
/// false when it reported errors.
bool process(const tools::Chunk &chunk, const std::string &filename,
             const std::vector<PassStep> &steps, const Options &o,
             std::ostream &out) {
  Diagnostics diags;
  std::unique_ptr<Module> m =
      parse_and_verify(chunk.text, filename, diags, chunk.first_line);
  if (m && !run_pipeline(*m, steps, o.pm, diags, std::cerr))
    m.reset();
  diags.print(std::cerr);
  if (!m)
    return false;
  if (o.emit == "kir" && !o.print_memory) {
    print_module(*m, out);
    return true;
  }
  LowerOptions lo;
  lo.fuse = o.fuse;
  if (o.emit == "cuda")
    lo = lower_options_for(CompileOptions::Target::Cuda, lo);
  for (const auto &f : m->functions()) {
    loop::Program p = lower(*f, lo);
    if (o.emit == "cuda")
      out << codegen::cuda_listing(p, "kiln_" + f->name(), o.cuda);
    else if (o.emit == "dot")
      out << to_dot(*f, p);
    else if (o.emit != "kir")
      out << (o.emit == "loop" ? loop::to_string(p)
                               : codegen::emit_c(p, "kiln_" + f->name()));
    if (o.print_memory)
      out << memory_report(p);
  }
  return true;
}

int run(const Options &o) {
  std::vector<PassStep> steps;
  std::string err;
  if (!parse_pipeline(o.pipeline, steps, err)) {
    std::cerr << "kiln-opt: error: " << err << "\n";
    return 2;
  }
  std::string text;
  if (!tools::read_input(o.input, text, err)) {
    std::cerr << "kiln-opt: error: " << err << "\n";
    return 1;
  }
  std::string filename = o.input == "-" ? "<stdin>" : o.input;
  std::vector<tools::Chunk> chunks =
      o.split ? tools::split_input(text)
              : std::vector<tools::Chunk>{{std::move(text), 1}};
  std::ofstream file;
  if (!o.output.empty()) {
    file.open(o.output);
    if (!file) {
      std::cerr << "kiln-opt: error: cannot write '" << o.output << "'\n";
      return 1;
    }
  }
  std::ostream &out = o.output.empty() ? std::cout : file;
  bool ok = true;
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (i)
      out << "// -----\n";
    ok &= process(chunks[i], filename, steps, o, out);
  }
  return ok ? 0 : 1;
}

} // namespace

int main(int argc, char **argv) {
  return kiln::tools::tool_main<Options>("kiln-opt", argc, argv, parse_args,
                                         run);
}
