// Rows of a matrix picked by index (torch.index_select along dim 0): the training loop's batch
// gather, split over the thread pool (the rows come from main memory, so two threads keep twice as
// many cache misses in flight).
// Test: test/gather.test.ts
#pragma once

#include <cstdint>

#include "common.h"

namespace napinet::kernels {

// dst[i, :] = src[rows[i], :] for i < count, rows of row_length floats; every rows[i] must lie in
// [0, rows of src) (the binding checks).
void gather_rows(float* dst,                // (count, row_length)
                 const float* src,          // (rows, row_length)
                 const std::int32_t* rows,  // (count)
                 index_t count, index_t row_length);

}  // namespace napinet::kernels
