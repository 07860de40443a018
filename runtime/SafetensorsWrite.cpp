/// \file
/// Writing safetensors files (see Safetensors.h): the layout follows the
/// reference implementation byte for byte where it is deterministic (it
/// does not fix the order of metadata keys; kiln sorts them), so files that
/// kiln writes load in every safetensors reader, zero-copy ones included.
// SPDX-License-Identifier: Apache-2.0
#include "runtime/Safetensors.h"

#include "runtime/SafetensorsFormat.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <unistd.h>

namespace kiln {
namespace {

using namespace safetensors;
using ordered_json = nlohmann::ordered_json;
using TensorRefs = std::vector<std::pair<std::string, const HostTensor *>>;

/// The bytes before the buffer (length prefix, padded JSON) and the tensors
/// in buffer order.
struct Layout {
  std::string prefix;
  std::vector<const HostTensor *> order;
};

Status check_names(const TensorRefs &tensors) {
  std::set<std::string> seen;
  for (const auto &[name, t] : tensors) {
    if (name.empty())
      return Status::error("safetensors: a tensor name is empty");
    if (name == kMetadataKey)
      return Status::error("safetensors: the tensor name '__metadata__' is "
                           "reserved for the metadata");
    if (!seen.insert(name).second)
      return Status::error("safetensors: duplicate tensor name '" + name + "'");
    if (!t)
      return Status::error("safetensors: tensor '" + name + "' is null");
  }
  return Status::ok();
}

/// The reference order: dtypes with larger alignment first (by the rank of
/// the reference enum, descending), then names.
std::vector<size_t> write_order(const TensorRefs &tensors) {
  std::vector<size_t> order(tensors.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    int ra = dtype_info(tensors[a].second->dtype()).ref_rank;
    int rb = dtype_info(tensors[b].second->dtype()).ref_rank;
    return ra != rb ? ra > rb : tensors[a].first < tensors[b].first;
  });
  return order;
}

Status make_layout(const TensorRefs &tensors, const TensorMetadata &metadata,
                   Layout &out) {
  Status s = check_names(tensors);
  if (!s)
    return s;
  ordered_json header = ordered_json::object();
  if (!metadata.empty())
    header[kMetadataKey] = metadata;
  uint64_t offset = 0;
  for (size_t i : write_order(tensors)) {
    const HostTensor &t = *tensors[i].second;
    ordered_json entry = ordered_json::object();
    entry["dtype"] = dtype_info(t.dtype()).name;
    entry["shape"] = t.shape();
    entry["data_offsets"] = {offset, offset + t.type().bytes()};
    offset += t.type().bytes();
    header[tensors[i].first] = std::move(entry);
    out.order.push_back(&t);
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception &) {
    return Status::error("safetensors: tensor names and metadata must be "
                         "valid UTF-8");
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  out.prefix.resize(8);
  for (int i = 0; i < 8; ++i)
    out.prefix[i] = char((uint64_t(text.size()) >> (8 * i)) & 0xff);
  out.prefix += text;
  return Status::ok();
}

bool write_all(int fd, const void *data, size_t n) {
  const char *p = static_cast<const char *>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    n -= size_t(w);
  }
  return true;
}

/// Writes \p layout to the open file \p fd.
bool write_layout(int fd, const Layout &layout) {
  if (!write_all(fd, layout.prefix.data(), layout.prefix.size()))
    return false;
  for (const HostTensor *t : layout.order)
    if (!write_all(fd, t->bytes(), t->type().bytes()))
      return false;
  return ::fsync(fd) == 0;
}

/// A temporary name beside \p path, unique within and across processes.
std::string temp_path(const std::string &path) {
  static std::atomic<unsigned> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." +
         std::to_string(counter++);
}

} // namespace

Status serialize_safetensors(const TensorRefs &tensors,
                             const TensorMetadata &metadata, std::string &out) {
  Layout layout;
  Status s = make_layout(tensors, metadata, layout);
  if (!s)
    return s;
  out = std::move(layout.prefix);
  for (const HostTensor *t : layout.order)
    out.append(reinterpret_cast<const char *>(t->bytes()), t->type().bytes());
  return Status::ok();
}

Status write_safetensors(const std::string &path, const TensorRefs &tensors,
                         const TensorMetadata &metadata) {
  Layout layout;
  Status s = make_layout(tensors, metadata, layout);
  if (!s)
    return Status::error(path + ": " + s.message());
  std::string tmp = temp_path(path);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0)
    return Status::error(path + ": cannot create '" + tmp +
                         "': " + std::strerror(errno));
  errno = 0;
  bool ok = write_layout(fd, layout);
  int err = ok ? 0 : errno;
  if (::close(fd) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (ok && std::rename(tmp.c_str(), path.c_str()) == 0)
    return Status::ok();
  if (ok)
    err = errno; // the rename failed
  ::unlink(tmp.c_str());
  return Status::error(path +
                       ": cannot write: " + std::strerror(err ? err : EIO));
}

NamedTensors load_safetensors(const std::string &path,
                              TensorMetadata *metadata) {
  NamedTensors out;
  read_safetensors(path, out, metadata).throw_if_error();
  return out;
}

void save_safetensors(const std::string &path, const NamedTensors &tensors,
                      const TensorMetadata &metadata) {
  TensorRefs refs;
  refs.reserve(tensors.size());
  for (const auto &[name, t] : tensors)
    refs.emplace_back(name, &t);
  write_safetensors(path, refs, metadata).throw_if_error();
}

} // namespace kiln
