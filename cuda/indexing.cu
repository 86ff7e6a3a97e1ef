// Indexing ops on the GPU: the CUDA side of native/kernels/indexing.h (torch.index_select,
// index_add_, gather, scatter_add_). The binding has checked every index (reading them back to
// the host), so the kernels trust them.
// Test: test/indexing.test.ts (runs on 'cuda' with a GPU or the emulator build).
//
// The gradients are deterministic without atomics: one thread owns each output line and adds its
// contributions in source order, the CPU kernels' order, so repeated indices give the same bits on
// every run. index_add: a thread per (outer, column) loops over all `count` indices (parallelism
// outer·inner, work count per thread: good for embedding-like shapes, inner ≥ 32; a 1-D index_add
// runs on one thread). scatter_add: a thread per line along `dim` of the index (parallelism: the
// index's elements / its size along dim). A sort-based segmented sum would parallelise those
// shapes too, at the cost of a sort per call.
#include "common.cuh"

#include "../native/kernels/strided.h"

namespace napinet::cuda {
namespace {

using kernels::StridedLayout;

__device__ __forceinline__ std::int64_t first_index() {
  return std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::int64_t grid_stride() { return std::int64_t{blockDim.x} * gridDim.x; }

// ---- kernels ---------------------------------------------------------------------------------

// out (outer, count, inner) = x (outer, dim_size, inner) at rows indices (count).
__global__ void index_select_kernel(float* out, const float* x, const std::int32_t* indices,
                                    std::int64_t dim_size, std::int64_t inner, std::int64_t count,
                                    std::int64_t n) {
  for (std::int64_t e = first_index(); e < n; e += grid_stride()) {
    const std::int64_t j = e % inner, row = e / inner;
    const std::int64_t i = row % count, o = row / count;
    out[e] = x[(o * dim_size + indices[i]) * inner + j];
  }
}

// out (outer, dim_size, inner) += src (outer, count, inner) at rows indices (count), i in order:
// thread (o, j) owns column j of block o.
__global__ void index_add_kernel(float* out, const float* src, const std::int32_t* indices,
                                 std::int64_t dim_size, std::int64_t inner, std::int64_t count,
                                 std::int64_t lines) {
  for (std::int64_t line = first_index(); line < lines; line += grid_stride()) {
    const std::int64_t o = line / inner, j = line % inner;
    float* block = out + o * dim_size * inner + j;
    const float* from = src + o * count * inner + j;
    for (std::int64_t i = 0; i < count; ++i) block[std::int64_t{indices[i]} * inner] += from[i * inner];
  }
}

// out = x at index along dim: layout operand 0 is out / index (index's shape), operand 1 x with
// stride 0 along dim, whose coordinate is index[e]·dim_stride.
__global__ void gather_kernel(float* out, const float* x, const std::int32_t* index,
                              StridedLayout layout, std::int64_t dim_stride, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    std::int64_t off[2];
    kernels::strided_offsets<std::int64_t, 2>(layout, i, off);
    out[off[0]] = x[off[1] + std::int64_t{index[off[0]]} * dim_stride];
  }
}

// One thread per line along dim of the index: out[line's place, index[e]] += src[e] for the
// line's `length` elements e (index's stride `step` apart) in order.
__global__ void scatter_add_kernel(float* out, const float* src, const std::int32_t* index,
                                   StridedLayout layout, std::int64_t length, std::int64_t step,
                                   std::int64_t out_step, std::int64_t lines) {
  for (std::int64_t line = first_index(); line < lines; line += grid_stride()) {
    std::int64_t off[2];
    kernels::strided_offsets<std::int64_t, 2>(layout, line, off);
    float* target = out + off[1];
    for (std::int64_t j = 0; j < length; ++j) {
      const std::int64_t e = off[0] + j * step;
      target[std::int64_t{index[e]} * out_step] += src[e];
    }
  }
}

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

void index_select(float* out, const float* x, const std::int32_t* indices, std::int64_t outer,
                  std::int64_t dim_size, std::int64_t inner, std::int64_t count) {
  const std::int64_t n = outer * count * inner;
  if (n == 0) return;
  NAPINET_LAUNCH(index_select_kernel, grid_for(n), kBlockSize, 0, out, x, indices, dim_size, inner,
                 count, n);
}

void index_add(float* out, const float* src, const std::int32_t* indices, std::int64_t outer,
               std::int64_t dim_size, std::int64_t inner, std::int64_t count) {
  const std::int64_t lines = outer * inner;
  if (lines == 0 || count == 0) return;
  NAPINET_LAUNCH(index_add_kernel, grid_for(lines), kBlockSize, 0, out, src, indices, dim_size,
                 inner, count, lines);
}

void gather(float* out, const float* x, const std::int32_t* index, const std::int64_t* x_shape,
            const std::int64_t* index_shape, int rank, int dim) {
  const StridedLayout l = kernels::index_layout(x_shape, index_shape, rank, dim, false);
  const std::int64_t n = kernels::element_count(l);
  if (n == 0) return;
  std::int64_t x_strides[kernels::kMaxRank] = {};
  kernels::contiguous_strides(x_strides, x_shape, rank);
  NAPINET_LAUNCH(gather_kernel, grid_for(n), kBlockSize, 0, out, x, index, l, x_strides[dim], n);
}

void scatter_add(float* out, const float* src, const std::int32_t* index,
                 const std::int64_t* out_shape, const std::int64_t* index_shape, int rank, int dim) {
  const StridedLayout l = kernels::index_layout(out_shape, index_shape, rank, dim, true);
  const std::int64_t lines = kernels::element_count(l), length = index_shape[dim];
  if (lines == 0 || length == 0) return;
  std::int64_t out_strides[kernels::kMaxRank] = {}, index_strides[kernels::kMaxRank] = {};
  kernels::contiguous_strides(out_strides, out_shape, rank);
  kernels::contiguous_strides(index_strides, index_shape, rank);
  NAPINET_LAUNCH(scatter_add_kernel, grid_for(lines), kBlockSize, 0, out, src, index, l, length,
                 index_strides[dim], out_strides[dim], lines);
}

}  // namespace napinet::cuda
