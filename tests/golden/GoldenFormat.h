/// \file
/// The text format of the golden-reference files under tests/golden/data,
/// shared by the C++ exporter (kiln_golden_export), the unit test
/// (GoldenStepTest) and make_golden.py, so that all three read and write
/// the same thing without a JSON library:
///
///   # a comment               (ignored)
///   @key value ...            (metadata: workload, config, optimizer)
///   NAME DTYPE RANK D0 .. Dn-1 V0 V1 ...   (one tensor per line)
///
/// DTYPE is f32, f64 or i64; values are row-major, floats printed with 9
/// (f32) or 17 (f64) significant digits so they round-trip exactly, and
/// i64 as integers. Header-only: the exporter and the test are the only
/// users.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Error.h"
#include "ir/HostTensor.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <ostream>
#include <sstream>
#include <string>
#include <vector>

namespace kiln::golden {

/// One tensor of a golden file; integer values are held exactly in double
/// (the files hold labels and token ids, far below 2^53).
struct GoldenTensor {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  std::vector<double> values;
};

/// A parsed golden file: tensors in file order, metadata by key.
struct GoldenFile {
  std::vector<GoldenTensor> tensors;
  std::map<std::string, std::string> meta;
  /// The tensor named \p name, or nullptr.
  const GoldenTensor *find(const std::string &name) const {
    for (const GoldenTensor &t : tensors)
      if (t.name == name)
        return &t;
    return nullptr;
  }
};

inline const char *golden_dtype_name(DType d) {
  switch (d) {
  case DType::F32:
    return "f32";
  case DType::F64:
    return "f64";
  case DType::I64:
    return "i64";
  default:
    throw Error("golden: unsupported dtype (f32, f64 and i64 only)");
  }
}

inline DType golden_dtype(const std::string &s) {
  if (s == "f32")
    return DType::F32;
  if (s == "f64")
    return DType::F64;
  if (s == "i64")
    return DType::I64;
  throw Error("golden: unknown dtype '" + s + "' (f32, f64 or i64)");
}

/// Writes \p t as one tensor line named \p name.
inline void write_tensor(std::ostream &os, const std::string &name,
                         const HostTensor &t) {
  os << name << ' ' << golden_dtype_name(t.dtype()) << ' ' << t.shape().size();
  for (int64_t d : t.shape())
    os << ' ' << d;
  char buf[40];
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (t.dtype() == DType::I64)
      std::snprintf(buf, sizeof buf, " %lld", (long long)t.get_int(i));
    else
      std::snprintf(buf, sizeof buf,
                    t.dtype() == DType::F32 ? " %.9g" : " %.17g", t.get(i));
    os << buf;
  }
  os << '\n';
}

/// Parses a golden file; throws kiln::Error naming the file and line of a
/// malformed line (bad dtype, wrong number of values).
inline GoldenFile read_golden(const std::string &path) {
  std::ifstream in(path);
  if (!in)
    throw Error("golden: cannot open '" + path + "'");
  GoldenFile f;
  std::string line;
  for (int lineno = 1; std::getline(in, line); ++lineno) {
    if (line.empty() || line[0] == '#')
      continue;
    std::istringstream ls(line);
    std::string where = path + ":" + std::to_string(lineno) + ": ";
    if (line[0] == '@') {
      std::string key, rest;
      ls >> key;
      std::getline(ls >> std::ws, rest);
      f.meta[key.substr(1)] = rest;
      continue;
    }
    GoldenTensor t;
    std::string dtype;
    size_t rank = 0;
    if (!(ls >> t.name >> dtype >> rank))
      throw Error(where + "expected 'NAME DTYPE RANK DIMS... VALUES...'");
    t.dtype = golden_dtype(dtype);
    int64_t numel = 1;
    for (size_t i = 0; i < rank; ++i) {
      int64_t d = -1;
      if (!(ls >> d) || d < 0)
        throw Error(where + "bad dimension of '" + t.name + "'");
      t.shape.push_back(d);
      numel *= d;
    }
    // strtod reads "inf" and "nan" too, which istream >> double does not.
    std::string tok;
    while (ls >> tok)
      t.values.push_back(std::strtod(tok.c_str(), nullptr));
    if (int64_t(t.values.size()) != numel)
      throw Error(where + "'" + t.name + "' has " +
                  std::to_string(t.values.size()) + " values, its shape " +
                  std::to_string(numel));
    f.tensors.push_back(std::move(t));
  }
  return f;
}

} // namespace kiln::golden
