// Elementwise tensor maths with broadcasting and strided views: one kernel family for dozens of
// ops (the formulas: op_math.h). Mirrors torch's elementwise ops (add, mul, pow, maximum, exp,
// clamp, where, comparisons, …) and the copies behind permute / expand / slice / cat / stack.
// Test: test/elementwise.test.ts (fixtures from scripts/fixtures/elementwise.py)
//
// Every operand is a strided view over the layout's shape (strided.h): layout operand 0 is `out`,
// 1… the inputs in order. Broadcasting is a stride of 0; an input given as a scalar
// (ElementInput::data == nullptr) is that number everywhere. accumulate adds the result into out
// (out += f(…)) instead of overwriting it. out's view must not overlap itself; an input may share
// out's memory only through the identical view (in place). The binding checks both.
//
// The layout is first coalesced (strided.h); then each chunk of the row-major element range walks
// a multi-index, calling a 1-D loop per run of the innermost dimension, with contiguous-or-broadcast
// runs in loops the compiler vectorises. Chunks depend on the element count alone (no reduction
// happens, so results are exact to the formula and the same for any thread count).
#pragma once

#include <algorithm>

#include "common.h"
#include "op_math.h"
#include "strided.h"

namespace napinet::kernels {

void unary(float* out, const ElementInput& x, const StridedLayout& layout, UnaryOp op, float alpha,
           float beta, bool accumulate);

void binary(float* out, const ElementInput& a, const ElementInput& b, const StridedLayout& layout,
            BinaryOp op, float alpha, float beta, bool accumulate);

void ternary(float* out, const ElementInput& a, const ElementInput& b, const ElementInput& c,
             const StridedLayout& layout, TernaryOp op, bool accumulate);

// The multi-index walk itself, for other strided kernels (gather): calls
// run(offsets, inner_strides, count) for runs of the innermost dimension covering elements
// [begin, end) of a coalesced layout (rank ≥ 1), offsets[k] being operand k's offset at the run's
// first element. Serial; callers split [0, n) with parallel_for.
template <class Run>
void walk_strided(const StridedLayout& layout, index_t begin, index_t end, const Run& run) {
  const int rank = layout.rank, ops = layout.operands, last = rank - 1;
  index_t idx[kMaxRank];
  index_t offsets[kMaxOperands];
  index_t inner[kMaxOperands];
  index_t rest = begin;
  for (int d = last; d >= 0; --d) {
    idx[d] = rest % layout.shape[d];
    rest /= layout.shape[d];
  }
  for (int k = 0; k < ops; ++k) {
    offsets[k] = layout.offsets[k];
    for (int d = 0; d < rank; ++d) offsets[k] += idx[d] * layout.strides[k][d];
    inner[k] = layout.strides[k][last];
  }
  for (index_t i = begin; i < end;) {
    const index_t count = std::min(layout.shape[last] - idx[last], end - i);
    run(static_cast<const index_t*>(offsets), static_cast<const index_t*>(inner), count);
    i += count;
    idx[last] += count;
    for (int k = 0; k < ops; ++k) offsets[k] += count * inner[k];
    // Carry into the outer dimensions.
    for (int d = last; d > 0 && idx[d] == layout.shape[d]; --d) {
      idx[d] = 0;
      ++idx[d - 1];
      for (int k = 0; k < ops; ++k) {
        offsets[k] += layout.strides[k][d - 1] - layout.shape[d] * layout.strides[k][d];
      }
    }
  }
}

}  // namespace napinet::kernels
