// A training batch picked by index (torch.index_select along dim 0, for images and labels at
// once): the training loop's batch gather, split over the thread pool (the rows come from main
// memory, so two threads keep twice as many cache misses in flight). The CUDA side is
// cuda/gather.cu, so a dataset kept on the GPU is batched there without a host round trip.
// Test: test/gather.test.ts
#pragma once

#include <cstdint>

#include "common.h"

namespace napinet::kernels {

// x[i, :] = images[rows[i], :] and y[i] = labels[rows[i]] for i < count, rows of row_length
// floats. A rows[i] outside [0, image_rows) is never dereferenced: it gives a NaN row and the label
// −1, as on the GPU, which cannot report it (the binding rejects such rows on the CPU first).
void gather_batch(float* x,                    // (count, row_length)
                  std::int32_t* y,             // (count)
                  const float* images,         // (image_rows, row_length)
                  const std::int32_t* labels,  // (image_rows)
                  const std::int32_t* rows,    // (count)
                  index_t count, index_t row_length, index_t image_rows);

}  // namespace napinet::kernels
