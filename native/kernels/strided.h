// Strided views for the tensor-maths kernels (elementwise, reduce, indexing), shared by the CPU
// kernels and the CUDA kernels: the one copy of the index arithmetic both compilers build.
//
// napinet tensors are contiguous, row-major. A *view* (a permutation, a broadcast, a slice) is read
// through strides instead of being copied first: element (i0, …, i{r-1}) of an operand lives at
//   data[offset + Σ_d i_d·strides[d]]
// with stride 0 along a broadcast dimension. A kernel call describes its output and inputs over
// one iteration shape (the output's): a StridedLayout, operand 0 the output, 1… the inputs.
// Test: test/elementwise.test.ts (and reduce, indexing)
#pragma once

#include <cstdint>

#include "common.h"  // NAPINET_HOST_DEVICE

namespace napinet::kernels {

// The largest rank a strided kernel takes (the binding refuses more, naming the shape).
constexpr int kMaxRank = 8;
// An output and up to three inputs (where(cond, a, b), and the three-input backward helpers).
constexpr int kMaxOperands = 4;

// The iteration shape and, for each operand, where its elements are. Plain data: passed by value
// to CUDA kernels (about 360 bytes of kernel parameters).
struct StridedLayout {
  int rank = 0;      // 0 ≤ rank ≤ kMaxRank; rank 0 is one element
  int operands = 0;  // 1 ≤ operands ≤ kMaxOperands (operand 0 is the output)
  std::int64_t shape[kMaxRank] = {};
  std::int64_t strides[kMaxOperands][kMaxRank] = {};
  std::int64_t offsets[kMaxOperands] = {};
};

// An input of an elementwise kernel: a tensor (data, read through its view in the layout), or,
// when data is nullptr, the number `scalar` everywhere (a Python-style `x + 2`).
struct ElementInput {
  const float* data = nullptr;
  float scalar = 0.0f;
};

// Elements in the layout's shape.
NAPINET_HOST_DEVICE std::int64_t element_count(const StridedLayout& layout) {
  std::int64_t n = 1;
  for (int d = 0; d < layout.rank; ++d) n *= layout.shape[d];
  return n;
}

// Where element `linear` (row-major over the shape) of `operand` lives: one division per
// dimension (the CUDA kernels' index arithmetic; the CPU kernels walk a multi-index instead).
NAPINET_HOST_DEVICE std::int64_t strided_offset(const StridedLayout& layout, int operand,
                                                std::int64_t linear) {
  std::int64_t offset = layout.offsets[operand];
  for (int d = layout.rank - 1; d >= 0; --d) {
    const std::int64_t size = layout.shape[d];
    const std::int64_t q = linear / size;
    offset += (linear - q * size) * layout.strides[operand][d];
    linear = q;
  }
  return offset;
}

// Where element `linear` of every operand lives, in one pass of divisions (the CUDA kernels).
// Index is std::int64_t, or std::uint32_t when fits_32_bits(layout): a GPU divides 32-bit
// integers several times faster.
template <class Index, int kOperands>
NAPINET_HOST_DEVICE void strided_offsets(const StridedLayout& layout, Index linear,
                                         Index (&offsets)[kOperands]) {
  for (int k = 0; k < kOperands; ++k) offsets[k] = static_cast<Index>(layout.offsets[k]);
  if (layout.rank == 1) {  // the common case after coalescing: no division
    for (int k = 0; k < kOperands; ++k) offsets[k] += linear * static_cast<Index>(layout.strides[k][0]);
    return;
  }
  for (int d = layout.rank - 1; d >= 0; --d) {
    const auto size = static_cast<Index>(layout.shape[d]);
    const Index q = linear / size;
    const Index i = linear - q * size;
    for (int k = 0; k < kOperands; ++k) offsets[k] += i * static_cast<Index>(layout.strides[k][d]);
    linear = q;
  }
}

// Whether every element index and every operand's offsets stay below 2^32.
inline bool fits_32_bits(const StridedLayout& layout) {
  constexpr std::int64_t kLimit = std::int64_t{1} << 32;
  std::int64_t n = 1;
  for (int d = 0; d < layout.rank; ++d) n *= layout.shape[d];
  if (n >= kLimit) return false;
  for (int k = 0; k < layout.operands; ++k) {
    std::int64_t reach = layout.offsets[k];
    for (int d = 0; d < layout.rank; ++d) {
      if (layout.shape[d] > 0) reach += (layout.shape[d] - 1) * layout.strides[k][d];
    }
    if (reach >= kLimit) return false;
  }
  return true;
}

// The same iteration with fewer dimensions: size-1 dimensions dropped, and neighbours d−1, d merged
// wherever every operand steps through them as through one dimension (strides[d−1] = strides[d]·
// shape[d]). A contiguous call becomes rank 1; a broadcast bias add over (N, C, H, W) becomes
// (N, C, H·W). Row-major order, and so the mapping between the operands, is unchanged. An empty
// shape stays as it is (its element count is 0).
inline StridedLayout coalesce(const StridedLayout& in) {
  StridedLayout out;
  out.operands = in.operands;
  for (int k = 0; k < in.operands; ++k) out.offsets[k] = in.offsets[k];
  for (int d = 0; d < in.rank; ++d) {
    if (in.shape[d] == 0) return in;
  }
  for (int d = 0; d < in.rank; ++d) {
    if (in.shape[d] == 1) continue;
    const int last = out.rank - 1;
    bool merge = last >= 0;
    for (int k = 0; merge && k < in.operands; ++k) {
      merge = out.strides[k][last] == in.strides[k][d] * in.shape[d];
    }
    if (merge) {
      out.shape[last] *= in.shape[d];
      for (int k = 0; k < in.operands; ++k) out.strides[k][last] = in.strides[k][d];
    } else {
      out.shape[out.rank] = in.shape[d];
      for (int k = 0; k < in.operands; ++k) out.strides[k][out.rank] = in.strides[k][d];
      ++out.rank;
    }
  }
  return out;
}

// The layout an elementwise kernel runs, on either device: the views of scalar inputs
// (inputs[k].data == nullptr, operand k + 1) zeroed, then coalesced; rank 0 becomes one element of
// rank 1, so kernels always see rank ≥ 1.
inline StridedLayout launch_layout(const StridedLayout& layout, const ElementInput* const* inputs,
                                   int count) {
  StridedLayout l = layout;
  for (int k = 0; k < count; ++k) {
    if (inputs[k]->data != nullptr) continue;
    l.offsets[k + 1] = 0;
    for (int d = 0; d < l.rank; ++d) l.strides[k + 1][d] = 0;
  }
  l = coalesce(l);
  if (l.rank == 0) {
    l.rank = 1;
    l.shape[0] = 1;
    for (int k = 0; k < l.operands; ++k) l.strides[k][0] = 0;
  }
  return l;
}

// Row-major strides of a contiguous tensor of this shape.
inline void contiguous_strides(std::int64_t* strides, const std::int64_t* shape, int rank) {
  std::int64_t step = 1;
  for (int d = rank - 1; d >= 0; --d) {
    strides[d] = step;
    step *= shape[d];
  }
}

// The layout of gather / scatter_add over the index's shape (both devices): operand 0 is the
// contiguous tensor of the index's shape (gather's out, scatter_add's src; the index itself has the
// same offsets), operand 1 the indexed tensor (contiguous, `indexed_shape`) with stride 0 along
// `dim`, whose coordinate the index supplies. With `lines`, the shape's `dim` becomes 1: one
// element per line along `dim` (scatter_add walks each line itself, in order).
inline StridedLayout index_layout(const std::int64_t* indexed_shape, const std::int64_t* index_shape,
                                  int rank, int dim, bool lines) {
  StridedLayout l;
  l.rank = rank;
  l.operands = 2;
  for (int d = 0; d < rank; ++d) l.shape[d] = index_shape[d];
  contiguous_strides(l.strides[0], index_shape, rank);
  contiguous_strides(l.strides[1], indexed_shape, rank);
  l.strides[1][dim] = 0;
  if (lines) l.shape[dim] = 1;
  l = coalesce(l);
  if (l.rank == 0) {  // a single element or line
    l.rank = 1;
    l.shape[0] = 1;
    l.strides[0][0] = l.strides[1][0] = 0;
  }
  return l;
}

}  // namespace napinet::kernels
