// CPU indexing kernels (see indexing.h). gather and scatter_add walk their index's shape with the
// strided elementwise walker (elementwise.h); index_select copies rows; index_add adds rows in
// index order, split over (outer, column tile) so every output element has one writer.
#include "indexing.h"

#include <algorithm>
#include <cstring>

#include "elementwise.h"
#include "parallel.h"
#include "strided.h"

namespace napinet::kernels {
namespace {

constexpr index_t kWorkGrain = 1 << 15;  // elements of work per parallel chunk
constexpr index_t kAddTile = 256;        // columns of index_add's work items

index_t grain_for(index_t work_per_item) {
  return std::max<index_t>(1, kWorkGrain / std::max<index_t>(1, work_per_item));
}

NAPINET_VECTORIZED void add_row(float* NAPINET_RESTRICT out, const float* NAPINET_RESTRICT src,
                                index_t n) {
  for (index_t j = 0; j < n; ++j) out[j] += src[j];
}

}  // namespace

void index_select(float* out, const float* x, const std::int32_t* indices, index_t outer,
                  index_t dim_size, index_t inner, index_t count) {
  if (inner == 0) return;
  const std::size_t bytes = static_cast<std::size_t>(inner) * sizeof(float);
  parallel_for(outer * count, grain_for(inner), [&](index_t begin, index_t end) {
    for (index_t row = begin; row < end; ++row) {
      const index_t o = row / count, i = row % count;
      std::memcpy(out + row * inner, x + (o * dim_size + indices[i]) * inner, bytes);
    }
  });
}

void index_add(float* out, const float* src, const std::int32_t* indices, index_t outer,
               index_t dim_size, index_t inner, index_t count) {
  if (inner == 0 || count == 0) return;
  const index_t tiles = (inner + kAddTile - 1) / kAddTile;
  parallel_for(outer * tiles, grain_for(count * std::min(inner, kAddTile)),
               [&](index_t begin, index_t end) {
                 for (index_t item = begin; item < end; ++item) {
                   const index_t o = item / tiles, j0 = (item % tiles) * kAddTile;
                   const index_t width = std::min(kAddTile, inner - j0);
                   for (index_t i = 0; i < count; ++i) {
                     add_row(out + (o * dim_size + indices[i]) * inner + j0,
                             src + (o * count + i) * inner + j0, width);
                   }
                 }
               });
}

void gather(float* out, const float* x, const std::int32_t* index, const index_t* x_shape,
            const index_t* index_shape, int rank, int dim) {
  index_t x_strides[kMaxRank] = {};
  contiguous_strides(x_strides, x_shape, rank);
  const index_t dim_stride = x_strides[dim];
  const StridedLayout l = index_layout(x_shape, index_shape, rank, dim, false);
  const index_t n = element_count(l);
  if (n == 0) return;
  parallel_for(n, kWorkGrain, [&](index_t begin, index_t end) {
    walk_strided(l, begin, end, [&](const index_t* off, const index_t* s, index_t run) {
      for (index_t i = 0; i < run; ++i) {
        const index_t e = off[0] + i * s[0];
        out[e] = x[off[1] + i * s[1] + index[e] * dim_stride];
      }
    });
  });
}

void scatter_add(float* out, const float* src, const std::int32_t* index, const index_t* out_shape,
                 const index_t* index_shape, int rank, int dim) {
  index_t out_strides[kMaxRank] = {}, index_strides[kMaxRank] = {};
  contiguous_strides(out_strides, out_shape, rank);
  contiguous_strides(index_strides, index_shape, rank);
  const index_t length = index_shape[dim], out_step = out_strides[dim], step = index_strides[dim];
  const StridedLayout l = index_layout(out_shape, index_shape, rank, dim, true);
  const index_t lines = element_count(l);
  if (lines == 0 || length == 0) return;
  parallel_for(lines, grain_for(length), [&](index_t begin, index_t end) {
    walk_strided(l, begin, end, [&](const index_t* off, const index_t* s, index_t run) {
      for (index_t i = 0; i < run; ++i) {
        const index_t e0 = off[0] + i * s[0];
        float* line = out + off[1] + i * s[1];
        for (index_t j = 0; j < length; ++j) line[index[e0 + j * step] * out_step] += src[e0 + j * step];
      }
    });
  });
}

}  // namespace napinet::kernels
