/// \file
/// The Graph IR editing API: building nodes, use lists, replace-all-uses,
/// erase, clone, and the errors add() gives for bad operands.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

using namespace kiln;
using namespace kiln::test;
using Catch::Contains;

TEST_CASE("graph: add builds typed nodes and records uses", "[ir][graph]") {
  Function f("g");
  Value *a = f.add_param("a", f32({2, 3}));
  Value *b = f.add_param("b", f32({3}));
  Node *n = f.add(OpKind::Add, {a, b});
  CHECK(n->type() == f32({2, 3}));
  CHECK(n->parent() == &f);
  REQUIRE(a->uses().size() == 1);
  CHECK(a->uses()[0].user == n);
  CHECK(a->uses()[0].index == 0);
  CHECK(b->uses()[0].index == 1);
  f.set_results({n->result()});
  REQUIRE(n->result()->uses().size() == 1);
  CHECK(n->result()->uses()[0].user == nullptr);
}

TEST_CASE("graph: add throws kiln::Error naming op and shapes", "[ir][graph]") {
  Function f("g");
  Value *a = f.add_param("a", f32({2, 3}));
  Value *b = f.add_param("b", f32({4}));
  try {
    f.add(OpKind::Add, {a, b});
    FAIL("add accepted shapes that do not broadcast");
  } catch (const Error &e) {
    CHECK_THAT(e.what(),
               Contains("add: shapes [2,3] and [4] do not broadcast"));
    CHECK_THAT(e.what(), Contains("f32[2,3], f32[4]"));
  }
  CHECK(f.num_nodes() == 0);
  CHECK_FALSE(a->has_uses());
}

TEST_CASE("graph: wrong operand count and annotation are errors",
          "[ir][graph]") {
  Function f("g");
  Value *a = f.add_param("a", f32({2}));
  CHECK_THROWS_WITH(f.add(OpKind::Exp, {a, a}),
                    Contains("exp: expected 1 operand, got 2"));
  CHECK_THROWS_WITH(
      f.add(OpKind::Exp, {a}, {}, {f32({3})}),
      Contains("exp: result type is f32[2], but annotated as f32[3]"));
  CHECK_THROWS_WITH(f.add(OpKind::Exp, {a}, {{"axis", 1}}),
                    Contains("exp: unknown attribute 'axis'"));
  CHECK_THROWS_WITH(f.add(OpKind::Cast, {a}),
                    Contains("cast: the result type must be given"));
}

TEST_CASE("graph: insert point, replace_all_uses and erase", "[ir][graph]") {
  Function f("g");
  Value *x = f.add_param("x", f32({4}));
  Node *e = f.add(OpKind::Exp, {x});
  Node *r = f.add(OpKind::Relu, {e->result()});
  f.set_results({r->result(), e->result()});

  f.set_insert_point(r);
  Node *t = f.add(OpKind::Tanh, {x});
  f.set_insert_point(nullptr);
  std::vector<Node *> order = f.nodes();
  REQUIRE(order.size() == 3);
  CHECK(order[1] == t);

  f.replace_all_uses(e->result(), t->result());
  CHECK_FALSE(e->result()->has_uses());
  CHECK(r->operand(0) == t->result());
  CHECK(f.result(1) == t->result());
  CHECK(t->result()->uses().size() == 2);

  f.erase(e);
  CHECK(f.num_nodes() == 2);
  CHECK(x->uses().size() == 1);
  CHECK_THROWS_AS(f.erase(t), InternalError); // still used
  CHECK_THROWS_AS(f.replace_all_uses(x, f.add(OpKind::IsFinite, {x})->result()),
                  InternalError); // type differs
}

TEST_CASE("graph: clone_nodes copies a region with a value map",
          "[ir][graph]") {
  Function f("g");
  Value *x = f.add_param("x", f32({4}));
  Value *y = f.add_param("y", f32({4}));
  Node *a = f.add(OpKind::Mul, {x, x});
  Node *b = f.add(OpKind::Add, {a->result(), x});
  ValueMap map{{x, y}};
  std::vector<Node *> copies = f.clone_nodes({a, b}, map);
  REQUIRE(copies.size() == 2);
  CHECK(copies[0]->operand(0) == y);
  CHECK(copies[1]->operand(0) == copies[0]->result());
  CHECK(copies[1]->operand(1) == y);
  CHECK(map.at(b->result()) == copies[1]->result());
  f.set_results({b->result(), copies[1]->result()});

  HostTensor xv = HostTensor::from(f32({4}), {1, 2, 3, 4});
  HostTensor yv = HostTensor::from(f32({4}), {0, -1, 2, 0.5});
  std::vector<HostTensor> out = interpret(f, {xv, yv});
  check_values(out[0], {2, 6, 12, 20});
  check_values(out[1], {0, 0, 6, 0.75});
}

TEST_CASE("graph: function and module clone are deep and equal",
          "[ir][graph]") {
  Module m;
  Function *f = m.add_function("step");
  Value *w = f->add_param("w", f32({3}), ArgKind::Param);
  Value *g = f->add_param("g", f32({3}));
  Node *n = f->add(OpKind::Sub, {w, g});
  n->result()->set_name("w_next");
  f->set_results({n->result()}, {w});
  std::unique_ptr<Module> c = m.clone();
  Function *cf = c->find("step");
  REQUIRE(cf);
  CHECK(cf != f);
  CHECK(cf->param(0)->arg_kind() == ArgKind::Param);
  CHECK(cf->result(0)->name() == "w_next");
  CHECK(cf->result_updates()[0] == cf->param(0));
  CHECK(cf->body().front()->operand(0) == cf->param(0));
  CHECK(m.find("nope") == nullptr);
}
