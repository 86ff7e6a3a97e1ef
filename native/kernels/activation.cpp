#include "activation.h"

#include "parallel.h"

namespace napinet::kernels {
namespace {

constexpr index_t kElementGrain = 1 << 16;

// y = op.forward(x) and dx = op.backward(dy, saved), element by element over [begin, end).
template <typename Op>
NAPINET_VECTORIZED void forward_range(float* y, const float* x, Op op, index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) y[i] = op.forward(x[i]);
}

template <typename Op>
NAPINET_VECTORIZED void backward_range(float* dx, const float* dy, const float* saved, Op op,
                                       index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) dx[i] = op.backward(dy[i], saved[i]);
}

template <typename Op>
void forward(float* y, const float* x, Op op, index_t n) {
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) { forward_range(y, x, op, b, e); });
}

template <typename Op>
void backward(float* dx, const float* dy, const float* saved, Op op, index_t n) {
  parallel_for(n, kElementGrain,
               [&](index_t b, index_t e) { backward_range(dx, dy, saved, op, b, e); });
}

}  // namespace

void relu_forward(float* y, const float* x, index_t n) { forward(y, x, Relu{}, n); }
void relu_backward(float* dx, const float* dy, const float* y, index_t n) {
  backward(dx, dy, y, Relu{}, n);
}

void sigmoid_forward(float* y, const float* x, index_t n) { forward(y, x, Sigmoid{}, n); }
void sigmoid_backward(float* dx, const float* dy, const float* y, index_t n) {
  backward(dx, dy, y, Sigmoid{}, n);
}

void tanh_forward(float* y, const float* x, index_t n) { forward(y, x, Tanh{}, n); }
void tanh_backward(float* dx, const float* dy, const float* y, index_t n) {
  backward(dx, dy, y, Tanh{}, n);
}

void leaky_relu_forward(float* y, const float* x, float negative_slope, index_t n) {
  forward(y, x, LeakyRelu{negative_slope}, n);
}
void leaky_relu_backward(float* dx, const float* dy, const float* x, float negative_slope,
                         index_t n) {
  backward(dx, dy, x, LeakyRelu{negative_slope}, n);
}

void elu_forward(float* y, const float* x, float alpha, index_t n) { forward(y, x, Elu{alpha}, n); }
void elu_backward(float* dx, const float* dy, const float* x, float alpha, index_t n) {
  backward(dx, dy, x, Elu{alpha}, n);
}

void gelu_forward(float* y, const float* x, bool approximate_tanh, index_t n) {
  if (approximate_tanh) {
    forward(y, x, GeluTanh{}, n);
  } else {
    forward(y, x, GeluErf{}, n);
  }
}
void gelu_backward(float* dx, const float* dy, const float* x, bool approximate_tanh, index_t n) {
  if (approximate_tanh) {
    backward(dx, dy, x, GeluTanh{}, n);
  } else {
    backward(dx, dy, x, GeluErf{}, n);
  }
}

void softplus_forward(float* y, const float* x, float beta, float threshold, index_t n) {
  forward(y, x, Softplus{beta, threshold}, n);
}
void softplus_backward(float* dx, const float* dy, const float* x, float beta, float threshold,
                       index_t n) {
  backward(dx, dy, x, Softplus{beta, threshold}, n);
}

}  // namespace napinet::kernels
