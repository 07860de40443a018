/// \file
/// Reading and writing safetensors files (see Safetensors.h). Reading runs
/// in two steps: decode_header() checks the length prefix and the JSON and
/// turns it into validated Entries (dtype, shape, offsets inside the
/// buffer, no overlaps); only then is data copied, from memory or from the
/// file. Writing lays the tensors out in the reference implementation's
/// order and renames a temporary file over the target.
// SPDX-License-Identifier: Apache-2.0
#include "runtime/Safetensors.h"

#include "ir/Graph.h"
#include "runtime/SafetensorsFormat.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <unistd.h>

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian; kiln copies it as is");

namespace kiln {
namespace {

using json = nlohmann::json;

using namespace safetensors;

/// A header nests three levels; anything much deeper is hostile.
constexpr int kMaxJsonDepth = 32;

/// One validated tensor of a header: [begin, end) lies inside the buffer and
/// holds exactly type.bytes() bytes.
struct Entry {
  std::string name;
  TensorType type;
  uint64_t begin = 0, end = 0;
};

struct Header {
  uint64_t data_start = 0; ///< file offset of the buffer: 8 + N
  std::vector<Entry> entries;
  TensorMetadata metadata;
};

Status fail(const std::string &source, const std::string &msg) {
  return Status::error(source + ": " + msg);
}
Status fail_tensor(const std::string &source, const std::string &name,
                   const std::string &msg) {
  return fail(source, "tensor '" + name + "': " + msg);
}

std::string offsets_str(uint64_t b, uint64_t e) {
  return "[" + std::to_string(b) + ", " + std::to_string(e) + "]";
}

uint64_t read_u64_le(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i)
    v = (v << 8) | p[i];
  return v;
}

/// Checks the 8-byte prefix of a \p file_size byte file; sets \p n.
Status check_length(const unsigned char *prefix, uint64_t file_size,
                    const std::string &source, uint64_t &n) {
  if (file_size < 8)
    return fail(source, "file is " + std::to_string(file_size) +
                            " bytes, too short for the 8-byte header length");
  n = read_u64_le(prefix);
  if (n > file_size - 8)
    return fail(source, "header length " + std::to_string(n) +
                            " runs past the end of the file (" +
                            std::to_string(file_size) + " bytes)");
  if (n > kMaxHeaderBytes)
    return fail(source, "header length " + std::to_string(n) +
                            " exceeds the limit of 100000000 bytes");
  if (n < 2)
    return fail(source, "header of " + std::to_string(n) +
                            " bytes cannot hold a JSON object");
  return Status::ok();
}

/// Thrown out of the JSON parser's callback to stop it early.
struct HeaderReject {
  std::string message;
};

/// Parses JSON text, rejecting duplicate keys (nlohmann keeps the last one
/// silently) and nesting deeper than kMaxJsonDepth.
Status parse_json(const char *text, size_t n, const std::string &source,
                  json &out) {
  std::vector<std::set<std::string>> keys; // one set per open object
  auto callback = [&](int depth, json::parse_event_t ev, json &parsed) {
    if (depth > kMaxJsonDepth)
      throw HeaderReject{"header nests deeper than " +
                         std::to_string(kMaxJsonDepth) + " levels"};
    if (ev == json::parse_event_t::object_start)
      keys.emplace_back();
    else if (ev == json::parse_event_t::object_end && !keys.empty())
      keys.pop_back();
    else if (ev == json::parse_event_t::key && !keys.empty() &&
             !keys.back().insert(parsed.get<std::string>()).second)
      throw HeaderReject{
          (keys.size() == 1 ? "duplicate tensor name '" : "duplicate key '") +
          parsed.get<std::string>() + "' in the header"};
    return true;
  };
  try {
    out = json::parse(text, text + n, callback);
  } catch (const HeaderReject &r) {
    return fail(source, r.message);
  } catch (const json::exception &e) {
    std::string what = e.what(); // "[json.exception.parse_error.101] ..."
    size_t cut = what.find("] ");
    return fail(source,
                "header is not valid JSON: " +
                    (cut == std::string::npos ? what : what.substr(cut + 2)));
  }
  return Status::ok();
}

/// Reads a JSON non-negative integer (`-0` included) into \p v; false
/// otherwise.
bool get_count(const json &j, uint64_t &v) {
  if (j.is_number_unsigned()) {
    v = j.get<uint64_t>();
    return true;
  }
  if (j.is_number_integer() && j.get<int64_t>() == 0) {
    v = 0;
    return true;
  }
  return false;
}

Status decode_shape(const json &j, const std::string &source,
                    const std::string &name, Shape &shape) {
  if (!j.is_array())
    return fail_tensor(source, name, "\"shape\" is not a list of integers");
  for (const json &d : j) {
    uint64_t v = 0;
    if (d.is_number_integer() && d.get<int64_t>() < 0)
      return fail_tensor(source, name,
                         "shape has a negative dimension " + d.dump());
    if (!get_count(d, v))
      return fail_tensor(source, name,
                         "shape holds " + d.dump() + ", not an integer");
    if (v > uint64_t(kMaxElements))
      return fail_tensor(source, name,
                         "dimension " + std::to_string(v) + " is too large");
    shape.push_back(int64_t(v));
  }
  if (checked_numel(shape) < 0)
    return fail_tensor(source, name,
                       "shape " + shape_str(shape) +
                           " has more than 2^48 elements");
  return Status::ok();
}

Status decode_dtype(const json &j, const std::string &source,
                    const std::string &name, DType &dtype) {
  if (!j.is_string())
    return fail_tensor(source, name, "\"dtype\" is not a string");
  const std::string &s = j.get_ref<const std::string &>();
  for (const DTypeInfo &d : kDTypes)
    if (s == d.name) {
      dtype = d.dtype;
      return Status::ok();
    }
  return fail_tensor(source, name,
                     "dtype '" + s +
                         "' is not supported (kiln reads F32 F64 F16 BF16 "
                         "I32 I64 BOOL)");
}

/// Decodes one tensor entry and checks its offsets against the buffer.
Status decode_entry(const std::string &name, const json &j,
                    uint64_t buffer_size, const std::string &source, Entry &e) {
  if (!j.is_object())
    return fail_tensor(source, name, "entry is not a JSON object");
  for (const char *key : {"dtype", "shape", "data_offsets"})
    if (!j.contains(key))
      return fail_tensor(source, name,
                         std::string("entry has no \"") + key + "\"");
  e.name = name;
  Status s = decode_dtype(j["dtype"], source, name, e.type.dtype);
  if (s)
    s = decode_shape(j["shape"], source, name, e.type.shape);
  if (!s)
    return s;
  const json &off = j["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !get_count(off[0], e.begin) ||
      !get_count(off[1], e.end))
    return fail_tensor(source, name,
                       "\"data_offsets\" is " + off.dump() +
                           ", not two non-negative integers [begin, end]");
  std::string range = "data_offsets " + offsets_str(e.begin, e.end);
  if (e.begin > e.end)
    return fail_tensor(source, name, range + " end before they begin");
  if (e.end > buffer_size)
    return fail_tensor(source, name,
                       range + " run past the end of the data (" +
                           std::to_string(buffer_size) + " bytes)");
  uint64_t need = uint64_t(e.type.numel()) * dtype_size(e.type.dtype);
  if (e.end - e.begin != need)
    return fail_tensor(source, name,
                       range + " hold " + std::to_string(e.end - e.begin) +
                           " bytes, but " + type_str(e.type) + " needs " +
                           std::to_string(need));
  return Status::ok();
}

Status decode_metadata(const json &j, const std::string &source,
                       TensorMetadata &out) {
  if (!j.is_object())
    return fail(source, "\"__metadata__\" is not a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_string())
      return fail(source, "\"__metadata__\" entry '" + it.key() + "' is " +
                              it.value().dump() + ", not a string");
    out[it.key()] = it.value().get<std::string>();
  }
  return Status::ok();
}

/// Fails when two non-empty tensors share bytes of the buffer.
Status check_overlaps(const std::vector<Entry> &entries,
                      const std::string &source) {
  std::vector<const Entry *> by_begin;
  for (const Entry &e : entries)
    if (e.end > e.begin)
      by_begin.push_back(&e);
  std::sort(by_begin.begin(), by_begin.end(),
            [](const Entry *a, const Entry *b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_begin.size(); ++i) {
    const Entry &a = *by_begin[i - 1], &b = *by_begin[i];
    if (b.begin < a.end)
      return fail_tensor(source, b.name,
                         "data_offsets " + offsets_str(b.begin, b.end) +
                             " overlap tensor '" + a.name + "' at " +
                             offsets_str(a.begin, a.end));
  }
  return Status::ok();
}

/// Decodes the JSON header of \p n bytes; the buffer after it holds
/// \p buffer_size bytes.
Status decode_header(const char *text, size_t n, uint64_t buffer_size,
                     const std::string &source, Header &h) {
  json j;
  Status s = parse_json(text, n, source, j);
  if (!s)
    return s;
  if (!j.is_object())
    return fail(source, "header is JSON but not an object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == kMetadataKey) {
      s = decode_metadata(it.value(), source, h.metadata);
    } else {
      h.entries.emplace_back();
      s = decode_entry(it.key(), it.value(), buffer_size, source,
                       h.entries.back());
    }
    if (!s)
      return s;
  }
  return check_overlaps(h.entries, source);
}

/// Makes BOOL bytes 0 or 1, as HostTensor stores them.
void normalize_bools(HostTensor &t) {
  if (t.dtype() == DType::Bool)
    for (int64_t i = 0; i < t.numel(); ++i)
      t.bytes()[i] = t.bytes()[i] != 0;
}

/// Copies \p e's bytes at \p src into a new tensor.
HostTensor make_tensor(const Entry &e, const unsigned char *src) {
  HostTensor t(e.type);
  if (t.type().bytes())
    std::memcpy(t.bytes(), src, t.type().bytes());
  normalize_bools(t);
  return t;
}

} // namespace

Status parse_safetensors(const void *data, size_t size,
                         const std::string &source, NamedTensors &out,
                         TensorMetadata *metadata) {
  out.clear();
  if (metadata)
    metadata->clear();
  const auto *bytes = static_cast<const unsigned char *>(data);
  uint64_t n = 0;
  Status s = check_length(bytes, size, source, n);
  Header h;
  if (s)
    s = decode_header(reinterpret_cast<const char *>(bytes + 8), n,
                      size - 8 - n, source, h);
  if (!s)
    return s;
  const unsigned char *buffer = bytes + 8 + n;
  out.reserve(h.entries.size());
  for (const Entry &e : h.entries)
    out.emplace_back(e.name, make_tensor(e, buffer + e.begin));
  if (metadata)
    *metadata = std::move(h.metadata);
  return Status::ok();
}

namespace {

/// A FILE that closes itself.
struct File {
  FILE *f = nullptr;
  ~File() {
    if (f)
      std::fclose(f);
  }
};

std::string errno_str() { return std::strerror(errno); }

/// Reads \p n bytes at \p offset of \p f into \p dst.
bool read_at(FILE *f, uint64_t offset, void *dst, size_t n) {
  if (n == 0)
    return true;
  return fseeko(f, off_t(offset), SEEK_SET) == 0 &&
         std::fread(dst, 1, n, f) == n;
}

} // namespace

Status read_safetensors(const std::string &path, NamedTensors &out,
                        TensorMetadata *metadata) {
  out.clear();
  if (metadata)
    metadata->clear();
  File file;
  file.f = std::fopen(path.c_str(), "rb");
  if (!file.f || fseeko(file.f, 0, SEEK_END) != 0)
    return fail(path, "cannot open: " + errno_str());
  off_t size = ftello(file.f);
  if (size < 0)
    return fail(path, "cannot read: " + errno_str());
  unsigned char prefix[8] = {};
  uint64_t n = 0;
  if (size >= 8 && !read_at(file.f, 0, prefix, 8))
    return fail(path, "cannot read the header length");
  Status s = check_length(prefix, uint64_t(size), path, n);
  if (!s)
    return s;
  std::string text(n, '\0');
  Header h;
  if (!read_at(file.f, 8, text.data(), n))
    return fail(path, "cannot read the header");
  s = decode_header(text.data(), n, uint64_t(size) - 8 - n, path, h);
  if (!s)
    return s;
  NamedTensors result;
  result.reserve(h.entries.size());
  for (const Entry &e : h.entries) {
    HostTensor t(e.type);
    if (!read_at(file.f, 8 + n + e.begin, t.bytes(), t.type().bytes()))
      return fail_tensor(path, e.name, "cannot read its data");
    normalize_bools(t);
    result.emplace_back(e.name, std::move(t));
  }
  out = std::move(result);
  if (metadata)
    *metadata = std::move(h.metadata);
  return Status::ok();
}

namespace {

std::string param_list(const Function &f) {
  std::string r;
  for (const auto &p : f.params())
    if (!p->name().empty())
      r += (r.empty() ? "%" : ", %") + p->name();
  return r.empty() ? "none named" : r;
}

/// The parameters of \p f that no tensor names, as "%a, %b".
std::string missing_list(const Function &f, const std::vector<bool> &bound) {
  std::string r;
  for (size_t i = 0; i < bound.size(); ++i)
    if (!bound[i])
      r += (r.empty() ? "%" : ", %") + f.param(i)->name();
  return r;
}

} // namespace

Status bind_by_name(const Function &f, const NamedTensors &tensors,
                    std::vector<HostTensor> &args, const BindOptions &options,
                    size_t *num_bound) {
  const std::string &src = options.source;
  if (args.size() != f.params().size())
    return fail(src, "@" + f.name() + " has " +
                         std::to_string(f.params().size()) +
                         " parameters, but " + std::to_string(args.size()) +
                         " arguments were given");
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < f.params().size(); ++i)
    if (!f.param(i)->name().empty())
      index.emplace(f.param(i)->name(), i);
  std::vector<bool> bound(args.size(), false);
  std::vector<std::pair<size_t, const HostTensor *>> moves;
  for (const auto &[name, t] : tensors) {
    auto it = index.find(name);
    if (it == index.end()) {
      if (options.allow_unused)
        continue;
      return fail_tensor(src, name,
                         "matches no parameter of @" + f.name() + " (" +
                             param_list(f) + ")");
    }
    const TensorType &want = f.param(it->second)->type();
    if (t.type() != want)
      return fail_tensor(src, name,
                         "is " + type_str(t.type()) + ", but parameter %" +
                             name + " of @" + f.name() + " is " +
                             type_str(want));
    if (bound[it->second])
      return fail_tensor(src, name, "appears twice");
    bound[it->second] = true;
    moves.emplace_back(it->second, &t);
  }
  if (options.require_all && moves.size() < args.size())
    return fail(src, "no tensor for parameter(s) " + missing_list(f, bound) +
                         " of @" + f.name());
  for (const auto &[i, t] : moves)
    args[i] = *t;
  if (num_bound)
    *num_bound = moves.size();
  return Status::ok();
}

} // namespace kiln
