// Indexing ops and their gradients: torch.index_select / Tensor.index_add_ along one dimension,
// and torch.gather / Tensor.scatter_add_ along one dimension. Indices are int32 and must lie in
// [0, size of the indexed dimension): the binding checks them before any kernel runs (on the GPU
// too, by reading them back), so these kernels trust them.
// Test: test/indexing.test.ts (fixtures from scripts/fixtures/indexing.py)
//
// The gradients accumulate without atomics and in a fixed order: every output element adds its
// contributions in increasing source order (index_add: i = 0, 1, … along the indexed dimension;
// scatter_add: along `dim` of the index), so repeated indices give the same bits on every run, on
// any thread count, and on the GPU (cuda/indexing.cu: one thread per output line, same order).
#pragma once

#include <cstdint>

#include "common.h"

namespace napinet::kernels {

// out[o, i, j] = x[o, indices[i], j]. x is seen as (outer, dim_size, inner), out as
// (outer, count, inner): the indexed dimension in the middle.
void index_select(float* out,                   // (outer, count, inner)
                  const float* x,               // (outer, dim_size, inner)
                  const std::int32_t* indices,  // (count)
                  index_t outer, index_t dim_size, index_t inner, index_t count);

// out[o, indices[i], j] += src[o, i, j] for i = 0 … count−1 in order (index_select's gradient
// when out starts at zero). out must not alias src.
void index_add(float* out,                   // (outer, dim_size, inner)
               const float* src,             // (outer, count, inner)
               const std::int32_t* indices,  // (count)
               index_t outer, index_t dim_size, index_t inner, index_t count);

// torch.gather(x, dim, index): out has index's shape and out[e] = x[e with its coordinate along
// `dim` replaced by index[e]]. index.shape[d] ≤ x.shape[d] for d ≠ dim. Both contiguous.
void gather(float* out,                 // index_shape
            const float* x,             // x_shape
            const std::int32_t* index,  // index_shape
            const index_t* x_shape, const index_t* index_shape, int rank, int dim);

// out[e with its coordinate along `dim` replaced by index[e]] += src[e] for every e of index's
// shape (gather's gradient when out starts at zero); src has index's shape. Within one line along
// `dim` the additions go in index order; lines are independent.
void scatter_add(float* out,                 // out_shape
                 const float* src,           // index_shape
                 const std::int32_t* index,  // index_shape
                 const index_t* out_shape, const index_t* index_shape, int rank, int dim);

}  // namespace napinet::kernels
