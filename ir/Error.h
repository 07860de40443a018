/// \file
/// Error channels of kiln (STYLE B5): kiln::Error for misuse of the C++ API,
/// kiln::InternalError (through KILN_CHECK) for broken invariants. Bad input
/// text goes through Diagnostics instead and never throws out of a tool.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace kiln {

/// Misuse of the public API: the message names the op, the shapes and the fix.
class Error : public std::runtime_error {
public:
  explicit Error(const std::string &msg) : std::runtime_error(msg) {}
};

/// A broken internal invariant: a bug in kiln, not in the user's input.
class InternalError : public std::logic_error {
public:
  explicit InternalError(const std::string &msg) : std::logic_error(msg) {}
};

/// The outcome of a call that can fail for reasons outside kiln's control
/// (an external compiler, a file): at the C ABI and around external tools
/// functions return a Status with the log attached; only the public C++ API
/// turns it into a kiln::Error (STYLE B5).
class Status {
public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(std::string message) {
    Status s;
    s.ok_ = false;
    s.message_ = std::move(message);
    return s;
  }
  bool is_ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  /// The error message (with any attached log); "" when ok.
  const std::string &message() const { return message_; }
  /// Throws kiln::Error with the message when not ok.
  void throw_if_error() const {
    if (!ok_)
      throw Error(message_);
  }

private:
  bool ok_ = true;
  std::string message_;
};

namespace detail {
/// Collects a message with operator<< and throws InternalError when destroyed.
/// Only constructed when the checked condition failed, so the message costs
/// nothing on the success path.
class CheckFailure {
public:
  CheckFailure(const char *cond, const char *file, int line) {
    os_ << file << ":" << line << ": internal error: check '" << cond
        << "' failed: ";
  }
  template <typename T> CheckFailure &operator<<(const T &v) {
    os_ << v;
    return *this;
  }
  ~CheckFailure() noexcept(false) { throw InternalError(os_.str()); }

private:
  std::ostringstream os_;
};
} // namespace detail

} // namespace kiln

/// KILN_CHECK(cond) << "context";  throws kiln::InternalError when cond fails.
#define KILN_CHECK(cond)                                                       \
  if (cond) {                                                                  \
  } else                                                                       \
    ::kiln::detail::CheckFailure(#cond, __FILE__, __LINE__)

/// Marks a branch that cannot be reached when kiln's invariants hold.
#define KILN_UNREACHABLE(why)                                                  \
  throw ::kiln::InternalError(std::string(__FILE__ ":") +                      \
                              std::to_string(__LINE__) +                       \
                              ": unreachable: " + (why))
