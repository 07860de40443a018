/// \file
/// Initializers (torch.nn.init) drawing from Philox4x32-10 keyed by the seed
/// the Graph derives from its own seed and the parameter's full name.
/// Element i reads block i/2 of that key: a uniform takes two 32-bit words
/// (lanes 2*(i%2) and 2*(i%2)+1) for a 53-bit double; a normal pairs the two
/// uniforms of block i/2 by Box-Muller and takes the cosine branch for even
/// i and the sine branch for odd i.
// SPDX-License-Identifier: Apache-2.0
#include "frontend/Init.h"

#include "ir/Error.h"
#include "ir/Philox.h"

#include <cmath>
#include <sstream>

namespace kiln::init {

namespace {

constexpr double kTwoPi = 6.283185307179586476925;

/// A uniform double in [0, 1) with 53 random bits: 27 from \p hi, 26 from
/// \p lo (the construction of NumPy's random_double).
double uniform53(uint32_t hi, uint32_t lo) {
  uint64_t a = hi >> 5, b = lo >> 6;
  return double(a * 67108864u + b) * (1.0 / 9007199254740992.0);
}

/// Fills \p t with U[low, high) from \p seed.
void fill_uniform(HostTensor &t, uint64_t seed, double low, double high) {
  philox::Counter bits{};
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (i % 2 == 0)
      bits = philox::bits(seed, uint64_t(i / 2), 0);
    size_t lane = size_t(2 * (i % 2));
    double u = uniform53(bits[lane], bits[lane + 1]);
    t.set(i, low + (high - low) * u);
  }
}

/// Fills \p t with N(mean, std^2) from \p seed by Box-Muller.
void fill_normal(HostTensor &t, uint64_t seed, double mean, double std) {
  double radius = 0, angle = 0;
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (i % 2 == 0) {
      philox::Counter b = philox::bits(seed, uint64_t(i / 2), 0);
      double u1 = 1.0 - uniform53(b[0], b[1]); // (0, 1]: log is finite
      double u2 = uniform53(b[2], b[3]);
      radius = std::sqrt(-2.0 * std::log(u1));
      angle = kTwoPi * u2;
    }
    double z = i % 2 == 0 ? radius * std::cos(angle) : radius * std::sin(angle);
    t.set(i, mean + std * z);
  }
}

/// "%g" formatting for initializer names.
std::string num(double v) {
  std::ostringstream os;
  os << v;
  return os.str();
}

const char *mode_name(FanMode m) {
  return m == FanMode::FanIn ? "fan_in" : "fan_out";
}

/// fans() with the initializer's name in the message.
std::pair<int64_t, int64_t> fans_for(const std::string &who, const Shape &s) {
  try {
    return fans(s);
  } catch (const Error &e) {
    throw Error(who + ": " + e.what());
  }
}

} // namespace

double gain(Nonlinearity nl, double param) {
  switch (nl) {
  case Nonlinearity::Linear:
  case Nonlinearity::Sigmoid:
    return 1.0;
  case Nonlinearity::Tanh:
    return 5.0 / 3.0;
  case Nonlinearity::Relu:
    return std::sqrt(2.0);
  case Nonlinearity::LeakyRelu:
    return std::sqrt(2.0 / (1.0 + param * param));
  }
  KILN_UNREACHABLE("unknown nonlinearity");
}

std::pair<int64_t, int64_t> fans(const Shape &shape) {
  if (shape.size() < 2)
    throw Error("fans need a tensor of rank >= 2 ([out, in, ...]), got " +
                shape_str(shape));
  int64_t receptive = 1;
  for (size_t d = 2; d < shape.size(); ++d)
    receptive *= shape[d];
  return {shape[1] * receptive, shape[0] * receptive};
}

Initializer zeros() {
  return {"zeros", [](HostTensor &t, uint64_t) {
            for (int64_t i = 0; i < t.numel(); ++i)
              t.set(i, 0.0);
          }};
}

Initializer ones() {
  Initializer c = constant(1.0);
  c.name = "ones";
  return c;
}

Initializer constant(double value) {
  return {"constant(" + num(value) + ")", [value](HostTensor &t, uint64_t) {
            for (int64_t i = 0; i < t.numel(); ++i)
              t.set(i, value);
          }};
}

Initializer normal(double std, double mean) {
  return {"normal(mean=" + num(mean) + ", std=" + num(std) + ")",
          [std, mean](HostTensor &t, uint64_t seed) {
            fill_normal(t, seed, mean, std);
          }};
}

Initializer uniform(double low, double high) {
  if (!(low <= high))
    throw Error("uniform: low (" + num(low) + ") must not exceed high (" +
                num(high) + ")");
  return {"uniform(" + num(low) + ", " + num(high) + ")",
          [low, high](HostTensor &t, uint64_t seed) {
            fill_uniform(t, seed, low, high);
          }};
}

Initializer xavier_uniform(double gain) {
  return {"xavier_uniform(gain=" + num(gain) + ")",
          [gain](HostTensor &t, uint64_t seed) {
            auto [in, out] = fans_for("xavier_uniform", t.shape());
            double a = gain * std::sqrt(6.0 / double(in + out));
            fill_uniform(t, seed, -a, a);
          }};
}

Initializer xavier_normal(double gain) {
  return {"xavier_normal(gain=" + num(gain) + ")",
          [gain](HostTensor &t, uint64_t seed) {
            auto [in, out] = fans_for("xavier_normal", t.shape());
            fill_normal(t, seed, 0.0, gain * std::sqrt(2.0 / double(in + out)));
          }};
}

Initializer kaiming_uniform(double a, FanMode mode, Nonlinearity nl) {
  double g = gain(nl, a);
  return {std::string("kaiming_uniform(") + mode_name(mode) +
              ", gain=" + num(g) + ")",
          [g, mode](HostTensor &t, uint64_t seed) {
            auto [in, out] = fans_for("kaiming_uniform", t.shape());
            double fan = double(mode == FanMode::FanIn ? in : out);
            double b = g * std::sqrt(3.0 / fan);
            fill_uniform(t, seed, -b, b);
          }};
}

Initializer kaiming_normal(double a, FanMode mode, Nonlinearity nl) {
  double g = gain(nl, a);
  return {std::string("kaiming_normal(") + mode_name(mode) +
              ", gain=" + num(g) + ")",
          [g, mode](HostTensor &t, uint64_t seed) {
            auto [in, out] = fans_for("kaiming_normal", t.shape());
            double fan = double(mode == FanMode::FanIn ? in : out);
            fill_normal(t, seed, 0.0, g / std::sqrt(fan));
          }};
}

} // namespace kiln::init
