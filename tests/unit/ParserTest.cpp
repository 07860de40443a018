/// \file
/// Tests of the .kir parser: what it builds, each class of error with its
/// exact message and location, recovery without cascades, and robustness
/// against arbitrary bytes.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include "ir/Parser.h"
#include "ir/Printer.h"

#include <random>

using namespace kiln;
using namespace kiln::test;

namespace {

/// Every diagnostic of parsing \p text, one per line; the parse must fail.
std::string errors(std::string_view text) {
  Diagnostics d;
  auto m = parse_and_verify(text, "t.kir", d);
  CHECK(!m);
  std::string r;
  for (const Diagnostic &e : d.all())
    r += e.str() + "\n";
  return r;
}

/// A one-statement function over %x: f32[4] and %y: f32[3].
std::string with_stmt(const std::string &stmt) {
  return "func @f(%x: f32[4], %y: f32[3]) -> (f32[4]) {\n  " + stmt +
         "\n  return %x\n}\n";
}

} // namespace

TEST_CASE("parser: builds the module of DESIGN.md's example", "[text]") {
  const char *text =
      "// comments run to the end of the line\n"
      "func @mlp(%x: f32[256,784], %w1: f32[784,1024] {param}, %b1: "
      "f32[1024] {param}) -> (f32[256,1024]) {\n"
      "  %0 = matmul(%x, %w1) : f32[256,1024]\n"
      "  %1 = add(%0, %b1) : f32[256,1024]\n"
      "  %2 = relu(%1) : f32[256,1024]\n"
      "  return %2\n"
      "}\n";
  Diagnostics d;
  auto m = parse_and_verify(text, "mlp.kir", d);
  REQUIRE(m);
  const Function &f = *m->find("mlp");
  REQUIRE(f.num_nodes() == 3);
  CHECK(f.param(1)->arg_kind() == ArgKind::Param);
  Node *mm = f.nodes()[0];
  CHECK(mm->op() == OpKind::Matmul);
  CHECK(mm->loc().file == "mlp.kir");
  CHECK(mm->loc().line == 3);
  CHECK(mm->loc().col == 8);
  CHECK(f.result(0) == f.nodes()[2]->result());
  std::string canonical(text);
  CHECK(to_string(*m) == canonical.substr(canonical.find('\n') + 1));
}

TEST_CASE("parser: empty text is an empty module", "[text]") {
  Diagnostics d;
  auto m = parse_module("  // nothing\n", "t.kir", d);
  REQUIRE(m);
  CHECK(m->functions().empty());
}

TEST_CASE("parser: first_line shifts reported lines", "[text]") {
  Diagnostics d;
  CHECK(!parse_module("\nfunc @f", "t.kir", d, 10));
  REQUIRE(d.all().size() == 1);
  CHECK(d.all()[0].loc.line == 11);
}

TEST_CASE("parser: unknown op", "[text]") {
  CHECK(errors(with_stmt("%0 = matmull(%x, %x) : f32[4]")) ==
        "t.kir:2:8: error: unknown op 'matmull'\n");
}

TEST_CASE("parser: wrong operand count", "[text]") {
  CHECK(errors(with_stmt("%0 = add(%x) : f32[4]")) ==
        "t.kir:2:8: error: add: expected 2 operands, got 1\n");
}

TEST_CASE("parser: shape and dtype mismatches", "[text]") {
  CHECK(
      errors(with_stmt("%0 = add(%x, %y) : f32[4]")) ==
      "t.kir:2:8: error: add: shapes [4] and [3] do not broadcast; reshape or "
      "broadcast_to one of them\n");
  CHECK(errors("func @f(%a: f32[4], %b: i32[4]) -> () {\n"
               "  %0 = mul(%a, %b) : f32[4]\n  return\n}\n") ==
        "t.kir:2:8: error: mul: operand dtypes differ (f32[4] vs i32[4]); "
        "insert a cast\n");
}

TEST_CASE("parser: undefined and redefined values", "[text]") {
  CHECK(errors(with_stmt("%0 = add(%x, %z) : f32[4]")) ==
        "t.kir:2:16: error: use of undefined value '%z'\n");
  CHECK(errors(with_stmt("%x = relu(%x) : f32[4]")) ==
        "t.kir:2:3: error: redefinition of value '%x'\n");
  CHECK(errors(with_stmt("%a, %a = relu(%x) : f32[4], f32[4]")) ==
        "t.kir:2:7: error: redefinition of value '%a'\n");
  CHECK(errors("func @f(%x: f32[4], %x: f32[4]) -> () {\n  return\n}\n") ==
        "t.kir:1:21: error: redefinition of value '%x'\n");
}

TEST_CASE("parser: bad types and dtypes", "[text]") {
  CHECK(errors(with_stmt("%0 = relu(%x) : f33[4]")) ==
        "t.kir:2:19: error: unknown dtype 'f33' (expected f32, f64, f16, "
        "bf16, i32, i64 or bool)\n");
  CHECK(errors(with_stmt("%0 = relu(%x) : f32(4)")) ==
        "t.kir:2:22: error: expected '[' after the dtype, got '('\n");
  CHECK(errors(with_stmt("%0 = relu(%x) : f32[4,]")) ==
        "t.kir:2:25: error: expected a dimension, got ']'\n");
  CHECK(errors(with_stmt("%0 = relu(%x) : f32[-4]")) ==
        "t.kir:2:23: error: dimension -4 is negative\n");
  CHECK(errors(with_stmt("%0 = relu(%x) : f32[2x2]")) ==
        "t.kir:2:23: error: invalid number '2x2'\n");
}

TEST_CASE("parser: overflowing dimensions", "[text]") {
  CHECK(errors(with_stmt("%0 = relu(%x) : f32[99999999999999999999]")) ==
        "t.kir:2:23: error: dimension 99999999999999999999 is too large (at "
        "most 2^48)\n");
  CHECK(errors("func @f(%x: f32[65536,65536,65537]) -> () {\n  return\n}\n") ==
        "t.kir:1:13: error: type f32[65536,65536,65537] has more than 2^48 "
        "elements\n");
}

TEST_CASE("parser: bad or missing attributes", "[text]") {
  CHECK(errors(with_stmt("%0 = relu(%x) {alpha = 1} : f32[4]")) ==
        "t.kir:2:18: error: relu: unknown attribute 'alpha' (relu takes: "
        "none)\n");
  const char *f = "func @f(%x: f32[2,3]) -> () {\n  %s = reduce_sum(%x) ";
  auto with = [&](const std::string &attrs) {
    return f + attrs + " : f32[2]\n  return\n}\n";
  };
  CHECK(errors(with("{axes = 1}")) ==
        "t.kir:2:31: error: reduce_sum: attribute 'axes' must be a list of "
        "integers, got 1\n");
  CHECK(errors(with("{keepdims = false}")) ==
        "t.kir:2:8: error: reduce_sum: missing attribute 'axes' (a list of "
        "integers)\n");
  CHECK(errors(with("{axes = [1], axes = [1]}")) ==
        "t.kir:2:36: error: reduce_sum: attribute 'axes' given twice\n");
  CHECK(errors(with("{axes = [1] keepdims = false}")) ==
        "t.kir:2:35: error: expected ',' or '}', got 'keepdims'\n");
  CHECK(errors(with("{axes = [99999999999999999999]}")) ==
        "t.kir:2:32: error: integer 99999999999999999999 does not fit in 64 "
        "bits\n");
  CHECK(errors(with("{axes = [1e999]}")) ==
        "t.kir:2:32: error: number 1e999 is out of range\n");
  CHECK(errors(with("{axes = \"a\\tb\"}")) ==
        "t.kir:2:33: error: unknown escape in string (use \\\", \\\\ or "
        "\\n)\n");
  CHECK(errors(with("{axes = [1}")) ==
        "t.kir:2:33: error: expected ',' or ']', got '}'\n");
  CHECK(errors(with("{axes = foo}")) ==
        "t.kir:2:31: error: expected an attribute value, got 'foo'\n");
}

TEST_CASE("parser: deeply nested lists are an error, not a stack overflow",
          "[text]") {
  std::string deep(100000, '[');
  std::string e = errors(with_stmt("%0 = relu(%x) {a = " + deep));
  CHECK(e == "t.kir:2:18: error: relu: unknown attribute 'a' (relu takes: "
             "none)\n");
  e = errors("func @f() -> (f32[]) {\n  %c = constant() {value = " + deep +
             "\n  return %c\n}\n");
  CHECK(e == "t.kir:2:60: error: attribute lists nest too deeply (at most "
             "32 levels)\n");
}

TEST_CASE("parser: wrong result annotation", "[text]") {
  CHECK(errors(with_stmt("%0 = relu(%x) : f32[5]")) ==
        "t.kir:2:8: error: relu: result type is f32[4], but annotated as "
        "f32[5]\n");
  CHECK(errors(with_stmt("%0 = relu(%x) : f32[4], f32[4]")) ==
        "t.kir:2:17: error: 1 values defined, but 2 result types given\n");
  CHECK(errors(with_stmt("%0 = relu(%x)")) ==
        "t.kir:3:3: error: expected ':' and the result types, got 'return'\n");
}

TEST_CASE("parser: return mismatches", "[text]") {
  const char *head = "func @f(%x: f32[4], %y: f32[3]) -> (f32[4]) {\n";
  CHECK(errors(std::string(head) + "  return %x, %x\n}\n") ==
        "t.kir:2:3: error: return has 2 values, but @f declares 1 result\n");
  CHECK(errors(std::string(head) + "  return %y\n}\n") ==
        "t.kir:2:10: error: return value 0 has type f32[3], but @f declares "
        "f32[4]\n");
  CHECK(errors(std::string(head) + "  %0 = relu(%x) : f32[4]\n}\n") ==
        "t.kir:3:1: error: function '@f' has no return\n");
  CHECK(errors(std::string(head) + "  return %x\n  %0 = relu(%x) : f32[4]\n}"
                                   "\n") ==
        "t.kir:3:3: error: expected '}' after return, got '%0'\n");
}

TEST_CASE("parser: unterminated function", "[text]") {
  CHECK(errors("func @f(%x: f32[4]) -> (f32[4]) {\n  return %x\n") ==
        "t.kir:3:1: error: unterminated function '@f' (missing '}')\n");
  CHECK(errors("func @f(%x: f32[4]) -> (f32[4]) {\n  return %x\n"
               "func @g() -> () {\n  return\n}\n") ==
        "t.kir:3:1: error: unterminated function '@f' (missing '}')\n");
  CHECK(errors("func @f(%x: f32[4]") ==
        "t.kir:1:19: error: expected ',' or ')', got end of file\n");
}

TEST_CASE("parser: trailing garbage", "[text]") {
  CHECK(errors("func @f() -> () {\n  return\n} junk\n") ==
        "t.kir:3:3: error: unexpected 'junk' at top level (expected 'func')\n");
  CHECK(errors(with_stmt("%0 = relu(%x) : f32[4] %1")) ==
        "t.kir:2:26: error: unexpected '%1' after the statement (one "
        "statement per line)\n");
  CHECK(errors("func @f() -> () {\n  return\n}\n$") ==
        "t.kir:4:1: error: unexpected character '$'\n");
}

TEST_CASE("parser: binary junk", "[text]") {
  CHECK(errors(std::string("func @f\0() -> ()", 16)) ==
        "t.kir:1:8: error: invalid byte 0x00 (.kir text is UTF-8 without NUL "
        "bytes)\n");
  CHECK(errors("func @f() -> () {\n  \xff\xfe\n}\n") ==
        "t.kir:2:3: error: invalid byte 0xff (.kir text is UTF-8 without NUL "
        "bytes)\n");
  // Valid UTF-8 in a comment is fine; outside one it is an error.
  CHECK(errors("// caf\xc3\xa9\n\xc3\xa9") ==
        "t.kir:2:1: error: unexpected character '\xc3\xa9'\n");
}

TEST_CASE("parser: duplicate function names", "[text]") {
  CHECK(errors("func @f() -> () {\n  return\n}\n"
               "func @f() -> () {\n  return\n}\n") ==
        "t.kir:4:6: error: redefinition of function '@f'\n");
}

TEST_CASE("parser: updates must name a {param} or {state} parameter",
          "[text]") {
  auto sig = [](const std::string &results) {
    return "func @f(%x: f32[4], %w: f32[4] {param}, %v: f32[3] {state}) -> (" +
           results + ") {\n  return %x\n}\n";
  };
  CHECK(errors(sig("f32[4] {updates = %x}")) ==
        "t.kir:1:83: error: updates target '%x' is an input; only {param} and "
        "{state} parameters can be updated\n");
  CHECK(errors(sig("f32[4] {updates = %q}")) ==
        "t.kir:1:83: error: updates target '%q' is not a parameter of @f\n");
  CHECK(errors(sig("f32[4] {updates = %v}")) ==
        "t.kir:1:83: error: result type f32[4] differs from f32[3], the type "
        "of '%v'\n");
  CHECK(errors("func @f(%w: f32[4] {param}) -> (f32[4] {updates = %w}, f32[4] "
               "{updates = %w}) {\n  return %w, %w\n}\n") ==
        "t.kir:1:74: error: parameter '%w' is updated by two results\n");
  CHECK(errors("func @f(%w: f32[4] {weight}) -> () {\n  return\n}\n") ==
        "t.kir:1:21: error: expected 'param' or 'state', got 'weight'\n");
}

TEST_CASE("parser: reports several errors per file without cascades",
          "[text]") {
  const char *text = "func @f(%x: f32[4]) -> (f32[4]) {\n"
                     "  %a = relu(%q) : f32[4]\n"    // undefined
                     "  %b = exp(%a) : f32[4]\n"     // poisoned: silent
                     "  %c = frob(%b) : f32[4]\n"    // unknown op
                     "  %d = add(%c, %x) : f32[4]\n" // poisoned: silent
                     "  %e = neg(%x) : i32[4]\n"     // bad annotation
                     "  return %d\n"                 // poisoned: silent
                     "}\n"
                     "func @g(%y: f32[2]) -> (f32[2]) {\n"
                     "  return %y\n"
                     "}\n"
                     "func @h(%y: f32[2) -> (f32[2]) {\n" // bad header
                     "  %0 = relu(%y) : f32[2]\n"
                     "  return %0\n"
                     "}\n"
                     "func @i() -> () {\n"
                     "  return %nope\n"
                     "}\n";
  CHECK(errors(text) ==
        "t.kir:2:13: error: use of undefined value '%q'\n"
        "t.kir:4:8: error: unknown op 'frob'\n"
        "t.kir:6:8: error: neg: result type is f32[4], but annotated as "
        "i32[4]\n"
        "t.kir:12:18: error: expected ',' or ']', got ')'\n"
        "t.kir:17:3: error: return has 1 value, but @i declares 0 results\n");
}

TEST_CASE("parser: never throws or crashes on mutated input", "[text]") {
  const std::string seed =
      "func @f(%x: f32[2,3], %w: f32[3] {param}) -> (f32[2], f32[3] {updates "
      "= %w}) {\n"
      "  %0 = add(%x, %w) : f32[2,3]\n"
      "  %s = reduce_sum(%0) {axes = [1], keepdims = false} : f32[2]\n"
      "  %c = constant() {value = [1.5, -2.0, 3e-08]} : f32[3]\n"
      "  return %s, %c\n"
      "}\n";
  std::mt19937 rng(1234);
  const char kBytes[] = "%@,()[]{}:=->\"\\\n 0123456789abcfi.e-\0\xff";
  int parsed = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string s = seed;
    int edits = 1 + int(rng() % 4);
    for (int k = 0; k < edits; ++k) {
      size_t pos = rng() % (s.size() + 1);
      char c = kBytes[rng() % (sizeof kBytes - 1)];
      switch (rng() % 3) {
      case 0:
        s.insert(s.begin() + long(pos), c);
        break;
      case 1:
        if (pos < s.size())
          s.erase(pos, 1 + rng() % 8);
        break;
      default:
        if (pos < s.size())
          s[pos] = c;
      }
    }
    Diagnostics d;
    std::unique_ptr<Module> m;
    REQUIRE_NOTHROW(m = parse_and_verify(s, "t.kir", d));
    INFO(s);
    REQUIRE(bool(m) == !d.has_errors());
    if (!m) {
      for (const Diagnostic &e : d.all())
        CHECK(e.loc.line > 0);
      continue;
    }
    ++parsed;
    std::string printed = to_string(*m);
    Diagnostics d2;
    auto again = parse_and_verify(printed, "t.kir", d2);
    REQUIRE(again);
    CHECK(to_string(*again) == printed);
  }
  CHECK(parsed > 0);
}
