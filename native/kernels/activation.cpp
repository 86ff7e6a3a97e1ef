#include "activation.h"

#include <cmath>

#include "parallel.h"

namespace napinet::kernels {
namespace {

constexpr index_t kElementGrain = 1 << 16;

NAPINET_VECTORIZED void relu_forward_range(float* y, const float* x, index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

NAPINET_VECTORIZED void relu_backward_range(float* dx, const float* dy, const float* y,
                                            index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

// GELU's constants, as PyTorch spells them: 1/√2, 1/√(2π), √(2/π), 0.044715.
constexpr float kSqrtHalf = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kGeluKappa = 0.044715f;

NAPINET_VECTORIZED void sigmoid_forward_range(float* y, const float* x, index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) y[i] = 1.0f / (1.0f + std::exp(-x[i]));
}

NAPINET_VECTORIZED void sigmoid_backward_range(float* dx, const float* dy, const float* y,
                                               index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) dx[i] = dy[i] * ((1.0f - y[i]) * y[i]);
}

NAPINET_VECTORIZED void tanh_forward_range(float* y, const float* x, index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) y[i] = std::tanh(x[i]);
}

NAPINET_VECTORIZED void tanh_backward_range(float* dx, const float* dy, const float* y,
                                            index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

NAPINET_VECTORIZED void leaky_relu_forward_range(float* y, const float* x, float slope,
                                                 index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) y[i] = x[i] > 0.0f ? x[i] : x[i] * slope;
}

NAPINET_VECTORIZED void leaky_relu_backward_range(float* dx, const float* dy, const float* x,
                                                  float slope, index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * slope;
}

NAPINET_VECTORIZED void elu_forward_range(float* y, const float* x, float alpha, index_t begin,
                                          index_t end) {
  for (index_t i = begin; i < end; ++i) y[i] = x[i] > 0.0f ? x[i] : alpha * std::expm1(x[i]);
}

NAPINET_VECTORIZED void elu_backward_range(float* dx, const float* dy, const float* x, float alpha,
                                           index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) {
    dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * (alpha * std::exp(x[i]));
  }
}

NAPINET_VECTORIZED void gelu_erf_forward_range(float* y, const float* x, index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) y[i] = x[i] * (0.5f * (1.0f + std::erf(x[i] * kSqrtHalf)));
}

NAPINET_VECTORIZED void gelu_erf_backward_range(float* dx, const float* dy, const float* x,
                                                index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) {
    const float v = x[i];
    const float cdf = 0.5f * (1.0f + std::erf(v * kSqrtHalf));
    const float pdf = kInvSqrt2Pi * std::exp(-0.5f * v * v);
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

NAPINET_VECTORIZED void gelu_tanh_forward_range(float* y, const float* x, index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) {
    const float v = x[i];
    const float inner = kSqrt2OverPi * (v + kGeluKappa * v * v * v);
    y[i] = 0.5f * v * (1.0f + std::tanh(inner));
  }
}

NAPINET_VECTORIZED void gelu_tanh_backward_range(float* dx, const float* dy, const float* x,
                                                 index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) {
    const float v = x[i];
    const float v2 = v * v;
    const float t = std::tanh(kSqrt2OverPi * (v + kGeluKappa * v2 * v));
    const float left = 0.5f * (1.0f + t);
    const float right = 0.5f * v * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * kGeluKappa * v2);
    dx[i] = dy[i] * (left + right);
  }
}

NAPINET_VECTORIZED void softplus_forward_range(float* y, const float* x, float beta,
                                               float threshold, index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) {
    const float bx = x[i] * beta;
    y[i] = bx > threshold ? x[i] : std::log1p(std::exp(bx)) / beta;
  }
}

NAPINET_VECTORIZED void softplus_backward_range(float* dx, const float* dy, const float* x,
                                                float beta, float threshold, index_t begin,
                                                index_t end) {
  for (index_t i = begin; i < end; ++i) {
    const float bx = x[i] * beta;
    const float z = std::exp(bx);
    dx[i] = bx > threshold ? dy[i] : dy[i] * z / (z + 1.0f);
  }
}

}  // namespace

void relu_forward(float* y, const float* x, index_t n) {
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) { relu_forward_range(y, x, b, e); });
}

void relu_backward(float* dx, const float* dy, const float* y, index_t n) {
  parallel_for(n, kElementGrain,
               [&](index_t b, index_t e) { relu_backward_range(dx, dy, y, b, e); });
}

void sigmoid_forward(float* y, const float* x, index_t n) {
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) { sigmoid_forward_range(y, x, b, e); });
}

void sigmoid_backward(float* dx, const float* dy, const float* y, index_t n) {
  parallel_for(n, kElementGrain,
               [&](index_t b, index_t e) { sigmoid_backward_range(dx, dy, y, b, e); });
}

void tanh_forward(float* y, const float* x, index_t n) {
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) { tanh_forward_range(y, x, b, e); });
}

void tanh_backward(float* dx, const float* dy, const float* y, index_t n) {
  parallel_for(n, kElementGrain,
               [&](index_t b, index_t e) { tanh_backward_range(dx, dy, y, b, e); });
}

void leaky_relu_forward(float* y, const float* x, float negative_slope, index_t n) {
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) {
    leaky_relu_forward_range(y, x, negative_slope, b, e);
  });
}

void leaky_relu_backward(float* dx, const float* dy, const float* x, float negative_slope,
                         index_t n) {
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) {
    leaky_relu_backward_range(dx, dy, x, negative_slope, b, e);
  });
}

void elu_forward(float* y, const float* x, float alpha, index_t n) {
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) { elu_forward_range(y, x, alpha, b, e); });
}

void elu_backward(float* dx, const float* dy, const float* x, float alpha, index_t n) {
  parallel_for(n, kElementGrain,
               [&](index_t b, index_t e) { elu_backward_range(dx, dy, x, alpha, b, e); });
}

void gelu_forward(float* y, const float* x, bool approximate_tanh, index_t n) {
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) {
    if (approximate_tanh) {
      gelu_tanh_forward_range(y, x, b, e);
    } else {
      gelu_erf_forward_range(y, x, b, e);
    }
  });
}

void gelu_backward(float* dx, const float* dy, const float* x, bool approximate_tanh, index_t n) {
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) {
    if (approximate_tanh) {
      gelu_tanh_backward_range(dx, dy, x, b, e);
    } else {
      gelu_erf_backward_range(dx, dy, x, b, e);
    }
  });
}

void softplus_forward(float* y, const float* x, float beta, float threshold, index_t n) {
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) {
    softplus_forward_range(y, x, beta, threshold, b, e);
  });
}

void softplus_backward(float* dx, const float* dy, const float* x, float beta, float threshold,
                       index_t n) {
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) {
    softplus_backward_range(dx, dy, x, beta, threshold, b, e);
  });
}

}  // namespace napinet::kernels
