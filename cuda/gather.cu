// A training batch picked by index on the GPU: the CUDA side of native/kernels/gather.h, so a
// dataset uploaded once is batched on the device and a training step uploads nothing. Inputs and
// targets move as 32-bit words (float32 or int32 alike).
// Test: test/gather.test.ts (runs on 'cuda' with a GPU or the emulator build).
#include "common.cuh"

namespace napinet::cuda {
namespace {

// What a row outside the source gets (native/kernels/gather.h): NaN as float32, −1 as int32.
constexpr std::uint32_t kMissingRowWord = 0xFFFFFFFFu;

// ---- kernels ---------------------------------------------------------------------------------

// x (count, x_row) then y (count, y_row), seen as one range of words: one thread per word,
// grid-stride. A row index outside [0, source_rows) is never dereferenced.
__global__ void gather_batch_kernel(std::uint32_t* x, std::uint32_t* y, const std::uint32_t* inputs,
                                    const std::uint32_t* targets, const std::int32_t* rows,
                                    std::int64_t count, std::int64_t x_row, std::int64_t y_row,
                                    std::int64_t source_rows) {
  const std::int64_t x_words = count * x_row;
  const std::int64_t total = x_words + count * y_row;
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < total; i += stride) {
    const bool in_x = i < x_words;
    const std::int64_t j = in_x ? i : i - x_words;
    const std::int64_t width = in_x ? x_row : y_row;
    const std::int64_t r = j / width;
    const std::int64_t row = rows[r];
    const bool valid = row >= 0 && row < source_rows;
    const std::uint32_t* source = in_x ? inputs : targets;
    (in_x ? x : y)[j] = valid ? source[row * width + (j - r * width)] : kMissingRowWord;
  }
}

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

void gather_batch(std::uint32_t* x, std::uint32_t* y, const std::uint32_t* inputs,
                  const std::uint32_t* targets, const std::int32_t* rows, std::int64_t count,
                  std::int64_t x_row, std::int64_t y_row, std::int64_t source_rows) {
  const std::int64_t total = count * (x_row + y_row);
  if (total == 0) return;
  NAPINET_LAUNCH(gather_batch_kernel, grid_for(total), kBlockSize, 0, x, y, inputs, targets, rows,
                 count, x_row, y_row, source_rows);
}

}  // namespace napinet::cuda
