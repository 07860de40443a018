/// \file
/// A compiled function ready to run: its machine code, its arena, and the
/// buffers of its parameters and state, which persist across runs and are
/// updated in place by `{updates = %p}` results (a training step run N
/// times trains N steps). Built by a device (runtime/CpuDevice.cpp) from a
/// Loop IR program; users get one from kiln::compile (frontend/Compile.h).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"
#include "ir/HostTensor.h"
#include "ir/LoopIR.h"
#include "runtime/Debug.h"

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace kiln {

namespace codegen {
class JitModule;
}

/// A block of bytes aligned to 64 bytes (a cache line, an AVX-512 vector).
class AlignedBuffer {
public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes);
  ~AlignedBuffer();
  AlignedBuffer(AlignedBuffer &&o) noexcept;
  AlignedBuffer &operator=(AlignedBuffer &&o) noexcept;
  AlignedBuffer(const AlignedBuffer &) = delete;
  AlignedBuffer &operator=(const AlignedBuffer &) = delete;
  void *data() const { return data_; }
  size_t size() const { return size_; }

private:
  void *data_ = nullptr;
  size_t size_ = 0;
};

/// A compiled program that runs on an accelerator (runtime/CudaDevice.cpp):
/// it owns its device memory — the arena, the params and state, the inputs
/// and outputs — and the Executable moves bytes in and out through it.
class DeviceProgram {
public:
  virtual ~DeviceProgram() = default;
  /// Copies \p inputs (host, one per plain input, in order) to the device,
  /// runs every kernel and the state updates, and copies the plain results
  /// into \p outputs (host). Throws kiln::Error on a device error.
  virtual void run(const std::vector<const void *> &inputs,
                   const std::vector<void *> &outputs) = 0;
  /// Copies the bytes of param/state buffer \p i (in state order) to or
  /// from host memory.
  virtual void read_state(size_t i, void *dst) const = 0;
  virtual void write_state(size_t i, const void *src) = 0;
};

/// The signature of every compiled entry point (DESIGN.md "Runtime and ABI").
using EntryFn = int(const void *const *inputs, void *const *outputs,
                    void *arena, void *const *state);

class Executable {
public:
  /// Takes the compiled code of \p program, whose entry is \p entry. The
  /// parameters and state start as \p initial (one per {param}/{state}
  /// parameter of \p f, in order) or zeros when \p initial is empty.
  Executable(const Function &f, loop::Program program, std::string c_source,
             std::unique_ptr<codegen::JitModule> jit, EntryFn *entry);
  /// Takes \p device, which runs \p program (printed as \p source) and
  /// holds its params and state (zeros at first).
  Executable(const Function &f, loop::Program program, std::string source,
             std::unique_ptr<DeviceProgram> device);
  ~Executable();

  /// Runs once on the plain inputs (one per input parameter, in order, of
  /// the right types) and returns the results that do not update state, in
  /// return order. Throws kiln::Error naming the input on a type mismatch,
  /// and, with check-numerics, naming the kernel, ops and .kir locations
  /// that produced the first NaN or Inf.
  std::vector<HostTensor> run(const std::vector<HostTensor> &inputs);
  /// The interpreter's calling convention: \p args holds one tensor per
  /// parameter (inputs, params and state alike, in order). Sets the
  /// executable's params and state from \p args, runs, writes updated
  /// params and state back into \p args, and returns every result in
  /// return order (an update result as the value it stored).
  std::vector<HostTensor> run_all(std::vector<HostTensor> &args);
  /// Takes \p args in the interpreter's convention (one tensor per
  /// parameter, in order): sets the params and state from it and returns
  /// the plain inputs, ready for run(). Throws kiln::Error on a count or
  /// type mismatch.
  std::vector<HostTensor> bind(const std::vector<HostTensor> &args);

  /// Names of the {param}/{state} parameters, in order.
  std::vector<std::string> state_names() const;
  /// The current value of the param or state buffer \p name.
  HostTensor get_state(const std::string &name) const;
  /// Overwrites the param or state buffer \p name (same type).
  void set_state(const std::string &name, const HostTensor &value);
  /// Writes every param and state buffer, by name, to the safetensors file
  /// \p path (atomically: a temporary file renamed into place). Throws
  /// kiln::Error when it cannot be written.
  void save_state(const std::string &path) const;
  /// Reads every param and state buffer by name from the safetensors file
  /// \p path (as save_state writes, or kilnc --weights-file). A bad file, a
  /// missing name, an unknown name or a dtype or shape mismatch throws
  /// kiln::Error naming it and changes nothing.
  void load_state(const std::string &path);

  /// Calls \p hook once, just before the first run (distributed steps
  /// broadcast their parameters from rank 0 there, after the user set them).
  void before_first_run(std::function<void(Executable &)> hook) {
    first_run_ = std::move(hook);
  }

  const Function &function() const { return *function_; }
  const loop::Program &program() const { return program_; }
  /// The generated source: C, or CUDA C++ for a GPU executable.
  const std::string &c_source() const { return c_source_; }
  /// Where it runs when not on the host CPU (else null).
  DeviceProgram *device() const { return device_.get(); }
  size_t arena_bytes() const { return size_t(program_.arena_bytes); }
  /// Probes, check-numerics, profile timestamps, compile phases.
  ExecutableDebug &debug() { return debug_; }
  const ExecutableDebug &debug() const { return debug_; }

private:
  int state_index(const std::string &name) const;
  /// One argument per parameter (run()'s \p inputs and the state), for
  /// the check-numerics replay.
  std::vector<HostTensor>
  failure_args(const std::vector<HostTensor> &inputs) const;

  std::unique_ptr<Function> function_;
  loop::Program program_;
  std::string c_source_;
  std::unique_ptr<codegen::JitModule> jit_;
  EntryFn *entry_ = nullptr;
  std::unique_ptr<DeviceProgram> device_; ///< set: runs there, not entry_
  AlignedBuffer arena_;
  std::vector<const Value *> inputs_, state_;
  std::vector<AlignedBuffer> state_buffers_;
  ExecutableDebug debug_;
  std::function<void(Executable &)> first_run_;
};

struct CpuCompileOptions {
  /// OpenMP threads for the kernels (0: all cores).
  int threads = 0;
  /// Use the on-disk object cache.
  bool use_cache = true;
  /// Instrument the entry (codegen::EmitOptions; docs/debugging.md).
  bool check_numerics = false;
  bool profile = false;
};

/// Compiles \p program (lowered from \p f) for the host CPU: C, clang/LLVM
/// in process, ORC JIT. Throws kiln::Error with clang's log if the
/// generated C does not compile (a kiln bug).
std::unique_ptr<Executable> compile_cpu(const Function &f,
                                        loop::Program program,
                                        const CpuCompileOptions &options = {});

} // namespace kiln
