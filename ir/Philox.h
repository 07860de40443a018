/// \file
/// Philox4x32-10, the counter-based random number generator of Salmon et al.,
/// "Parallel random numbers: as easy as 1, 2, 3" (SC 2011), with the
/// constants of Random123 and cuRAND. A counter and a key map to four 32-bit
/// words with no state, so the CPU interpreter, generated C and generated
/// CUDA draw the same bits for the same element. The code is deliberately
/// plain C-compatible arithmetic on uint32_t/uint64_t so that codegen can
/// emit it verbatim.
///
/// How kiln's random ops use it (see ir/ops/Source.cpp): key = (seed low 32,
/// seed high 32); counter = (block low 32, block high 32, offset low 32,
/// offset high 32).
// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <array>
#include <cstdint>

namespace kiln::philox {

using Counter = std::array<uint32_t, 4>;
using Key = std::array<uint32_t, 2>;

constexpr uint32_t kMul0 = 0xD2511F53u;  ///< multiplier of counter word 0
constexpr uint32_t kMul1 = 0xCD9E8D57u;  ///< multiplier of counter word 2
constexpr uint32_t kBump0 = 0x9E3779B9u; ///< key[0] increment (golden ratio)
constexpr uint32_t kBump1 = 0xBB67AE85u; ///< key[1] increment (sqrt(3) - 1)
constexpr int kRounds = 10;

/// One Philox S-box round: two 32x32->64 multiplies, the high halves XORed
/// with the other counter words and the key.
inline Counter round(const Counter &c, const Key &k) {
  uint64_t p0 = uint64_t(kMul0) * c[0];
  uint64_t p1 = uint64_t(kMul1) * c[2];
  uint32_t hi0 = uint32_t(p0 >> 32), lo0 = uint32_t(p0);
  uint32_t hi1 = uint32_t(p1 >> 32), lo1 = uint32_t(p1);
  return {hi1 ^ c[1] ^ k[0], lo1, hi0 ^ c[3] ^ k[1], lo0};
}

/// Philox4x32-10: ten rounds, the key bumped (Weyl sequence) between rounds.
/// Matches Random123's philox4x32(ctr, key) and cuRAND's Philox4_32_10.
inline Counter philox4x32_10(Counter c, Key k) {
  for (int r = 0; r < kRounds; ++r) {
    if (r > 0) {
      k[0] += kBump0;
      k[1] += kBump1;
    }
    c = round(c, k);
  }
  return c;
}

/// The four words for \p seed, \p block and \p offset as kiln's random ops
/// lay them out (see the file comment).
inline Counter bits(uint64_t seed, uint64_t block, uint64_t offset) {
  Counter c = {uint32_t(block), uint32_t(block >> 32), uint32_t(offset),
               uint32_t(offset >> 32)};
  Key k = {uint32_t(seed), uint32_t(seed >> 32)};
  return philox4x32_10(c, k);
}

/// A uniform float in [0, 1) from the top 24 bits of \p w: (w >> 8) * 2^-24.
inline double uniform01(uint32_t w) {
  return double(w >> 8) * (1.0 / 16777216.0);
}

/// A uniform float in (0, 1] from the top 24 bits of \p w:
/// ((w >> 8) + 1) * 2^-24; safe to take the logarithm of.
inline double uniform01_open0(uint32_t w) {
  return double((w >> 8) + 1) * (1.0 / 16777216.0);
}

} // namespace kiln::philox
