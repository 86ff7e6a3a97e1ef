// A training batch picked by index on the GPU: the CUDA side of native/kernels/gather.h, so a
// dataset uploaded once is batched on the device and a training step uploads nothing.
// Test: test/gather.test.ts (runs on 'cuda' with a GPU or the emulator build).
#include <cmath>

#include "common.cuh"

namespace napinet::cuda {
namespace {

// ---- kernels ---------------------------------------------------------------------------------

// x (count, row_length), y (count): one thread per value of x, grid-stride; the thread of a row's
// first value also writes its label. A row index outside [0, image_rows) is never dereferenced.
__global__ void gather_batch_kernel(float* x, std::int32_t* y, const float* images,
                                    const std::int32_t* labels, const std::int32_t* rows,
                                    std::int64_t row_length, std::int64_t image_rows,
                                    std::int64_t total) {
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < total; i += stride) {
    const std::int64_t r = i / row_length;
    const std::int64_t col = i - r * row_length;
    const std::int64_t row = rows[r];
    const bool valid = row >= 0 && row < image_rows;
    x[i] = valid ? images[row * row_length + col] : NAN;
    if (col == 0) y[r] = valid ? labels[row] : -1;
  }
}

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

void gather_batch(float* x, std::int32_t* y, const float* images, const std::int32_t* labels,
                  const std::int32_t* rows, std::int64_t count, std::int64_t row_length,
                  std::int64_t image_rows) {
  const std::int64_t total = count * row_length;
  if (total == 0) return;
  NAPINET_LAUNCH(gather_batch_kernel, grid_for(total), kBlockSize, 0, x, y, images, labels, rows,
                 row_length, image_rows, total);
}

}  // namespace napinet::cuda
