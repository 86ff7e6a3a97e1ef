// Element-wise activations, forward and backward. Mirrors torch.nn.ReLU, Sigmoid, Tanh, LeakyReLU,
// ELU, GELU and Softplus (the formulas of PyTorch's CPU kernels, in float32).
// Test: test/activation.test.ts
#pragma once

#include <cmath>

#include "common.h"

namespace napinet::kernels {

// y = max(x, 0), NaN staying NaN (torch.relu). y may alias x.
void relu_forward(float* y, const float* x, index_t n);
// dx = 0 where y ≤ 0, else dy (PyTorch's threshold_backward on the output: the gradient at
// exactly 0 is 0, at NaN it passes). dx may alias dy.
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

// ---- The formulas, shared with cuda/activation.cu --------------------------------------------
// One struct per activation: forward(x) → y and backward(dy, saved) → dx, saved being the output y
// or the input x as above, with the activation's parameters as members. The CPU loops
// (activation.cpp) and the CUDA kernels (cuda/activation.cu) apply these same lines. The math
// functions are the C library's float ones, which nvcc maps to CUDA's full-precision device
// functions (never the __expf-style intrinsics).

// Written as PyTorch's clamp_min and threshold_backward, so that NaN propagates: relu(NaN) = NaN
// and its gradient passes (NaN is not ≤ 0); relu(−0) = −0.
struct Relu {
  NAPINET_HOST_DEVICE float forward(float x) const { return x < 0.0f ? 0.0f : x; }
  NAPINET_HOST_DEVICE float backward(float dy, float y) const { return y <= 0.0f ? 0.0f : dy; }
};

struct Sigmoid {
  NAPINET_HOST_DEVICE float forward(float x) const { return 1.0f / (1.0f + expf(-x)); }
  NAPINET_HOST_DEVICE float backward(float dy, float y) const { return dy * ((1.0f - y) * y); }
};

struct Tanh {
  NAPINET_HOST_DEVICE float forward(float x) const { return tanhf(x); }
  NAPINET_HOST_DEVICE float backward(float dy, float y) const { return dy * (1.0f - y * y); }
};

struct LeakyRelu {
  float negative_slope;
  NAPINET_HOST_DEVICE float forward(float x) const { return x > 0.0f ? x : x * negative_slope; }
  NAPINET_HOST_DEVICE float backward(float dy, float x) const {
    return x > 0.0f ? dy : dy * negative_slope;
  }
};

struct Elu {
  float alpha;
  NAPINET_HOST_DEVICE float forward(float x) const { return x > 0.0f ? x : alpha * expm1f(x); }
  NAPINET_HOST_DEVICE float backward(float dy, float x) const {
    return x > 0.0f ? dy : dy * (alpha * expf(x));
  }
};

// GELU's constants, as PyTorch spells them: 1/√2, 1/√(2π), √(2/π), 0.044715.
constexpr float kGeluSqrtHalf = 0.70710678118654752440f;
constexpr float kGeluInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kGeluSqrt2OverPi = 0.79788456080286535588f;
constexpr float kGeluKappa = 0.044715f;

struct GeluErf {
  NAPINET_HOST_DEVICE float forward(float x) const {
    return x * (0.5f * (1.0f + erff(x * kGeluSqrtHalf)));
  }
  NAPINET_HOST_DEVICE float backward(float dy, float x) const {
    const float cdf = 0.5f * (1.0f + erff(x * kGeluSqrtHalf));
    const float pdf = kGeluInvSqrt2Pi * expf(-0.5f * x * x);
    return dy * (cdf + x * pdf);
  }
};

struct GeluTanh {
  NAPINET_HOST_DEVICE float forward(float x) const {
    const float inner = kGeluSqrt2OverPi * (x + kGeluKappa * x * x * x);
    return 0.5f * x * (1.0f + tanhf(inner));
  }
  NAPINET_HOST_DEVICE float backward(float dy, float x) const {
    const float x2 = x * x;
    const float t = tanhf(kGeluSqrt2OverPi * (x + kGeluKappa * x2 * x));
    const float left = 0.5f * (1.0f + t);
    const float right = 0.5f * x * (1.0f - t * t) * kGeluSqrt2OverPi * (1.0f + 3.0f * kGeluKappa * x2);
    return dy * (left + right);
  }
};

struct Softplus {
  float beta, threshold;
  NAPINET_HOST_DEVICE float forward(float x) const {
    const float bx = x * beta;
    return bx > threshold ? x : log1pf(expf(bx)) / beta;
  }
  NAPINET_HOST_DEVICE float backward(float dy, float x) const {
    const float bx = x * beta;
    const float z = expf(bx);
    return bx > threshold ? dy : dy * z / (z + 1.0f);
  }
};

}  // namespace napinet::kernels
