// Fully connected layer, forward and backward. Mirrors torch.nn.functional.linear,
// y = x·Wᵀ + b, and its autograd: dx = dy·W, dW = dyᵀ·x, db = Σ over the batch of dy.
// All three products go through gemm (native/kernels/gemm.h).
// Test: test/linear.test.ts
#pragma once

#include "common.h"

namespace napinet::kernels {

// y = x·wᵀ + b (b may be nullptr: no bias).
// y (N,out), x (N,in), w (out,in), b (out)
void linear_forward(float* y, const float* x, const float* w, const float* b, index_t n,
                    index_t in_features, index_t out_features);

// dx = dy·w (skipped when dx is nullptr); dw = dyᵀ·x; db = Σ_n dy[n,:] (skipped when db is
// nullptr). With accumulate, dw and db are added into (PyTorch's .grad accumulation: the new
// gradient is computed, then added); otherwise overwritten (their old contents, NaN included, are
// ignored). Deterministic: no sum is split across threads.
// dx (N,in), dw (out,in), db (out), dy (N,out), x (N,in), w (out,in)
void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, index_t n, index_t in_features, index_t out_features,
                     bool accumulate);

}  // namespace napinet::kernels
