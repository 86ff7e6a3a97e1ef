#include "fill.h"

#include "parallel.h"

namespace napinet::kernels {
namespace {

constexpr index_t kElementGrain = 1 << 16;

// One function per type, not a template: Clang cannot clone (target_clones) a function template.
NAPINET_VECTORIZED void fill_range(float* x, float value, index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) x[i] = value;
}
NAPINET_VECTORIZED void fill_range(std::int32_t* x, std::int32_t value, index_t begin,
                                   index_t end) {
  for (index_t i = begin; i < end; ++i) x[i] = value;
}

}  // namespace

void fill(float* x, float value, index_t n) {
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) { fill_range(x, value, b, e); });
}

void fill_int32(std::int32_t* x, std::int32_t value, index_t n) {
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) { fill_range(x, value, b, e); });
}

void fill_many(float* const* x, const std::int64_t* n, std::int64_t count, float value) {
  for (std::int64_t t = 0; t < count; ++t) fill(x[t], value, n[t]);
}

}  // namespace napinet::kernels
