// Softmax over the last dimension of (N, C). Mirrors torch.softmax(x, dim=1); softmax_backward and
// the log-softmax pair mirror torch.log_softmax(x, dim=1) and the autograd of both.
// Test: test/softmax.test.ts
#pragma once

#include <cmath>

#include "common.h"

namespace napinet::kernels {

// y (N,C) = exp(x − max_row) / Σ_row exp(x − max_row). y may alias x.
void softmax_forward(float* y, const float* x, index_t n, index_t c);

// dx (N,C) = y ⊙ (dy − Σ_row dy ⊙ y), from softmax's output y (N,C). dx may alias dy.
void softmax_backward(float* dx, const float* dy, const float* y, index_t n, index_t c);

// y (N,C) = x − max_row − log Σ_row exp(x − max_row). y may alias x.
void log_softmax_forward(float* y, const float* x, index_t n, index_t c);

// dx (N,C) = dy − exp(y) ⊙ Σ_row dy, from log-softmax's output y (N,C). dx may alias dy.
void log_softmax_backward(float* dx, const float* dy, const float* y, index_t n, index_t c);

// ---- The backward formulas, shared with cuda/softmax.cu ----------------------------------------
// Each backward is, per row, sum = Σ_k term(dy_k, y_k), then dx_k = grad(dy_k, y_k, sum).

struct SoftmaxGrad {  // dx = y·(dy − Σ dy·y)
  NAPINET_HOST_DEVICE float term(float dy, float y) const { return dy * y; }
  NAPINET_HOST_DEVICE float grad(float dy, float y, float sum) const { return y * (dy - sum); }
};

struct LogSoftmaxGrad {  // dx = dy − e^y·Σ dy
  NAPINET_HOST_DEVICE float term(float dy, float) const { return dy; }
  NAPINET_HOST_DEVICE float grad(float dy, float y, float sum) const { return dy - expf(y) * sum; }
};

}  // namespace napinet::kernels
