// Dropout in training mode, forward and backward. Mirrors torch.nn.functional.dropout(x, p,
// training=True): every element is kept with probability 1 − p and scaled by 1/(1 − p), or zeroed
// (y = x·m with m = 1/(1 − p) or 0, so a dropped inf gives NaN and a dropped −2 gives −0, as in
// PyTorch). The masks are not PyTorch's: they come from Philox4x32-10 (philox.h), keyed by a 64-bit
// seed the caller draws from napinet's Generator, so the CPU and CUDA kernels (cuda/dropout.cu)
// draw the same mask for the same seed, the GPU makes its masks itself, and backward recomputes
// the forward's mask from the seed instead of storing it.
// Test: test/dropout.test.ts
#pragma once

#include <cmath>
#include <cstdint>

#include "common.h"
#include "philox.h"

namespace napinet::kernels {

// Element i is kept when (word_i >> 8) < dropout_keep_threshold(p), word_i being element i's
// Philox word (philox::block_for): probability threshold / 2²⁴, the nearest multiple of 2⁻²⁴ to
// 1 − p (exactly 1 for p = 0 and 0 for p = 1). p must lie in [0, 1] (the binding checks).
inline std::uint32_t dropout_keep_threshold(double p) {
  return static_cast<std::uint32_t>(std::llround((1.0 - p) * 16777216.0));
}

// The factor kept elements are multiplied by: 1/(1 − p) rounded to float, 0 for p = 1.
inline float dropout_scale(double p) { return p >= 1.0 ? 0.0f : static_cast<float>(1.0 / (1.0 - p)); }

// y (n) = x ⊙ m, m_i = dropout_scale(p) where element i is kept under `seed`, else 0. y may alias x.
void dropout_forward(float* y, const float* x, std::uint64_t seed, double p, index_t n);

// dx (n) = dy ⊙ m with the same m as dropout_forward for this seed and p. dx may alias dy.
void dropout_backward(float* dx, const float* dy, std::uint64_t seed, double p, index_t n);

}  // namespace napinet::kernels
