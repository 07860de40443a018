/// \file
/// canonicalize: each rewrite fires where it should, and the function
/// computes the same values before and after (checked with the interpreter).
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include "passes/PassManager.h"

#include <random>

using namespace kiln;
using namespace kiln::test;

namespace {

Value *constant(Function &f, TensorType t, Attribute v) {
  return f.add(OpKind::Constant, {}, {{"value", std::move(v)}}, {t})->result();
}

/// Random inputs for every parameter of \p f (fixed seed).
std::vector<HostTensor> random_args(const Function &f) {
  std::mt19937 rng(7);
  std::normal_distribution<double> d;
  std::vector<HostTensor> args;
  for (const auto &p : f.params()) {
    HostTensor t(p->type());
    for (int64_t i = 0; i < t.numel(); ++i)
      t.set(i, d(rng));
    args.push_back(t);
  }
  return args;
}

/// Runs canonicalize on the module holding \p f and checks that the results
/// are bit-identical to the results before. Returns the node count after.
size_t canonicalize_and_compare(Module &m) {
  Function &f = *m.functions()[0];
  std::vector<HostTensor> args = random_args(f);
  std::vector<HostTensor> before = interpret(f, args);
  PassContext ctx;
  canonicalize(m, ctx);
  std::vector<HostTensor> after = interpret(f, args);
  REQUIRE(before.size() == after.size());
  for (size_t i = 0; i < before.size(); ++i)
    CHECK(before[i].bit_equal(after[i]));
  return f.num_nodes();
}

std::vector<OpKind> ops_of(const Function &f) {
  std::vector<OpKind> r;
  for (const auto &n : f.body())
    r.push_back(n->op());
  return r;
}

} // namespace

TEST_CASE("canonicalize: x*1, x+0, x-0, x/1 fold to x",
          "[passes][canonicalize]") {
  Module m;
  Function &f = *m.add_function("f");
  Value *x = f.add_param("x", f32({2, 3}));
  Value *one = constant(f, f32({}), 1.0);
  Value *zero = constant(f, f32({3}), 0.0);
  Value *v = f.add(OpKind::Mul, {x, one})->result();
  v = f.add(OpKind::Add, {zero, v})->result();
  v = f.add(OpKind::Sub, {v, zero})->result();
  v = f.add(OpKind::Div, {v, one})->result();
  f.set_results({v});
  CHECK(canonicalize_and_compare(m) == 0);
  CHECK(f.result(0) == x);
}

TEST_CASE(
    "canonicalize: an identity constant that widens x becomes broadcast_to",
    "[passes][canonicalize]") {
  Module m;
  Function &f = *m.add_function("f");
  Value *x = f.add_param("x", f32({3}));
  Value *ones = constant(f, f32({2, 3}), 1.0);
  f.set_results({f.add(OpKind::Mul, {x, ones})->result()});
  canonicalize_and_compare(m);
  CHECK(ops_of(f) == std::vector<OpKind>{OpKind::BroadcastTo});
}

TEST_CASE("canonicalize: constants fold, small ones as lists",
          "[passes][canonicalize]") {
  Module m;
  Function &f = *m.add_function("f");
  Value *a = constant(f, f32({3}), Attribute::floats({1, 2, 3}));
  Value *b = constant(f, f32({}), 2.0);
  Value *c = f.add(OpKind::Mul, {a, b})->result();
  Value *d = f.add(OpKind::Exp, {constant(f, f64({2, 2}), 0.0)})->result();
  f.set_results({c, d});
  CHECK(canonicalize_and_compare(m) == 2);
  const Node *cn = f.result(0)->def();
  REQUIRE(cn->op() == OpKind::Constant);
  CHECK(*cn->attr("value") == Attribute::floats({2, 4, 6}));
  const Node *dn = f.result(1)->def();
  REQUIRE(dn->op() == OpKind::Constant);
  CHECK(*dn->attr("value") == Attribute(1.0)); // a splat stays a splat
}

TEST_CASE("canonicalize: integer and bool constants fold exactly",
          "[passes][canonicalize]") {
  Module m;
  Function &f = *m.add_function("f");
  Value *a =
      constant(f, i64({2}), Attribute::ints({(int64_t(1) << 60) + 1, 5}));
  Value *b = constant(f, i64({}), int64_t(6));
  Value *sum = f.add(OpKind::Add, {a, b})->result();
  Value *lt = f.add(OpKind::Lt, {a, b})->result();
  f.set_results({sum, lt});
  canonicalize_and_compare(m);
  CHECK(*f.result(0)->def()->attr("value") ==
        Attribute::ints({(int64_t(1) << 60) + 7, 11}));
  CHECK(*f.result(1)->def()->attr("value") ==
        Attribute(AttrList{Attribute(false), Attribute(true)}));
}

TEST_CASE("canonicalize: common subexpressions merge, dead code goes",
          "[passes][canonicalize]") {
  Module m;
  Function &f = *m.add_function("f");
  Value *x = f.add_param("x", f32({4}));
  Value *e1 = f.add(OpKind::Exp, {x})->result();
  Value *e2 = f.add(OpKind::Exp, {x})->result();
  f.add(OpKind::Tanh, {x}); // dead
  Value *s = f.add(OpKind::Add, {e1, e2})->result();
  f.set_results({s});
  CHECK(canonicalize_and_compare(m) == 2);
  CHECK(s->def()->operand(0) == s->def()->operand(1));
}

TEST_CASE("canonicalize: double negation and select of equal arms fold",
          "[passes][canonicalize]") {
  Module m;
  Function &f = *m.add_function("f");
  Value *x = f.add_param("x", f32({4}));
  Value *c = f.add(OpKind::IsFinite, {x})->result();
  Value *nn = f.add(OpKind::Neg, {f.add(OpKind::Neg, {x})->result()})->result();
  Value *sel = f.add(OpKind::Select, {c, nn, nn})->result();
  f.set_results({sel});
  CHECK(canonicalize_and_compare(m) == 0);
  CHECK(f.result(0) == x);
}

TEST_CASE("canonicalize: transpose of transpose composes",
          "[passes][canonicalize]") {
  Module m;
  Function &f = *m.add_function("f");
  Value *x = f.add_param("x", f32({2, 3, 4}));
  Value *t1 =
      f.add(OpKind::Transpose, {x}, {{"perm", Attribute::ints({1, 2, 0})}})
          ->result();
  Value *t2 =
      f.add(OpKind::Transpose, {t1}, {{"perm", Attribute::ints({1, 2, 0})}})
          ->result();
  Value *back =
      f.add(OpKind::Transpose, {t2}, {{"perm", Attribute::ints({1, 2, 0})}})
          ->result();
  f.set_results({t2, back});
  CHECK(canonicalize_and_compare(m) == 1);
  CHECK(f.result(1) == x); // three rotations are the identity
  const Node *t = f.result(0)->def();
  REQUIRE(t->op() == OpKind::Transpose);
  CHECK(t->operand(0) == x);
  CHECK(t->ints_attr("perm") == std::vector<int64_t>{2, 0, 1});
}

TEST_CASE("canonicalize: reshape and broadcast chains collapse",
          "[passes][canonicalize]") {
  Module m;
  Function &f = *m.add_function("f");
  Value *x = f.add_param("x", f32({2, 6}));
  Value *r1 = f.add(OpKind::Reshape, {x}, {}, {f32({3, 4})})->result();
  Value *r2 = f.add(OpKind::Reshape, {r1}, {}, {f32({12})})->result();
  Value *same = f.add(OpKind::Reshape, {x}, {}, {f32({2, 6})})->result();
  Value *b1 = f.add(OpKind::BroadcastTo, {x}, {}, {f32({1, 2, 6})})->result();
  Value *b2 = f.add(OpKind::BroadcastTo, {b1}, {}, {f32({5, 2, 6})})->result();
  Value *k = f.add(OpKind::BroadcastTo, {constant(f, f32({}), 0.25)}, {},
                   {f32({3, 3})})
                 ->result();
  f.set_results({r2, same, b2, k});
  CHECK(canonicalize_and_compare(m) == 3);
  CHECK(f.result(0)->def()->operand(0) == x);
  CHECK(f.result(1) == x);
  CHECK(f.result(2)->def()->operand(0) == x);
  const Node *kn = f.result(3)->def();
  REQUIRE(kn->op() == OpKind::Constant);
  CHECK(kn->type() == f32({3, 3}));
  CHECK(*kn->attr("value") == Attribute(0.25));
}

TEST_CASE("canonicalize: no-op layout ops and empty reductions vanish",
          "[passes][canonicalize]") {
  Module m;
  Function &f = *m.add_function("f");
  Value *x = f.add_param("x", f32({2, 3}));
  Value *v = f.add(OpKind::Slice, {x},
                   {{"start", Attribute::ints({0, 0})},
                    {"stop", Attribute::ints({2, 3})},
                    {"step", Attribute::ints({1, 1})}})
                 ->result();
  v = f.add(OpKind::Transpose, {v}, {{"perm", Attribute::ints({0, 1})}})
          ->result();
  v = f.add(OpKind::ReduceSum, {v}, {{"axes", Attribute::ints({})}})->result();
  v = f.add(OpKind::Cast, {v}, {}, {f32({2, 3})})->result();
  v = f.add(OpKind::Concat, {v}, {{"axis", 0}})->result();
  f.set_results({v});
  CHECK(canonicalize_and_compare(m) == 0);
  CHECK(f.result(0) == x);
}

TEST_CASE("canonicalize: leaves non-identities alone",
          "[passes][canonicalize]") {
  Module m;
  Function &f = *m.add_function("f");
  Value *x = f.add_param("x", f32({4}));
  Value *two = constant(f, f32({}), 2.0);
  Value *v = f.add(OpKind::Mul, {x, two})->result();
  v = f.add(OpKind::Sub, {two, v})->result(); // 0 - x is not x
  f.set_results({v});
  PassContext ctx;
  CHECK_FALSE(canonicalize(m, ctx));
  CHECK(f.num_nodes() == 3);
  REQUIRE(ctx.stats.size() == 1);
  CHECK(ctx.stats[0] == "canonicalize: 0 folded, 0 simplified, 0 common "
                        "subexpressions, 0 dead nodes removed");
}
