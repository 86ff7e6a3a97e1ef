// Sets every element of a buffer to one value (torch.Tensor.fill_), e.g. to zero gradients.
// Test: test/fill.test.ts
#pragma once

#include <cstdint>

#include "common.h"

namespace napinet::kernels {

// x (n) = value.
void fill(float* x, float value, index_t n);
// x (n) = value, for int32 tensors (labels, argmax indices).
void fill_int32(std::int32_t* x, std::int32_t value, index_t n);
// x[i] (n[i]) = value for each of `count` buffers: zeroing every gradient of a model in one call
// (on a GPU, one launch per 16 buffers).
void fill_many(float* const* x, const std::int64_t* n, std::int64_t count, float value);

}  // namespace napinet::kernels
