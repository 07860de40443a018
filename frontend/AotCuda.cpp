/// \file
/// Ahead-of-time compilation for the CUDA target (docs/aot.md "CUDA"): the
/// CUDA backend's kernels (codegen/CudaPrinter.h) compiled by NVRTC into a
/// CUBIN (or PTX for compute_XX) that is embedded in the object, and host C
/// that loads the driver with dlopen("libcuda.so.1"), loads the module,
/// owns the device memory and launches the kernels in the launch list's
/// order. The object needs only libc: a program linked with it starts on a
/// machine without the driver, and NAME_init says why it cannot run.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Aot.h"
#include "frontend/AotImpl.h"

#include "codegen/CPrinter.h"
#include "codegen/CudaPrinter.h"
#include "codegen/Nvrtc.h"
#include "frontend/Compile.h"
#include "ir/Error.h"

#include <algorithm>
#include <map>
#include <sstream>

namespace kiln::aot {

namespace {

/// The driver entry points the host code calls: exported name, parameter
/// list (in the host code's own types, which match cuda.h's ABI; a test
/// links them against a driver built from cuda.h) and what it is for.
struct DriverFn {
  const char *name, *params;
};
const DriverFn kDriverFns[] = {
    {"cuInit", "unsigned"},
    {"cuGetErrorName", "int, const char **"},
    {"cuDeviceGetCount", "int *"},
    {"cuDeviceGet", "int *, int"},
    {"cuDeviceGetAttribute", "int *, int, int"},
    {"cuDevicePrimaryCtxRetain", "kiln_cu_handle *, int"},
    {"cuDevicePrimaryCtxRelease_v2", "int"},
    {"cuCtxPushCurrent_v2", "kiln_cu_handle"},
    {"cuCtxPopCurrent_v2", "kiln_cu_handle *"},
    {"cuModuleLoadData", "kiln_cu_handle *, const void *"},
    {"cuModuleUnload", "kiln_cu_handle"},
    {"cuModuleGetFunction", "kiln_cu_handle *, kiln_cu_handle, const char *"},
    {"cuMemAlloc_v2", "kiln_cu_ptr *, kiln_size"},
    {"cuMemFree_v2", "kiln_cu_ptr"},
    {"cuMemsetD8_v2", "kiln_cu_ptr, unsigned char, kiln_size"},
    {"cuMemcpyHtoD_v2", "kiln_cu_ptr, const void *, kiln_size"},
    {"cuMemcpyDtoH_v2", "void *, kiln_cu_ptr, kiln_size"},
    {"cuMemcpyHtoDAsync_v2",
     "kiln_cu_ptr, const void *, kiln_size, kiln_cu_handle"},
    {"cuMemcpyDtoHAsync_v2", "void *, kiln_cu_ptr, kiln_size, kiln_cu_handle"},
    {"cuMemcpyDtoDAsync_v2",
     "kiln_cu_ptr, kiln_cu_ptr, kiln_size, kiln_cu_handle"},
    {"cuLaunchKernel",
     "kiln_cu_handle, unsigned, unsigned, unsigned, unsigned, unsigned, "
     "unsigned, unsigned, kiln_cu_handle, void **, void **"},
    {"cuStreamSynchronize", "kiln_cu_handle"},
};

/// Device buffers are 256-byte aligned, as the JIT's (runtime/CudaDevice).
constexpr long long kAlign = 256;
long long align_up(long long n) {
  return (std::max(n, 1ll) + kAlign - 1) / kAlign * kAlign;
}

/// Where each buffer lives: region 0 the arena (plan offsets), 1 the state,
/// 2 the inputs and outputs, 3 the constants.
struct DeviceLayout {
  std::vector<int> region, arg;
  std::vector<long long> offset;
  long long region_bytes[4] = {0, 0, 0, 0};
  std::vector<long long> io_offset, io_bytes, state_offset, state_bytes;
  std::string constants; ///< region 3's initial bytes
};

DeviceLayout device_layout(const Function &f, const loop::Program &p,
                           long long scratch_bytes) {
  DeviceLayout l;
  long long *r = l.region_bytes;
  r[0] = p.arena_bytes;
  int num_inputs = 0;
  for (const auto &v : f.params()) {
    long long n = (long long)v->type().bytes();
    if (v->arg_kind() == ArgKind::Input) {
      l.io_offset.push_back(r[2]), l.io_bytes.push_back(n), r[2] += align_up(n);
      ++num_inputs;
    } else {
      l.state_offset.push_back(r[1]), l.state_bytes.push_back(n);
      r[1] += align_up(n);
    }
  }
  for (size_t i = 0; i < f.results().size(); ++i)
    if (i >= f.result_updates().size() || !f.result_updates()[i]) {
      long long n = (long long)f.result(i)->type().bytes();
      l.io_offset.push_back(r[2]), l.io_bytes.push_back(n), r[2] += align_up(n);
    }
  for (const loop::Buffer &b : p.buffers) {
    size_t i = size_t(std::max(b.arg_index, 0));
    int region = 0, arg = -1;
    long long off = 0;
    switch (b.kind) {
    case loop::BufferKind::Temp:
      KILN_CHECK(b.arena_offset + b.bytes() <= p.arena_bytes) << b.name;
      off = b.arena_offset;
      break;
    case loop::BufferKind::State:
      KILN_CHECK(i < l.state_offset.size()) << b.name;
      region = 1, off = l.state_offset[i];
      break;
    case loop::BufferKind::Input:
    case loop::BufferKind::Output:
      arg = int(i) + (b.kind == loop::BufferKind::Output ? num_inputs : 0);
      KILN_CHECK(size_t(arg) < l.io_offset.size()) << b.name;
      region = 2, off = l.io_offset[size_t(arg)];
      break;
    case loop::BufferKind::Constant:
      region = 3, off = (long long)l.constants.size();
      l.constants.append((const char *)b.data.bytes(), size_t(b.bytes()));
      l.constants.resize(size_t(off + align_up(b.bytes())), '\0');
      break;
    }
    l.region.push_back(region), l.arg.push_back(arg), l.offset.push_back(off);
  }
  // The split-K scratch (buffer index p.buffers.size()) follows the arena.
  long long scratch_at = codegen::cuda_scratch_offset(p);
  l.region.push_back(0), l.arg.push_back(-1), l.offset.push_back(scratch_at);
  if (scratch_bytes > 0)
    r[0] = scratch_at + scratch_bytes;
  r[3] = (long long)l.constants.size();
  return l;
}

template <typename T>
std::string c_list(const std::vector<T> &v, const char *suffix = "") {
  std::ostringstream os;
  for (size_t i = 0; i < v.size(); ++i)
    os << (i ? ", " : "") << v[i] << suffix;
  if (v.empty())
    os << "0";
  return os.str();
}

/// The host code's fixed part; @N@ is the symbol prefix, @ARCH@ the
/// device code's architecture.
const char *kHostRuntime = R"C(
#define N_CU(call, what) do { kiln_cu_result r_ = N_cu.call; if (r_) { rc = N_fail_cu(r_, what); goto done; } } while (0)
static _Thread_local char N_err[512];
const char *@N@_error(void) { return N_err; }
static int N_null(void) {
  snprintf(N_err, sizeof N_err, "@N@: the model is null (did @N@_init fail?)");
  return KILN_AOT_BAD_ARGUMENT;
}
static int N_fail_cu(kiln_cu_result r, const char *what) {
  const char *s = 0;
  if (!N_cu.fns.cuGetErrorName || N_cu.fns.cuGetErrorName(r, &s) || !s)
    /* The toolkit's stub library names no error. */
    s = r == 34 ? "CUDA_ERROR_STUB_LIBRARY (libcuda.so.1 is the toolkit's stub, not a driver)"
      : r == 100 ? "CUDA_ERROR_NO_DEVICE" : r == 2 ? "CUDA_ERROR_OUT_OF_MEMORY"
      : r == 209 ? "CUDA_ERROR_NO_BINARY_FOR_GPU" : "unknown error";
  snprintf(N_err, sizeof N_err, "@N@: %s: %s (%d)", what, s, r);
  return r;
}
static int N_load_driver(void) {
  void *h;
  const char *e, *missing;
  /* Threads that load at once store the same pointers; the flag is
     published after them. */
  if (__atomic_load_n(&N_cu.loaded, __ATOMIC_ACQUIRE)) return 0;
  h = dlopen("libcuda.so.1", 2 /* RTLD_NOW */);
  if (!h) {
    e = dlerror();
    snprintf(N_err, sizeof N_err, "@N@: no CUDA driver: libcuda.so.1 not found (%s); install the NVIDIA driver", e ? e : "");
    return KILN_AOT_NO_DRIVER;
  }
  if ((missing = N_load_symbols(h))) {
    snprintf(N_err, sizeof N_err, "@N@: the CUDA driver libcuda.so.1 has no %s (too old)", missing);
    dlclose(h);
    return KILN_AOT_NO_DRIVER;
  }
  __atomic_store_n(&N_cu.loaded, 1, __ATOMIC_RELEASE);
  return 0;
}

struct @N@_model {
  int device, pushed;
  kiln_cu_handle ctx, mod, fn[N_NUM_KERNELS];
  kiln_cu_ptr region[4], addr[N_NUM_BUFFERS];
};

static int N_push(@N@_model *m) {
  int rc = 0;
  N_CU(fns.cuCtxPushCurrent_v2(m->ctx), "cuCtxPushCurrent");
  m->pushed = 1;
done:
  return rc;
}
static void N_pop(@N@_model *m) {
  kiln_cu_handle c;
  if (m->pushed) N_cu.fns.cuCtxPopCurrent_v2(&c);
  m->pushed = 0;
}

void @N@_free(@N@_model *m) {
  int i;
  if (!m) return;
  if (m->ctx) {
    N_cu.fns.cuCtxPushCurrent_v2(m->ctx);
    m->pushed = 1;
    for (i = 0; i < 4; ++i)
      if (m->region[i]) N_cu.fns.cuMemFree_v2(m->region[i]);
    if (m->mod) N_cu.fns.cuModuleUnload(m->mod);
    N_pop(m);
    N_cu.fns.cuDevicePrimaryCtxRelease_v2(m->device);
  }
  free(m);
}

/* The embedded image that device `dev` runs: the CUBIN of its major arch
   with the highest minor not above its own, else the newest PTX not above
   its arch. */
static int N_pick_image(int dev, int *image) {
  int rc = 0, major = 0, minor = 0, cc, i, best = -1;
  N_CU(fns.cuDeviceGetAttribute(&major, 75 /* COMPUTE_CAPABILITY_MAJOR */, dev), "cuDeviceGetAttribute");
  N_CU(fns.cuDeviceGetAttribute(&minor, 76 /* COMPUTE_CAPABILITY_MINOR */, dev), "cuDeviceGetAttribute");
  cc = major * 10 + minor;
  for (i = 0; i < N_NUM_IMAGES; ++i)
    if (!N_image_ptx[i] && N_image_arch[i] / 10 == major && N_image_arch[i] <= cc &&
        (best < 0 || N_image_arch[i] > N_image_arch[best]))
      best = i;
  if (best < 0)
    for (i = 0; i < N_NUM_IMAGES; ++i)
      if (N_image_ptx[i] && N_image_arch[i] <= cc &&
          (best < 0 || N_image_arch[i] > N_image_arch[best]))
        best = i;
  if (best < 0) {
    snprintf(N_err, sizeof N_err, "@N@: device %d is sm_%d, but the object holds code for @ARCH@ only; compile it with kilnc --arch sm_%d (or add it to the list)", dev, cc, cc);
    return KILN_AOT_WRONG_ARCH;
  }
  *image = best;
done:
  return rc;
}

int @N@_init(@N@_model **out, int device) {
  int rc = 0, count = 0, i, image = 0;
  @N@_model *m = 0;
  void *staging[N_NUM_STATE_ALLOC];
  char *host = 0;
  N_err[0] = 0;
  if (!out) {
    snprintf(N_err, sizeof N_err, "@N@_init: out is null");
    return KILN_AOT_BAD_ARGUMENT;
  }
  *out = 0;
  if ((rc = N_load_driver())) return rc;
  N_CU(fns.cuInit(0), "cuInit");
  N_CU(fns.cuDeviceGetCount(&count), "cuDeviceGetCount");
  if (device < 0 || device >= count) {
    snprintf(N_err, sizeof N_err, "@N@: CUDA device %d does not exist (%d found)", device, count);
    return KILN_AOT_NO_DEVICE;
  }
  if ((rc = N_pick_image(device, &image))) return rc;
  if (!(m = (@N@_model *)calloc(1, sizeof *m))) goto no_memory;
  N_CU(fns.cuDeviceGet(&m->device, device), "cuDeviceGet");
  N_CU(fns.cuDevicePrimaryCtxRetain(&m->ctx, m->device), "cuDevicePrimaryCtxRetain");
  if ((rc = N_push(m))) goto done;
  N_CU(fns.cuModuleLoadData(&m->mod, N_images[image]), "cuModuleLoadData");
  for (i = 0; i < N_NUM_KERNELS; ++i)
    N_CU(fns.cuModuleGetFunction(&m->fn[i], m->mod, N_kernel_names[i]), "cuModuleGetFunction");
  for (i = 0; i < 4; ++i) {
    kiln_size n = (kiln_size)(N_region_bytes[i] > 0 ? N_region_bytes[i] : 1);
    N_CU(fns.cuMemAlloc_v2(&m->region[i], n), N_region_names[i]);
    N_CU(fns.cuMemsetD8_v2(m->region[i], 0, n), "cuMemsetD8");
  }
  for (i = 0; i < N_NUM_BUFFERS; ++i)
    m->addr[i] = m->region[N_buf_region[i]] + (kiln_cu_ptr)N_buf_offset[i];
  if (N_region_bytes[3] > 0)
    N_CU(fns.cuMemcpyHtoD_v2(m->region[3], N_constants, (kiln_size)N_region_bytes[3]), "cuMemcpyHtoD (constants)");
  /* The initial parameters and state, staged in host memory. */
  if (!(host = (char *)malloc((kiln_size)(N_region_bytes[1] > 0 ? N_region_bytes[1] : 1)))) goto no_memory;
  for (i = 0; i < @N@_NUM_STATE; ++i) staging[i] = host + N_state_offset[i];
  if ((i = @N@_host_init_state(staging))) {
    snprintf(N_err, sizeof N_err, "@N@: cannot read the weights file %s (%s)", N_weights_path(),
             i == 1 ? "cannot open it" : i == 2 ? "it is not the file kilnc wrote for this object" : "it is truncated");
    rc = KILN_AOT_WEIGHTS;
    goto done;
  }
  if (N_region_bytes[1] > 0)
    N_CU(fns.cuMemcpyHtoD_v2(m->region[1], host, (kiln_size)N_region_bytes[1]), "cuMemcpyHtoD (initial state)");
done:
  free(host);
  if (m) N_pop(m);
  if (rc) { @N@_free(m); return rc; }
  *out = m;
  return 0;
no_memory:
  snprintf(N_err, sizeof N_err, "@N@: out of host memory");
  rc = KILN_AOT_NO_MEMORY;
  goto done;
}

/* Every launch and update on `stream`, in the current context. */
static int N_launch_all(@N@_model *m, const unsigned long long *inputs, const unsigned long long *outputs, void *stream) {
  int rc = 0, i, j;
  void *params[N_MAX_ARGS];
  /* The kernels read and write with 16-byte vector accesses where the
     layout allows: a caller's buffer must start as cuMemAlloc's do. */
  for (i = 0; i < @N@_NUM_INPUTS + @N@_NUM_OUTPUTS; ++i) {
    int out = i >= @N@_NUM_INPUTS;
    const unsigned long long *a = out ? outputs : inputs;
    unsigned long long p = a ? a[out ? i - @N@_NUM_INPUTS : i] : 0;
    if (p % 256) {
      snprintf(N_err, sizeof N_err, "@N@_enqueue: %s %d at device address 0x%llx is not 256-byte aligned (pass cuMemAlloc'd buffers or offsets that are multiples of 256)",
               out ? "output" : "input", out ? i - @N@_NUM_INPUTS : i, p);
      return KILN_AOT_BAD_ARGUMENT;
    }
  }
  for (i = 0; i < N_NUM_BUFFERS; ++i) {
    int a = N_buf_arg[i];
    if (a < 0) continue;
    if (a < @N@_NUM_INPUTS)
      m->addr[i] = inputs ? inputs[a] : m->region[2] + (kiln_cu_ptr)N_io_offset[a];
    else
      m->addr[i] = outputs ? outputs[a - @N@_NUM_INPUTS] : m->region[2] + (kiln_cu_ptr)N_io_offset[a];
  }
  for (i = 0; i < N_NUM_LAUNCHES; ++i) {
    const unsigned *l = N_launches[i];
    for (j = N_launch_first[i]; j < N_launch_first[i + 1]; ++j)
      params[j - N_launch_first[i]] = &m->addr[N_launch_args[j]];
    N_CU(fns.cuLaunchKernel(m->fn[l[0]], l[1], l[2], l[3], l[4], 1, 1, 0, stream, params, 0), N_kernel_names[l[0]]);
  }
  for (i = 0; i < N_NUM_UPDATES; ++i)
    N_CU(fns.cuMemcpyDtoDAsync_v2(m->addr[N_updates[i][0]], m->addr[N_updates[i][1]], (kiln_size)N_updates[i][2], stream), "cuMemcpyDtoDAsync (update)");
done:
  return rc;
}

int @N@_enqueue(@N@_model *m, const unsigned long long *inputs, const unsigned long long *outputs, void *stream) {
  int rc;
  if (!m) return N_null();
  if ((rc = N_push(m))) return rc;
  rc = N_launch_all(m, inputs, outputs, stream);
  N_pop(m);
  return rc;
}

int @N@_run(@N@_model *m, const void *const *inputs, void *const *outputs, void *stream) {
  int rc = 0, i;
  if (!m) return N_null();
  if ((rc = N_push(m))) return rc;
  for (i = 0; i < @N@_NUM_INPUTS; ++i)
    if (N_io_bytes[i] > 0)
      N_CU(fns.cuMemcpyHtoDAsync_v2(m->region[2] + (kiln_cu_ptr)N_io_offset[i], inputs[i], (kiln_size)N_io_bytes[i], stream), "cuMemcpyHtoDAsync (input)");
  if ((rc = N_launch_all(m, 0, 0, stream))) goto done;
  for (i = 0; i < @N@_NUM_OUTPUTS; ++i) {
    int a = @N@_NUM_INPUTS + i;
    if (N_io_bytes[a] > 0)
      N_CU(fns.cuMemcpyDtoHAsync_v2(outputs[i], m->region[2] + (kiln_cu_ptr)N_io_offset[a], (kiln_size)N_io_bytes[a], stream), "cuMemcpyDtoHAsync (output)");
  }
  N_CU(fns.cuStreamSynchronize(stream), "cuStreamSynchronize (a kernel or a copy failed)");
done:
  N_pop(m);
  return rc;
}

static int N_state_index(const @N@_model *m, int i) {
  if (!m) return N_null();
  if (i >= 0 && i < @N@_NUM_STATE) return 0;
  snprintf(N_err, sizeof N_err, "@N@: no state tensor %d (%d)", i, @N@_NUM_STATE);
  return KILN_AOT_BAD_ARGUMENT;
}
int @N@_read_state(@N@_model *m, int i, void *host) {
  int rc;
  if ((rc = N_state_index(m, i)) || (rc = N_push(m))) return rc;
  if (N_state_bytes[i] > 0)
    N_CU(fns.cuMemcpyDtoH_v2(host, m->region[1] + (kiln_cu_ptr)N_state_offset[i], (kiln_size)N_state_bytes[i]), "cuMemcpyDtoH (state)");
done:
  N_pop(m);
  return rc;
}
int @N@_write_state(@N@_model *m, int i, const void *host) {
  int rc;
  if ((rc = N_state_index(m, i)) || (rc = N_push(m))) return rc;
  if (N_state_bytes[i] > 0)
    N_CU(fns.cuMemcpyHtoD_v2(m->region[1] + (kiln_cu_ptr)N_state_offset[i], host, (kiln_size)N_state_bytes[i]), "cuMemcpyHtoD (state)");
done:
  N_pop(m);
  return rc;
}
unsigned long long @N@_state_ptr(const @N@_model *m, int i) {
  return m && i >= 0 && i < @N@_NUM_STATE ? m->region[1] + (kiln_cu_ptr)N_state_offset[i] : 0;
}
unsigned long long @N@_input_ptr(const @N@_model *m, int i) {
  return m && i >= 0 && i < @N@_NUM_INPUTS ? m->region[2] + (kiln_cu_ptr)N_io_offset[i] : 0;
}
unsigned long long @N@_output_ptr(const @N@_model *m, int i) {
  return m && i >= 0 && i < @N@_NUM_OUTPUTS ? m->region[2] + (kiln_cu_ptr)N_io_offset[@N@_NUM_INPUTS + i] : 0;
}
)C";

std::string replace_all(std::string s, const std::string &from,
                        const std::string &to) {
  for (size_t at = s.find(from); at != std::string::npos;
       at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
  return s;
}

/// One embedded device image: its arch, bytes and .incbin file.
struct Image {
  codegen::NvrtcResult nvrtc;
  std::string path;
};

/// The host C's declarations and tables for \p p.
std::string host_tables(const std::string &name, const Function &f,
                        const loop::Program &p, const codegen::CudaProgram &cp,
                        const DeviceLayout &l,
                        const std::vector<Image> &images) {
  std::ostringstream os;
  os << "\n/* ---- kilnc --target cuda: host code of @" << f.name()
     << " ---- */\n"
     << "typedef unsigned long kiln_size;\n"
     << "typedef int kiln_cu_result;\n"
     << "typedef unsigned long long kiln_cu_ptr;\n"
     << "typedef void *kiln_cu_handle;\n"
     << "void *dlopen(const char *, int);\nvoid *dlsym(void *, const char "
        "*);\nchar *dlerror(void);\nint dlclose(void *);\n"
     << "void *malloc(kiln_size);\nvoid *calloc(kiln_size, kiln_size);\n"
     << "void free(void *);\n"
     << "int snprintf(char *, kiln_size, const char *, ...);\n"
     << "typedef struct " << name << "_model " << name << "_model;\n";
  for (const char *d : {"NUM_INPUTS", "NUM_OUTPUTS", "NUM_STATE"})
    os << "#define " << name << "_" << d << " "
       << (d[4] == 'I'   ? p.num_inputs
           : d[4] == 'O' ? p.num_outputs
                         : p.num_state)
       << "\n";
  os << "#define KILN_AOT_NO_DRIVER (-1)\n#define KILN_AOT_NO_DEVICE (-2)\n"
     << "#define KILN_AOT_WRONG_ARCH (-3)\n#define KILN_AOT_NO_MEMORY (-4)\n"
     << "#define KILN_AOT_WEIGHTS (-5)\n#define KILN_AOT_BAD_ARGUMENT (-6)\n";
  // The driver table and its loader.
  os << "static struct {\n  int loaded;\n  struct {\n";
  for (const DriverFn &d : kDriverFns)
    os << "    kiln_cu_result (*" << d.name << ")(" << d.params << ");\n";
  os << "  } fns;\n} N_cu;\n"
     << "/* Fills N_cu.fns from the library h; returns the first missing "
        "name. */\n"
     << "static const char *N_load_symbols(void *h) {\n";
  for (const DriverFn &d : kDriverFns)
    os << "  if (!(*(void **)&N_cu.fns." << d.name << " = dlsym(h, \"" << d.name
       << "\"))) return \"" << d.name << "\";\n";
  os << "  return 0;\n}\n";
  // The images, in the order of --arch.
  std::vector<std::string> syms, archs, ptx;
  for (const Image &im : images) {
    std::string sym = name + "_device_image_" + im.nvrtc.arch;
    std::string asm_text =
        ".pushsection .rodata." + sym +
        ",\"a\",%progbits\n.balign 64\n.hidden " + sym + "\n.type " + sym +
        ",%object\n" + sym + ":\n.incbin \"" + im.path + "\"\n.size " + sym +
        ", " + std::to_string(im.nvrtc.image.size()) + "\n.popsection\n";
    os << "extern const unsigned char " << sym
       << "[] __attribute__((visibility(\"hidden\")));\n__asm__("
       << c_string(asm_text) << ");\n";
    syms.push_back(sym);
    archs.push_back(std::to_string(codegen::arch_number(im.nvrtc.arch)));
    ptx.push_back(im.nvrtc.is_ptx ? "1" : "0");
  }
  os << "#define N_NUM_IMAGES " << images.size() << "\n"
     << "static const unsigned char *const N_images[] = {" << c_list(syms)
     << "};\nstatic const int N_image_arch[] = {" << c_list(archs)
     << "};\nstatic const int N_image_ptx[] = {" << c_list(ptx) << "};\n";
  // Kernels and launches.
  std::map<std::string, int> kernel_index;
  std::vector<std::string> kernels;
  std::vector<int> first{0}, args;
  size_t max_args = 1;
  os << "static const unsigned N_launches[][5] = {";
  for (size_t i = 0; i < cp.launches.size(); ++i) {
    const codegen::CudaLaunch &c = cp.launches[i];
    if (!kernel_index.count(c.kernel)) {
      kernel_index[c.kernel] = int(kernels.size());
      kernels.push_back("\"" + c.kernel + "\"");
    }
    os << (i ? ",\n  " : "\n  ") << "{" << kernel_index[c.kernel] << ", "
       << c.grid << ", " << c.grid_y << ", " << c.grid_z << ", " << c.block
       << "} /* " << c.what << " */";
    args.insert(args.end(), c.buffers.begin(), c.buffers.end());
    first.push_back(int(args.size()));
    max_args = std::max(max_args, c.buffers.size());
  }
  os << (cp.launches.empty() ? "{0, 1, 1, 1, 1}" : "") << "};\n"
     << "#define N_NUM_LAUNCHES " << cp.launches.size() << "\n"
     << "#define N_NUM_KERNELS " << std::max<size_t>(kernels.size(), 1)
     << "\n#define N_MAX_ARGS " << max_args << "\n"
     << "static const char *const N_kernel_names[] = {" << c_list(kernels)
     << "};\n"
     << "static const int N_launch_first[] = {" << c_list(first) << "};\n"
     << "static const int N_launch_args[] = {" << c_list(args) << "};\n";
  // Buffers, regions, updates, constants.
  os << "#define N_NUM_BUFFERS " << l.region.size()
     << "\nstatic const int N_buf_region[] = {" << c_list(l.region) << "};\n"
     << "static const int N_buf_arg[] = {" << c_list(l.arg) << "};\n"
     << "static const long long N_buf_offset[] = {" << c_list(l.offset, "ll")
     << "};\n"
     << "static const long long N_region_bytes[4] = {"
     << c_list(std::vector<long long>(l.region_bytes, l.region_bytes + 4), "ll")
     << "};\nstatic const char *const N_region_names[4] = {\"cuMemAlloc "
        "(arena)\", \"cuMemAlloc (state)\", \"cuMemAlloc (inputs, "
        "outputs)\", \"cuMemAlloc (constants)\"};\n"
     << "static const long long N_io_offset[] = {" << c_list(l.io_offset, "ll")
     << "};\nstatic const long long N_io_bytes[] = {"
     << c_list(l.io_bytes, "ll") << "};\n"
     << "static const long long N_state_offset[] = {"
     << c_list(l.state_offset, "ll")
     << "};\nstatic const long long N_state_bytes[] = {"
     << c_list(l.state_bytes, "ll") << "};\n"
     << "#define N_NUM_STATE_ALLOC "
     << std::max<size_t>(l.state_bytes.size(), 1) << "\n#define N_NUM_UPDATES "
     << p.updates.size() << "\nstatic const long long N_updates[][3] = {";
  for (size_t i = 0; i < p.updates.size(); ++i)
    os << (i ? ", " : "") << "{" << p.updates[i].to << ", " << p.updates[i].from
       << ", " << p.buffers[size_t(p.updates[i].to)].bytes() << "}";
  os << (p.updates.empty() ? "{0, 0, 0}" : "") << "};\n"
     << "static const char N_constants[] = " << c_string(l.constants) << ";\n"
     << "const long long " << name << "_arena_bytes = " << l.region_bytes[0]
     << "ll;\n";
  return os.str();
}

} // namespace

std::string cuda_host_c(const Function &g, const std::string &name,
                        const AotOptions &o, AotResult &r,
                        std::vector<std::string> &blobs) {
  LowerOptions lo = lower_options_for(CompileOptions::Target::Cuda, o.lower);
  loop::Program p = lower(g, lo);
  std::string list = o.arch.empty() ? "sm_90" : o.arch;
  // One source for every listed arch: printed for the lowest (tensor cores
  // only when every listed arch has them).
  codegen::CudaEmitOptions eo;
  eo.tf32 = o.allow_tf32;
  eo.sm = 1 << 30;
  for (size_t at = 0; at <= list.size();) {
    size_t end = std::min(list.find(',', at), list.size());
    eo.sm = std::min(eo.sm, codegen::arch_number(list.substr(at, end - at)));
    at = end + 1;
  }
  codegen::CudaProgram cp = codegen::emit_cuda(p, name, eo);
  for (const codegen::CudaLaunch &l : cp.launches)
    if (l.grid < 1 || l.grid > 0x7fffffff || l.grid_y < 1 || l.grid_y > 65535 ||
        l.grid_z < 1 || l.grid_z > 65535 || l.block < 1 || l.block > 1024)
      throw Error("aot: @" + g.name() + ": launch " + l.kernel + " (" + l.what +
                  ") exceeds CUDA's grid limits");
  std::vector<Image> images;
  for (size_t at = 0; at <= list.size();) {
    size_t end = std::min(list.find(',', at), list.size());
    codegen::NvrtcOptions no;
    no.arch = list.substr(at, end - at);
    at = end + 1;
    if (codegen::arch_number(no.arch) < 10 ||
        (no.arch.rfind("sm_", 0) != 0 && no.arch.rfind("compute_", 0) != 0))
      throw Error("aot: unknown CUDA arch '" + no.arch +
                  "' (sm_XX for a CUBIN, compute_XX for PTX, e.g. sm_90; a "
                  "comma-separated list embeds several)");
    for (const Image &im : images)
      if (im.nvrtc.arch == no.arch)
        throw Error("aot: CUDA arch '" + no.arch + "' is listed twice");
    no.use_cache = o.use_cache;
    no.name = name + ".cu";
    Image im;
    Status s = codegen::nvrtc_compile(cp.source, no, im.nvrtc);
    if (!s)
      throw Error("aot: compiling the CUDA kernels of @" + g.name() + " for " +
                  no.arch + " failed:\n" + s.message());
    if (im.nvrtc.arch != no.arch)
      throw Error("aot: NVRTC " + codegen::nvrtc_version() +
                  " cannot compile for " + no.arch +
                  " (it would fall back to " + im.nvrtc.arch +
                  "); name a supported arch, or compute_XX for PTX");
    blobs.push_back(write_blob(im.nvrtc.image));
    im.path = blobs.back();
    r.device_archs.push_back(im.nvrtc.arch);
    r.device_images.push_back(im.nvrtc.image);
    images.push_back(std::move(im));
  }
  DeviceLayout l = device_layout(g, p, cp.scratch_bytes);
  r.num_kernels = p.kernels.size();
  r.num_launches = cp.launches.size();
  r.arena_bytes = l.region_bytes[0]; // with the split-K scratch
  r.device_program = cp;
  return host_tables(name, g, p, cp, l, images);
}

std::string cuda_runtime_c(const std::string &name, const std::string &arch,
                           bool side_file) {
  std::string s;
  if (side_file)
    s += "void " + name + "_set_weights_file(const char *path) { " + name +
         "_host_set_weights_file(path); }\n#define N_weights_path() " + name +
         "_host_weights_path\n";
  else
    s += "#define N_weights_path() \"(embedded)\"\n";
  return s +
         replace_all(replace_all(kHostRuntime, "@N@", name), "@ARCH@", arch);
}

std::string cuda_entry_points(const std::string &name,
                              const std::string &weights_file,
                              const std::string &arch) {
  std::string s =
      R"H(/* The CUDA target (docs/aot.md "CUDA"): the kernels are embedded as @ARCH@
   device code; the CUDA driver (libcuda.so.1) is loaded with dlopen by
   @N@_init, so a program needs only libc to link and to start.
   Every function returns 0 on success, a KILN_AOT_* code below, or the
   failing driver call's CUresult (> 0); @N@_error() describes the last
   failure of the calling thread. A model is used by one thread at a time. */
#ifndef KILN_AOT_CUDA_CODES
#define KILN_AOT_CUDA_CODES
#define KILN_AOT_NO_DRIVER (-1)    /* libcuda.so.1 missing or too old */
#define KILN_AOT_NO_DEVICE (-2)    /* no such device ordinal */
#define KILN_AOT_WRONG_ARCH (-3)   /* the device cannot run @ARCH@ code */
#define KILN_AOT_NO_MEMORY (-4)    /* host malloc failed */
#define KILN_AOT_WEIGHTS (-5)      /* the weights file is missing or wrong */
#define KILN_AOT_BAD_ARGUMENT (-6) /* a null pointer or an index out of range */
#endif
#define @N@_CUDA_ARCH "@ARCH@"
typedef struct @N@_model @N@_model;
/* Loads the driver and the module on device `device` (an ordinal), in the
   device's primary context, allocates the device memory (arena: @N@_arena_bytes;
   state; inputs and outputs; constants) and copies the initial parameters
   and state in (@INIT@). */
int @N@_init(@N@_model **model, int device);
/* Frees the device memory and the module; null is ignored. */
void @N@_free(@N@_model *model);
/* Runs once on host buffers: copies inputs[i] (@N@_INPUT_i_BYTES) in, launches
   every kernel on `stream` (a CUstream; 0: the default stream), applies a
   training step's updates to the state on the device, copies outputs[i]
   (@N@_OUTPUT_i_BYTES) out and synchronizes the stream. */
int @N@_run(@N@_model *model, const void *const *inputs, void *const *outputs,
    void *stream);
/* The launches and state updates alone, enqueued on `stream` without
   synchronizing: inputs[i] and outputs[i] are device pointers (CUdeviceptr,
   256-byte aligned, not overlapping; a misaligned one is refused with
   KILN_AOT_BAD_ARGUMENT), or null arrays for the model's own buffers
   (@N@_input_ptr, @N@_output_ptr). */
int @N@_enqueue(@N@_model *model, const unsigned long long *inputs,
    const unsigned long long *outputs, void *stream);
/* Copies state tensor i (@N@_STATE_i_BYTES) to or from host memory
   (synchronous; finish work enqueued on other streams first). */
int @N@_read_state(@N@_model *model, int i, void *host);
int @N@_write_state(@N@_model *model, int i, const void *host);
/* Device addresses (CUdeviceptr) of the model's own buffers; 0 when i is out
   of range. */
unsigned long long @N@_state_ptr(const @N@_model *model, int i);
unsigned long long @N@_input_ptr(const @N@_model *model, int i);
unsigned long long @N@_output_ptr(const @N@_model *model, int i);
/* The calling thread's last error message ("" when none). */
const char *@N@_error(void);
/* Bytes of device scratch memory that @N@_init allocates. */
extern const long long @N@_arena_bytes;
)H";
  s = replace_all(s, "@INIT@",
                  weights_file.empty()
                      ? "embedded in the object; zeros when kilnc had no "
                        "--weights"
                      : "read from \"" + weights_file +
                            "\",\n   or the file set by " + name +
                            "_set_weights_file");
  if (!weights_file.empty())
    s += "/* The safetensors file that " + name +
         "_init reads the weights from. */\nvoid " + name +
         "_set_weights_file(const char *path);\n";
  return replace_all(replace_all(s, "@N@", name), "@ARCH@", arch);
}

} // namespace kiln::aot
