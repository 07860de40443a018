/// \file
/// Tests of the .kir printer: the canonical form, numbering of unnamed
/// values, and the round trip print -> parse -> print for every op of
/// ir/Ops.def.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include "ir/Parser.h"
#include "ir/Printer.h"
#include "ir/Verifier.h"

#include <set>

using namespace kiln;
using namespace kiln::test;

namespace {

/// One valid use of an op: the parameters of a function and its statement,
/// which defines %r.
struct OpCase {
  const char *params;
  const char *stmt;
};

// clang-format off
const OpCase kOpCases[] = {
    {"%x: f32[2,3]", "%r = neg(%x) : f32[2,3]"},
    {"%x: i32[2,3]", "%r = abs(%x) : i32[2,3]"},
    {"%x: f32[2,3]", "%r = sign(%x) : f32[2,3]"},
    {"%x: f32[2,3]", "%r = exp(%x) : f32[2,3]"},
    {"%x: f64[2,3]", "%r = log(%x) : f64[2,3]"},
    {"%x: f32[2,3]", "%r = sqrt(%x) : f32[2,3]"},
    {"%x: f32[2,3]", "%r = rsqrt(%x) : f32[2,3]"},
    {"%x: f16[2,3]", "%r = tanh(%x) : f16[2,3]"},
    {"%x: bf16[2,3]", "%r = sigmoid(%x) : bf16[2,3]"},
    {"%x: f32[]", "%r = relu(%x) : f32[]"},
    {"%x: f32[2,3]", "%r = sin(%x) : f32[2,3]"},
    {"%x: f32[2,3]", "%r = cos(%x) : f32[2,3]"},
    {"%x: f32[2,3]", "%r = erf(%x) : f32[2,3]"},
    {"%x: f32[2,3]", "%r = floor(%x) : f32[2,3]"},
    {"%x: f32[2,3]", "%r = ceil(%x) : f32[2,3]"},
    {"%x: f32[2,3]", "%r = round(%x) : f32[2,3]"},
    {"%x: bool[4]", "%r = not(%x) : bool[4]"},
    {"%x: f32[2,3]", "%r = is_finite(%x) : bool[2,3]"},
    {"%a: f32[2,3], %b: f32[3]", "%r = add(%a, %b) : f32[2,3]"},
    {"%a: i64[2,3], %b: i64[2,1]", "%r = sub(%a, %b) : i64[2,3]"},
    {"%a: f32[2,3], %b: f32[]", "%r = mul(%a, %b) : f32[2,3]"},
    {"%a: f32[2,3], %b: f32[2,3]", "%r = div(%a, %b) : f32[2,3]"},
    {"%a: f32[2,3], %b: f32[2,3]", "%r = pow(%a, %b) : f32[2,3]"},
    {"%a: f32[2,3], %b: f32[2,3]", "%r = max(%a, %b) : f32[2,3]"},
    {"%a: f32[2,3], %b: f32[2,3]", "%r = min(%a, %b) : f32[2,3]"},
    {"%a: bool[4], %b: bool[4]", "%r = and(%a, %b) : bool[4]"},
    {"%a: bool[4], %b: bool[1]", "%r = or(%a, %b) : bool[4]"},
    {"%a: f32[2,3], %b: f32[2,3]", "%r = eq(%a, %b) : bool[2,3]"},
    {"%a: f32[2,3], %b: f32[2,3]", "%r = ne(%a, %b) : bool[2,3]"},
    {"%a: i32[2,3], %b: i32[3]", "%r = lt(%a, %b) : bool[2,3]"},
    {"%a: f32[2,3], %b: f32[2,3]", "%r = le(%a, %b) : bool[2,3]"},
    {"%a: f32[2,3], %b: f32[2,3]", "%r = gt(%a, %b) : bool[2,3]"},
    {"%a: f32[2,3], %b: f32[2,3]", "%r = ge(%a, %b) : bool[2,3]"},
    {"%c: bool[4], %a: f32[4], %b: f32[4]", "%r = select(%c, %a, %b) : f32[4]"},
    {"%x: f32[4]", "%r = cast(%x) : i32[4]"},
    {"", "%r = constant() {value = [1.0, -2.5, 1e-05]} : f32[3]"},
    {"", "%r = iota() {axis = 1} : i64[2,3]"},
    {"%s: i64[], %o: i64[]", "%r = random_uniform(%s, %o) : f32[128]"},
    {"%s: i64[], %o: i64[]", "%r = random_normal(%s, %o) : f32[128]"},
    {"%x: f32[2,3]", "%r = reduce_sum(%x) {axes = [1], keepdims = false} : f32[2]"},
    {"%x: f32[2,3]", "%r = reduce_max(%x) {axes = [0, 1], keepdims = true} : f32[1,1]"},
    {"%x: f32[2,3]", "%r = reduce_min(%x) {axes = [0], keepdims = false} : f32[3]"},
    {"%x: f32[2,3]", "%r = reduce_mean(%x) {axes = [-1], keepdims = false} : f32[2]"},
    {"%x: f32[2,3]", "%r = argmax(%x) {axis = 1, keepdims = false} : i64[2]"},
    {"%x: f32[2,3]", "%r = argmin(%x) {axis = 0, keepdims = false} : i64[3]"},
    {"%x: f32[2,6]", "%r = reshape(%x) : f32[3,4]"},
    {"%x: f32[2,3]", "%r = transpose(%x) {perm = [1, 0]} : f32[3,2]"},
    {"%x: f32[3]", "%r = broadcast_to(%x) : f32[4,3]"},
    {"%x: f32[4,3]", "%r = slice(%x) {start = [0, 1], stop = [4, 3], step = [2, 1]} : f32[2,2]"},
    {"%a: f32[2,3], %b: f32[2,2]", "%r = concat(%a, %b) {axis = 1} : f32[2,5]"},
    {"%x: f32[2,2]", "%r = pad(%x) {low = [1, 0], high = [1, 2], value = 0.5} : f32[4,4]"},
    {"%t: f32[100,16], %i: i64[8]", "%r = gather(%t, %i) {axis = 0} : f32[8,16]"},
    {"%b: f32[100,16], %i: i64[8], %s: f32[8,16]", "%r = scatter_add(%b, %i, %s) {axis = 0} : f32[100,16]"},
    {"%l: i64[32]", "%r = one_hot(%l) {depth = 10} : f32[32,10]"},
    {"%a: f32[5,2,3], %b: f32[3,4]", "%r = matmul(%a, %b) : f32[5,2,4]"},
    {"%x: f32[1,3,8,8], %w: f32[4,3,3,3]", "%r = conv2d(%x, %w) {stride = [1, 1], padding = [1, 1], dilation = [1, 1], groups = 1} : f32[1,4,8,8]"},
    {"%x: f32[1,4,4,4], %w: f32[4,3,3,3]", "%r = conv2d_transpose(%x, %w) {stride = [2, 2], padding = [1, 1], output_padding = [1, 1], dilation = [1, 1], groups = 1} : f32[1,3,8,8]"},
    {"%x: f32[1,3,8,8]", "%r = max_pool2d(%x) {kernel = [2, 2], stride = [2, 2], padding = [0, 0]} : f32[1,3,4,4]"},
    {"%x: f32[1,3,8,8]", "%r = avg_pool2d(%x) {kernel = [3, 3], stride = [1, 1], padding = [1, 1], count_include_pad = false} : f32[1,3,8,8]"},
    {"%x: f32[1,4,8,8], %g: f32[1,6,4,4]", "%r = conv2d_weight_grad(%x, %g) {kernel = [3, 3], stride = [2, 2], padding = [1, 1], dilation = [1, 1], groups = 2} : f32[6,2,3,3]"},
    {"%x: f32[1,3,8,8], %g: f32[1,3,4,4]", "%r = max_pool2d_grad(%x, %g) {kernel = [2, 2], stride = [2, 2], padding = [0, 0]} : f32[1,3,8,8]"},
    {"%g: f32[4], %h: f32[2,3]", "%r = all_reduce_start(%g, %h) {bucket = 3, average = false} : i32[]"},
    {"%t: i32[], %g: f64[4]", "%r = all_reduce_wait(%t, %g) : f64[4]"},
    {"%x: f32[4]", "%r = send(%x) {peer = 1, tag = 2} : i32[]"},
    {"", "%r = recv() {peer = 0, tag = 5} : f32[2,3]"},
};
// clang-format on

/// "func @t(PARAMS) -> (T) {\n  STMT\n  return %r\n}\n" where T is the type
/// written at the end of the statement.
std::string function_text(const OpCase &c) {
  std::string stmt = c.stmt;
  std::string type = stmt.substr(stmt.rfind(" : ") + 3);
  return std::string("func @t(") + c.params + ") -> (" + type + ") {\n  " +
         stmt + "\n  return %r\n}\n";
}

std::string op_of(const OpCase &c) {
  std::string stmt = c.stmt;
  size_t eq = stmt.find(" = ") + 3;
  return stmt.substr(eq, stmt.find('(') - eq);
}

std::unique_ptr<Module> parse_ok(const std::string &text) {
  Diagnostics d;
  auto m = parse_and_verify(text, "t.kir", d);
  std::string errs;
  for (const Diagnostic &e : d.all())
    errs += e.str() + "\n";
  INFO(text << errs);
  REQUIRE(m);
  return m;
}

} // namespace

TEST_CASE("printer: every op of Ops.def has a round-trip case", "[text]") {
  std::set<std::string> covered;
  for (const OpCase &c : kOpCases)
    covered.insert(op_of(c));
  for (int i = 0; i < kNumOps; ++i) {
    INFO("op " << op_name(OpKind(i)));
    CHECK(covered.count(op_name(OpKind(i))) == 1);
  }
}

TEST_CASE("printer: every op prints canonically and round-trips exactly",
          "[text]") {
  for (const OpCase &c : kOpCases) {
    std::string text = function_text(c);
    INFO(text);
    auto m = parse_ok(text);
    std::string printed = to_string(*m);
    // The cases are written in canonical form, with every attribute.
    CHECK(printed == text);
    auto again = parse_ok(printed);
    CHECK(to_string(*again) == printed);
    // The op's registry example parses as a statement too, given its
    // operands' types are right; only its name is checked here.
    CHECK(std::string(op_def(*find_op(op_of(c))).example).find(op_of(c)) !=
          std::string::npos);
  }
}

TEST_CASE("printer: omitted attributes print with their defaults", "[text]") {
  auto m = parse_ok("func @f(%x: f32[2,3]) -> (f32[2]) {\n"
                    "  %s = reduce_sum(%x) {axes = [1]} : f32[2]\n"
                    "  return %s\n}\n");
  CHECK(to_string(*m) == "func @f(%x: f32[2,3]) -> (f32[2]) {\n"
                         "  %s = reduce_sum(%x) {axes = [1], keepdims = "
                         "false} : f32[2]\n"
                         "  return %s\n}\n");
}

TEST_CASE("printer: numbers unnamed values, skipping names in use", "[text]") {
  Module m;
  Function *f = m.add_function("f");
  Value *x = f->add_param("", f32({4}));
  Value *a = f->add(OpKind::Relu, {x})->result();
  a->set_name("1");
  Value *b = f->add(OpKind::Exp, {a})->result();
  Value *c = f->add(OpKind::Add, {a, b})->result();
  c->set_name("sum");
  f->set_results({c, b});
  CHECK(to_string(m) == "func @f(%0: f32[4]) -> (f32[4], f32[4]) {\n"
                        "  %1 = relu(%0) : f32[4]\n"
                        "  %2 = exp(%1) : f32[4]\n"
                        "  %sum = add(%1, %2) : f32[4]\n"
                        "  return %sum, %2\n"
                        "}\n");
  Diagnostics d;
  auto again = parse_and_verify(to_string(m), "t.kir", d);
  REQUIRE(again);
  CHECK(to_string(*again) == to_string(m));
}

TEST_CASE("printer: params, state, updates, scalars and several functions",
          "[text]") {
  const char *text =
      "func @step(%x: f32[], %w: f32[3] {param}, %m: f32[3] {state}) -> "
      "(f32[], f32[3] {updates = %w}, f32[3] {updates = %m}) {\n"
      "  %0 = mul(%w, %x) : f32[3]\n"
      "  %1 = sub(%w, %0) : f32[3]\n"
      "  return %x, %1, %0\n"
      "}\n"
      "\n"
      "func @nothing() -> () {\n"
      "  return\n"
      "}\n";
  auto m = parse_ok(text);
  CHECK(to_string(*m) == text);
  const Function &f = *m->functions()[0];
  CHECK(f.param(1)->arg_kind() == ArgKind::Param);
  CHECK(f.param(2)->arg_kind() == ArgKind::State);
  CHECK(f.result_updates()[1] == f.param(1));
  CHECK(f.result_updates()[0] == nullptr);
}

TEST_CASE("printer: messy text prints in canonical form", "[text]") {
  const char *messy = "// a comment\n"
                      "func   @f( %x :f32[ 2 , 3 ],%y:f32[3]{param} )->( "
                      "f32[2,3] ){ // trailing comment\n"
                      "\t%s=add( %x,%y ):f32[2,3]\n"
                      "\n"
                      "  %c = constant() {value = 1.50} : f32[]\n"
                      "  return   %s }\n";
  auto m = parse_ok(messy);
  CHECK(to_string(*m) == "func @f(%x: f32[2,3], %y: f32[3] {param}) -> "
                         "(f32[2,3]) {\n"
                         "  %s = add(%x, %y) : f32[2,3]\n"
                         "  %c = constant() {value = 1.5} : f32[]\n"
                         "  return %s\n"
                         "}\n");
}

TEST_CASE("printer: attribute values keep their kind and exact value",
          "[text]") {
  const char *text =
      "func @f() -> (f32[4]) {\n"
      "  %c = constant() {value = [inf, -inf, 0.1, -1.7976931348623157e+308]} "
      ": f32[4]\n"
      "  %i = constant() {value = [1, -9223372036854775808, 0, 7]} : i64[4]\n"
      "  %n = constant() {value = nan} : f32[2]\n"
      "  %b = constant() {value = [true, false]} : bool[2]\n"
      "  return %c\n"
      "}\n";
  auto m = parse_ok(text);
  CHECK(to_string(*m) == text);
  const Node &i = *m->functions()[0]->nodes()[1];
  CHECK(i.attr("value")->as_list()[1].as_int() == INT64_MIN);
}
