#include "gather.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "parallel.h"

namespace napinet::kernels {
namespace {

constexpr index_t kChunkFloats = 8 * 1024;  // floats per parallel chunk: 32 KiB of rows

}  // namespace

void gather_batch(float* x, std::int32_t* y, const float* images, const std::int32_t* labels,
                  const std::int32_t* rows, index_t count, index_t row_length, index_t image_rows) {
  if (row_length <= 0) return;
  const index_t grain = std::max<index_t>(1, kChunkFloats / row_length);
  parallel_for(count, grain, [&](index_t begin, index_t end) {
    for (index_t i = begin; i < end; ++i) {
      const auto row = static_cast<index_t>(rows[i]);
      float* out = x + i * row_length;
      if (row < 0 || row >= image_rows) {
        std::fill(out, out + row_length, std::numeric_limits<float>::quiet_NaN());
        y[i] = -1;
        continue;
      }
      std::memcpy(out, images + row * row_length,
                  static_cast<std::size_t>(row_length) * sizeof(float));
      y[i] = labels[row];
    }
  });
}

}  // namespace napinet::kernels
