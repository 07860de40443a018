/// \file
/// The on-disk cache of compiled objects behind ClangJit (private header).
/// An entry maps a content key (a 128-bit hash of the C source, the cc1
/// flags, the target CPU and features and the LLVM version) to the ELF object
/// that clang and LLVM made from them. Each file is a 32-byte header (magic,
/// object length, xxHash64 of the object, format version) then the object;
/// entries are written to a temporary file and renamed into place, so readers
/// never see a partial entry, and a truncated or corrupted file reads as a
/// miss.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <string>

namespace kiln::codegen::detail {

/// The cache directory used when CCompileOptions::cache_dir is empty:
/// $KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln, else $HOME/.cache/kiln, else
/// "" (no cache).
std::string default_cache_dir();

/// True unless the environment sets KILN_CACHE=0 (or "off"/"false").
bool cache_enabled_by_env();

/// A 32-hex-digit key for \p parts (each hashed with its length, so
/// {"ab","c"} and {"a","bc"} differ).
std::string cache_key(const std::string *parts, size_t count);

/// The path of the entry for \p key under \p dir.
std::string cache_entry_path(const std::string &dir, const std::string &key);

/// Reads the entry at \p path into \p object. Returns false when it is
/// absent, truncated or corrupted (bad magic, length or checksum); a bad
/// entry is removed so that the next store replaces it.
bool cache_load(const std::string &path, std::string &object);

/// Writes \p object as the entry at \p path atomically (temporary file then
/// rename), creating the directory. Returns false (and leaves no temporary
/// file) on any I/O failure; a cache that cannot be written is not an error.
bool cache_store(const std::string &path, const std::string &object);

} // namespace kiln::codegen::detail
