// Channel concatenation on the GPU, its split and the gradient sum: the CUDA side of
// native/kernels/concat.h (mirrors torch.cat(dim=1) and its backward). Pure copies and one
// addition per element, so the results equal the CPU kernels' exactly.
// Test: test/concat.test.ts (runs on 'cuda' with a GPU or the emulator build).
#include "common.cuh"

namespace napinet::cuda {
namespace {

// ---- kernels ---------------------------------------------------------------------------------

// Element i of x (N,c_x,inner) ↔ its place in y (N,c_y,inner), channels offset … offset + c_x − 1.
__device__ __forceinline__ std::int64_t index_in_y(std::int64_t i, std::int64_t c_y,
                                                   std::int64_t offset, std::int64_t c_x,
                                                   std::int64_t inner) {
  const std::int64_t row = i / inner, col = i - row * inner;
  const std::int64_t sample = row / c_x, channel = row - sample * c_x;
  return (sample * c_y + offset + channel) * inner + col;
}

// y[:, offset : offset + c_x] = x, grid-stride over the n = N·c_x·inner elements of x.
__global__ void concat_channels_kernel(float* y, const float* x, std::int64_t c_y,
                                       std::int64_t offset, std::int64_t c_x, std::int64_t inner,
                                       std::int64_t n) {
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    y[index_in_y(i, c_y, offset, c_x, inner)] = x[i];
  }
}

// x = y[:, offset : offset + c_x], grid-stride over the n elements of x.
__global__ void split_channels_kernel(float* x, const float* y, std::int64_t c_y,
                                      std::int64_t offset, std::int64_t c_x, std::int64_t inner,
                                      std::int64_t n) {
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    x[i] = y[index_in_y(i, c_y, offset, c_x, inner)];
  }
}

// y += x over n elements.
__global__ void add_into_kernel(float* y, const float* x, std::int64_t n) {
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    y[i] += x[i];
  }
}

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

void concat_channels(float* y, const float* x, std::int64_t n, std::int64_t c_y,
                     std::int64_t offset, std::int64_t c_x, std::int64_t inner) {
  const std::int64_t total = n * c_x * inner;  // elements of x
  if (total == 0) return;
  NAPINET_LAUNCH(concat_channels_kernel, grid_for(total), kBlockSize, 0, y, x, c_y, offset, c_x,
                 inner, total);
}

void split_channels(float* x, const float* y, std::int64_t n, std::int64_t c_y,
                    std::int64_t offset, std::int64_t c_x, std::int64_t inner) {
  const std::int64_t total = n * c_x * inner;
  if (total == 0) return;
  NAPINET_LAUNCH(split_channels_kernel, grid_for(total), kBlockSize, 0, x, y, c_y, offset, c_x,
                 inner, total);
}

void add_into(float* y, const float* x, std::int64_t count) {
  if (count == 0) return;
  NAPINET_LAUNCH(add_into_kernel, grid_for(count), kBlockSize, 0, y, x, count);
}

}  // namespace napinet::cuda
