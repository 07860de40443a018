/// \file
/// Unit tests of the elementwise ops (unary, binary with broadcasting,
/// comparisons, select, cast) and of the op table itself: every op has a
/// summary and a .kir example.
// SPDX-License-Identifier: Apache-2.0
#include "TestUtil.h"

#include <cmath>
#include <cstring>
#include <limits>

using namespace kiln;
using namespace kiln::test;

namespace {
const double kNaN = std::nan("");
const double kInf = std::numeric_limits<double>::infinity();
HostTensor vec(std::vector<double> v) {
  return HostTensor::from(f64({int64_t(v.size())}), v);
}
HostTensor ivec(std::vector<int64_t> v, DType t = DType::I64) {
  return HostTensor::from_ints({t, {int64_t(v.size())}}, v);
}
} // namespace

TEST_CASE("ops: every op has a name, a summary and a .kir example",
          "[ir][ops]") {
  for (int i = 0; i < kNumOps; ++i) {
    const OpDef &d = op_def(OpKind(i));
    INFO("op " << d.name);
    CHECK(std::strlen(d.summary) > 0);
    CHECK(std::string(d.example).find(std::string(d.name) + "(") !=
          std::string::npos);
    CHECK(find_op(d.name) == OpKind(i));
    CHECK(d.shape != nullptr);
    CHECK(d.interp != nullptr);
  }
  CHECK(std::string(op_def(OpKind::Not).example).find("bool[") !=
        std::string::npos);
  CHECK(std::string(op_def(OpKind::Lt).example).find("bool[") !=
        std::string::npos);
}

TEST_CASE("unary: float math values", "[ir][ops][exp]") {
  auto x = vec({0, 1, -2, 0.5});
  check_values(eval(OpKind::Exp, {x})[0],
               {1, std::exp(1.0), std::exp(-2.0), std::exp(0.5)});
  check_values(eval(OpKind::Tanh, {x})[0],
               {0, std::tanh(1.0), std::tanh(-2.0), std::tanh(0.5)});
  check_values(eval(OpKind::Sigmoid, {x})[0],
               {0.5, 1 / (1 + std::exp(-1.0)), 1 / (1 + std::exp(2.0)),
                1 / (1 + std::exp(-0.5))});
  auto p = vec({4, 0.25, 0, -1});
  check_values(eval(OpKind::Sqrt, {p})[0], {2, 0.5, 0, kNaN});
  check_values(eval(OpKind::Rsqrt, {p})[0], {0.5, 2, kInf, kNaN});
  check_values(eval(OpKind::Log, {p})[0],
               {std::log(4.0), std::log(0.25), -kInf, kNaN});
}

TEST_CASE("unary: rounding, sign and relu", "[ir][ops][round]") {
  auto x = vec({2.5, -2.5, 1.5, -0.7, kNaN});
  check_values(eval(OpKind::Round, {x})[0], {2, -2, 2, -1, kNaN});
  check_values(eval(OpKind::Floor, {x})[0], {2, -3, 1, -1, kNaN});
  check_values(eval(OpKind::Ceil, {x})[0], {3, -2, 2, -0.0, kNaN});
  check_values(eval(OpKind::Sign, {x})[0], {1, -1, 1, -1, kNaN});
  check_values(eval(OpKind::Relu, {x})[0], {2.5, 0, 1.5, 0, kNaN});
  check_values(eval(OpKind::Abs, {x})[0], {2.5, 2.5, 1.5, 0.7, kNaN});
}

TEST_CASE("unary: integers compute exactly and wrap", "[ir][ops][neg]") {
  auto i = ivec({std::numeric_limits<int32_t>::min(), -3, 0, 7}, DType::I32);
  auto n = eval(OpKind::Neg, {i})[0];
  CHECK(n.get_int(0) == std::numeric_limits<int32_t>::min());
  CHECK(n.get_int(1) == 3);
  CHECK(n.get_int(3) == -7);
  auto a = eval(OpKind::Abs, {ivec({-5, 5, 0})})[0];
  check_values(a, {5, 5, 0});
  check_values(eval(OpKind::Sign, {ivec({-5, 5, 0})})[0], {-1, 1, 0});
  check_values(eval(OpKind::Relu, {ivec({-5, 5, 0})})[0], {0, 5, 0});
}

TEST_CASE("unary: not and is_finite", "[ir][ops][not]") {
  auto b = HostTensor::from(boolean({2}), {1, 0});
  check_values(eval(OpKind::Not, {b})[0], {0, 1});
  auto f = eval(OpKind::IsFinite, {vec({1, kInf, kNaN, -kInf})})[0];
  CHECK(f.type() == boolean({4}));
  check_values(f, {1, 0, 0, 0});
}

TEST_CASE("unary: rejects the wrong dtype", "[ir][ops][exp]") {
  CHECK_THAT(
      infer_error(OpKind::Exp, {i32({2})}),
      Catch::Contains("exp: operand must be a float tensor, got i32[2]"));
  CHECK_THAT(infer_error(OpKind::Neg, {boolean({2})}),
             Catch::Contains("neg: operand must be a numeric tensor"));
  CHECK_THAT(infer_error(OpKind::Not, {f32({2})}),
             Catch::Contains("not: operand must be a bool tensor"));
  CHECK_THAT(infer_error(OpKind::IsFinite, {i64({2})}),
             Catch::Contains("must be a float tensor"));
  CHECK(infer(OpKind::Sin, {f32({2, 3})})[0] == f32({2, 3}));
}

TEST_CASE("binary: broadcasting shapes and values", "[ir][ops][add]") {
  CHECK(infer(OpKind::Add, {f32({4, 1}), f32({3})})[0] == f32({4, 3}));
  CHECK(infer(OpKind::Mul, {f32({}), f32({2, 2})})[0] == f32({2, 2}));
  auto col = HostTensor::from(f32({2, 1}), {10, 20});
  auto row = HostTensor::from(f32({3}), {1, 2, 3});
  check_values(eval(OpKind::Add, {col, row})[0], {11, 12, 13, 21, 22, 23});
  check_values(eval(OpKind::Sub, {col, row})[0], {9, 8, 7, 19, 18, 17});
  check_values(eval(OpKind::Mul, {col, row})[0], {10, 20, 30, 20, 40, 60});
  check_values(eval(OpKind::Div, {row, col})[0],
               {0.1, 0.2, 0.3, 0.05, 0.1, 0.15});
  check_values(eval(OpKind::Pow, {vec({2, 9, 2}), vec({3, 0.5, -1})})[0],
               {8, 3, 0.5});
}

TEST_CASE("binary: max and min propagate NaN", "[ir][ops][max]") {
  auto a = vec({1, kNaN, 5}), b = vec({3, 2, kNaN});
  check_values(eval(OpKind::Max, {a, b})[0], {3, kNaN, kNaN});
  check_values(eval(OpKind::Min, {a, b})[0], {1, kNaN, kNaN});
}

TEST_CASE("binary: integer arithmetic is defined everywhere",
          "[ir][ops][div]") {
  auto a = ivec({7, -7, 5, std::numeric_limits<int64_t>::min()});
  auto b = ivec({2, 2, 0, -1});
  auto d = eval(OpKind::Div, {a, b})[0];
  CHECK(d.get_int(0) == 3);
  CHECK(d.get_int(1) == -3);
  CHECK(d.get_int(2) == 0);
  CHECK(d.get_int(3) == std::numeric_limits<int64_t>::min());
  auto p = eval(OpKind::Pow, {ivec({3, 2, -1, 2}), ivec({4, -1, -3, 10})})[0];
  CHECK(p.get_int(0) == 81);
  CHECK(p.get_int(1) == 0);
  CHECK(p.get_int(2) == -1);
  CHECK(p.get_int(3) == 1024);
  auto big = ivec({std::numeric_limits<int32_t>::max()}, DType::I32);
  CHECK(eval(OpKind::Add, {big, ivec({1}, DType::I32)})[0].get_int(0) ==
        std::numeric_limits<int32_t>::min());
}

TEST_CASE("binary: comparisons and logic give bool", "[ir][ops][lt]") {
  auto a = vec({1, 2, kNaN}), b = vec({2, 2, kNaN});
  CHECK(infer(OpKind::Lt, {f32({2}), f32({2})})[0] == boolean({2}));
  check_values(eval(OpKind::Lt, {a, b})[0], {1, 0, 0});
  check_values(eval(OpKind::Le, {a, b})[0], {1, 1, 0});
  check_values(eval(OpKind::Gt, {a, b})[0], {0, 0, 0});
  check_values(eval(OpKind::Ge, {a, b})[0], {0, 1, 0});
  check_values(eval(OpKind::Eq, {a, b})[0], {0, 1, 0});
  check_values(eval(OpKind::Ne, {a, b})[0], {1, 0, 1});
  auto t = HostTensor::from(boolean({2}), {1, 0});
  auto s = HostTensor::from(boolean({2, 1}), {1, 0});
  check_values(eval(OpKind::And, {s, t})[0], {1, 0, 0, 0});
  check_values(eval(OpKind::Or, {s, t})[0], {1, 1, 1, 0});
}

TEST_CASE("binary: rejects mismatched operands", "[ir][ops][add]") {
  CHECK_THAT(infer_error(OpKind::Add, {f32({2}), f64({2})}),
             Catch::Contains("add: operand dtypes differ (f32[2] vs f64[2]); "
                             "insert a cast"));
  CHECK_THAT(infer_error(OpKind::Mul, {f32({2, 3}), f32({4})}),
             Catch::Contains("shapes [2,3] and [4] do not broadcast"));
  CHECK_THAT(infer_error(OpKind::Sub, {boolean({2}), boolean({2})}),
             Catch::Contains("operands must be numeric"));
  CHECK_THAT(infer_error(OpKind::And, {f32({2}), f32({2})}),
             Catch::Contains("operands must be bool tensors"));
}

TEST_CASE("select: broadcasts all three", "[ir][ops][select]") {
  auto c = HostTensor::from(boolean({2, 1}), {1, 0});
  auto a = HostTensor::from(f32({2}), {1, 2});
  auto b = HostTensor::from(f32({}), {9});
  auto r = eval(OpKind::Select, {c, a, b})[0];
  CHECK(r.type() == f32({2, 2}));
  check_values(r, {1, 2, 9, 9});
  CHECK_THAT(infer_error(OpKind::Select, {f32({2}), f32({2}), f32({2})}),
             Catch::Contains("select: condition must be a bool tensor"));
  CHECK_THAT(infer_error(OpKind::Select, {boolean({2}), f32({2}), i32({2})}),
             Catch::Contains("value dtypes differ"));
  CHECK_THAT(infer_error(OpKind::Select, {boolean({3}), f32({2}), f32({2})}),
             Catch::Contains("do not broadcast"));
}

TEST_CASE("cast: float to int truncates and saturates", "[ir][ops][cast]") {
  auto x = vec({-2.7, 2.7, 3e9, -3e9, kNaN});
  auto r = eval(OpKind::Cast, {x}, {}, {i32({5})})[0];
  CHECK(r.get_int(0) == -2);
  CHECK(r.get_int(1) == 2);
  CHECK(r.get_int(2) == std::numeric_limits<int32_t>::max());
  CHECK(r.get_int(3) == std::numeric_limits<int32_t>::min());
  CHECK(r.get_int(4) == 0);
  auto l = eval(OpKind::Cast, {x}, {}, {i64({5})})[0];
  CHECK(l.get_int(2) == 3000000000);
}

TEST_CASE("cast: between integers, bool and floats", "[ir][ops][cast]") {
  int64_t big = (int64_t(1) << 53) + 1;
  auto i = ivec({big, -1});
  CHECK(eval(OpKind::Cast, {i}, {}, {i64({2})})[0].get_int(0) == big);
  CHECK(eval(OpKind::Cast, {ivec({(int64_t(1) << 32) + 5})}, {}, {i32({1})})[0]
            .get_int(0) == 5);
  check_values(
      eval(OpKind::Cast, {vec({0, -0.5, kNaN})}, {}, {boolean({3})})[0],
      {0, 1, 1});
  check_values(eval(OpKind::Cast, {vec({1.0 / 3})}, {}, {f32({1})})[0],
               {double(1.0f / 3)}, 1e-12);
  CHECK_THAT(infer_error(OpKind::Cast, {f32({2})}, {}, {i32({3})}),
             Catch::Contains("cast: cast keeps the shape"));
  CHECK_THAT(infer_error(OpKind::Cast, {f32({2})}),
             Catch::Contains("result type must be given"));
}
