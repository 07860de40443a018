/// \file
/// Small helpers shared by kiln's command-line tools: reading input files
/// and splitting them into `// -----` chunks.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace kiln::tools {

/// The main of every kiln tool: \p parse fills the options from argv and
/// returns 0 to go on, -1 to exit 0 (after --help) or an exit code; \p run
/// does the work. An exception escaping \p run is a kiln bug or an
/// unexpected failure: it becomes "TOOL: error: WHAT" on stderr and
/// \p error_code, never a stack trace or an abort.
template <typename Options>
int tool_main(const char *tool, int argc, char **argv,
              int (*parse)(int, char **, Options &),
              int (*run)(const Options &), int error_code = 3) {
  Options o;
  int rc = parse(argc, argv, o);
  if (rc)
    return rc < 0 ? 0 : rc;
  try {
    return run(o);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "%s: error: %s\n", tool, e.what());
    return error_code;
  }
}

/// Reads \p path ("-" is standard input) into \p out as bytes. Returns false
/// and sets \p err when it cannot be read.
bool read_input(const std::string &path, std::string &out, std::string &err);

/// One piece of a file split at lines that are exactly `// -----`.
struct Chunk {
  std::string text;
  int first_line; ///< 1-based line of the chunk's first line in the file
};
/// The op reference (docs/ops.md): every op of the registry with its
/// summary, operand count, attributes with defaults, and a .kir example, as
/// Markdown. A lit test keeps docs/ops.md equal to it.
std::string op_reference_markdown();

/// Splits \p text at separator lines; a file without separators is one chunk.
std::vector<Chunk> split_input(const std::string &text);

} // namespace kiln::tools
