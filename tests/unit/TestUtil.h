/// \file
/// Helpers shared by the unit tests: build a one-node function from operand
/// types, run it through the interpreter, compare tensors.
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include "ir/Error.h"
#include "ir/Graph.h"
#include "ir/HostTensor.h"
#include "ir/Interpreter.h"
#include "ir/OpRegistry.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>
#include <vector>

namespace kiln::test {

inline TensorType f32(Shape s) { return {DType::F32, std::move(s)}; }
inline TensorType f64(Shape s) { return {DType::F64, std::move(s)}; }
inline TensorType i64(Shape s) { return {DType::I64, std::move(s)}; }
inline TensorType i32(Shape s) { return {DType::I32, std::move(s)}; }
inline TensorType boolean(Shape s) { return {DType::Bool, std::move(s)}; }

/// Runs the shape rule of \p op. Returns the result types, or throws
/// kiln::Error with the rule's message ("matmul: inner dimensions differ").
inline std::vector<TensorType>
infer(OpKind op, const std::vector<TensorType> &in, const Attrs &attrs = {},
      const std::vector<TensorType> &declared = {}) {
  Attrs norm;
  std::vector<TensorType> out;
  std::string err;
  if (!infer_types(op, in, attrs, declared.empty() ? nullptr : &declared, norm,
                   out, err))
    throw Error(err);
  return out;
}

/// The message of the shape rule's failure, or "" when it succeeds.
inline std::string infer_error(OpKind op, const std::vector<TensorType> &in,
                               const Attrs &attrs = {},
                               const std::vector<TensorType> &declared = {}) {
  try {
    infer(op, in, attrs, declared);
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

/// Evaluates op on \p args with the reference interpreter (one node, built
/// through Function::add) and returns its results.
inline std::vector<HostTensor>
eval(OpKind op, const std::vector<HostTensor> &args, const Attrs &attrs = {},
     const std::vector<TensorType> &declared = {}) {
  Function f("t");
  std::vector<Value *> ops;
  for (size_t i = 0; i < args.size(); ++i)
    ops.push_back(f.add_param("a" + std::to_string(i), args[i].type()));
  Node *n = f.add(op, ops, attrs, declared);
  std::vector<Value *> res;
  for (size_t i = 0; i < n->num_results(); ++i)
    res.push_back(n->result(i));
  f.set_results(res);
  return interpret(f, args);
}

/// All elements as doubles, row-major.
inline std::vector<double> values(const HostTensor &t) {
  std::vector<double> v;
  for (int64_t i = 0; i < t.numel(); ++i)
    v.push_back(t.get(i));
  return v;
}

/// Checks \p t against \p expect elementwise within a relative tolerance
/// (or an absolute one near zero). NaN matches NaN.
inline void check_values(const HostTensor &t, const std::vector<double> &expect,
                         double rel = 1e-6, double abs = 1e-9) {
  REQUIRE(t.numel() == int64_t(expect.size()));
  for (int64_t i = 0; i < t.numel(); ++i) {
    double got = t.get(i), want = expect[size_t(i)];
    INFO("element " << i << ": got " << got << ", want " << want);
    if (std::isnan(want)) {
      CHECK(std::isnan(got));
      continue;
    }
    CHECK_THAT(got, Catch::Matchers::WithinRel(want, rel) ||
                        Catch::Matchers::WithinAbs(want, abs));
  }
}

/// Sets an environment variable for a scope.
struct ScopedEnv {
  std::string name;
  ScopedEnv(const char *n, const std::string &v) : name(n) {
    ::setenv(n, v.c_str(), 1);
  }
  ScopedEnv(const ScopedEnv &) = delete;
  ScopedEnv &operator=(const ScopedEnv &) = delete;
  ~ScopedEnv() { ::unsetenv(name.c_str()); }
};

} // namespace kiln::test
