// Element-wise activations, forward and backward. Mirrors torch.nn.ReLU (more in the layers issue).
// Test: test/activation.test.ts
#pragma once

#include "common.h"

namespace napinet::kernels {

// y = max(x, 0). y may alias x.
void relu_forward(float* y, const float* x, index_t n);
// dx = dy where y > 0, else 0 (PyTorch's threshold_backward on the output: the gradient at
// exactly 0 is 0). dx may alias dy.
void relu_backward(float* dx, const float* dy, const float* y, index_t n);

}  // namespace napinet::kernels
