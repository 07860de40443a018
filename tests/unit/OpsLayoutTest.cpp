/// \file
/// Unit tests of the layout ops: reshape, transpose, broadcast_to, slice,
/// concat and pad.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

using namespace kiln;
using namespace kiln::test;

namespace {
// [[1, 2, 3], [4, 5, 6]]
HostTensor m23() { return HostTensor::from(f32({2, 3}), {1, 2, 3, 4, 5, 6}); }
Attrs slice_attrs(std::vector<int64_t> start, std::vector<int64_t> stop,
                  std::vector<int64_t> step) {
  return {{"start", Attribute::ints(start)},
          {"stop", Attribute::ints(stop)},
          {"step", Attribute::ints(step)}};
}
Attrs pad_attrs(std::vector<int64_t> low, std::vector<int64_t> high,
                Attribute value = Attribute(0.0)) {
  return {{"low", Attribute::ints(low)},
          {"high", Attribute::ints(high)},
          {"value", value}};
}
} // namespace

// ---- reshape -------------------------------------------------------------

TEST_CASE("reshape: keeps row-major order", "[ir][ops][reshape]") {
  auto r = eval(OpKind::Reshape, {m23()}, {}, {f32({3, 2})});
  CHECK(r[0].type() == f32({3, 2}));
  check_values(r[0], {1, 2, 3, 4, 5, 6});
  int64_t big = (int64_t(1) << 60) + 1;
  auto i = eval(OpKind::Reshape, {HostTensor::from_ints(i64({2}), {big, 3})},
                {}, {i64({1, 2, 1})});
  CHECK(i[0].get_int(0) == big);
}

TEST_CASE("reshape: rejects a different count or dtype", "[ir][ops][reshape]") {
  CHECK_THAT(infer_error(OpKind::Reshape, {f32({2, 3})}, {}, {f32({4, 2})}),
             Catch::Contains("reshape: element counts differ (f32[2,3] has 6, "
                             "f32[4,2] has 8)"));
  CHECK_THAT(infer_error(OpKind::Reshape, {f32({2, 3})}, {}, {f64({6})}),
             Catch::Contains("insert a cast"));
  CHECK_THAT(infer_error(OpKind::Reshape, {f32({2, 3})}),
             Catch::Contains("result type must be given"));
}

// ---- transpose -----------------------------------------------------------

TEST_CASE("transpose: 2-D and 3-D", "[ir][ops][transpose]") {
  auto t =
      eval(OpKind::Transpose, {m23()}, {{"perm", Attribute::ints({1, 0})}});
  CHECK(t[0].type() == f32({3, 2}));
  check_values(t[0], {1, 4, 2, 5, 3, 6});
  std::vector<double> v(24);
  for (int i = 0; i < 24; ++i)
    v[size_t(i)] = i;
  auto x = HostTensor::from(f32({2, 3, 4}), v);
  auto r = eval(OpKind::Transpose, {x}, {{"perm", Attribute::ints({2, 0, 1})}});
  CHECK(r[0].type() == f32({4, 2, 3}));
  // r[k][i][j] = x[i][j][k]; r[3][1][2] = x[1][2][3] = 12 + 8 + 3 = 23.
  CHECK(r[0].get((3 * 2 + 1) * 3 + 2) == 23);
  // r[1][0][1] = x[0][1][1] = 5.
  CHECK(r[0].get((1 * 2 + 0) * 3 + 1) == 5);
}

TEST_CASE("transpose: rejects a non-permutation", "[ir][ops][transpose]") {
  CHECK_THAT(infer_error(OpKind::Transpose, {f32({2, 3})},
                         {{"perm", Attribute::ints({0, 0})}}),
             Catch::Contains("transpose: 'perm' must be a permutation of 0..1, "
                             "got [0, 0]"));
  CHECK_THAT(infer_error(OpKind::Transpose, {f32({2, 3})},
                         {{"perm", Attribute::ints({1, 0, 2})}}),
             Catch::Contains("'perm' has 3 entries but f32[2,3] has rank 2"));
  CHECK_THAT(infer_error(OpKind::Transpose, {f32({2, 3})},
                         {{"perm", Attribute::ints({0, 2})}}),
             Catch::Contains("permutation"));
}

// ---- broadcast_to --------------------------------------------------------

TEST_CASE("broadcast_to: stretches size-1 and missing axes",
          "[ir][ops][broadcast_to]") {
  auto row = HostTensor::from(f32({3}), {1, 2, 3});
  check_values(eval(OpKind::BroadcastTo, {row}, {}, {f32({2, 3})})[0],
               {1, 2, 3, 1, 2, 3});
  auto col = HostTensor::from(f32({2, 1}), {7, 8});
  check_values(eval(OpKind::BroadcastTo, {col}, {}, {f32({2, 3})})[0],
               {7, 7, 7, 8, 8, 8});
  CHECK(infer(OpKind::BroadcastTo, {f32({1})}, {}, {f32({0, 4})})[0] ==
        f32({0, 4}));
}

TEST_CASE("broadcast_to: rejects incompatible shapes",
          "[ir][ops][broadcast_to]") {
  CHECK_THAT(infer_error(OpKind::BroadcastTo, {f32({3})}, {}, {f32({2, 4})}),
             Catch::Contains("broadcast_to: cannot broadcast [3] to [2,4]"));
  CHECK_THAT(infer_error(OpKind::BroadcastTo, {f32({2, 3})}, {}, {f32({3})}),
             Catch::Contains("cannot broadcast [2,3] to [3]"));
  CHECK_THAT(infer_error(OpKind::BroadcastTo, {f32({3})}, {}, {i32({3})}),
             Catch::Contains("result dtype differs"));
}

// ---- slice ---------------------------------------------------------------

TEST_CASE("slice: start, stop and step", "[ir][ops][slice]") {
  auto x = HostTensor::from(f32({5}), {10, 11, 12, 13, 14});
  auto r = eval(OpKind::Slice, {x}, slice_attrs({1}, {5}, {2}));
  CHECK(r[0].type() == f32({2}));
  check_values(r[0], {11, 13});
  check_values(eval(OpKind::Slice, {x}, slice_attrs({0}, {5}, {2}))[0],
               {10, 12, 14});
  auto m = eval(OpKind::Slice, {m23()}, slice_attrs({1, 0}, {2, 3}, {1, 2}));
  CHECK(m[0].type() == f32({1, 2}));
  check_values(m[0], {4, 6});
  CHECK(infer(OpKind::Slice, {f32({4})}, slice_attrs({2}, {2}, {1}))[0] ==
        f32({0}));
}

TEST_CASE("slice: rejects out-of-range bounds", "[ir][ops][slice]") {
  CHECK_THAT(infer_error(OpKind::Slice, {f32({4})}, slice_attrs({0}, {5}, {1})),
             Catch::Contains("slice: axis 0: need 0 <= start <= stop <= 4 for "
                             "f32[4], got start 0, stop 5"));
  CHECK_THAT(infer_error(OpKind::Slice, {f32({4})}, slice_attrs({3}, {2}, {1})),
             Catch::Contains("got start 3, stop 2"));
  CHECK_THAT(infer_error(OpKind::Slice, {f32({4})}, slice_attrs({0}, {2}, {0})),
             Catch::Contains("'step' entries must be at least 1, got 0"));
  CHECK_THAT(
      infer_error(OpKind::Slice, {f32({4})}, slice_attrs({-1}, {2}, {1})),
      Catch::Contains("'start' entries must be at least 0"));
  CHECK_THAT(
      infer_error(OpKind::Slice, {f32({4, 4})}, slice_attrs({0}, {2}, {1})),
      Catch::Contains("'start' needs 2 entries, got 1"));
}

// ---- concat --------------------------------------------------------------

TEST_CASE("concat: joins along the axis", "[ir][ops][concat]") {
  auto a = HostTensor::from(f32({2, 1}), {7, 8});
  auto r = eval(OpKind::Concat, {a, m23()}, {{"axis", 1}});
  CHECK(r[0].type() == f32({2, 4}));
  check_values(r[0], {7, 1, 2, 3, 8, 4, 5, 6});
  auto b = HostTensor::from(f32({1, 3}), {9, 9, 9});
  check_values(eval(OpKind::Concat, {b, m23(), b}, {{"axis", -2}})[0],
               {9, 9, 9, 1, 2, 3, 4, 5, 6, 9, 9, 9});
  check_values(eval(OpKind::Concat, {b}, {{"axis", 0}})[0], {9, 9, 9});
}

TEST_CASE("concat: rejects mismatched operands", "[ir][ops][concat]") {
  CHECK_THAT(
      infer_error(OpKind::Concat, {f32({2, 1}), f32({3, 2})}, {{"axis", 1}}),
      Catch::Contains("concat: operand 1 is f32[3,2], operand 0 is "
                      "f32[2,1]; shapes must agree except along axis 1"));
  CHECK_THAT(
      infer_error(OpKind::Concat, {f32({2}), f32({2, 1})}, {{"axis", 0}}),
      Catch::Contains("shapes must agree"));
  CHECK_THAT(infer_error(OpKind::Concat, {f32({2}), i32({2})}, {{"axis", 0}}),
             Catch::Contains("operand dtypes differ"));
  CHECK_THAT(infer_error(OpKind::Concat, {f32({2})}, {{"axis", 1}}),
             Catch::Contains("axis 1 is out of range for f32[2]"));
  CHECK_THAT(infer_error(OpKind::Concat, {}, {{"axis", 0}}),
             Catch::Contains("expected at least 1 operands, got 0"));
}

// ---- pad -----------------------------------------------------------------

TEST_CASE("pad: low and high with a value", "[ir][ops][pad]") {
  auto x = HostTensor::from(f32({2}), {1, 2});
  auto r = eval(OpKind::Pad, {x}, pad_attrs({1}, {2}, Attribute(9.5)));
  CHECK(r[0].type() == f32({5}));
  check_values(r[0], {9.5, 1, 2, 9.5, 9.5});
  auto m = eval(OpKind::Pad, {m23()}, pad_attrs({1, 0}, {0, 1}));
  CHECK(m[0].type() == f32({3, 4}));
  check_values(m[0], {0, 0, 0, 0, 1, 2, 3, 0, 4, 5, 6, 0});
  auto i = eval(OpKind::Pad, {HostTensor::from_ints(i64({1}), {5})},
                pad_attrs({1}, {0}, Attribute(-7)));
  CHECK(i[0].get_int(0) == -7);
  CHECK(i[0].get_int(1) == 5);
}

TEST_CASE("pad: rejects bad amounts and values", "[ir][ops][pad]") {
  CHECK_THAT(infer_error(OpKind::Pad, {f32({2})}, pad_attrs({-1}, {0})),
             Catch::Contains("pad: 'low' entries must be at least 0, got -1"));
  CHECK_THAT(infer_error(OpKind::Pad, {f32({2, 2})}, pad_attrs({1}, {1})),
             Catch::Contains("'low' needs 2 entries, got 1"));
  CHECK_THAT(
      infer_error(OpKind::Pad, {i32({2})}, pad_attrs({1}, {1}, Attribute(0.5))),
      Catch::Contains("'value' 0.5 is not a valid i32"));
  CHECK_THAT(infer_error(OpKind::Pad, {boolean({2})},
                         pad_attrs({1}, {1}, Attribute(2))),
             Catch::Contains("is not a valid bool; use 0 or 1"));
}
