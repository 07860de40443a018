/// \file
/// In-process C compilation: a C source string goes through clang's
/// libraries and LLVM 14 (frontend, the O3 pipeline on the host
/// TargetMachine, machine code) into an ELF object, which ORC's LLJIT links
/// into the process (jit_compile_c) or which is handed back for ahead-of-time
/// linking (compile_c_to_object). Objects are cached on disk by a content
/// hash, so a repeated compile skips clang and LLVM entirely. Generated C
/// includes no headers; OpenMP (`#pragma omp parallel for`) resolves against
/// the libomp linked into the process. LLVM headers stay out of this file.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Error.h"

#include <memory>
#include <string>
#include <vector>

namespace kiln::codegen {

/// Makes \p address resolve the external symbol \p name in every module
/// linked from now on (the runtime's entry points that generated code calls,
/// e.g. runtime/Comm.h's collectives: an executable does not export its own
/// symbols to dlsym). Registering a name again replaces the address.
void register_host_symbol(const std::string &name, void *address);

/// The LLVM level kiln compiles generated C at: $KILN_OPT_LEVEL (0..3), else
/// 2. O3 bought nothing measurable over O2 on the generated kernels (the
/// contractions are explicit vector code; the elementwise loops vectorize at
/// O2) and costs about 11% more compile time (resnet18_train's units). The
/// JIT and kilnc share it, so both run the same machine code.
int default_opt_level();

struct CCompileOptions;

/// The f32 vector lanes of the CPU \p opts compiles for (cpu and triple): 16
/// with AVX-512F, 8 with AVX2+FMA, else 4. EmitOptions::vector_width takes
/// it, so an object for another CPU gets contraction kernels sized for that
/// CPU's registers, not the host's.
int target_vector_width(const CCompileOptions &opts);

/// How to compile one C module.
struct CCompileOptions {
  /// 0..3: the LLVM pipeline and code generator level.
  int opt_level = default_opt_level();
  /// "native": the host CPU with every host feature (JIT). Any LLVM CPU name
  /// ("x86-64-v3", "skylake-avx512") targets that CPU instead (AOT objects).
  std::string cpu = "native";
  /// "": the process's target triple. An LLVM triple such as
  /// "aarch64-linux-gnu" cross-compiles (compile_c_to_object only; with a
  /// named cpu, e.g. "generic").
  std::string triple;
  /// Consult and fill the object cache. KILN_CACHE=0 in the environment
  /// turns the cache off whatever this says.
  bool use_cache = true;
  /// "": $KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln, else $HOME/.cache/kiln.
  std::string cache_dir;
  /// When not empty (default: $KILN_DUMP_C), NAME.c is written there before
  /// compiling, for reading and for reproducing failures.
  std::string dump_dir;
  /// The module name: the file name in diagnostics ("NAME.c:3:5: error:")
  /// and in dumps.
  std::string name = "kiln_module";
  /// Extra cc1 flags appended after kiln's own (e.g. "-ffast-math").
  std::vector<std::string> extra_flags;
};

/// Where the time of one compile went (milliseconds of wall time).
struct CompileStats {
  bool cache_hit = false; ///< the object came from the cache: no clang/LLVM
  double frontend_ms = 0; ///< clang: parse and emit LLVM IR
  double optimize_ms = 0; ///< the LLVM O3 (or opt_level) pipeline
  double codegen_ms = 0;  ///< IR to the ELF object
  double load_ms = 0;     ///< LLJIT: link the object into the process
  double total_ms = 0;    ///< everything, cache look-up and dumps included
};

/// Code compiled into this process. Function pointers from lookup() stay
/// valid for the JitModule's lifetime; destroying it frees the code. Safe to
/// look up from several threads.
class JitModule {
public:
  ~JitModule();
  JitModule(const JitModule &) = delete;
  JitModule &operator=(const JitModule &) = delete;

  /// The address of the external symbol \p symbol (a C function or global
  /// as named in the source), or nullptr when the module does not define it.
  void *lookup(const std::string &symbol) const;

  /// lookup() cast to a function pointer type: `lookup_fn<int(float *)>("f")`.
  template <typename Fn> Fn *lookup_fn(const std::string &symbol) const {
    return reinterpret_cast<Fn *>(lookup(symbol));
  }

  struct Impl;

private:
  explicit JitModule(std::unique_ptr<Impl> impl);
  friend Status jit_compile_c(const std::string &, const CCompileOptions &,
                              std::unique_ptr<JitModule> &, CompileStats *);
  friend Status jit_compile_c_parts(const std::vector<std::string> &,
                                    const CCompileOptions &,
                                    std::unique_ptr<JitModule> &,
                                    CompileStats *);
  std::unique_ptr<Impl> impl_;
};

/// Compiles the C \p source and links it into the process; on success sets
/// \p out. On failure returns a Status whose message holds clang's
/// diagnostics ("NAME.c:LINE:COL: error: ...") or LLVM's error (an
/// unresolved symbol), leaves \p out unchanged and prints nothing. Fills
/// \p stats when given. May be called from several threads at once.
Status jit_compile_c(const std::string &source, const CCompileOptions &opts,
                     std::unique_ptr<JitModule> &out,
                     CompileStats *stats = nullptr);

/// As jit_compile_c for a program split into several C translation units
/// (codegen/CPrinter.h emit_c_parts): each is compiled (or found in the
/// cache) on its own thread, then all are linked into one module, so the
/// units may call each other's external functions. Stats add the phases
/// of all units; cache_hit means every unit hit.
Status jit_compile_c_parts(const std::vector<std::string> &sources,
                           const CCompileOptions &opts,
                           std::unique_ptr<JitModule> &out,
                           CompileStats *stats = nullptr);

/// Compiles the C \p source to a relocatable, position-independent ELF
/// object for opts.cpu, returned in \p object_bytes, for linking with the
/// system linker and -lomp (kilnc). Same cache, errors and stats as
/// jit_compile_c (load_ms stays 0).
Status compile_c_to_object(const std::string &source,
                           const CCompileOptions &opts,
                           std::string &object_bytes,
                           CompileStats *stats = nullptr);

/// The cc1 flags that compile C for \p opts (without the input file name):
/// the triple, CPU, features, optimization, OpenMP and floating-point flags.
/// They are part of the cache key.
std::vector<std::string> c_compile_flags(const CCompileOptions &opts);

/// The cache directory \p opts resolves to ("" when there is none).
std::string resolved_cache_dir(const CCompileOptions &opts);

} // namespace kiln::codegen
