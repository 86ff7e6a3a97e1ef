// Softmax and log-softmax over the last dimension of (N, C) on the GPU, forward and backward: the
// CUDA side of native/kernels/softmax.h (mirrors torch.softmax / torch.log_softmax over dim 1 and
// their autograd). Test: test/softmax.test.ts (runs on 'cuda' with a GPU or the emulator build).
//
// Softmax forward: one group of `lanes` threads per row (lanes = C rounded up to a power of two, at
// most a warp), so small C (10 classes) keeps the whole block busy: a row's max and Σ exp are
// butterfly reductions over the group (__shfl_xor_sync), which leave every lane with the same value.
// The others: one warp per row, the row's sum (or max) by a fixed tree of shuffles down to lane 0,
// then broadcast. Either way the Σ is added in a different order than the CPU's left-to-right loop
// (each lane's strided terms, then the tree), which changes it by at most a few float32 roundings of
// C terms: within the test's tolerances.
#include "common.cuh"
#include "../native/kernels/softmax.h"

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

// ---- softmax backward and log-softmax: one warp per row ----

constexpr int kWarp = 32;
constexpr int kRowsPerBlock = kBlockSize / kWarp;  // one warp per row

// Lane l holds a partial value; every lane gets the same total: a fixed tree of shuffles down to
// lane 0, then lane 0's value broadcast (a butterfly would give each lane its own rounding).
__device__ __forceinline__ float warp_sum(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  return __shfl_sync(0xffffffffu, v, 0);
}

__device__ __forceinline__ float warp_max(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v = fmaxf(v, __shfl_down_sync(0xffffffffu, v, offset));
  return __shfl_sync(0xffffffffu, v, 0);
}

// The warp's first row and the step between its rows (a grid-stride loop over rows, warp-uniform).
__device__ __forceinline__ std::int64_t first_row() {
  return std::int64_t{blockIdx.x} * kRowsPerBlock + threadIdx.x / kWarp;
}
__device__ __forceinline__ std::int64_t row_stride() { return std::int64_t{gridDim.x} * kRowsPerBlock; }

// y (N,C) = x − max − log Σ exp(x − max), per row. y may alias x.
__global__ void log_softmax_forward_kernel(float* y, const float* x, std::int64_t n, std::int64_t c) {
  const int lane = static_cast<int>(threadIdx.x % kWarp);
  for (std::int64_t row = first_row(); row < n; row += row_stride()) {
    const float* xi = x + row * c;  // (C)
    float* yi = y + row * c;        // (C)
    float max = -INFINITY;
    for (std::int64_t k = lane; k < c; k += kWarp) max = fmaxf(max, xi[k]);
    max = warp_max(max);
    float sum = 0.0f;
    for (std::int64_t k = lane; k < c; k += kWarp) sum += expf(xi[k] - max);
    const float log_sum = logf(warp_sum(sum));
    for (std::int64_t k = lane; k < c; k += kWarp) yi[k] = (xi[k] - max) - log_sum;  // as the CPU kernel
  }
}

// Either backward (kernels::SoftmaxGrad, LogSoftmaxGrad: native/kernels/softmax.h), per row:
// sum = Σ grad.term(dy, y) over the warp, then dx = grad.grad(dy, y, sum). dx may alias dy.
template <typename Grad>
__global__ void row_backward_kernel(float* dx, const float* dy, const float* y, Grad grad,
                                    std::int64_t n, std::int64_t c) {
  const int lane = static_cast<int>(threadIdx.x % kWarp);
  for (std::int64_t row = first_row(); row < n; row += row_stride()) {
    const float* dyi = dy + row * c;  // (C)
    const float* yi = y + row * c;    // (C)
    float* dxi = dx + row * c;        // (C)
    float sum = 0.0f;
    for (std::int64_t k = lane; k < c; k += kWarp) sum += grad.term(dyi[k], yi[k]);
    sum = warp_sum(sum);
    for (std::int64_t k = lane; k < c; k += kWarp) dxi[k] = grad.grad(dyi[k], yi[k], sum);
  }
}

// Blocks for n rows, one warp each.
unsigned row_blocks(std::int64_t n) { return grid_for(n * kWarp, kBlockSize); }

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

void softmax_backward(float* dx, const float* dy, const float* y, std::int64_t n, std::int64_t c) {
  if (n == 0 || c == 0) return;
  NAPINET_LAUNCH((row_backward_kernel<kernels::SoftmaxGrad>), row_blocks(n), kBlockSize, 0, dx, dy,
                 y, kernels::SoftmaxGrad{}, n, c);
}

void log_softmax_forward(float* y, const float* x, std::int64_t n, std::int64_t c) {
  if (n == 0 || c == 0) return;
  NAPINET_LAUNCH(log_softmax_forward_kernel, row_blocks(n), kBlockSize, 0, y, x, n, c);
}

void log_softmax_backward(float* dx, const float* dy, const float* y, std::int64_t n, std::int64_t c) {
  if (n == 0 || c == 0) return;
  NAPINET_LAUNCH((row_backward_kernel<kernels::LogSoftmaxGrad>), row_blocks(n), kBlockSize, 0, dx,
                 dy, y, kernels::LogSoftmaxGrad{}, n, c);
}

}  // namespace napinet::cuda
