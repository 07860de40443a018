/// \file
/// Located error messages for bad input text (STYLE B5, channel 1):
/// `file:line:col: error: reason`, lowercase, no final period.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Graph.h"

#include <ostream>
#include <sstream>
#include <string>
#include <vector>

namespace kiln {

struct Diagnostic {
  Loc loc;
  std::string message;
  /// "file:line:col: error: message" (or "error: message" without a location).
  std::string str() const;
};

/// Collects diagnostics; tools print them to stderr and exit 1.
class Diagnostics {
public:
  class Builder {
  public:
    Builder(Diagnostics &d, Loc loc) : d_(d), loc_(std::move(loc)) {}
    Builder(const Builder &) = delete;
    ~Builder() { d_.diags_.push_back({loc_, os_.str()}); }
    template <typename T> Builder &operator<<(const T &v) {
      os_ << v;
      return *this;
    }

  private:
    Diagnostics &d_;
    Loc loc_;
    std::ostringstream os_;
  };

  /// Starts an error at \p loc; the message is recorded when the returned
  /// builder goes out of scope: `diags.error(loc) << "matmul: ..."`.
  Builder error(Loc loc) { return Builder(*this, std::move(loc)); }
  bool has_errors() const { return !diags_.empty(); }
  const std::vector<Diagnostic> &all() const { return diags_; }
  /// Writes every diagnostic, one per line.
  void print(std::ostream &os) const;
  void clear() { diags_.clear(); }

private:
  std::vector<Diagnostic> diags_;
};

} // namespace kiln
