/// \file
/// Unit tests of the source ops: constant, iota, random_uniform and
/// random_normal, and of the Philox4x32-10 generator behind the random ops
/// (against the Random123 known-answer vectors).
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include "ir/Philox.h"

#include <cmath>

using namespace kiln;
using namespace kiln::test;

namespace {
Attrs value(Attribute v) { return {{"value", std::move(v)}}; }
HostTensor scalar_i64(int64_t v) { return HostTensor::from_ints(i64({}), {v}); }
const double k2to24 = 16777216.0;
TensorType bf16t() { return {DType::BF16, {3, 5}}; }
} // namespace

// ---- Philox --------------------------------------------------------------

TEST_CASE("philox: matches the Random123 known-answer vectors",
          "[ir][ops][philox]") {
  using philox::Counter;
  Counter zero = philox::philox4x32_10({0, 0, 0, 0}, {0, 0});
  CHECK(zero == Counter{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  Counter ones = philox::philox4x32_10(
      {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu},
      {0xffffffffu, 0xffffffffu});
  CHECK(ones == Counter{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  Counter pi = philox::philox4x32_10(
      {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
      {0xa4093822u, 0x299f31d0u});
  CHECK(pi == Counter{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("philox: bits() lays out seed, block and offset as documented",
          "[ir][ops][philox]") {
  uint64_t seed = 0x0123456789abcdefull, block = 0x1111222233334444ull,
           offset = 0x5555666677778888ull;
  philox::Counter want = philox::philox4x32_10(
      {0x33334444u, 0x11112222u, 0x77778888u, 0x55556666u},
      {0x89abcdefu, 0x01234567u});
  CHECK(philox::bits(seed, block, offset) == want);
  CHECK(philox::uniform01(0xffffffffu) == 16777215.0 / k2to24);
  CHECK(philox::uniform01_open0(0) == 1.0 / k2to24);
}

// ---- constant ------------------------------------------------------------

TEST_CASE("constant: splat and row-major list values", "[ir][ops][constant]") {
  auto r = eval(OpKind::Constant, {}, value(0.5), {f32({2, 2})});
  CHECK(r[0].type() == f32({2, 2}));
  check_values(r[0], {0.5, 0.5, 0.5, 0.5});
  auto l = eval(OpKind::Constant, {},
                value(Attribute::floats({1.5, -2.0, 3.25})), {f64({3})});
  check_values(l[0], {1.5, -2.0, 3.25});
  // Integer literals convert for float dtypes.
  auto fi =
      eval(OpKind::Constant, {}, value(Attribute::ints({1, 2})), {f32({2})});
  check_values(fi[0], {1.0, 2.0});
}

TEST_CASE("constant: integers are stored exactly", "[ir][ops][constant]") {
  int64_t big = (int64_t(1) << 53) + 1; // not representable as a double
  auto r =
      eval(OpKind::Constant, {}, value(Attribute::ints({big, -7})), {i64({2})});
  CHECK(r[0].get_int(0) == big);
  CHECK(r[0].get_int(1) == -7);
  auto s =
      eval(OpKind::Constant, {}, value(Attribute(int64_t(-3))), {i32({3})});
  CHECK(s[0].get_int(2) == -3);
}

TEST_CASE("constant: bool values accept true/false and 0/1",
          "[ir][ops][constant]") {
  auto r = eval(OpKind::Constant, {},
                value(AttrList{Attribute(true), Attribute(0), Attribute(1),
                               Attribute(false)}),
                {boolean({4})});
  check_values(r[0], {1, 0, 1, 0});
}

TEST_CASE("constant: rejects values that do not fit the dtype",
          "[ir][ops][constant]") {
  CHECK_THAT(infer_error(OpKind::Constant, {}, value(0.5), {i32({2})}),
             Catch::Contains("constant: an i32 constant takes integers"));
  CHECK_THAT(infer_error(OpKind::Constant, {},
                         value(AttrList{Attribute(1), Attribute(0.5)}),
                         {i64({2})}),
             Catch::Contains("takes integers, got 0.5"));
  CHECK_THAT(infer_error(OpKind::Constant, {}, value(2), {boolean({1})}),
             Catch::Contains("bool constant takes true, false, 0 or 1"));
  CHECK_THAT(infer_error(OpKind::Constant, {}, value(true), {f32({1})}),
             Catch::Contains("takes numbers"));
  CHECK_THAT(infer_error(OpKind::Constant, {},
                         value(Attribute(int64_t(3000000000))), {i32({})}),
             Catch::Contains("does not fit in i32"));
}

TEST_CASE("constant: rejects a list of the wrong length",
          "[ir][ops][constant]") {
  CHECK_THAT(infer_error(OpKind::Constant, {},
                         value(Attribute::floats({1.0, 2.0})), {f32({3})}),
             Catch::Contains("'value' has 2 elements but f32[3] has 3"));
}

TEST_CASE("constant: needs a written type and a value", "[ir][ops][constant]") {
  CHECK_THAT(infer_error(OpKind::Constant, {}, value(1.0)),
             Catch::Contains("result type must be given"));
  CHECK_THAT(infer_error(OpKind::Constant, {}, {}, {f32({1})}),
             Catch::Contains("missing attribute 'value'"));
  CHECK_THAT(
      infer_error(OpKind::Constant, {}, value(1.0), {f32({1 << 30, 1 << 30})}),
      Catch::Contains("too many elements"));
}

// ---- iota ----------------------------------------------------------------

TEST_CASE("iota: index along the axis", "[ir][ops][iota]") {
  auto a1 = eval(OpKind::Iota, {}, {{"axis", 1}}, {i64({2, 3})});
  CHECK(a1[0].type() == i64({2, 3}));
  check_values(a1[0], {0, 1, 2, 0, 1, 2});
  auto a0 = eval(OpKind::Iota, {}, {}, {f32({2, 3})});
  check_values(a0[0], {0, 0, 0, 1, 1, 1});
  auto neg = eval(OpKind::Iota, {}, {{"axis", -1}}, {i32({3})});
  check_values(neg[0], {0, 1, 2});
}

TEST_CASE("iota: rejects bool results and bad axes", "[ir][ops][iota]") {
  CHECK_THAT(infer_error(OpKind::Iota, {}, {}, {boolean({3})}),
             Catch::Contains("iota: result must be numeric"));
  CHECK_THAT(infer_error(OpKind::Iota, {}, {{"axis", 2}}, {i64({2, 3})}),
             Catch::Contains("axis 2 is out of range for i64[2,3]"));
  CHECK_THAT(infer_error(OpKind::Iota, {}, {}, {i64({})}),
             Catch::Contains("out of range"));
}

// ---- random --------------------------------------------------------------

TEST_CASE("random_uniform: element i is lane i%4 of block i/4",
          "[ir][ops][random]") {
  // Seed 0, offset 0: block 0 is the all-zero Philox known answer.
  auto r = eval(OpKind::RandomUniform, {scalar_i64(0), scalar_i64(0)}, {},
                {f64({4})});
  check_values(r[0],
               {(0x6627e8d5u >> 8) / k2to24, (0xe169c58du >> 8) / k2to24,
                (0xbc57ac4cu >> 8) / k2to24, (0x9b00dbd8u >> 8) / k2to24},
               1e-15);
  // A longer draw starts with the same four; the next block differs.
  auto l = eval(OpKind::RandomUniform, {scalar_i64(0), scalar_i64(0)}, {},
                {f32({6})});
  for (int64_t i = 0; i < 4; ++i)
    CHECK_THAT(l[0].get(i), Catch::Matchers::WithinRel(r[0].get(i), 1e-6));
  philox::Counter b1 = philox::bits(0, 1, 0);
  CHECK_THAT(l[0].get(4),
             Catch::Matchers::WithinRel((b1[0] >> 8) / k2to24, 1e-6));
  CHECK_THAT(l[0].get(5),
             Catch::Matchers::WithinRel((b1[1] >> 8) / k2to24, 1e-6));
}

TEST_CASE("random_uniform: seed and offset select the stream",
          "[ir][ops][random]") {
  auto a = eval(OpKind::RandomUniform, {scalar_i64(42), scalar_i64(7)}, {},
                {f32({16})});
  auto b = eval(OpKind::RandomUniform, {scalar_i64(42), scalar_i64(7)}, {},
                {f32({16})});
  auto c = eval(OpKind::RandomUniform, {scalar_i64(42), scalar_i64(8)}, {},
                {f32({16})});
  auto d = eval(OpKind::RandomUniform, {scalar_i64(43), scalar_i64(7)}, {},
                {f32({16})});
  CHECK(a[0].bit_equal(b[0]));
  CHECK_FALSE(a[0].bit_equal(c[0]));
  CHECK_FALSE(a[0].bit_equal(d[0]));
  // Seed -1 is the all-ones key: lanes of philox(block 0, offset 0).
  auto e = eval(OpKind::RandomUniform, {scalar_i64(-1), scalar_i64(0)}, {},
                {f64({1})});
  philox::Counter w =
      philox::philox4x32_10({0, 0, 0, 0}, {0xffffffffu, 0xffffffffu});
  CHECK(e[0].get(0) == (w[0] >> 8) / k2to24);
}

TEST_CASE("random_uniform: samples lie in [0, 1) with mean 1/2",
          "[ir][ops][random]") {
  auto r = eval(OpKind::RandomUniform, {scalar_i64(1234), scalar_i64(0)}, {},
                {f64({64, 64})});
  double sum = 0, lo = 1, hi = 0;
  for (int64_t i = 0; i < r[0].numel(); ++i) {
    double v = r[0].get(i);
    sum += v;
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  CHECK(lo >= 0.0);
  CHECK(hi < 1.0);
  CHECK_THAT(sum / 4096, Catch::Matchers::WithinAbs(0.5, 0.02));
}

TEST_CASE("random_normal: Box-Muller on lane pairs", "[ir][ops][random]") {
  auto r = eval(OpKind::RandomNormal, {scalar_i64(0), scalar_i64(0)}, {},
                {f64({2})});
  auto bm = [](uint32_t a, uint32_t b) {
    double u1 = ((a >> 8) + 1) / k2to24, u2 = (b >> 8) / k2to24;
    return std::sqrt(-2 * std::log(u1)) * std::cos(2 * M_PI * u2);
  };
  check_values(r[0],
               {bm(0x6627e8d5u, 0xe169c58du), bm(0xbc57ac4cu, 0x9b00dbd8u)},
               1e-12);
}

TEST_CASE("random_normal: mean 0 and variance 1", "[ir][ops][random]") {
  auto r = eval(OpKind::RandomNormal, {scalar_i64(99), scalar_i64(3)}, {},
                {f64({8192})});
  double sum = 0, sq = 0;
  for (int64_t i = 0; i < r[0].numel(); ++i) {
    sum += r[0].get(i);
    sq += r[0].get(i) * r[0].get(i);
  }
  double mean = sum / 8192;
  CHECK_THAT(mean, Catch::Matchers::WithinAbs(0.0, 0.05));
  CHECK_THAT(sq / 8192 - mean * mean, Catch::Matchers::WithinAbs(1.0, 0.08));
}

TEST_CASE("random: rejects non-scalar seeds and non-float results",
          "[ir][ops][random]") {
  CHECK_THAT(
      infer_error(OpKind::RandomUniform, {i32({}), i64({})}, {}, {f32({4})}),
      Catch::Contains("random_uniform: seed must be an i64[] scalar, "
                      "got i32[]"));
  CHECK_THAT(
      infer_error(OpKind::RandomNormal, {i64({}), i64({2})}, {}, {f32({4})}),
      Catch::Contains("offset must be an i64[] scalar"));
  CHECK_THAT(
      infer_error(OpKind::RandomNormal, {i64({}), i64({})}, {}, {i32({4})}),
      Catch::Contains("result must be a float tensor, got i32[4]"));
  CHECK_THAT(infer_error(OpKind::RandomUniform, {i64({})}, {}, {f32({4})}),
             Catch::Contains("expected 2 operands, got 1"));
  CHECK(infer(OpKind::RandomUniform, {i64({}), i64({})}, {}, {bf16t()})[0] ==
        bf16t());
}
