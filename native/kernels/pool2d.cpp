#include "pool2d.h"

#include <algorithm>
#include <limits>

#include "parallel.h"

namespace napinet::kernels {
namespace {

// Planes (one image's channel) per parallel chunk: about 16k input elements, at least one plane.
// Depends on the sizes only, so the work split never depends on the thread count.
index_t plane_grain(index_t h, index_t w) {
  return std::max<index_t>(1, (1 << 14) / std::max<index_t>(1, h * w));
}

using Span = PoolWindow<index_t>;

NAPINET_VECTORIZED void max_pool_planes(float* y, std::int32_t* indices, const float* x,
                                        index_t plane_begin, index_t plane_end, index_t h,
                                        index_t w, index_t oh, index_t ow, index_t kh, index_t kw,
                                        index_t sh, index_t sw, index_t ph, index_t pw) {
  for (index_t p = plane_begin; p < plane_end; ++p) {
    const float* NAPINET_RESTRICT xp = x + p * h * w;  // (H,W)
    float* NAPINET_RESTRICT yp = y + p * oh * ow;      // (OH,OW)
    std::int32_t* NAPINET_RESTRICT ip = indices + p * oh * ow;
    for (index_t i = 0; i < oh; ++i) {
      const Span rows = pool_window(i, sh, ph, kh, h);
      for (index_t j = 0; j < ow; ++j) {
        const Span cols = pool_window(j, sw, pw, kw, w);
        float best = -std::numeric_limits<float>::infinity();
        index_t arg = rows.begin * w + cols.begin;
        for (index_t a = rows.begin; a < rows.end; ++a) {
          for (index_t b = cols.begin; b < cols.end; ++b) {
            const float v = xp[a * w + b];
            if (pool_max_takes(v, best)) {
              best = v;
              arg = a * w + b;
            }
          }
        }
        yp[i * ow + j] = best;
        ip[i * ow + j] = static_cast<std::int32_t>(arg);
      }
    }
  }
}

// The same result as max_pool_planes for windows that never leave the input (no padding): the
// window's positions are visited in the same scan order, but across a whole output row at once
// with selects instead of branches, which the compiler vectorises. Random data makes the
// branchy version mispredict on about every other comparison.
NAPINET_VECTORIZED void max_pool_planes_unpadded(float* y, std::int32_t* indices, const float* x,
                                                 index_t plane_begin, index_t plane_end, index_t h,
                                                 index_t w, index_t oh, index_t ow, index_t kh,
                                                 index_t kw, index_t sh, index_t sw) {
  for (index_t p = plane_begin; p < plane_end; ++p) {
    const float* NAPINET_RESTRICT xp = x + p * h * w;  // (H,W)
    float* NAPINET_RESTRICT yp = y + p * oh * ow;      // (OH,OW)
    std::int32_t* NAPINET_RESTRICT ip = indices + p * oh * ow;
    for (index_t i = 0; i < oh; ++i) {
      float* NAPINET_RESTRICT best = yp + i * ow;
      std::int32_t* NAPINET_RESTRICT arg = ip + i * ow;
      for (index_t j = 0; j < ow; ++j) {
        best[j] = -std::numeric_limits<float>::infinity();
        arg[j] = static_cast<std::int32_t>(i * sh * w + j * sw);
      }
      for (index_t a = 0; a < kh; ++a) {
        const index_t row = i * sh + a;
        for (index_t b = 0; b < kw; ++b) {
          const float* NAPINET_RESTRICT xr = xp + row * w + b;
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
}

// The common 2×2 window with stride 2 and no padding, one output row at a time with the four
// candidates in registers (same scan order and NaN rule as above).
NAPINET_VECTORIZED void max_pool_planes_2x2(float* y, std::int32_t* indices, const float* x,
                                            index_t plane_begin, index_t plane_end, index_t h,
                                            index_t w, index_t oh, index_t ow) {
  for (index_t p = plane_begin; p < plane_end; ++p) {
    const float* NAPINET_RESTRICT xp = x + p * h * w;  // (H,W)
    float* NAPINET_RESTRICT yp = y + p * oh * ow;      // (OH,OW)
    std::int32_t* NAPINET_RESTRICT ip = indices + p * oh * ow;
    for (index_t i = 0; i < oh; ++i) {
      const float* NAPINET_RESTRICT r0 = xp + 2 * i * w;
      const float* NAPINET_RESTRICT r1 = r0 + w;
      const std::int32_t base = static_cast<std::int32_t>(2 * i * w);
      const std::int32_t width = static_cast<std::int32_t>(w);
      for (index_t j = 0; j < ow; ++j) {
        const std::int32_t col = static_cast<std::int32_t>(2 * j);
        float best = r0[2 * j];
        std::int32_t arg = base + col;
        const float v1 = r0[2 * j + 1], v2 = r1[2 * j], v3 = r1[2 * j + 1];
        bool take = pool_max_takes(v1, best);
        best = take ? v1 : best;
        arg = take ? base + col + 1 : arg;
        take = pool_max_takes(v2, best);
        best = take ? v2 : best;
        arg = take ? base + width + col : arg;
        take = pool_max_takes(v3, best);
        best = take ? v3 : best;
        arg = take ? base + width + col + 1 : arg;
        yp[i * ow + j] = best;
        ip[i * ow + j] = arg;
      }
    }
  }
}

NAPINET_VECTORIZED void max_pool_backward_planes(float* dx, const float* dy,
                                                 const std::int32_t* indices, index_t plane_begin,
                                                 index_t plane_end, index_t h, index_t w,
                                                 index_t oh, index_t ow) {
  for (index_t p = plane_begin; p < plane_end; ++p) {
    float* NAPINET_RESTRICT dxp = dx + p * h * w;  // (H,W)
    const float* NAPINET_RESTRICT dyp = dy + p * oh * ow;
    const std::int32_t* NAPINET_RESTRICT ip = indices + p * oh * ow;
    std::fill(dxp, dxp + h * w, 0.0f);
    for (index_t o = 0; o < oh * ow; ++o) dxp[ip[o]] += dyp[o];
  }
}

NAPINET_VECTORIZED void avg_pool_planes(float* y, const float* x, index_t plane_begin,
                                        index_t plane_end, index_t h, index_t w, index_t oh,
                                        index_t ow, index_t kh, index_t kw, index_t sh, index_t sw,
                                        index_t ph, index_t pw, bool count_include_pad) {
  for (index_t p = plane_begin; p < plane_end; ++p) {
    const float* NAPINET_RESTRICT xp = x + p * h * w;  // (H,W)
    float* NAPINET_RESTRICT yp = y + p * oh * ow;      // (OH,OW)
    for (index_t i = 0; i < oh; ++i) {
      const Span rows = pool_window(i, sh, ph, kh, h);
      for (index_t j = 0; j < ow; ++j) {
        const Span cols = pool_window(j, sw, pw, kw, w);
        float sum = 0.0f;
        for (index_t a = rows.begin; a < rows.end; ++a)
          for (index_t b = cols.begin; b < cols.end; ++b) sum += xp[a * w + b];
        const index_t divisor = pool_avg_divisor(rows, cols, count_include_pad);
        yp[i * ow + j] = divisor > 0 ? sum / static_cast<float>(divisor) : 0.0f;
      }
    }
  }
}

NAPINET_VECTORIZED void avg_pool_backward_planes(float* dx, const float* dy, index_t plane_begin,
                                                 index_t plane_end, index_t h, index_t w,
                                                 index_t oh, index_t ow, index_t kh, index_t kw,
                                                 index_t sh, index_t sw, index_t ph, index_t pw,
                                                 bool count_include_pad) {
  for (index_t p = plane_begin; p < plane_end; ++p) {
    float* NAPINET_RESTRICT dxp = dx + p * h * w;  // (H,W)
    const float* NAPINET_RESTRICT dyp = dy + p * oh * ow;
    std::fill(dxp, dxp + h * w, 0.0f);
    for (index_t i = 0; i < oh; ++i) {
      const Span rows = pool_window(i, sh, ph, kh, h);
      for (index_t j = 0; j < ow; ++j) {
        const Span cols = pool_window(j, sw, pw, kw, w);
        const index_t divisor = pool_avg_divisor(rows, cols, count_include_pad);
        if (divisor <= 0) continue;
        const float g = dyp[i * ow + j] / static_cast<float>(divisor);
        for (index_t a = rows.begin; a < rows.end; ++a)
          for (index_t b = cols.begin; b < cols.end; ++b) dxp[a * w + b] += g;
      }
    }
  }
}

}  // namespace

void max_pool2d_forward(float* y, std::int32_t* indices, const float* x, index_t n, index_t c,
                        index_t h, index_t w, index_t kh, index_t kw, index_t sh, index_t sw,
                        index_t ph, index_t pw) {
  const index_t oh = pool2d_output_size(h, kh, sh, ph);
  const index_t ow = pool2d_output_size(w, kw, sw, pw);
  parallel_for(n * c, plane_grain(h, w), [&](index_t begin, index_t end) {
    if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && ph == 0 && pw == 0) {
      max_pool_planes_2x2(y, indices, x, begin, end, h, w, oh, ow);
    } else if (ph == 0 && pw == 0) {
      max_pool_planes_unpadded(y, indices, x, begin, end, h, w, oh, ow, kh, kw, sh, sw);
    } else {
      max_pool_planes(y, indices, x, begin, end, h, w, oh, ow, kh, kw, sh, sw, ph, pw);
    }
  });
}

void max_pool2d_backward(float* dx, const float* dy, const std::int32_t* indices, index_t n,
                         index_t c, index_t h, index_t w, index_t oh, index_t ow) {
  parallel_for(n * c, plane_grain(h, w), [&](index_t begin, index_t end) {
    max_pool_backward_planes(dx, dy, indices, begin, end, h, w, oh, ow);
  });
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
  const index_t oh = pool2d_output_size(h, kh, sh, ph);
  const index_t ow = pool2d_output_size(w, kw, sw, pw);
  parallel_for(n * c, plane_grain(h, w), [&](index_t begin, index_t end) {
    avg_pool_planes(y, x, begin, end, h, w, oh, ow, kh, kw, sh, sw, ph, pw, count_include_pad);
  });
}

void avg_pool2d_backward(float* dx, const float* dy, index_t n, index_t c, index_t h, index_t w,
                         index_t kh, index_t kw, index_t sh, index_t sw, index_t ph, index_t pw,
                         bool count_include_pad) {
  const index_t oh = pool2d_output_size(h, kh, sh, ph);
  const index_t ow = pool2d_output_size(w, kw, sw, pw);
  parallel_for(n * c, plane_grain(h, w), [&](index_t begin, index_t end) {
    avg_pool_backward_planes(dx, dy, begin, end, h, w, oh, ow, kh, kw, sh, sw, ph, pw,
                             count_include_pad);
  });
}

}  // namespace napinet::kernels
