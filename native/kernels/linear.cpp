#include "linear.h"

#include <algorithm>

#include "gemm.h"
#include "parallel.h"

namespace napinet::kernels {
namespace {

constexpr index_t kColumnGrain = 1024;  // bias-gradient columns per parallel chunk
constexpr index_t kColumnBlock = 256;   // columns summed at once in registers/L1

// db[o] (=|+=) Σ_n dy[n, o] for o in [begin, end), each column summed in batch order.
NAPINET_VECTORIZED void bias_grad_columns(float* NAPINET_RESTRICT db,
                                          const float* NAPINET_RESTRICT dy, index_t n,
                                          index_t out, index_t begin, index_t end,
                                          bool accumulate) {
  for (index_t o0 = begin; o0 < end; o0 += kColumnBlock) {
    const index_t w = std::min(kColumnBlock, end - o0);
    float sum[kColumnBlock] = {};
    for (index_t i = 0; i < n; ++i) {
      const float* row = dy + i * out + o0;
      for (index_t o = 0; o < w; ++o) sum[o] += row[o];
    }
    for (index_t o = 0; o < w; ++o) db[o0 + o] = accumulate ? db[o0 + o] + sum[o] : sum[o];
  }
}

NAPINET_VECTORIZED void broadcast_rows(float* NAPINET_RESTRICT y, const float* NAPINET_RESTRICT b,
                                       index_t n, index_t out) {
  for (index_t i = 0; i < n; ++i)
    for (index_t o = 0; o < out; ++o) y[i * out + o] = b[o];
}

}  // namespace

void linear_forward(float* y, const float* x, const float* w, const float* b, index_t n,
                    index_t in_features, index_t out_features) {
  // y = b (broadcast over the batch), then y = 1·x·wᵀ + 1·y: the bias is added once, in the same
  // rounding step as the product (as torch.addmm).
  if (b != nullptr) broadcast_rows(y, b, n, out_features);
  gemm(y, x, w, n, out_features, in_features, false, true, 1.0f, b != nullptr ? 1.0f : 0.0f);
}

void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, index_t n, index_t in_features, index_t out_features,
                     bool accumulate) {
  if (dx != nullptr) gemm(dx, dy, w, n, in_features, out_features, false, false, 1.0f, 0.0f);
  gemm(dw, dy, x, out_features, in_features, n, true, false, 1.0f, accumulate ? 1.0f : 0.0f);
  if (db != nullptr) {
    parallel_for(out_features, kColumnGrain, [&](index_t begin, index_t end) {
      bias_grad_columns(db, dy, n, out_features, begin, end, accumulate);
    });
  }
}

}  // namespace napinet::kernels
