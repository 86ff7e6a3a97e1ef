#include "softmax.h"

#include <algorithm>
#include <cmath>

#include "parallel.h"

namespace napinet::kernels {
namespace {

NAPINET_VECTORIZED void softmax_rows(float* y, const float* x, index_t c, index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) {
    const float* xi = x + i * c;  // (C)
    float* yi = y + i * c;        // (C), may alias xi
    float max = xi[0];
    for (index_t k = 1; k < c; ++k) max = std::max(max, xi[k]);
    float sum = 0.0f;
    for (index_t k = 0; k < c; ++k) {
      yi[k] = std::exp(xi[k] - max);
      sum += yi[k];
    }
    const float inv = 1.0f / sum;
    for (index_t k = 0; k < c; ++k) yi[k] *= inv;
  }
}

}  // namespace

void softmax_forward(float* y, const float* x, index_t n, index_t c) {
  const index_t grain = std::max<index_t>(1, (1 << 13) / std::max<index_t>(1, c));
  parallel_for(n, grain, [&](index_t b, index_t e) { softmax_rows(y, x, c, b, e); });
}

}  // namespace napinet::kernels
