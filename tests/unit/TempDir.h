/// \file
/// A fresh scratch directory under the system temp directory, removed with
/// its contents at scope exit: the tests that write files (compile caches,
/// objects, headers, example programs) each use one.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>
#include <unistd.h>
#include <vector>

namespace kiln::test {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           ("kiln-test-" + std::to_string(::getpid()) + "-" +
            std::to_string(counter++));
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;

  /// Writes \p bytes to the file \p name in the directory.
  void write(const std::string &name, const std::string &bytes) const {
    std::ofstream(path / name, std::ios::binary) << bytes;
  }
  /// The files in the directory whose extension is \p ext (".o").
  std::vector<std::filesystem::path> files(const std::string &ext) const {
    std::vector<std::filesystem::path> out;
    for (const auto &e : std::filesystem::directory_iterator(path))
      if (e.path().extension() == ext)
        out.push_back(e.path());
    return out;
  }
};

} // namespace kiln::test
