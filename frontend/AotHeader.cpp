/// \file
/// The C header of an ahead-of-time compiled function (docs/aot.md "The
/// header"): the entry points and, per input, output and state tensor, its
/// name, dtype, rank, shape, element count and bytes.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Aot.h"
#include "frontend/AotImpl.h"

#include <algorithm>
#include <cctype>
#include <sstream>

namespace kiln::aot {

namespace {

std::string upper(std::string s) {
  for (char &c : s)
    c = char(std::toupper((unsigned char)c));
  return s;
}

const char *dtype_macro(DType t) {
  switch (t) {
  case DType::F32:
    return "KILN_F32";
  case DType::F64:
    return "KILN_F64";
  case DType::F16:
    return "KILN_F16";
  case DType::BF16:
    return "KILN_BF16";
  case DType::I32:
    return "KILN_I32";
  case DType::I64:
    return "KILN_I64";
  case DType::Bool:
    return "KILN_BOOL";
  }
  return "KILN_F32";
}

const char *kPreamble = R"(#ifndef KILN_AOT_DTYPES
#define KILN_AOT_DTYPES
/* Element types (NAME_*_DTYPE). f16 and bf16 are IEEE binary16 and bfloat16
   bit patterns in uint16; bool is one byte, 0 or 1. */
enum { KILN_F32 = 0, KILN_F64 = 1, KILN_F16 = 2, KILN_BF16 = 3,
       KILN_I32 = 4, KILN_I64 = 5, KILN_BOOL = 6 };
#endif
)";

/// The constants of one tensor: PREFIX_NAME, _DTYPE, _RANK, _NUMEL, _BYTES
/// and _SHAPE (an array; {0} for rank 0).
void tensor_constants(std::ostream &os, const std::string &prefix,
                      const std::string &what, const std::string &name,
                      const TensorType &t) {
  os << "/* " << what << ": %" << name << " " << type_str(t) << " */\n"
     << "#define " << prefix << "_NAME \"" << name << "\"\n"
     << "#define " << prefix << "_DTYPE " << dtype_macro(t.dtype) << "\n"
     << "#define " << prefix << "_RANK " << t.shape.size() << "\n"
     << "#define " << prefix << "_NUMEL " << t.numel() << "LL\n"
     << "#define " << prefix << "_BYTES "
     << t.numel() * int64_t(dtype_size(t.dtype)) << "LL\n"
     << "static const long long " << prefix << "_SHAPE[] = {";
  for (size_t d = 0; d < t.shape.size(); ++d)
    os << (d ? ", " : "") << t.shape[d];
  os << (t.shape.empty() ? "0" : "") << "};\n";
}

/// NAME_WHAT_BYTES[] and NAME_WHAT_NAMES[] of one of the three arrays.
template <typename V>
void tables(std::ostream &os, const std::string &name, const char *what,
            const V &v) {
  os << "static const long long " << name << "_" << what << "_BYTES[] = {";
  for (size_t i = 0; i < v.size(); ++i)
    os << (i ? ", " : "")
       << v[i].second.numel() * int64_t(dtype_size(v[i].second.dtype));
  os << (v.empty() ? "0" : "") << "};\n"
     << "static const char *const " << name << "_" << what << "_NAMES[] = {";
  for (size_t i = 0; i < v.size(); ++i)
    os << (i ? ", " : "") << "\"" << v[i].first << "\"";
  os << (v.empty() ? "\"\"" : "") << "};\n";
}

/// The tensors of \p f in the ABI's three arrays.
struct Tensors {
  std::vector<std::pair<std::string, TensorType>> inputs, outputs, state;
};

Tensors abi_tensors(const Function &f) {
  Tensors t;
  for (const auto &p : f.params())
    (p->arg_kind() == ArgKind::Input ? t.inputs : t.state)
        .emplace_back(p->name(), p->type());
  const auto &updates = f.result_updates();
  for (size_t i = 0; i < f.results().size(); ++i)
    if (i >= updates.size() || !updates[i])
      t.outputs.emplace_back(f.result(i)->name().empty()
                                 ? "result" + std::to_string(i)
                                 : f.result(i)->name(),
                             f.result(i)->type());
  return t;
}

void entry_points(std::ostream &os, const std::string &name,
                  const std::string &weights_file) {
  os << "/* Runs @" << name << " once. inputs[i]: " << name
     << "_INPUT_i_BYTES bytes; outputs[i]:\n   " << name
     << "_OUTPUT_i_BYTES bytes, written; state[i]: " << name
     << "_STATE_i_BYTES bytes, read and\n   updated in place by a training "
        "step; arena: "
     << name
     << "_arena_bytes bytes,\n   64-byte aligned, scratch. Buffers "
        "must not overlap. Returns 0. */\n"
     << "int " << name
     << "_run(const void *const *inputs, void *const *outputs, void *arena,\n"
     << "    void *const *state);\n"
     << "/* Bytes of scratch memory that " << name << "_run needs. */\n"
     << "extern const long long " << name << "_arena_bytes;\n";
  if (weights_file.empty()) {
    os << "/* Copies the initial parameters and state (embedded in the "
          "object; zeros\n   when kilnc had no --weights) into state[0.."
       << name << "_NUM_STATE). Returns 0. */\n";
  } else {
    os << "/* Reads the initial parameters and state from the safetensors "
          "file\n   \""
       << weights_file << "\" (or the one set by " << name
       << "_set_weights_file)\n   into state[0.." << name
       << "_NUM_STATE). Returns 0; 1: the file cannot be\n   opened; 2: it "
          "is not the file kilnc wrote for this function; 3: it is\n   "
          "truncated. */\n"
       << "int " << name << "_init_state(void *const *state);\n"
       << "void " << name << "_set_weights_file(const char *path);\n";
    return;
  }
  os << "int " << name << "_init_state(void *const *state);\n";
}

} // namespace

std::string header(const Function &f, const std::string &name,
                   long long arena_bytes, const std::string &weights_file,
                   const std::string &cuda_arch) {
  Tensors t = abi_tensors(f);
  std::string guard = "KILN_AOT_" + upper(name) + "_H";
  std::ostringstream os;
  os << "/* " << name << ".h: generated by kilnc from @" << f.name()
     << " (docs/aot.md). Link " << name << ".o with "
     << (cuda_arch.empty() ? "-lomp -lm" : "libc only (target cuda)")
     << ". */\n#ifndef " << guard << "\n#define " << guard
     << "\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n"
     << kPreamble << "\n"
     << "#define " << name << "_NUM_INPUTS " << t.inputs.size() << "\n"
     << "#define " << name << "_NUM_OUTPUTS " << t.outputs.size() << "\n"
     << "#define " << name << "_NUM_STATE " << t.state.size() << "\n"
     << "#define " << name << "_ARENA_BYTES " << arena_bytes << "LL\n\n";
  auto group = [&](const char *what, const char *macro, const auto &v) {
    for (size_t i = 0; i < v.size(); ++i)
      tensor_constants(os, name + "_" + macro + "_" + std::to_string(i),
                       what + std::string(" ") + std::to_string(i), v[i].first,
                       v[i].second);
  };
  group("input", "INPUT", t.inputs);
  group("output", "OUTPUT", t.outputs);
  group("state", "STATE", t.state);
  os << "\n/* Per index, for loops over the tensors ({0} or {\"\"} when there "
        "are none). */\n";
  tables(os, name, "INPUT", t.inputs);
  tables(os, name, "OUTPUT", t.outputs);
  tables(os, name, "STATE", t.state);
  os << "\n";
  if (cuda_arch.empty())
    entry_points(os, name, weights_file);
  else
    os << cuda_entry_points(name, weights_file, cuda_arch);
  os << "\n#ifdef __cplusplus\n}\n#endif\n#endif\n";
  return os.str();
}

} // namespace kiln::aot
