#include "dropout.h"

#include "parallel.h"

namespace napinet::kernels {
namespace {

// Groups of four elements (one Philox call each) per parallel chunk.
constexpr index_t kGroupGrain = 1 << 14;

// out[i] = in[i]·m_i for the elements of groups [begin, end).
NAPINET_VECTORIZED void apply_mask_groups(float* out, const float* in, std::uint64_t seed,
                                          std::uint32_t threshold, float scale, index_t n,
                                          index_t begin, index_t end) {
  for (index_t g = begin; g < end; ++g) {
    const philox::Uint4 r = philox::block_for(seed, static_cast<std::uint64_t>(g));
    const std::uint32_t words[4] = {r.x, r.y, r.z, r.w};
    const index_t first = g * 4;
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      if (first + j < n) out[first + j] = in[first + j] * ((words[j] >> 8) < threshold ? scale : 0.0f);
    }
  }
}

void apply_mask(float* out, const float* in, std::uint64_t seed, double p, index_t n) {
  const std::uint32_t threshold = dropout_keep_threshold(p);
  const float scale = dropout_scale(p);
  parallel_for((n + 3) / 4, kGroupGrain, [&](index_t b, index_t e) {
    apply_mask_groups(out, in, seed, threshold, scale, n, b, e);
  });
}

}  // namespace

void dropout_forward(float* y, const float* x, std::uint64_t seed, double p, index_t n) {
  apply_mask(y, x, seed, p, n);
}

void dropout_backward(float* dx, const float* dy, std::uint64_t seed, double p, index_t n) {
  apply_mask(dx, dy, seed, p, n);
}

}  // namespace napinet::kernels
