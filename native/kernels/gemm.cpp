#include "gemm.h"

#include <algorithm>
#include <vector>

#include "parallel.h"

namespace napinet::kernels {
namespace {

// Rows [row_begin, row_end) of C. op(B) is read row by row (packed to row-major [K,N] when
// transposed) so the inner loop runs along contiguous memory and vectorises.
NAPINET_VECTORIZED void gemm_rows(float* c, const float* a, const float* b_rows, index_t n,
                                  index_t k, index_t m, bool trans_a, float alpha, float beta,
                                  index_t row_begin, index_t row_end) {
  for (index_t i = row_begin; i < row_end; ++i) {
    float* NAPINET_RESTRICT c_row = c + i * n;
    if (beta == 0.0f) {
      std::fill(c_row, c_row + n, 0.0f);
    } else if (beta != 1.0f) {
      for (index_t j = 0; j < n; ++j) c_row[j] *= beta;
    }
    for (index_t p = 0; p < k; ++p) {
      const float a_ip = alpha * (trans_a ? a[p * m + i] : a[i * k + p]);
      const float* NAPINET_RESTRICT b_row = b_rows + p * n;
      for (index_t j = 0; j < n; ++j) c_row[j] += a_ip * b_row[j];
    }
  }
}

const float* row_major_b(const float* b, index_t n, index_t k, bool trans_b,
                         std::vector<float>& packed) {
  if (!trans_b) return b;
  packed.resize(static_cast<std::size_t>(k * n));
  for (index_t j = 0; j < n; ++j)
    for (index_t p = 0; p < k; ++p) packed[p * n + j] = b[j * k + p];
  return packed.data();
}

}  // namespace

void gemm_serial(float* c, const float* a, const float* b, index_t m, index_t n, index_t k,
                 bool trans_a, bool trans_b, float alpha, float beta) {
  std::vector<float> packed;
  const float* b_rows = row_major_b(b, n, k, trans_b, packed);
  gemm_rows(c, a, b_rows, n, k, m, trans_a, alpha, beta, 0, m);
}

void gemm(float* c, const float* a, const float* b, index_t m, index_t n, index_t k, bool trans_a,
          bool trans_b, float alpha, float beta) {
  std::vector<float> packed;
  const float* b_rows = row_major_b(b, n, k, trans_b, packed);
  const index_t grain = std::max<index_t>(1, 4096 / std::max<index_t>(1, n * k / 64 + 1));
  parallel_for(m, grain, [&](index_t begin, index_t end) {
    gemm_rows(c, a, b_rows, n, k, m, trans_a, alpha, beta, begin, end);
  });
}

}  // namespace napinet::kernels
