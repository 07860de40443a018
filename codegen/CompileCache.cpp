/// \file
/// The on-disk object cache of ClangJit: keys, the entry format and atomic
/// writes (see CompileCache.h).
// SPDX-License-Identifier: Apache-2.0
#include "codegen/CompileCache.h"

#include <llvm/ADT/SmallString.h>
#include <llvm/ADT/StringRef.h>
#include <llvm/Support/MD5.h>
#include <llvm/Support/xxhash.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>
#include <unistd.h>

namespace fs = std::filesystem;

namespace kiln::codegen::detail {
namespace {

constexpr char kMagic[8] = {'K', 'I', 'L', 'N', 'O', 'B', 'J', '\n'};
constexpr uint64_t kFormatVersion = 1;
constexpr size_t kHeaderBytes = 32;

/// The fixed header in front of every cached object (little-endian fields).
struct Header {
  char magic[8];
  uint64_t length;   // bytes of object after the header
  uint64_t checksum; // xxHash64 of those bytes
  uint64_t version;  // kFormatVersion
};
static_assert(sizeof(Header) == kHeaderBytes, "cache header must be packed");

std::string env_or_empty(const char *name) {
  const char *v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

} // namespace

std::string default_cache_dir() {
  if (std::string dir = env_or_empty("KILN_CACHE_DIR"); !dir.empty())
    return dir;
  if (std::string xdg = env_or_empty("XDG_CACHE_HOME"); !xdg.empty())
    return xdg + "/kiln";
  if (std::string home = env_or_empty("HOME"); !home.empty())
    return home + "/.cache/kiln";
  return "";
}

bool cache_enabled_by_env() {
  std::string v = env_or_empty("KILN_CACHE");
  return !(v == "0" || v == "off" || v == "false" || v == "OFF");
}

std::string cache_key(const std::string *parts, size_t count) {
  llvm::MD5 md5;
  for (size_t i = 0; i < count; ++i) {
    uint64_t len = parts[i].size();
    md5.update(
        llvm::StringRef(reinterpret_cast<const char *>(&len), sizeof(len)));
    md5.update(parts[i]);
  }
  llvm::MD5::MD5Result result;
  md5.final(result);
  return std::string(result.digest().str());
}

std::string cache_entry_path(const std::string &dir, const std::string &key) {
  return (fs::path(dir) / (key + ".kobj")).string();
}

bool cache_load(const std::string &path, std::string &object) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  Header h;
  bool good = bytes.size() >= kHeaderBytes;
  if (good) {
    std::memcpy(&h, bytes.data(), kHeaderBytes);
    good = std::memcmp(h.magic, kMagic, sizeof(kMagic)) == 0 &&
           h.version == kFormatVersion &&
           h.length == bytes.size() - kHeaderBytes &&
           h.checksum ==
               llvm::xxHash64(llvm::StringRef(bytes).drop_front(kHeaderBytes));
  }
  if (!good) {
    std::error_code ec;
    fs::remove(path, ec);
    return false;
  }
  object = bytes.substr(kHeaderBytes);
  return true;
}

bool cache_store(const std::string &path, const std::string &object) {
  static std::atomic<unsigned> counter{0};
  std::error_code ec;
  fs::create_directories(fs::path(path).parent_path(), ec);
  if (ec)
    return false;
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." +
                    std::to_string(counter++);
  Header h;
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.length = object.size();
  h.checksum = llvm::xxHash64(llvm::StringRef(object));
  h.version = kFormatVersion;
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char *>(&h), kHeaderBytes);
    out.write(object.data(), static_cast<std::streamsize>(object.size()));
    out.close();
    if (!out) {
      fs::remove(tmp, ec);
      return false;
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return false;
  }
  return true;
}

} // namespace kiln::codegen::detail
