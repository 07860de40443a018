/// \file
/// The CUDA device (CudaDevice.h): device memory, NVRTC, module loading and
/// launches through the dlopen'd driver API (CudaDriver.h).
// SPDX-License-Identifier: Apache-2.0
#include "runtime/CudaDevice.h"

#include "codegen/CPrinter.h"
#include "codegen/CudaPrinter.h"
#include "codegen/Nvrtc.h"
#include "ir/Error.h"

#include <algorithm>
#include <chrono>
#include <map>

#ifdef KILN_HAVE_CUDA
#include "runtime/CudaDriver.h"
#endif

namespace kiln {

#ifndef KILN_HAVE_CUDA

bool cuda_device_available(std::string *why) {
  if (why)
    *why = "kiln was built without the CUDA toolkit";
  return false;
}

std::unique_ptr<Executable> compile_cuda(const Function &f, loop::Program,
                                         const CudaCompileOptions &) {
  throw Error("compiling @" + f.name() +
              " for target cuda: kiln was built without the CUDA toolkit "
              "(install it in /usr/local/cuda and reconfigure)");
}

double cuda_time_kernels(Executable &, int) {
  throw Error("cuda_time_kernels: kiln was built without the CUDA toolkit");
}

#else

namespace {

using cuda::check;
using cuda::driver;

constexpr size_t kAlign = 256; ///< every buffer's device alignment

size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

/// The device's primary context, retained for the program's lifetime.
struct Context {
  CUdevice dev = 0;
  CUcontext ctx = nullptr;
  ~Context() {
    if (ctx)
      driver().cuDevicePrimaryCtxRelease_v2(dev);
  }
  void make_current() const {
    check(driver().cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
  }
};

struct Module {
  CUmodule mod = nullptr;
  ~Module() {
    if (mod)
      driver().cuModuleUnload(mod);
  }
};

/// Device allocations, freed (in the owning context) on destruction.
struct Allocations {
  const Context *ctx = nullptr;
  std::vector<CUdeviceptr> ptrs;
  ~Allocations() {
    if (ctx && !ptrs.empty())
      driver().cuCtxSetCurrent(ctx->ctx);
    for (CUdeviceptr p : ptrs)
      driver().cuMemFree_v2(p);
  }
  /// \p bytes (at least one) of zeros.
  CUdeviceptr alloc(size_t bytes) {
    CUdeviceptr p = 0;
    bytes = std::max<size_t>(bytes, 1);
    check(driver().cuMemAlloc_v2(&p, bytes),
          ("cuMemAlloc of " + std::to_string(bytes) + " bytes").c_str());
    ptrs.push_back(p);
    check(driver().cuMemsetD8_v2(p, 0, bytes), "cuMemsetD8");
    return p;
  }
};

/// Byte offsets of consecutive blocks, each aligned to kAlign.
struct Layout {
  std::vector<size_t> offset, bytes;
  size_t total = 0;
  size_t add(size_t n) {
    offset.push_back(total);
    bytes.push_back(n);
    total += align_up(std::max<size_t>(n, 1));
    return offset.back();
  }
};

class CudaProgram : public DeviceProgram {
public:
  CudaProgram(const Function &f, const loop::Program &p,
              const codegen::CudaProgram &cp, const CudaCompileOptions &o);

  void run(const std::vector<const void *> &inputs,
           const std::vector<void *> &outputs) override;
  void read_state(size_t i, void *dst) const override;
  void write_state(size_t i, const void *src) override;
  /// Every kernel, then the state updates, on the default stream.
  void launch_all();
  void synchronize() const {
    check(driver().cuCtxSynchronize(), "cuCtxSynchronize");
  }
  void make_current() const { ctx_.make_current(); }

private:
  struct Launch {
    CUfunction fn = nullptr;
    unsigned grid[3] = {1, 1, 1}, block = 1;
    std::vector<CUdeviceptr> args;
    std::vector<void *> arg_ptrs; ///< cuLaunchKernel's kernelParams
    std::string what;
  };
  struct Copy {
    CUdeviceptr to, from;
    size_t bytes;
  };

  void load_module(const std::string &source, const CudaCompileOptions &o);
  std::vector<CUdeviceptr> place_buffers(const Function &f,
                                         const loop::Program &p,
                                         int64_t scratch_bytes);

  // Declared first, destroyed last: memory and module go before the context.
  Context ctx_;
  Module mod_;
  Allocations mem_;
  CUdeviceptr arena_ = 0, state_ = 0, io_ = 0;
  Layout state_layout_, in_layout_, out_layout_;
  std::vector<Launch> launches_;
  std::vector<Copy> updates_;
  int no_params_ = 0; ///< the argument of a kernel without buffers
};

CudaProgram::CudaProgram(const Function &f, const loop::Program &p,
                         const codegen::CudaProgram &cp,
                         const CudaCompileOptions &o) {
  const cuda::Driver &d = driver();
  int count = 0;
  check(d.cuDeviceGetCount(&count), "cuDeviceGetCount");
  if (o.device < 0 || o.device >= count)
    throw Error("CUDA device " + std::to_string(o.device) +
                " does not exist (" + std::to_string(count) + " found)");
  check(d.cuDeviceGet(&ctx_.dev, o.device), "cuDeviceGet");
  check(d.cuDevicePrimaryCtxRetain(&ctx_.ctx, ctx_.dev),
        "cuDevicePrimaryCtxRetain");
  ctx_.make_current();
  mem_.ctx = &ctx_;
  load_module(cp.source, o);
  std::vector<CUdeviceptr> addr = place_buffers(f, p, cp.scratch_bytes);
  std::map<std::string, CUfunction> fns;
  for (const codegen::CudaLaunch &l : cp.launches) {
    if (l.grid < 1 || l.grid > 0x7fffffff || l.grid_y < 1 || l.grid_y > 65535 ||
        l.grid_z < 1 || l.grid_z > 65535 || l.block < 1 || l.block > 1024)
      throw Error("@" + f.name() + ": launch " + l.what +
                  " exceeds CUDA's grid limits (grid " +
                  std::to_string(l.grid) + "x" + std::to_string(l.grid_y) +
                  "x" + std::to_string(l.grid_z) + ", block " +
                  std::to_string(l.block) + ")");
    CUfunction &fn = fns[l.kernel];
    if (!fn)
      check(d.cuModuleGetFunction(&fn, mod_.mod, l.kernel.c_str()),
            ("cuModuleGetFunction " + l.kernel).c_str());
    Launch x;
    x.fn = fn;
    x.grid[0] = unsigned(l.grid);
    x.grid[1] = unsigned(l.grid_y);
    x.grid[2] = unsigned(l.grid_z);
    x.block = unsigned(l.block);
    x.what = l.kernel + " (" + l.what + ")";
    for (int b : l.buffers)
      x.args.push_back(addr[size_t(b)]);
    launches_.push_back(std::move(x));
  }
  // Pointers into each args vector, taken once every vector is in place.
  for (Launch &x : launches_) {
    for (CUdeviceptr &a : x.args)
      x.arg_ptrs.push_back(&a);
    if (x.arg_ptrs.empty())
      x.arg_ptrs.push_back(&no_params_);
  }
  for (const loop::UpdateCopy &u : p.updates)
    updates_.push_back({addr[size_t(u.to)], addr[size_t(u.from)],
                        size_t(p.buffers[size_t(u.to)].bytes())});
}

/// "sm_XX" of device \p ordinal's compute capability.
std::string device_arch(int ordinal) {
  CUdevice dev = 0;
  check(driver().cuDeviceGet(&dev, ordinal), "cuDeviceGet");
  int major = 0, minor = 0;
  check(driver().cuDeviceGetAttribute(
            &major, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, dev),
        "cuDeviceGetAttribute");
  check(driver().cuDeviceGetAttribute(
            &minor, CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, dev),
        "cuDeviceGetAttribute");
  return "sm_" + std::to_string(major * 10 + minor);
}

void CudaProgram::load_module(const std::string &source,
                              const CudaCompileOptions &o) {
  codegen::NvrtcOptions no;
  no.arch = o.arch.empty() ? device_arch(o.device) : o.arch;
  no.use_cache = o.use_cache;
  codegen::NvrtcResult r;
  Status st = codegen::nvrtc_compile(source, no, r);
  if (!st)
    throw Error("the generated CUDA does not compile (a bug in kiln):\n" +
                st.message());
  // A CUBIN, or NUL-terminated PTX that the driver compiles for the device.
  check(driver().cuModuleLoadData(&mod_.mod, r.image.data()),
        ("cuModuleLoadData (" + r.arch + ")").c_str());
}

std::vector<CUdeviceptr> CudaProgram::place_buffers(const Function &f,
                                                    const loop::Program &p,
                                                    int64_t scratch_bytes) {
  for (const auto &v : f.params())
    (v->arg_kind() == ArgKind::Input ? in_layout_ : state_layout_)
        .add(v->type().bytes());
  for (size_t i = 0; i < f.results().size(); ++i)
    if (!f.result_updates()[i])
      out_layout_.add(f.result(i)->type().bytes());
  Layout io = in_layout_;
  size_t out_base = io.total;
  io.total += out_layout_.total;
  std::map<int, size_t> const_off;
  for (size_t b = 0; b < p.buffers.size(); ++b)
    if (p.buffers[b].kind == loop::BufferKind::Constant)
      const_off[int(b)] = io.add(size_t(p.buffers[b].bytes()));
  // The split-K scratch follows the arena in its allocation.
  int64_t scratch_at = codegen::cuda_scratch_offset(p);
  arena_ = mem_.alloc(
      size_t(scratch_bytes > 0 ? scratch_at + scratch_bytes : p.arena_bytes));
  state_ = mem_.alloc(state_layout_.total);
  io_ = mem_.alloc(io.total);
  for (size_t i = 0; i < out_layout_.offset.size(); ++i)
    out_layout_.offset[i] += out_base;
  // One more: the scratch (a launch's buffer index p.buffers.size()).
  std::vector<CUdeviceptr> addr(p.buffers.size() + 1, 0);
  addr.back() = arena_ + CUdeviceptr(scratch_at);
  for (size_t b = 0; b < p.buffers.size(); ++b) {
    const loop::Buffer &buf = p.buffers[b];
    size_t i = size_t(std::max(buf.arg_index, 0));
    switch (buf.kind) {
    case loop::BufferKind::Input:
      KILN_CHECK(i < in_layout_.offset.size()) << "input " << buf.name;
      addr[b] = io_ + in_layout_.offset[i];
      break;
    case loop::BufferKind::Output:
      KILN_CHECK(i < out_layout_.offset.size()) << "output " << buf.name;
      addr[b] = io_ + out_layout_.offset[i];
      break;
    case loop::BufferKind::State:
      KILN_CHECK(i < state_layout_.offset.size()) << "state " << buf.name;
      addr[b] = state_ + state_layout_.offset[i];
      break;
    case loop::BufferKind::Temp:
      KILN_CHECK(buf.arena_offset + buf.bytes() <= p.arena_bytes)
          << "temp " << buf.name << " outside the arena";
      addr[b] = arena_ + CUdeviceptr(buf.arena_offset);
      break;
    case loop::BufferKind::Constant:
      addr[b] = io_ + const_off.at(int(b));
      if (buf.bytes() > 0)
        check(driver().cuMemcpyHtoD_v2(addr[b], buf.data.bytes(),
                                       size_t(buf.bytes())),
              "cuMemcpyHtoD (constant)");
      break;
    }
  }
  return addr;
}

void CudaProgram::launch_all() {
  const cuda::Driver &d = driver();
  for (Launch &x : launches_)
    check(d.cuLaunchKernel(x.fn, x.grid[0], x.grid[1], x.grid[2], x.block, 1, 1,
                           /*sharedMemBytes=*/0, /*hStream=*/nullptr,
                           x.arg_ptrs.data(), /*extra=*/nullptr),
          ("cuLaunchKernel " + x.what).c_str());
  for (const Copy &c : updates_)
    check(d.cuMemcpyDtoD_v2(c.to, c.from, c.bytes), "cuMemcpyDtoD (update)");
}

void CudaProgram::run(const std::vector<const void *> &inputs,
                      const std::vector<void *> &outputs) {
  const cuda::Driver &d = driver();
  KILN_CHECK(inputs.size() == in_layout_.offset.size() &&
             outputs.size() == out_layout_.offset.size())
      << "argument count";
  make_current();
  for (size_t i = 0; i < inputs.size(); ++i)
    if (in_layout_.bytes[i] > 0)
      check(d.cuMemcpyHtoD_v2(io_ + in_layout_.offset[i], inputs[i],
                              in_layout_.bytes[i]),
            "cuMemcpyHtoD (input)");
  launch_all();
  // Synchronous copies on the default stream wait for the kernels; the
  // final synchronize reports any asynchronous kernel fault.
  for (size_t i = 0; i < outputs.size(); ++i)
    if (out_layout_.bytes[i] > 0)
      check(d.cuMemcpyDtoH_v2(outputs[i], io_ + out_layout_.offset[i],
                              out_layout_.bytes[i]),
            "cuMemcpyDtoH (output)");
  synchronize();
}

void CudaProgram::read_state(size_t i, void *dst) const {
  KILN_CHECK(i < state_layout_.offset.size()) << "state index " << i;
  make_current();
  if (state_layout_.bytes[i] > 0)
    check(driver().cuMemcpyDtoH_v2(dst, state_ + state_layout_.offset[i],
                                   state_layout_.bytes[i]),
          "cuMemcpyDtoH (state)");
}

void CudaProgram::write_state(size_t i, const void *src) {
  KILN_CHECK(i < state_layout_.offset.size()) << "state index " << i;
  make_current();
  if (state_layout_.bytes[i] > 0)
    check(driver().cuMemcpyHtoD_v2(state_ + state_layout_.offset[i], src,
                                   state_layout_.bytes[i]),
          "cuMemcpyHtoD (state)");
}

} // namespace

bool cuda_device_available(std::string *why) { return cuda::available(why); }

std::unique_ptr<Executable> compile_cuda(const Function &f,
                                         loop::Program program,
                                         const CudaCompileOptions &options) {
  cuda::driver(); // "no CUDA driver ..." before any work
  std::string entry = codegen::c_identifier("kiln_" + f.name());
  CudaCompileOptions o = options;
  int count = 0;
  check(driver().cuDeviceGetCount(&count), "cuDeviceGetCount");
  if (o.arch.empty() && o.device >= 0 && o.device < count)
    o.arch = device_arch(o.device); // else the constructor says why not
  // The kernels are printed for the arch they are compiled for: tensor
  // cores (mma) from sm_80.
  codegen::CudaEmitOptions eo;
  eo.sm = o.arch.empty() ? 0 : codegen::arch_number(o.arch);
  eo.tf32 = o.allow_tf32;
  codegen::CudaProgram cp = codegen::emit_cuda(program, entry, eo);
  auto device = std::make_unique<CudaProgram>(f, program, cp, o);
  return std::make_unique<Executable>(f, std::move(program),
                                      std::move(cp.source), std::move(device));
}

double cuda_time_kernels(Executable &exe, int runs) {
  auto *p = dynamic_cast<CudaProgram *>(exe.device());
  if (!p)
    throw Error("cuda_time_kernels: @" + exe.function().name() +
                " does not run on a GPU");
  p->make_current();
  p->launch_all();
  p->synchronize();
  std::vector<double> ms;
  for (int i = 0; i < std::max(runs, 1); ++i) {
    auto t0 = std::chrono::steady_clock::now();
    p->launch_all();
    p->synchronize();
    ms.push_back(std::chrono::duration<double, std::milli>(
                     std::chrono::steady_clock::now() - t0)
                     .count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

#endif

} // namespace kiln
