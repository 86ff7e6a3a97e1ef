// Softmax over the last dimension of (N, C) on the GPU: the CUDA side of native/kernels/softmax.h
// (mirrors torch.softmax(x, dim=1)). Test: test/softmax.test.ts (runs on 'cuda' with a GPU or the
// emulator build).
//
// One group of `lanes` threads per row (lanes = C rounded up to a power of two, at most a warp), so
// small C (10 classes) keeps the whole block busy: a row's max and Σ exp are butterfly reductions
// over the group (__shfl_xor_sync), which leave every lane with the same value. The Σ is added in a
// different order than the CPU's left-to-right loop (each lane's strided terms, then the butterfly),
// which changes it by at most a few float32 roundings of C terms: within the test's rtol 2e-6.
#include "common.cuh"

namespace napinet::cuda {
namespace {

constexpr unsigned kFullMask = 0xffffffffu;

// ---- kernels ---------------------------------------------------------------------------------

// y (N,C) = exp(x − max_row) / Σ_row exp(x − max_row); y may alias x. Rows are grid-strided over the
// groups; the loop bound is the same for every thread, so all lanes of a warp reach each shuffle.
__global__ void softmax_forward_kernel(float* y, const float* x, std::int64_t n, std::int64_t c,
                                       int lanes) {
  const int lane = static_cast<int>(threadIdx.x) % lanes;
  const std::int64_t groups_per_block = blockDim.x / lanes;
  const std::int64_t group = std::int64_t{blockIdx.x} * groups_per_block + threadIdx.x / lanes;
  const std::int64_t groups = groups_per_block * gridDim.x;
  for (std::int64_t base = 0; base < n; base += groups) {
    const std::int64_t row = base + group;
    const bool active = row < n;
    const float* xi = x + (active ? row : 0) * c;  // (C)
    float* yi = y + (active ? row : 0) * c;        // (C), may alias xi
    float max = -INFINITY;
    if (active) {
      for (std::int64_t k = lane; k < c; k += lanes) max = fmaxf(max, xi[k]);
    }
    for (int offset = lanes / 2; offset > 0; offset /= 2) {
      max = fmaxf(max, __shfl_xor_sync(kFullMask, max, offset));
    }
    float sum = 0.0f;
    if (active) {
      for (std::int64_t k = lane; k < c; k += lanes) {
        const float e = expf(xi[k] - max);
        yi[k] = e;
        sum += e;
      }
    }
    for (int offset = lanes / 2; offset > 0; offset /= 2) {
      sum += __shfl_xor_sync(kFullMask, sum, offset);
    }
    if (active) {
      const float inv = 1.0f / sum;
      for (std::int64_t k = lane; k < c; k += lanes) yi[k] *= inv;
    }
  }
}

// Threads per row: C rounded up to a power of two, between 1 and a warp.
int lanes_for(std::int64_t c) {
  int lanes = 1;
  while (lanes < 32 && lanes < c) lanes *= 2;
  return lanes;
}

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

void softmax_forward(float* y, const float* x, std::int64_t n, std::int64_t c) {  // y, x: (N,C)
  if (n == 0 || c == 0) return;
  const int lanes = lanes_for(c);
  NAPINET_LAUNCH(softmax_forward_kernel, grid_for(n * lanes), kBlockSize, 0, y, x, n, c, lanes);
}

}  // namespace napinet::cuda
