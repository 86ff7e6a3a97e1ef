// Softmax over the last dimension of (N, C). Mirrors torch.softmax(x, dim=1).
// Test: test/softmax.test.ts
#pragma once

#include "common.h"

namespace napinet::kernels {

// y (N,C) = exp(x − max_row) / Σ_row exp(x − max_row). y may alias x.
void softmax_forward(float* y, const float* x, index_t n, index_t c);

}  // namespace napinet::kernels
