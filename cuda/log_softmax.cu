// Softmax backward and log-softmax (forward and backward) on the GPU: the CUDA side of
// softmax_backward, log_softmax_forward and log_softmax_backward in native/kernels/softmax.h
// (mirrors torch.softmax / torch.log_softmax over dim 1 of (N, C) and their autograd). Kept apart
// from cuda/softmax.cu (softmax's forward) while both are written; one file once merged.
// Test: test/softmax.test.ts (runs on 'cuda' with a GPU or the emulator build).
#include <cmath>

#include "common.cuh"

namespace napinet::cuda {
namespace {

// ---- kernels ---------------------------------------------------------------------------------

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

// dx (N,C) = dy − exp(y)·Σ_row dy. dx may alias dy.
__global__ void log_softmax_backward_kernel(float* dx, const float* dy, const float* y, std::int64_t n,
                                            std::int64_t c) {
  const int lane = static_cast<int>(threadIdx.x % kWarp);
  for (std::int64_t row = first_row(); row < n; row += row_stride()) {
    const float* dyi = dy + row * c;  // (C)
    const float* yi = y + row * c;    // (C)
    float* dxi = dx + row * c;        // (C)
    float sum = 0.0f;
    for (std::int64_t k = lane; k < c; k += kWarp) sum += dyi[k];
    sum = warp_sum(sum);
    for (std::int64_t k = lane; k < c; k += kWarp) dxi[k] = dyi[k] - expf(yi[k]) * sum;
  }
}

// dx (N,C) = y·(dy − Σ_row dy·y). dx may alias dy.
__global__ void softmax_backward_kernel(float* dx, const float* dy, const float* y, std::int64_t n,
                                        std::int64_t c) {
  const int lane = static_cast<int>(threadIdx.x % kWarp);
  for (std::int64_t row = first_row(); row < n; row += row_stride()) {
    const float* dyi = dy + row * c;  // (C)
    const float* yi = y + row * c;    // (C)
    float* dxi = dx + row * c;        // (C)
    float dot = 0.0f;
    for (std::int64_t k = lane; k < c; k += kWarp) dot += dyi[k] * yi[k];
    dot = warp_sum(dot);
    for (std::int64_t k = lane; k < c; k += kWarp) dxi[k] = yi[k] * (dyi[k] - dot);
  }
}

// Blocks for n rows, one warp each.
unsigned row_blocks(std::int64_t n) { return grid_for(n * kWarp, kBlockSize); }

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

void softmax_backward(float* dx, const float* dy, const float* y, std::int64_t n, std::int64_t c) {
  if (n == 0 || c == 0) return;
  NAPINET_LAUNCH(softmax_backward_kernel, row_blocks(n), kBlockSize, 0, dx, dy, y, n, c);
}

void log_softmax_forward(float* y, const float* x, std::int64_t n, std::int64_t c) {
  if (n == 0 || c == 0) return;
  NAPINET_LAUNCH(log_softmax_forward_kernel, row_blocks(n), kBlockSize, 0, y, x, n, c);
}

void log_softmax_backward(float* dx, const float* dy, const float* y, std::int64_t n, std::int64_t c) {
  if (n == 0 || c == 0) return;
  NAPINET_LAUNCH(log_softmax_backward_kernel, row_blocks(n), kBlockSize, 0, dx, dy, y, n, c);
}

}  // namespace napinet::cuda
