/// \file
/// Input helpers for the tools.
// SPDX-License-Identifier: Apache-2.0
#include "tools/ToolSupport.h"

#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

namespace kiln::tools {

bool read_input(const std::string &path, std::string &out, std::string &err) {
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    out = ss.str();
    return true;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    err = "cannot open '" + path + "'";
    return false;
  }
  out.assign(std::istreambuf_iterator<char>(in), {});
  if (in.bad()) {
    err = "cannot read '" + path + "'";
    return false;
  }
  return true;
}

std::vector<Chunk> split_input(const std::string &text) {
  std::vector<Chunk> chunks;
  Chunk cur{"", 1};
  int line = 1;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string::npos ? text.size() : nl + 1;
    std::string l = text.substr(pos, end - pos);
    std::string body = l;
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r'))
      body.pop_back();
    if (body == "// -----") {
      chunks.push_back(std::move(cur));
      cur = Chunk{"", line + 1};
    } else {
      cur.text += l;
    }
    ++line;
    pos = end;
  }
  chunks.push_back(std::move(cur));
  return chunks;
}

} // namespace kiln::tools
