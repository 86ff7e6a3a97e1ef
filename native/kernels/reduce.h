// Reductions over any set of dimensions: sum, mean, prod, max, min (values and, optionally, the
// int32 position of the winner) and var. Mirrors torch.sum / mean / prod / amax / amin / max(dim) /
// min(dim) / argmax / argmin / var(correction=…), with keepdim=True: the output has the input's
// shape with every reduced dimension of size 1 (the caller reshapes for keepdim=False).
// Test: test/reduce.test.ts (fixtures from scripts/fixtures/reduce.py)
//
// x is contiguous with the given shape; `reduced_dims` has bit d set when dimension d is reduced.
// Consecutive dimensions of the same kind are merged first, so the work is one of:
//   rows     [outer, R]         the reduced dimensions are the last ones (sum over the last dim)
//   columns  [outer, R, inner]  one block of reduced dimensions before kept ones (sum to shape:
//                               a bias gradient over the batch, a mean over dim 0)
//   general                     reduced blocks separated by kept ones (each output walks its set)
//
// Summation order (sum, mean, prod and both passes of var), the same for any thread count and a
// function of the shape alone: the reduced elements of an output, in row-major order, are cut into
// leaves (128 elements in a row; 16 rows of a column block). A row leaf is summed in 32 interleaved
// lanes (element i into lane i mod 32, 4 each), the lanes then added as a balanced tree (lane j
// takes lane j + 16, then j + 8, …); a column leaf keeps one running sum per column. Leaves are
// added pairwise (a binary counter: leaf pairs, then pairs of pairs …).
// The error of a sum of R values is O(log R) roundings rather than O(R) for a running sum, and
// long reductions are split across threads at subtree boundaries, so the bits never change.
// max/min: NaN beats every number and ties go to the lower index, which makes the winner
// independent of the order candidates are compared in (op_math.h: better()).
// var: two passes, the mean (a sum / R), then Σ(x − mean)² / max(0, R − correction).
#pragma once

#include <cstdint>

#include "common.h"
#include "op_math.h"

namespace napinet::kernels {

// out: the kept dimensions' product of values (keepdim layout). indices (may be nullptr; only for
// kMax / kMin): the winner's position among the output's reduced elements, in row-major order of
// the reduced dimensions (for one reduced dimension, its index along it; for all, the flat index).
// An empty reduction (a reduced dimension of size 0) gives sum 0, prod 1, mean and var NaN; max
// and min must not be called on one (the binding refuses, as PyTorch does). correction: var only.
void reduce(float* out, std::int32_t* indices, const float* x, const index_t* shape, int rank,
            std::uint32_t reduced_dims, ReduceOp op, double correction);

}  // namespace napinet::kernels
