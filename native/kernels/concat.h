// Joining tensors along the channel axis (dim 1) and taking them apart again: the copies behind
// napinet's Concat layer. Mirrors torch.cat(tensors, dim=1) and its backward (each input's gradient
// is its slice of the output gradient); add_into sums the branches' input gradients.
// Test: test/concat.test.ts (fixtures from scripts/fixtures/concat.py)
//
// A tensor of any rank ≥ 2 is seen as (N, C, inner), inner = the product of the dimensions after
// the channels (H·W for images, L for sequences, 1 for features). Pure copies and one addition per
// element: every result is exact and independent of the thread count.
#pragma once

#include "common.h"

namespace napinet::kernels {

// y[:, offset : offset + c_x] = x. The caller ensures offset + c_x ≤ c_y.
void concat_channels(float* y,        // (N,c_y,inner)
                     const float* x,  // (N,c_x,inner)
                     index_t n, index_t c_y, index_t offset, index_t c_x, index_t inner);

// x = y[:, offset : offset + c_x] (the gradient of concat_channels for its x).
void split_channels(float* x,        // (N,c_x,inner)
                    const float* y,  // (N,c_y,inner)
                    index_t n, index_t c_y, index_t offset, index_t c_x, index_t inner);

// y += x, element by element (the sum of the branches' input gradients). y may not alias x.
void add_into(float* y, const float* x, index_t count);  // y, x: (count)

}  // namespace napinet::kernels
