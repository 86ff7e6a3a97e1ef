#include "softmax.h"

#include <algorithm>
#include <cmath>

#include "parallel.h"

namespace napinet::kernels {
namespace {

// The largest of a row's c values.
inline float row_max(const float* x, index_t c) {
  float max = x[0];
  for (index_t k = 1; k < c; ++k) max = std::max(max, x[k]);
  return max;
}

NAPINET_VECTORIZED void softmax_rows(float* y, const float* x, index_t c, index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) {
    const float* xi = x + i * c;  // (C)
    float* yi = y + i * c;        // (C), may alias xi
    const float max = row_max(xi, c);
    float sum = 0.0f;
    for (index_t k = 0; k < c; ++k) {
      yi[k] = std::exp(xi[k] - max);
      sum += yi[k];
    }
    const float inv = 1.0f / sum;
    for (index_t k = 0; k < c; ++k) yi[k] *= inv;
  }
}

NAPINET_VECTORIZED void log_softmax_rows(float* y, const float* x, index_t c, index_t begin,
                                         index_t end) {
  for (index_t i = begin; i < end; ++i) {
    const float* xi = x + i * c;  // (C)
    float* yi = y + i * c;        // (C), may alias xi
    const float max = row_max(xi, c);
    float sum = 0.0f;
    for (index_t k = 0; k < c; ++k) sum += std::exp(xi[k] - max);
    const float log_sum = std::log(sum);
    for (index_t k = 0; k < c; ++k) yi[k] = (xi[k] - max) - log_sum;  // x − max is exact near max
  }
}

// Either backward (SoftmaxGrad, LogSoftmaxGrad: softmax.h) over rows [begin, end).
template <typename Grad>
NAPINET_VECTORIZED void backward_rows(float* dx, const float* dy, const float* y, Grad grad,
                                      index_t c, index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) {
    const float* dyi = dy + i * c;  // (C)
    const float* yi = y + i * c;    // (C)
    float* dxi = dx + i * c;        // (C), may alias dyi
    float sum = 0.0f;
    for (index_t k = 0; k < c; ++k) sum += grad.term(dyi[k], yi[k]);
    for (index_t k = 0; k < c; ++k) dxi[k] = grad.grad(dyi[k], yi[k], sum);
  }
}

// Rows per parallel chunk: about 8k values, at least one row (depends on C only).
index_t row_grain(index_t c) { return std::max<index_t>(1, (1 << 13) / std::max<index_t>(1, c)); }

}  // namespace

void softmax_forward(float* y, const float* x, index_t n, index_t c) {
  parallel_for(n, row_grain(c), [&](index_t b, index_t e) { softmax_rows(y, x, c, b, e); });
}

void softmax_backward(float* dx, const float* dy, const float* y, index_t n, index_t c) {
  parallel_for(n, row_grain(c),
               [&](index_t b, index_t e) { backward_rows(dx, dy, y, SoftmaxGrad{}, c, b, e); });
}

void log_softmax_forward(float* y, const float* x, index_t n, index_t c) {
  parallel_for(n, row_grain(c), [&](index_t b, index_t e) { log_softmax_rows(y, x, c, b, e); });
}

void log_softmax_backward(float* dx, const float* dy, const float* y, index_t n, index_t c) {
  parallel_for(n, row_grain(c),
               [&](index_t b, index_t e) { backward_rows(dx, dy, y, LogSoftmaxGrad{}, c, b, e); });
}

}  // namespace napinet::kernels
