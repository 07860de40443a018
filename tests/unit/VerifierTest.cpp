/// \file
/// Tests of the Graph IR verifier on IR built with the Graph API and then
/// broken by hand, the way a faulty pass would break it.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include "ir/Verifier.h"

using namespace kiln;
using namespace kiln::test;

namespace {

const Loc kFuncLoc{"t.kir", 1, 1};
const Loc kNodeLoc{"t.kir", 2, 8};

/// Every diagnostic of verifying \p m, one per line; it must fail.
std::string errors(const Module &m) {
  Diagnostics d;
  CHECK(!verify(m, d));
  std::string r;
  for (const Diagnostic &e : d.all())
    r += e.str() + "\n";
  return r;
}

/// @f(%x: f32[4], %w: f32[4] {param}, %m: f32[3] {state}) with
/// %a = relu(%x) at kNodeLoc.
struct Fixture {
  Module m;
  Function *f = m.add_function("f");
  Value *x = f->add_param("x", f32({4}));
  Value *w = f->add_param("w", f32({4}), ArgKind::Param);
  Value *s = f->add_param("m", f32({3}), ArgKind::State);
  Node *a = f->add(OpKind::Relu, {x}, {}, {}, kNodeLoc);
  Fixture() {
    f->set_loc(kFuncLoc);
    a->result()->set_name("a");
  }
};

} // namespace

TEST_CASE("verifier: accepts valid IR", "[text]") {
  Fixture t;
  t.f->set_results({t.a->result(), t.s}, {t.w, nullptr});
  Diagnostics d;
  CHECK(verify(t.m, d));
  CHECK(d.all().empty());
}

TEST_CASE("verifier: rejects a result that updates an input", "[text]") {
  Fixture t;
  t.f->set_results({t.a->result()}, {t.x});
  CHECK(errors(t.m) == "t.kir:1:1: error: result 0 of @f updates input "
                       "'%x'; only {param} and {state} parameters can be "
                       "updated\n");
}

TEST_CASE("verifier: rejects updates of another type or twice", "[text]") {
  Fixture t;
  t.f->set_results({t.a->result()}, {t.s});
  CHECK(errors(t.m) == "t.kir:1:1: error: result 0 of @f updates '%m' of "
                       "type f32[3] with a value of type f32[4]\n");
  t.f->set_results({t.a->result(), t.x}, {t.w, t.w});
  CHECK(errors(t.m) ==
        "t.kir:1:1: error: parameter '%w' is updated by two results of @f\n");
}

TEST_CASE("verifier: rejects updates of another function's value", "[text]") {
  Fixture t;
  Function *g = t.m.add_function("g");
  Value *p = g->add_param("p", f32({4}), ArgKind::Param);
  g->set_results({p});
  t.f->set_results({t.a->result()}, {p});
  CHECK(errors(t.m) == "t.kir:1:1: error: result 0 of @f updates a value "
                       "that is not a parameter of the function\n");
}

TEST_CASE("verifier: rejects a use before the definition", "[text]") {
  Fixture t;
  Node *later = t.f->add(OpKind::Exp, {t.a->result()}, {}, {}, kNodeLoc);
  t.f->set_insert_point(t.a);
  t.f->add(OpKind::Neg, {later->result()}, {}, {}, Loc{"t.kir", 5, 3});
  t.f->set_results({later->result()});
  CHECK(errors(t.m) == "t.kir:5:3: error: neg: operand 0 is not defined "
                       "before its use in @f\n");
}

TEST_CASE("verifier: rejects operands and results of another function",
          "[text]") {
  Fixture t;
  Function *g = t.m.add_function("g");
  g->set_loc(Loc{"t.kir", 9, 1});
  Value *p = g->add_param("p", f32({4}));
  g->add(OpKind::Neg, {t.x}, {}, {}, Loc{"t.kir", 10, 8});
  g->set_results({t.a->result()});
  t.f->set_results({t.a->result()});
  CHECK(errors(t.m) == "t.kir:10:8: error: neg: operand 0 is not defined "
                       "before its use in @g\n"
                       "t.kir:9:1: error: result 0 of @g is not a value of "
                       "the function\n");
  (void)p;
}

TEST_CASE("verifier: rejects duplicate and unprintable names", "[text]") {
  Fixture t;
  Node *b = t.f->add(OpKind::Exp, {t.a->result()}, {}, {}, Loc{"t.kir", 3, 8});
  b->result()->set_name("x");
  t.f->set_results({b->result()});
  CHECK(errors(t.m) == "t.kir:3:8: error: redefinition of value '%x' in @f\n");
  b->result()->set_name("a b");
  CHECK(errors(t.m) == "t.kir:3:8: error: value name '%a b' has characters "
                       "other than letters, digits, '_' and '.'\n");
  b->result()->set_name("");
  Diagnostics d;
  CHECK(verify(t.m, d));
}

TEST_CASE("verifier: rejects duplicate function names", "[text]") {
  Fixture t;
  t.f->set_results({t.x});
  Function *g = t.m.add_function("f");
  g->set_loc(Loc{"t.kir", 7, 1});
  g->set_results({});
  CHECK(errors(t.m) == "t.kir:7:1: error: redefinition of function '@f'\n");
}
