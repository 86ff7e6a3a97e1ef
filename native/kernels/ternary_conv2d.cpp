#include "ternary_conv2d.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "parallel.h"

namespace napinet::kernels {
namespace {

// One non-zero weight: input channel, kernel row and column, and whether it adds or subtracts.
struct Tap {
  index_t c, i, j;
  bool add;
};

// Output positions o in [0, out) whose input coordinate o·stride − pad + offset lies in [0, in).
void valid_range(index_t out, index_t in, index_t stride, index_t pad, index_t offset,
                 index_t& begin, index_t& end) {
  const index_t lo = pad - offset;  // o·stride ≥ lo
  begin = lo <= 0 ? 0 : (lo + stride - 1) / stride;
  const index_t hi = in - 1 + pad - offset;  // o·stride ≤ hi
  end = hi < 0 ? 0 : hi / stride + 1;
  if (end > out) end = out;
  if (begin > end) begin = end;
}

// y[o] += x[o·stride] for o in [0, n): the hot loops, one adding and one subtracting.
NAPINET_VECTORIZED void add_row(float* NAPINET_RESTRICT y, const float* NAPINET_RESTRICT x,
                                index_t n, index_t stride) {
  if (stride == 1) {
    for (index_t o = 0; o < n; ++o) y[o] += x[o];
  } else {
    for (index_t o = 0, s = 0; o < n; ++o, s += stride) y[o] += x[s];
  }
}

NAPINET_VECTORIZED void sub_row(float* NAPINET_RESTRICT y, const float* NAPINET_RESTRICT x,
                                index_t n, index_t stride) {
  if (stride == 1) {
    for (index_t o = 0; o < n; ++o) y[o] -= x[o];
  } else {
    for (index_t o = 0, s = 0; o < n; ++o, s += stride) y[o] -= x[s];
  }
}

// One output plane (OH,OW) of sample n, kernel k: start from the bias, then add or subtract each
// tap's shifted input plane over the outputs where that tap falls inside the image.
void plane(float* y, const float* x, const std::vector<Tap>& taps, float bias, index_t H, index_t W,
           index_t OH, index_t OW, index_t sh, index_t sw, index_t ph, index_t pw) {
  for (index_t o = 0; o < OH * OW; ++o) y[o] = bias;
  for (const Tap& t : taps) {
    index_t oh0, oh1, ow0, ow1;
    valid_range(OH, H, sh, ph, t.i, oh0, oh1);
    valid_range(OW, W, sw, pw, t.j, ow0, ow1);
    if (oh0 >= oh1 || ow0 >= ow1) continue;
    const float* xc = x + t.c * H * W;
    // Address arithmetic only: the input position of output (oh0, ow0) for this tap.
    const float* xrow = xc + (oh0 * sh - ph + t.i) * W + (ow0 * sw - pw + t.j);
    float* yrow = y + oh0 * OW + ow0;
    for (index_t oh = oh0; oh < oh1; ++oh, xrow += sh * W, yrow += OW) {
      if (t.add) {
        add_row(yrow, xrow, ow1 - ow0, sw);
      } else {
        sub_row(yrow, xrow, ow1 - ow0, sw);
      }
    }
  }
}

}  // namespace

void ternary_conv2d_forward(float* y, const float* x, const std::int32_t* w, const float* b,
                            index_t N, index_t C, index_t H, index_t W, index_t K, index_t kh,
                            index_t kw, index_t sh, index_t sw, index_t ph, index_t pw) {
  const index_t OH = (H + 2 * ph - kh) / sh + 1;
  const index_t OW = (W + 2 * pw - kw) / sw + 1;
  // The non-zero taps of each kernel, in (c, i, j) order (per-call scratch).
  std::vector<std::vector<Tap>> taps(static_cast<std::size_t>(K));
  const std::int32_t* wk = w;
  for (index_t k = 0; k < K; ++k) {
    for (index_t c = 0; c < C; ++c) {
      for (index_t i = 0; i < kh; ++i) {
        for (index_t j = 0; j < kw; ++j, ++wk) {
          const std::int32_t v = *wk;
          if (v == 1 || v == -1) {
            taps[k].push_back({c, i, j, v == 1});
          } else if (v != 0) {
            throw std::invalid_argument("ternary_conv2d: weight value " + std::to_string(v) + " at index " +
                                        std::to_string(wk - w) + " is not -1, 0 or +1");
          }
        }
      }
    }
  }
  const index_t plane_in = C * H * W;
  const index_t plane_out = OH * OW;
  // Tasks are whole (sample, kernel) output planes, each computed by one thread alone; a chunk
  // holds about 32k taps' worth of work (the grain depends on the sizes only).
  const index_t work_per_plane = std::max<index_t>(1, plane_out * C * kh * kw);
  const index_t grain = std::max<index_t>(1, (index_t{1} << 15) / work_per_plane);
  parallel_for(N * K, grain, [&](index_t begin, index_t end) {
    for (index_t p = begin; p < end; ++p) {
      const index_t n = p / K;
      const index_t k = p % K;
      plane(y + p * plane_out, x + n * plane_in, taps[k], b ? b[k] : 0.0f, H, W, OH, OW, sh, sw,
            ph, pw);
    }
  });
}

}  // namespace napinet::kernels
