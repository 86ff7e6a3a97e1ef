// General matrix multiply, row-major float32, like BLAS sgemm:
//   C[M,N] = alpha · op(A) · op(B) + beta · C,   op(X) = X or Xᵀ.
// A is [M,K] (or [K,M] when trans_a), B is [K,N] (or [N,K] when trans_b). beta = 0 ignores C's
// previous contents (NaN included); alpha = 0 or K = 0 gives beta·C without reading A or B (as
// BLAS). Thread-safe; gemm uses the pool (parallel_for), gemm_serial only the calling thread.
// Used by Linear and by convolution's im2col path.
// Test: test/gemm.test.ts
#pragma once

#include "common.h"

namespace napinet::kernels {

void gemm(float* c, const float* a, const float* b, index_t m, index_t n, index_t k, bool trans_a,
          bool trans_b, float alpha, float beta);

// The same product on the calling thread only (for callers that already parallelise outside).
// Bit-identical to gemm: both split the work the same way, from the shape alone.
void gemm_serial(float* c, const float* a, const float* b, index_t m, index_t n, index_t k,
                 bool trans_a, bool trans_b, float alpha, float beta);

// `batch` independent products C_i = alpha·op(A_i)·op(B_i) + beta·C_i (torch.bmm / torch.matmul
// with batch dimensions), item i at c + i·stride_c, a + i·stride_a, b + i·stride_b. A stride of 0
// shares one matrix across the batch (a broadcast batch dimension). Items of C must not overlap
// (stride_c ≥ m·n when batch > 1). Every item is bit-identical to gemm on that item alone: small
// items run whole on the pool's threads (gemm_serial), large ones one after another on all of them.
void gemm_batched(float* c, const float* a, const float* b, index_t batch, index_t m, index_t n,
                  index_t k, bool trans_a, bool trans_b, index_t stride_a, index_t stride_b,
                  index_t stride_c, float alpha, float beta);

// The micro-kernel set in use: "avx512", "avx2" or "generic", picked once from the running CPU
// (NAPINET_GEMM_ISA=avx2|generic in the environment forces a narrower one, to test those paths).
const char* gemm_isa();

}  // namespace napinet::kernels
