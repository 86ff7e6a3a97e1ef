// Ternary 2-D convolution: y = conv2d(x, w) + b for a weight whose every value is −1, 0 or +1,
// computed with additions and subtractions only — no multiplication touches the data. Mirrors
// torch.nn.functional.conv2d(x, w.float(), b) with groups 1 and dilation 1 (section 14.8.5: "a
// ternary kernel needs only additions and subtractions with the image").
// Test: test/ternary_conv2d.test.ts
#pragma once

#include <cstdint>

#include "common.h"

namespace napinet::kernels {

// y (N,K,OH,OW) = Σ_{taps with w = +1} x − Σ_{taps with w = −1} x, plus b[k] when b is given.
// x (N,C,H,W); w (K,C,kh,kw) int32 codes in {−1, 0, +1} (anything else throws
// std::invalid_argument before y is touched); b (K) or nullptr.
// OH = (H + 2·ph − kh)/sh + 1, OW likewise; zero padding.
// Each output starts from b[k] (or 0) and adds its taps in (c, i, j) order, so results do not
// depend on the thread count; for integer-valued x and b (|sums| < 2^24) they are exact.
void ternary_conv2d_forward(float* y, const float* x, const std::int32_t* w, const float* b,
                            index_t N, index_t C, index_t H, index_t W, index_t K, index_t kh,
                            index_t kw, index_t sh, index_t sw, index_t ph, index_t pw);

}  // namespace napinet::kernels
