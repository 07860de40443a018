/// \file
/// The uncached C -> object compile behind ClangJit: clang's
/// CompilerInvocation from cc1 flags with the source remapped from memory,
/// EmitLLVMOnlyAction with -disable-llvm-passes (clang only emits IR), the
/// LLVM new-PM default pipeline built on the target's TargetMachine (so the
/// vectorizer's cost model sees the real vector width), then the legacy
/// code generator into an in-memory ELF object. Diagnostics go to strings,
/// never to stderr; nothing here throws (LLVM calls back into parts of it).
// SPDX-License-Identifier: Apache-2.0
#include "codegen/ClangCompile.h"

#include <clang/Basic/Diagnostic.h>
#include <clang/Basic/DiagnosticOptions.h>
#include <clang/CodeGen/CodeGenAction.h>
#include <clang/Frontend/CompilerInstance.h>
#include <clang/Frontend/CompilerInvocation.h>
#include <clang/Frontend/TextDiagnosticBuffer.h>
#include <clang/Frontend/TextDiagnosticPrinter.h>
#include <clang/Lex/PreprocessorOptions.h>
#include <llvm/ADT/StringMap.h>
#include <llvm/ADT/Triple.h>
#include <llvm/IR/DiagnosticInfo.h>
#include <llvm/IR/DiagnosticPrinter.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/LegacyPassManager.h>
#include <llvm/IR/Module.h>
#include <llvm/MC/MCSubtargetInfo.h>
#include <llvm/MC/TargetRegistry.h>
#include <llvm/Passes/PassBuilder.h>
#include <llvm/Support/CommandLine.h>
#include <llvm/Support/Host.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/Support/raw_ostream.h>
#include <llvm/Target/TargetMachine.h>
#include <llvm/Target/TargetOptions.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <mutex>

namespace kiln::codegen::detail {
namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - t0)
      .count();
}

/// Parses \p args into \p inv; errors in the flags themselves (an unknown
/// cc1 flag in extra_flags) come back as text.
bool parse_cc1_args(const std::vector<const char *> &args,
                    clang::CompilerInvocation &inv, std::string &errors) {
  auto ids = llvm::makeIntrusiveRefCnt<clang::DiagnosticIDs>();
  auto diag_opts = llvm::makeIntrusiveRefCnt<clang::DiagnosticOptions>();
  clang::TextDiagnosticBuffer buffer;
  clang::DiagnosticsEngine diags(ids, diag_opts, &buffer,
                                 /*ShouldOwnClient=*/false);
  bool ok = clang::CompilerInvocation::CreateFromArgs(inv, args, diags);
  for (auto it = buffer.err_begin(); it != buffer.err_end(); ++it)
    errors += "error: " + it->second + "\n";
  return ok && errors.empty();
}

/// Runs clang on \p source: IR into \p module (owned by \p ctx), or the
/// diagnostics ("file:line:col: error: ...") in the Status.
Status run_frontend(const std::string &source, const std::string &file,
                    const std::vector<std::string> &flags,
                    llvm::LLVMContext &ctx,
                    std::unique_ptr<llvm::Module> &module) {
  std::vector<const char *> args;
  for (const std::string &f : flags)
    args.push_back(f.c_str());
  args.push_back(file.c_str());
  auto inv = std::make_shared<clang::CompilerInvocation>();
  std::string errors;
  if (!parse_cc1_args(args, *inv, errors))
    return Status::error("clang: bad compile flags for " + file + ":\n" +
                         errors);
  inv->getPreprocessorOpts().addRemappedFile(
      file, llvm::MemoryBuffer::getMemBufferCopy(source, file).release());

  std::string log;
  llvm::raw_string_ostream log_os(log);
  auto diag_opts = llvm::makeIntrusiveRefCnt<clang::DiagnosticOptions>();
  diag_opts->ShowColors = false;
  clang::CompilerInstance ci;
  ci.setInvocation(inv);
  ci.createDiagnostics(new clang::TextDiagnosticPrinter(log_os, &*diag_opts),
                       /*ShouldOwnClient=*/true);
  ci.setVerboseOutputStream(log_os);
  clang::EmitLLVMOnlyAction action(&ctx);
  bool ran = ci.ExecuteAction(action);
  log_os.flush();
  if (ran)
    module = action.takeModule();
  if (!ran || !module || ci.getDiagnostics().hasErrorOccurred())
    return Status::error("clang: failed to compile " + file + ":\n" + log);
  return Status::ok();
}

/// Collects LLVM's backend diagnostics (errors and warnings) as text.
void collect_llvm_diagnostic(const llvm::DiagnosticInfo &info, void *ctx) {
  if (info.getSeverity() != llvm::DS_Error &&
      info.getSeverity() != llvm::DS_Warning)
    return;
  std::string &log = *static_cast<std::string *>(ctx);
  llvm::raw_string_ostream os(log);
  llvm::DiagnosticPrinterRawOStream printer(os);
  os << (info.getSeverity() == llvm::DS_Error ? "error: " : "warning: ");
  info.print(printer);
  os << "\n";
}

llvm::OptimizationLevel pipeline_level(int opt_level) {
  switch (std::clamp(opt_level, 0, 3)) {
  case 0:
    return llvm::OptimizationLevel::O0;
  case 1:
    return llvm::OptimizationLevel::O1;
  case 2:
    return llvm::OptimizationLevel::O2;
  default:
    return llvm::OptimizationLevel::O3;
  }
}

/// Runs the new-PM default pipeline for \p opt_level on \p m, with the
/// analyses (TargetTransformInfo included) of \p tm.
void optimize(llvm::Module &m, llvm::TargetMachine &tm, int opt_level) {
  llvm::PipelineTuningOptions pto;
  pto.LoopVectorization = opt_level >= 2;
  pto.SLPVectorization = opt_level >= 2;
  llvm::PassBuilder pb(&tm, pto);
  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::OptimizationLevel level = pipeline_level(opt_level);
  llvm::ModulePassManager mpm = opt_level == 0
                                    ? pb.buildO0DefaultPipeline(level)
                                    : pb.buildPerModuleDefaultPipeline(level);
  mpm.run(m, mam);
}

/// A TargetMachine for \p target: PIC, small code model, FMA contraction as
/// -ffp-contract=on asks.
Status make_target_machine(const TargetSpec &target, int opt_level,
                           std::unique_ptr<llvm::TargetMachine> &tm) {
  std::string err;
  const llvm::Target *t =
      llvm::TargetRegistry::lookupTarget(target.triple, err);
  if (!t)
    return Status::error("llvm: no target for " + target.triple + ": " + err);
  std::string features;
  for (const std::string &f : target.features)
    features += (features.empty() ? "" : ",") + f;
  llvm::TargetOptions to;
  to.AllowFPOpFusion = llvm::FPOpFusion::Standard;
  auto cg_level = opt_level <= 0   ? llvm::CodeGenOpt::None
                  : opt_level == 1 ? llvm::CodeGenOpt::Less
                  : opt_level == 2 ? llvm::CodeGenOpt::Default
                                   : llvm::CodeGenOpt::Aggressive;
  tm.reset(t->createTargetMachine(target.triple, target.cpu, features, to,
                                  llvm::Reloc::PIC_, llvm::None, cg_level));
  if (!tm)
    return Status::error("llvm: cannot create a target machine for cpu '" +
                         target.cpu + "'");
  return Status::ok();
}

/// Machine code for \p m into the ELF object \p object.
Status emit_object(llvm::Module &m, llvm::TargetMachine &tm,
                   std::string &object) {
  llvm::SmallVector<char, 0> buf;
  llvm::raw_svector_ostream os(buf);
  llvm::legacy::PassManager pm;
  if (tm.addPassesToEmitFile(pm, os, nullptr, llvm::CGFT_ObjectFile))
    return Status::error("llvm: the target cannot emit object files");
  pm.run(m);
  object.assign(buf.begin(), buf.end());
  return Status::ok();
}

} // namespace

void init_llvm_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
    // Loop strength reduction took ~30% of machine-code generation on the
    // generated kernels (unrolled packing loops with many address streams)
    // for no measurable speed: the contractions address through pointers
    // they bump themselves, and x86 addressing modes cover the rest. It is
    // an LLVM-wide option (this process's LLVM serves kiln alone);
    // KILN_LLVM_LSR=1 keeps it.
    const char *lsr = std::getenv("KILN_LLVM_LSR");
    if (!(lsr && lsr[0] == '1')) {
      auto &opts = llvm::cl::getRegisteredOptions();
      auto it = opts.find("disable-lsr");
      if (it != opts.end())
        static_cast<llvm::cl::opt<bool> *>(it->second)->setValue(true);
    }
  });
}

/// Every target LLVM was built with, once: for cross-compilation.
static void init_all_targets_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeAllTargetInfos();
    llvm::InitializeAllTargets();
    llvm::InitializeAllTargetMCs();
    llvm::InitializeAllAsmPrinters();
    llvm::InitializeAllAsmParsers();
  });
}

TargetSpec target_spec(const std::string &cpu, const std::string &triple) {
  TargetSpec spec;
  spec.triple = triple.empty() ? llvm::sys::getProcessTriple()
                               : llvm::Triple::normalize(triple);
  if (cpu != "native") {
    spec.cpu = cpu;
    return spec;
  }
  spec.cpu = std::string(llvm::sys::getHostCPUName());
  llvm::StringMap<bool> host;
  if (llvm::sys::getHostCPUFeatures(host))
    for (const auto &f : host)
      spec.features.push_back((f.second ? "+" : "-") + f.first().str());
  std::sort(spec.features.begin(), spec.features.end());
  return spec;
}

int vector_width(const TargetSpec &target) {
  init_llvm_once();
  if (target.triple != llvm::sys::getProcessTriple())
    init_all_targets_once();
  std::unique_ptr<llvm::TargetMachine> tm;
  if (!make_target_machine(target, 2, tm) || !tm->getTargetTriple().isX86())
    return 4; // 128-bit vectors (SSE, NEON) or an unknown target
  const llvm::MCSubtargetInfo *sti = tm->getMCSubtargetInfo();
  if (sti->checkFeatures("+avx512f"))
    return 16;
  if (sti->checkFeatures("+avx2") && sti->checkFeatures("+fma"))
    return 8;
  return 4;
}

Status compile_c_uncached(const std::string &source, const std::string &file,
                          const std::vector<std::string> &flags,
                          const TargetSpec &target, int opt_level,
                          std::string &object, CompileStats &stats) {
  init_llvm_once();
  if (target.triple != llvm::sys::getProcessTriple())
    init_all_targets_once();
  llvm::LLVMContext ctx;
  std::unique_ptr<llvm::Module> module;
  auto t0 = std::chrono::steady_clock::now();
  if (Status s = run_frontend(source, file, flags, ctx, module); !s)
    return s;
  stats.frontend_ms += ms_since(t0);

  std::string llvm_log;
  ctx.setDiagnosticHandlerCallBack(collect_llvm_diagnostic, &llvm_log);
  std::unique_ptr<llvm::TargetMachine> tm;
  if (Status s = make_target_machine(target, opt_level, tm); !s)
    return s;
  module->setDataLayout(tm->createDataLayout());
  t0 = std::chrono::steady_clock::now();
  optimize(*module, *tm, opt_level);
  stats.optimize_ms += ms_since(t0);

  t0 = std::chrono::steady_clock::now();
  Status s = emit_object(*module, *tm, object);
  stats.codegen_ms += ms_since(t0);
  if (s && llvm_log.find("error: ") != std::string::npos)
    return Status::error("llvm: failed to compile " + file + ":\n" + llvm_log);
  return s;
}

} // namespace kiln::codegen::detail
