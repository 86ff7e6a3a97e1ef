// Philox4x32-10, the counter-based random generator of Salmon et al., "Parallel random numbers: as
// easy as 1, 2, 3" (SC'11; the Random123 library, also behind cuRAND's and PyTorch's GPU
// generators). Four 32-bit outputs are a pure function of a 128-bit counter and a 64-bit key, so
// element i of a tensor can draw its numbers anywhere, in any order, on any device: the CPU kernels
// (native/kernels/dropout.cpp) and the CUDA kernels (cuda/dropout.cu) include this one header and
// give the same bits for the same (key, counter).
// Test: test/dropout.test.ts (known-answer vectors through a TypeScript reference, and CPU = CUDA).
#pragma once

#include <cstdint>

#include "common.h"  // NAPINET_HOST_DEVICE

namespace napinet::philox {

struct Uint4 {
  std::uint32_t x, y, z, w;
};

constexpr std::uint32_t kMul0 = 0xD2511F53u;   // round multipliers
constexpr std::uint32_t kMul1 = 0xCD9E8D57u;
constexpr std::uint32_t kWeyl0 = 0x9E3779B9u;  // key schedule increments (golden ratio, √3 − 1)
constexpr std::uint32_t kWeyl1 = 0xBB67AE85u;

NAPINET_HOST_DEVICE Uint4 round(Uint4 c, std::uint32_t k0, std::uint32_t k1) {
  const std::uint64_t p0 = static_cast<std::uint64_t>(kMul0) * c.x;
  const std::uint64_t p1 = static_cast<std::uint64_t>(kMul1) * c.z;
  const auto hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
  const auto hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
  return Uint4{hi1 ^ c.y ^ k0, lo1, hi0 ^ c.w ^ k1, lo0};
}

// Philox4x32 with 10 rounds: the four words for `counter` under `key` (k0 = low word).
NAPINET_HOST_DEVICE Uint4 philox4x32_10(Uint4 counter, std::uint32_t k0, std::uint32_t k1) {
  counter = round(counter, k0, k1);
  for (int r = 1; r < 10; ++r) {
    k0 += kWeyl0;
    k1 += kWeyl1;
    counter = round(counter, k0, k1);
  }
  return counter;
}

// The random word of element i of a tensor drawn with `seed`: key = seed, counter = (i / 4, 0, 0)
// as a 128-bit number, word i % 4 of the result. One philox4x32_10 call serves four elements.
NAPINET_HOST_DEVICE Uint4 block_for(std::uint64_t seed, std::uint64_t group) {
  return philox4x32_10(Uint4{static_cast<std::uint32_t>(group), static_cast<std::uint32_t>(group >> 32), 0u, 0u},
                       static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
}

}  // namespace napinet::philox
