/// \file
/// The initial parameters and state of an ahead-of-time compiled function:
/// their layout, the embedded blob, the safetensors side file, and the C
/// code of NAME_init_state for each of the three ways (zeros, embedded,
/// side file).
// SPDX-License-Identifier: Apache-2.0
#include "frontend/AotImpl.h"

#include <sstream>

namespace kiln::aot {

namespace {

const char *safetensors_dtype(DType t) {
  switch (t) {
  case DType::F32:
    return "F32";
  case DType::F64:
    return "F64";
  case DType::F16:
    return "F16";
  case DType::BF16:
    return "BF16";
  case DType::I32:
    return "I32";
  case DType::I64:
    return "I64";
  case DType::Bool:
    return "BOOL";
  }
  return "F32";
}

/// `static const long long NAME_VAR[] = {a, b, ...};` ({0} when empty).
std::string c_array(const std::string &var, const std::vector<long long> &v) {
  std::ostringstream os;
  os << "static const long long " << var << "[] = {";
  for (size_t i = 0; i < v.size(); ++i)
    os << (i ? ", " : "") << v[i] << "ll";
  os << (v.empty() ? "0" : "") << "};\n";
  return os.str();
}

/// The safetensors JSON header of the side file, padded with spaces so that
/// the data buffer starts at a multiple of 8 bytes.
std::string side_file_json(const Function &f, const StateLayout &l) {
  std::ostringstream os;
  os << "{\"__metadata__\":{\"producer\":\"kilnc\",\"function\":\"" << f.name()
     << "\"}";
  for (size_t i = 0; i < l.names.size(); ++i) {
    os << ",\"" << l.names[i] << "\":{\"dtype\":\""
       << safetensors_dtype(l.types[i].dtype) << "\",\"shape\":[";
    for (size_t d = 0; d < l.types[i].shape.size(); ++d)
      os << (d ? "," : "") << l.types[i].shape[d];
    os << "],\"data_offsets\":[" << l.file_offsets[i] << ","
       << l.file_offsets[i] + l.bytes[i] << "]}";
  }
  os << "}";
  std::string json = os.str();
  while (json.size() % 8)
    json += ' ';
  return json;
}

} // namespace

std::string c_string(const std::string &s) {
  std::string r = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      r += '\\';
      r += char(c);
    } else if (c < 32 || c >= 127) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\%03o", c);
      r += buf;
    } else {
      r += char(c);
    }
  }
  return r + "\"";
}

StateLayout state_layout(const Function &f,
                         const std::vector<HostTensor> &init) {
  (void)init;
  StateLayout l;
  long long file = 0;
  for (const Value *v : state_params(f)) {
    long long n = (long long)(v->type().numel() * dtype_size(v->type().dtype));
    l.names.push_back(v->name());
    l.types.push_back(v->type());
    l.bytes.push_back(n);
    l.blob_offsets.push_back(l.blob_bytes);
    l.file_offsets.push_back(file);
    l.blob_bytes += (n + 63) / 64 * 64;
    file += n;
  }
  return l;
}

std::string embedded_blob(const StateLayout &l,
                          const std::vector<HostTensor> &init) {
  std::string blob(size_t(l.blob_bytes), '\0');
  for (size_t i = 0; i < init.size(); ++i)
    std::copy(init[i].bytes(), init[i].bytes() + l.bytes[i],
              blob.begin() + l.blob_offsets[i]);
  return blob;
}

std::string side_file(const Function &f, const StateLayout &l,
                      const std::vector<HostTensor> &init) {
  std::string json = side_file_json(f, l);
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i)
    out[i] = char((n >> (8 * i)) & 0xff);
  out += json;
  for (size_t i = 0; i < l.names.size(); ++i)
    if (i < init.size())
      out.append((const char *)init[i].bytes(), size_t(l.bytes[i]));
    else
      out.append(size_t(l.bytes[i]), '\0');
  return out;
}

std::string zero_init_c(const std::string &name, const StateLayout &l) {
  std::ostringstream os;
  os << "\n/* initial parameters and state: zeros (no weights given) */\n"
     << c_array(name + "_state_nbytes", l.bytes) << "int " << name
     << "_init_state(void *const *state) {\n"
     << "  for (int i = 0; i < " << l.names.size() << "; ++i)\n"
     << "    __builtin_memset(state[i], 0, (unsigned long)" << name
     << "_state_nbytes[i]);\n"
     << "  (void)state;\n  return 0;\n}\n";
  return os.str();
}

std::string embedded_init_c(const std::string &name, const StateLayout &l,
                            const std::string &blob_path) {
  std::string blob = name + "_initial_blob";
  std::string asm_text =
      ".pushsection .rodata." + blob +
      ",\"a\",%progbits\n.balign 64\n.hidden " + blob + "\n.type " + blob +
      ",%object\n" + blob + ":\n.incbin \"" + blob_path + "\"\n.size " + blob +
      ", " + std::to_string(l.blob_bytes) + "\n.popsection\n";
  std::ostringstream os;
  os << "\n/* initial parameters and state: embedded */\n"
     << "extern const unsigned char " << blob
     << "[] __attribute__((visibility(\"hidden\")));\n"
     << "__asm__(" << c_string(asm_text) << ");\n"
     << c_array(name + "_state_nbytes", l.bytes)
     << c_array(name + "_state_offsets", l.blob_offsets) << "int " << name
     << "_init_state(void *const *state) {\n"
     << "  for (int i = 0; i < " << l.names.size() << "; ++i)\n"
     << "    __builtin_memcpy(state[i], " << blob << " + " << name
     << "_state_offsets[i], (unsigned long)" << name << "_state_nbytes[i]);\n"
     << "  (void)state;\n  return 0;\n}\n";
  return os.str();
}

std::string side_file_loader_c(const std::string &name, const StateLayout &l,
                               const std::string &file_bytes,
                               const std::string &path) {
  uint64_t header = 0;
  for (int i = 0; i < 8; ++i)
    header |= uint64_t((unsigned char)file_bytes[i]) << (8 * i);
  std::string expect = file_bytes.substr(0, 8 + header);
  std::ostringstream os;
  os << "\n/* initial parameters and state: read from a safetensors file */\n"
     << "typedef struct kiln_FILE kiln_FILE;\n"
     << "kiln_FILE *fopen(const char *, const char *);\n"
     << "int fclose(kiln_FILE *);\n"
     << "unsigned long fread(void *, unsigned long, unsigned long, "
        "kiln_FILE *);\n"
     << "static const char *" << name << "_weights_path = " << c_string(path)
     << ";\n"
     << "static const char " << name
     << "_expected_header[] = " << c_string(expect) << ";\n"
     << c_array(name + "_state_nbytes", l.bytes) << "void " << name
     << "_set_weights_file(const char *path) { " << name
     << "_weights_path = path; }\n"
     << "int " << name << "_init_state(void *const *state) {\n"
     << "  kiln_FILE *f = fopen(" << name << "_weights_path, \"rb\");\n"
     << "  if (!f) return 1;\n"
     << "  char h[sizeof " << name << "_expected_header];\n"
     << "  unsigned long n = sizeof h - 1;\n"
     << "  if (fread(h, 1, n, f) != n || __builtin_memcmp(h, " << name
     << "_expected_header, n) != 0) { fclose(f); return 2; }\n"
     << "  for (int i = 0; i < " << l.names.size() << "; ++i) {\n"
     << "    unsigned long b = (unsigned long)" << name << "_state_nbytes[i];\n"
     << "    if (fread(state[i], 1, b, f) != b) { fclose(f); return 3; }\n"
     << "  }\n  (void)state;\n  fclose(f);\n  return 0;\n}\n";
  return os.str();
}

} // namespace kiln::aot
