#include "gather.h"

#include <algorithm>
#include <cstring>

#include "parallel.h"

namespace napinet::kernels {
namespace {

constexpr index_t kChunkWords = 8 * 1024;  // words per parallel chunk: 32 KiB of rows

// One row of `width` words: the source's row `row`, or kMissingRowWord throughout when invalid.
void copy_row(std::uint32_t* out, const std::uint32_t* source, index_t row, bool valid, index_t width) {
  if (valid) {
    std::memcpy(out, source + row * width, static_cast<std::size_t>(width) * sizeof(std::uint32_t));
  } else {
    std::fill(out, out + width, kMissingRowWord);
  }
}

// Rows are a shuffled dataset's, each somewhere else in memory (MNIST: 188 MB): the copy of one
// row waits on memory unless its lines were asked for a few rows before.
constexpr index_t kPrefetchAhead = 4;

void prefetch_row(const std::uint32_t* source, std::int32_t row, index_t source_rows, index_t width) {
#if defined(__GNUC__)
  if (row < 0 || row >= source_rows) return;
  const char* begin = reinterpret_cast<const char*>(source + row * width);
  const char* end = reinterpret_cast<const char*>(source + (row + 1) * width);
  for (const char* p = begin; p < end; p += 64) __builtin_prefetch(p);
#else
  (void)source, (void)row, (void)source_rows, (void)width;
#endif
}

}  // namespace

void gather_batch(std::uint32_t* x, std::uint32_t* y, const std::uint32_t* inputs,
                  const std::uint32_t* targets, const std::int32_t* rows, index_t count,
                  index_t x_row, index_t y_row, index_t source_rows) {
  const index_t width = x_row + y_row;
  if (width <= 0) return;
  const index_t grain = std::max<index_t>(1, kChunkWords / width);
  parallel_for(count, grain, [&](index_t begin, index_t end) {
    for (index_t i = begin; i < end; ++i) {
      if (i + kPrefetchAhead < end) prefetch_row(inputs, rows[i + kPrefetchAhead], source_rows, x_row);
      const auto row = static_cast<index_t>(rows[i]);
      const bool valid = row >= 0 && row < source_rows;
      copy_row(x + i * x_row, inputs, row, valid, x_row);
      copy_row(y + i * y_row, targets, row, valid, y_row);
    }
  });
}

}  // namespace napinet::kernels
