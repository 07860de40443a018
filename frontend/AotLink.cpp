/// \file
/// A large program as several C translation units (codegen/CPrinter.h
/// emit_c_parts), compiled to objects on threads as the JIT does, then
/// merged into one relocatable object by the system linker (`ld -r`):
/// kilnc's output stays one NAME.o. docs/aot.md "Compile time".
// SPDX-License-Identifier: Apache-2.0
#include "frontend/AotImpl.h"

#include "codegen/ClangJit.h"

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <unistd.h>
#include <vector>

namespace kiln::aot {

namespace fs = std::filesystem;

namespace {

/// \p name's path on $PATH, or "".
std::string on_path(const std::string &name) {
  const char *path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  for (size_t at = 0; at <= dirs.size();) {
    size_t end = dirs.find(':', at);
    if (end == std::string::npos)
      end = dirs.size();
    fs::path p = fs::path(dirs.substr(at, end - at)) / name;
    if (end > at && ::access(p.c_str(), X_OK) == 0)
      return p.string();
    at = end + 1;
  }
  return "";
}

std::string quote(const std::string &s) {
  std::string r = "'";
  for (char c : s)
    r += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return r + "'";
}

} // namespace

std::string relocatable_linker(const std::string &triple) {
  // lld handles every ELF target; GNU ld the one it was built for.
  std::string gnu = triple.empty() ? "ld" : triple + "-ld";
  for (const std::string &name :
       {std::string("ld.lld-14"), std::string("ld.lld"), gnu})
    if (std::string p = on_path(name); !p.empty())
      return p;
  return "";
}

Status compile_units_to_object(const std::vector<std::string> &units,
                               const codegen::CCompileOptions &co,
                               const std::string &linker, std::string &object) {
  if (units.size() == 1)
    return codegen::compile_c_to_object(units[0], co, object);
  std::vector<std::string> objects(units.size());
  std::vector<Status> status(units.size(), Status::ok());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < units.size(); ++i)
    threads.emplace_back([&, i] {
      codegen::CCompileOptions o = co;
      o.name = co.name + "_part" + std::to_string(i);
      status[i] = codegen::compile_c_to_object(units[i], o, objects[i]);
    });
  for (std::thread &t : threads)
    t.join();
  for (const Status &s : status)
    if (!s)
      return s;
  static std::atomic<int> serial{0};
  fs::path dir = fs::temp_directory_path() /
                 ("kiln-aot-link-" + std::to_string(::getpid()) + "-" +
                  std::to_string(serial++));
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::string cmd = quote(linker) + " -r -o " + quote((dir / "out.o").string());
  for (size_t i = 0; i < objects.size(); ++i) {
    fs::path p = dir / ("part" + std::to_string(i) + ".o");
    std::ofstream(p, std::ios::binary)
        .write(objects[i].data(), std::streamsize(objects[i].size()));
    cmd += " " + quote(p.string());
  }
  cmd += " > " + quote((dir / "log").string()) + " 2>&1";
  int rc = std::system(cmd.c_str());
  std::ifstream in(dir / (rc == 0 ? "out.o" : "log"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  fs::remove_all(dir, ec);
  if (rc != 0 || bytes.size() < 64)
    return Status::error("merging " + std::to_string(units.size()) +
                         " objects with '" + linker + " -r' failed:\n" + bytes);
  object = std::move(bytes);
  return Status::ok();
}

} // namespace kiln::aot
