#include "activation.h"

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

}  // namespace

void relu_forward(float* y, const float* x, index_t n) {
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) { relu_forward_range(y, x, b, e); });
}

void relu_backward(float* dx, const float* dy, const float* y, index_t n) {
  parallel_for(n, kElementGrain,
               [&](index_t b, index_t e) { relu_backward_range(dx, dy, y, b, e); });
}

}  // namespace napinet::kernels
