// A training batch picked by index (torch.index_select along dim 0, for a dataset's inputs and
// targets at once): the training loop's batch gather, split over the thread pool (the rows come
// from main memory, so two threads keep twice as many cache misses in flight). The CUDA side is
// cuda/gather.cu, so a dataset kept on the GPU is batched there without a host round trip.
// Elements move as 32-bit words, never read as numbers: inputs and targets may each be float32 or
// int32 (images and class labels, features and regression targets, …).
// Test: test/gather.test.ts
#pragma once

#include <cstdint>

#include "common.h"

namespace napinet::kernels {

// What a row outside the source gets: all bits set, which is NaN as a float32 and −1 as an int32.
constexpr std::uint32_t kMissingRowWord = 0xFFFFFFFFu;

// x[i, :] = inputs[rows[i], :] (rows of x_row words) and y[i, :] = targets[rows[i], :] (rows of
// y_row words) for i < count. A rows[i] outside [0, source_rows) is never dereferenced: its rows of
// x and y are filled with kMissingRowWord (a NaN input and the label −1), as on the GPU, which
// cannot report it (the binding rejects such rows on the CPU first).
void gather_batch(std::uint32_t* x,              // (count, x_row)
                  std::uint32_t* y,              // (count, y_row)
                  const std::uint32_t* inputs,   // (source_rows, x_row)
                  const std::uint32_t* targets,  // (source_rows, y_row)
                  const std::int32_t* rows,      // (count)
                  index_t count, index_t x_row, index_t y_row, index_t source_rows);

}  // namespace napinet::kernels
