#include "pool2d.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "parallel.h"

namespace napinet::kernels {
namespace {

// Planes (one image's channel) per parallel chunk: about 16k input elements, at least one plane.
// Depends on the sizes only, so the work split never depends on the thread count.
index_t plane_grain(index_t h, index_t w) {
  return std::max<index_t>(1, (1 << 14) / std::max<index_t>(1, h * w));
}

// A window's rows or columns [begin, end) clipped to the input, and its full extent including
// padding (PyTorch caps that at in + pad, which only matters with ceil_mode).
struct Span {
  index_t begin, end, padded;
};

inline Span window(index_t out, index_t stride, index_t pad, index_t kernel, index_t in) {
  index_t begin = out * stride - pad;
  index_t padded_end = std::min(begin + kernel, in + pad);
  Span s{std::max<index_t>(begin, 0), std::min(begin + kernel, in), padded_end - begin};
  return s;
}

NAPINET_VECTORIZED void max_pool_planes(float* y, std::int32_t* indices, const float* x,
                                        index_t plane_begin, index_t plane_end, index_t h,
                                        index_t w, index_t oh, index_t ow, index_t kh, index_t kw,
                                        index_t sh, index_t sw, index_t ph, index_t pw) {
  for (index_t p = plane_begin; p < plane_end; ++p) {
    const float* NAPINET_RESTRICT xp = x + p * h * w;  // (H,W)
    float* NAPINET_RESTRICT yp = y + p * oh * ow;      // (OH,OW)
    std::int32_t* NAPINET_RESTRICT ip = indices + p * oh * ow;
    for (index_t i = 0; i < oh; ++i) {
      const Span rows = window(i, sh, ph, kh, h);
      for (index_t j = 0; j < ow; ++j) {
        const Span cols = window(j, sw, pw, kw, w);
        float best = -std::numeric_limits<float>::infinity();
        index_t arg = rows.begin * w + cols.begin;
        for (index_t a = rows.begin; a < rows.end; ++a) {
          for (index_t b = cols.begin; b < cols.end; ++b) {
            const float v = xp[a * w + b];
            if (v > best || std::isnan(v)) {
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

inline index_t avg_divisor(const Span& rows, const Span& cols, bool count_include_pad) {
  return count_include_pad ? rows.padded * cols.padded
                           : (rows.end - rows.begin) * (cols.end - cols.begin);
}

NAPINET_VECTORIZED void avg_pool_planes(float* y, const float* x, index_t plane_begin,
                                        index_t plane_end, index_t h, index_t w, index_t oh,
                                        index_t ow, index_t kh, index_t kw, index_t sh, index_t sw,
                                        index_t ph, index_t pw, bool count_include_pad) {
  for (index_t p = plane_begin; p < plane_end; ++p) {
    const float* NAPINET_RESTRICT xp = x + p * h * w;  // (H,W)
    float* NAPINET_RESTRICT yp = y + p * oh * ow;      // (OH,OW)
    for (index_t i = 0; i < oh; ++i) {
      const Span rows = window(i, sh, ph, kh, h);
      for (index_t j = 0; j < ow; ++j) {
        const Span cols = window(j, sw, pw, kw, w);
        float sum = 0.0f;
        for (index_t a = rows.begin; a < rows.end; ++a)
          for (index_t b = cols.begin; b < cols.end; ++b) sum += xp[a * w + b];
        const index_t divisor = avg_divisor(rows, cols, count_include_pad);
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
      const Span rows = window(i, sh, ph, kh, h);
      for (index_t j = 0; j < ow; ++j) {
        const Span cols = window(j, sw, pw, kw, w);
        const index_t divisor = avg_divisor(rows, cols, count_include_pad);
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
    max_pool_planes(y, indices, x, begin, end, h, w, oh, ow, kh, kw, sh, sw, ph, pw);
  });
}

void max_pool2d_backward(float* dx, const float* dy, const std::int32_t* indices, index_t n,
                         index_t c, index_t h, index_t w, index_t oh, index_t ow) {
  parallel_for(n * c, plane_grain(h, w), [&](index_t begin, index_t end) {
    max_pool_backward_planes(dx, dy, indices, begin, end, h, w, oh, ow);
  });
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
