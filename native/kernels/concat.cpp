#include "concat.h"

#include <algorithm>
#include <cstring>

#include "parallel.h"

namespace napinet::kernels {
namespace {

constexpr index_t kElementGrain = 1 << 16;

// Rows (one channel of one sample, `inner` floats each) per parallel chunk: about 64k floats.
index_t row_grain(index_t inner) { return std::max<index_t>(1, kElementGrain / std::max<index_t>(1, inner)); }

// Where row `row` of x (its N·c_x rows of `inner` floats, sample-major) starts in y.
inline index_t row_in_y(index_t row, index_t c_y, index_t offset, index_t c_x, index_t inner) {
  return ((row / c_x) * c_y + offset + row % c_x) * inner;
}

NAPINET_VECTORIZED void add_range(float* NAPINET_RESTRICT y, const float* NAPINET_RESTRICT x,
                                  index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) y[i] += x[i];
}

// copy(start in x, start in y, bytes) for each of x's N·c_x rows, split over the pool.
template <typename Copy>
void for_rows(index_t n, index_t c_y, index_t offset, index_t c_x, index_t inner, const Copy& copy) {
  if (inner == 0) return;
  const std::size_t bytes = static_cast<std::size_t>(inner) * sizeof(float);
  parallel_for(n * c_x, row_grain(inner), [&](index_t begin, index_t end) {
    for (index_t row = begin; row < end; ++row) {
      copy(row * inner, row_in_y(row, c_y, offset, c_x, inner), bytes);
    }
  });
}

}  // namespace

void concat_channels(float* y, const float* x, index_t n, index_t c_y, index_t offset, index_t c_x,
                     index_t inner) {
  for_rows(n, c_y, offset, c_x, inner, [&](index_t in_x, index_t in_y, std::size_t bytes) {
    std::memcpy(y + in_y, x + in_x, bytes);
  });
}

void split_channels(float* x, const float* y, index_t n, index_t c_y, index_t offset, index_t c_x,
                    index_t inner) {
  for_rows(n, c_y, offset, c_x, inner, [&](index_t in_x, index_t in_y, std::size_t bytes) {
    std::memcpy(x + in_x, y + in_y, bytes);
  });
}

void add_into(float* y, const float* x, index_t count) {
  parallel_for(count, kElementGrain, [&](index_t b, index_t e) { add_range(y, x, b, e); });
}

}  // namespace napinet::kernels
