#include "pool2d.h"

#include <algorithm>
#include <limits>

#include "activation.h"  // Relu: the layers that fuse a ReLU before the pool
#include "parallel.h"

namespace napinet::kernels {
namespace {

// Planes (one image's channel) per parallel chunk: about 16k input elements, at least one plane.
// Depends on the sizes only, so the work split never depends on the thread count.
index_t plane_grain(index_t h, index_t w) {
  return std::max<index_t>(1, (1 << 14) / std::max<index_t>(1, h * w));
}

using Span = PoolWindow<index_t>;
using Geometry = PoolGeometry<index_t>;

Geometry geometry(index_t h, index_t w, index_t kh, index_t kw, index_t sh, index_t sw,
                  index_t ph, index_t pw) {
  return {h, w, pool2d_output_size(h, kh, sh, ph), pool2d_output_size(w, kw, sw, pw),
          kh, kw, sh, sw, ph, pw};
}

// fn(p) for each of `planes` planes (one image's channel) of h×w inputs, split over the pool.
template <typename Fn>
void for_planes(index_t planes, index_t h, index_t w, const Fn& fn) {
  parallel_for(planes, plane_grain(h, w), [&](index_t begin, index_t end) {
    for (index_t p = begin; p < end; ++p) fn(p);
  });
}

// ---- One plane each: y, indices (OH,OW) from x (H,W), or dx (H,W) from dy (OH,OW) ----

NAPINET_VECTORIZED void max_pool_plane(float* NAPINET_RESTRICT y,
                                       std::int32_t* NAPINET_RESTRICT indices,
                                       const float* NAPINET_RESTRICT x, const Geometry& g) {
  for (index_t i = 0; i < g.oh; ++i) {
    const Span rows = g.rows(i);
    for (index_t j = 0; j < g.ow; ++j) {
      float best;
      index_t arg;
      pool_max_window(x, g.w, rows, g.cols(j), best, arg);
      y[i * g.ow + j] = best;
      indices[i * g.ow + j] = static_cast<std::int32_t>(arg);
    }
  }
}

// The same result as max_pool_plane for windows that never leave the input (no padding): the
// window's positions are visited in the same scan order, but across a whole output row at once
// with selects instead of branches, which the compiler vectorises. Random data makes the
// branchy version mispredict on about every other comparison.
NAPINET_VECTORIZED void max_pool_plane_unpadded(float* NAPINET_RESTRICT y,
                                                std::int32_t* NAPINET_RESTRICT indices,
                                                const float* NAPINET_RESTRICT x, const Geometry& g) {
  const index_t w = g.w, ow = g.ow, sh = g.sh, sw = g.sw;
  for (index_t i = 0; i < g.oh; ++i) {
    float* NAPINET_RESTRICT best = y + i * ow;
    std::int32_t* NAPINET_RESTRICT arg = indices + i * ow;
    for (index_t j = 0; j < ow; ++j) {
      best[j] = -std::numeric_limits<float>::infinity();
      arg[j] = static_cast<std::int32_t>(i * sh * w + j * sw);
    }
    for (index_t a = 0; a < g.kh; ++a) {
      const index_t row = i * sh + a;
      for (index_t b = 0; b < g.kw; ++b) {
        const float* NAPINET_RESTRICT xr = x + row * w + b;
        const std::int32_t base = static_cast<std::int32_t>(row * w + b);
        for (index_t j = 0; j < ow; ++j) {
          const float v = xr[j * sw];
          const bool take = pool_max_takes(v, best[j]);
          best[j] = take ? v : best[j];
          arg[j] = take ? base + static_cast<std::int32_t>(j * sw) : arg[j];
        }
      }
    }
  }
}

// The common 2×2 window with stride 2 and no padding, one output row at a time with the four
// candidates in registers (same scan order and NaN rule as above).
NAPINET_VECTORIZED void max_pool_plane_2x2(float* NAPINET_RESTRICT y,
                                           std::int32_t* NAPINET_RESTRICT indices,
                                           const float* NAPINET_RESTRICT x, const Geometry& g) {
  const index_t w = g.w, ow = g.ow;
  for (index_t i = 0; i < g.oh; ++i) {
    const float* NAPINET_RESTRICT r0 = x + 2 * i * w;
    const float* NAPINET_RESTRICT r1 = r0 + w;
    const std::int32_t base = static_cast<std::int32_t>(2 * i * w);
    const std::int32_t width = static_cast<std::int32_t>(w);
    for (index_t j = 0; j < ow; ++j) {
      const std::int32_t col = static_cast<std::int32_t>(2 * j);
      const PoolMax2x2 m = pool_max_2x2(r0[2 * j], r0[2 * j + 1], r1[2 * j], r1[2 * j + 1], base + col, width);
      y[i * ow + j] = m.value;
      indices[i * ow + j] = m.index;
    }
  }
}

NAPINET_VECTORIZED void max_pool_backward_plane(float* NAPINET_RESTRICT dx,
                                                const float* NAPINET_RESTRICT dy,
                                                const std::int32_t* NAPINET_RESTRICT indices,
                                                index_t hw, index_t ohw) {
  std::fill(dx, dx + hw, 0.0f);
  for (index_t o = 0; o < ohw; ++o) dx[indices[o]] += dy[o];
}

NAPINET_VECTORIZED void avg_pool_plane(float* NAPINET_RESTRICT y, const float* NAPINET_RESTRICT x,
                                       const Geometry& g, bool count_include_pad) {
  for (index_t i = 0; i < g.oh; ++i) {
    const Span rows = g.rows(i);
    for (index_t j = 0; j < g.ow; ++j) {
      y[i * g.ow + j] = pool_avg_window(x, g.w, rows, g.cols(j), count_include_pad);
    }
  }
}

NAPINET_VECTORIZED void avg_pool_backward_plane(float* NAPINET_RESTRICT dx,
                                                const float* NAPINET_RESTRICT dy,
                                                const Geometry& g, bool count_include_pad) {
  std::fill(dx, dx + g.h * g.w, 0.0f);
  for (index_t i = 0; i < g.oh; ++i) {
    const Span rows = g.rows(i);
    for (index_t j = 0; j < g.ow; ++j) {
      const Span cols = g.cols(j);
      const index_t divisor = pool_avg_divisor(rows, cols, count_include_pad);
      if (divisor <= 0) continue;
      const float grad = dy[i * g.ow + j] / static_cast<float>(divisor);
      for (index_t a = rows.begin; a < rows.end; ++a)
        for (index_t b = cols.begin; b < cols.end; ++b) dx[a * g.w + b] += grad;
    }
  }
}

}  // namespace

void max_pool2d_forward(float* y, std::int32_t* indices, const float* x, index_t n, index_t c,
                        index_t h, index_t w, index_t kh, index_t kw, index_t sh, index_t sw,
                        index_t ph, index_t pw) {
  const Geometry g = geometry(h, w, kh, kw, sh, sw, ph, pw);
  const bool unpadded = ph == 0 && pw == 0;
  auto* const plane = kh == 2 && kw == 2 && sh == 2 && sw == 2 && unpadded ? &max_pool_plane_2x2
                      : unpadded                                          ? &max_pool_plane_unpadded
                                                                          : &max_pool_plane;
  const index_t in = h * w, out = g.oh * g.ow;
  for_planes(n * c, h, w, [&](index_t p) { plane(y + p * out, indices + p * out, x + p * in, g); });
}

void max_pool2d_backward(float* dx, const float* dy, const std::int32_t* indices, index_t n,
                         index_t c, index_t h, index_t w, index_t oh, index_t ow) {
  const index_t in = h * w, out = oh * ow;
  for_planes(n * c, h, w, [&](index_t p) {
    max_pool_backward_plane(dx + p * in, dy + p * out, indices + p * out, in, out);
  });
}

// The planes are zeroed with whole vectors, then each pooled value is stored at its argmax: one
// scalar store per window instead of a select per element (4× fewer stores, and no per-column
// index arithmetic on 13- or 5-wide rows). Rectifying inside the storing loop would compile to a
// branch on the sign of y, mispredicted about every other window, so the values are rectified in
// a vector loop first.
NAPINET_VECTORIZED void max_pool2d_relu_backward_planes(float* NAPINET_RESTRICT dx, const float* dy,
                                                        const float* y, const std::int32_t* indices,
                                                        index_t count, index_t pooled, index_t plane) {
  const Relu rectifier{};
  std::fill(dx, dx + count * plane, 0.0f);
  constexpr index_t kChunk = 256;
  float kept[kChunk];
  for (index_t i = 0; i < count; ++i) {
    float* NAPINET_RESTRICT out = dx + i * plane;
    for (index_t j0 = 0; j0 < pooled; j0 += kChunk) {
      const index_t first = i * pooled + j0, n = std::min(kChunk, pooled - j0);
      const float* NAPINET_RESTRICT g = dy + first;
      const std::int32_t* NAPINET_RESTRICT at = indices + first;
      if (y == nullptr) {
        for (index_t j = 0; j < n; ++j) kept[j] = 0.0f + g[j];
      } else {
        const float* NAPINET_RESTRICT mask = y + first;
        for (index_t j = 0; j < n; ++j) kept[j] = 0.0f + rectifier.backward(g[j], mask[j]);
      }
      for (index_t j = 0; j < n; ++j) out[at[j]] = kept[j];
    }
  }
}

NAPINET_VECTORIZED bool max_pool2d_indices_in_range(const std::int32_t* indices, index_t count,
                                                    index_t limit) {
  const auto bound = static_cast<std::uint32_t>(std::min<index_t>(limit, INT32_MAX));
  std::uint32_t bad = 0;
  // As unsigned, a negative index is ≥ 2^31 > bound - 1.
  for (index_t i = 0; i < count; ++i) bad |= static_cast<std::uint32_t>(indices[i]) >= bound;
  return bad == 0;
}

void avg_pool2d_forward(float* y, const float* x, index_t n, index_t c, index_t h, index_t w,
                        index_t kh, index_t kw, index_t sh, index_t sw, index_t ph, index_t pw,
                        bool count_include_pad) {
  const Geometry g = geometry(h, w, kh, kw, sh, sw, ph, pw);
  const index_t in = h * w, out = g.oh * g.ow;
  for_planes(n * c, h, w,
             [&](index_t p) { avg_pool_plane(y + p * out, x + p * in, g, count_include_pad); });
}

void avg_pool2d_backward(float* dx, const float* dy, index_t n, index_t c, index_t h, index_t w,
                         index_t kh, index_t kw, index_t sh, index_t sw, index_t ph, index_t pw,
                         bool count_include_pad) {
  const Geometry g = geometry(h, w, kh, kw, sh, sw, ph, pw);
  const index_t in = h * w, out = g.oh * g.ow;
  for_planes(n * c, h, w, [&](index_t p) {
    avg_pool_backward_plane(dx + p * in, dy + p * out, g, count_include_pad);
  });
}

}  // namespace napinet::kernels
