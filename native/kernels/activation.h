// Element-wise activations, forward and backward. Mirrors torch.nn.ReLU, Sigmoid, Tanh, LeakyReLU,
// ELU, GELU and Softplus (the formulas of PyTorch's CPU kernels, in float32).
// Test: test/activation.test.ts
#pragma once

#include "common.h"

namespace napinet::kernels {

// y = max(x, 0). y may alias x.
void relu_forward(float* y, const float* x, index_t n);
// dx = dy where y > 0, else 0 (PyTorch's threshold_backward on the output: the gradient at
// exactly 0 is 0). dx may alias dy.
void relu_backward(float* dx, const float* dy, const float* y, index_t n);

// y = 1 / (1 + exp(−x)); dx = dy·y·(1 − y) from the output. y may alias x, dx dy.
void sigmoid_forward(float* y, const float* x, index_t n);
void sigmoid_backward(float* dx, const float* dy, const float* y, index_t n);

// y = tanh(x); dx = dy·(1 − y²) from the output.
void tanh_forward(float* y, const float* x, index_t n);
void tanh_backward(float* dx, const float* dy, const float* y, index_t n);

// y = x if x > 0 else negative_slope·x; dx = dy if x > 0 else negative_slope·dy (from the input,
// as torch.nn.functional.leaky_relu's backward: the gradient at exactly 0 is negative_slope·dy).
void leaky_relu_forward(float* y, const float* x, float negative_slope, index_t n);
void leaky_relu_backward(float* dx, const float* dy, const float* x, float negative_slope, index_t n);

// y = x if x > 0 else alpha·(exp(x) − 1) (expm1); dx = dy if x > 0 else dy·alpha·exp(x), from the
// input (torch.nn.functional.elu; scale 1).
void elu_forward(float* y, const float* x, float alpha, index_t n);
void elu_backward(float* dx, const float* dy, const float* x, float alpha, index_t n);

// GELU (torch.nn.functional.gelu). approximate_tanh false: y = x·Φ(x), Φ(x) = (1 + erf(x/√2))/2,
// dx = dy·(Φ(x) + x·φ(x)); true: y = x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))/2 and its derivative.
// Backward from the input.
void gelu_forward(float* y, const float* x, bool approximate_tanh, index_t n);
void gelu_backward(float* dx, const float* dy, const float* x, bool approximate_tanh, index_t n);

// y = x where beta·x > threshold, else log1p(exp(beta·x))/beta; dx = dy there, else
// dy·z/(z + 1) with z = exp(beta·x) (torch.nn.functional.softplus, backward from the input).
void softplus_forward(float* y, const float* x, float beta, float threshold, index_t n);
void softplus_backward(float* dx, const float* dy, const float* x, float beta, float threshold,
                       index_t n);

}  // namespace napinet::kernels
