// 2-D max and average pooling, forward and backward, NCHW. Mirrors torch.nn.functional.max_pool2d
// (return_indices=True) and avg_pool2d with ceil_mode=False and dilation 1.
// Test: test/pool2d.test.ts
//
// Output size: OH = (H + 2·ph − kh) / sh + 1 (floor), likewise OW. PyTorch requires ph ≤ kh/2 and
// pw ≤ kw/2, so every window overlaps the input; the binding checks that before calling.
#pragma once

#include <cmath>
#include <cstdint>

#include "common.h"

namespace napinet::kernels {

// Output length along one axis; < 1 when the (padded) input is smaller than the kernel.
inline index_t pool2d_output_size(index_t in, index_t kernel, index_t stride, index_t pad) {
  const index_t span = in + 2 * pad - kernel;
  return span < 0 ? 0 : span / stride + 1;
}

// ---- Window geometry and the max rule, shared with cuda/pool2d.cu (Index: int32 or int64) ----

// Output `out`'s window along one axis: rows (or columns) [begin, end) clipped to the input, and
// its extent including padding (PyTorch caps that at in + pad, which only matters with ceil_mode).
template <typename Index>
struct PoolWindow {
  Index begin, end, padded;
};

template <typename Index>
NAPINET_HOST_DEVICE PoolWindow<Index> pool_window(Index out, Index stride, Index pad, Index kernel,
                                                  Index in) {
  const Index begin = out * stride - pad;
  const Index padded_end = begin + kernel < in + pad ? begin + kernel : in + pad;
  return PoolWindow<Index>{begin > 0 ? begin : 0, begin + kernel < in ? begin + kernel : in,
                           padded_end - begin};
}

// What an average divides by: the window with its padding (count_include_pad) or its input part.
template <typename Index>
NAPINET_HOST_DEVICE Index pool_avg_divisor(const PoolWindow<Index>& rows,
                                           const PoolWindow<Index>& cols, bool count_include_pad) {
  return count_include_pad ? rows.padded * cols.padded
                           : (rows.end - rows.begin) * (cols.end - cols.begin);
}

// Whether the window's value v replaces the maximum so far: a strict maximum, or any NaN (v != v),
// as PyTorch's CPU kernel.
NAPINET_HOST_DEVICE bool pool_max_takes(float v, float best) { return v > best || v != v; }

// A 2×2 window's maximum and its flat index, scanned row-major by pool_max_takes: v00 sits at
// `corner`, v01 at corner + 1, v10 at corner + width, v11 at corner + width + 1. Branch-free, so
// the callers' loops over windows vectorise.
struct PoolMax2x2 {
  float value;
  std::int32_t index;
};
NAPINET_HOST_DEVICE PoolMax2x2 pool_max_2x2(float v00, float v01, float v10, float v11,
                                            std::int32_t corner, std::int32_t width) {
  float best = v00;
  std::int32_t arg = corner;
  bool take = pool_max_takes(v01, best);
  best = take ? v01 : best;
  arg = take ? corner + 1 : arg;
  take = pool_max_takes(v10, best);
  best = take ? v10 : best;
  arg = take ? corner + width : arg;
  take = pool_max_takes(v11, best);
  best = take ? v11 : best;
  arg = take ? corner + width + 1 : arg;
  return {best, arg};
}

// A pooling's sizes: the input plane (H,W), the output plane (OH,OW), window, stride, padding.
template <typename Index>
struct PoolGeometry {
  Index h, w, oh, ow, kh, kw, sh, sw, ph, pw;
  NAPINET_HOST_DEVICE PoolWindow<Index> rows(Index i) const { return pool_window(i, sh, ph, kh, h); }
  NAPINET_HOST_DEVICE PoolWindow<Index> cols(Index j) const { return pool_window(j, sw, pw, kw, w); }
};

// The maximum of a window of the plane xp (H,W), scanned row-major by pool_max_takes (a window
// of −inf keeps its first position), and its index h·W + w in the plane.
template <typename Index>
NAPINET_HOST_DEVICE void pool_max_window(const float* xp, Index w, const PoolWindow<Index>& rows,
                                         const PoolWindow<Index>& cols, float& best, Index& arg) {
  best = -INFINITY;
  arg = rows.begin * w + cols.begin;
  for (Index a = rows.begin; a < rows.end; ++a) {
    for (Index b = cols.begin; b < cols.end; ++b) {
      const float v = xp[a * w + b];
      if (pool_max_takes(v, best)) {
        best = v;
        arg = a * w + b;
      }
    }
  }
}

// The mean of a window of the plane xp (H,W): its input values summed row-major in float, divided
// by pool_avg_divisor (0 for a window that covers no input).
template <typename Index>
NAPINET_HOST_DEVICE float pool_avg_window(const float* xp, Index w, const PoolWindow<Index>& rows,
                                          const PoolWindow<Index>& cols, bool count_include_pad) {
  float sum = 0.0f;
  for (Index a = rows.begin; a < rows.end; ++a) {
    for (Index b = cols.begin; b < cols.end; ++b) sum += xp[a * w + b];
  }
  const Index divisor = pool_avg_divisor(rows, cols, count_include_pad);
  return divisor > 0 ? sum / static_cast<float>(divisor) : 0.0f;
}

// y, indices (N,C,OH,OW); x (N,C,H,W). indices[o] = h·W + w of the window's maximum within its
// input plane, as PyTorch's return_indices. Scan order is row-major over the window clipped to the input
// (padding counts as −inf); the first strict maximum wins, and a NaN always replaces the current
// maximum (so the window's last NaN wins), exactly as PyTorch's CPU kernel.
void max_pool2d_forward(float* y, std::int32_t* indices, const float* x, index_t n, index_t c,
                        index_t h, index_t w, index_t kh, index_t kw, index_t sh, index_t sw,
                        index_t ph, index_t pw);

// dx (N,C,H,W) is zeroed, then every dy (N,C,OH,OW) is added at its argmax; overlapping windows
// accumulate (in output order). indices must lie in [0, H·W) (the binding checks them).
void max_pool2d_backward(float* dx, const float* dy, const std::int32_t* indices, index_t n,
                         index_t c, index_t h, index_t w, index_t oh, index_t ow);

// The gradient through (a ReLU, then) a max-pool whose windows do not overlap (each plane's
// indices distinct: the fused conv/batch-norm + 2×2 pool layers, whose bindings check that each
// index lies in its own window), for `count` planes: dx planes of `plane` floats get
// 0 + relu_backward(dy, y) (0 + dy when y is null) at each of their `pooled` argmaxes, 0 elsewhere
// — the bits of relu_backward then max_pool2d_backward.
void max_pool2d_relu_backward_planes(float* dx, const float* dy, const float* y,
                                     const std::int32_t* indices, index_t count, index_t pooled,
                                     index_t plane);

// Whether every one of `count` argmax indices lies in [0, limit) (what max_pool2d_backward needs);
// a branch-free scan that vectorises, cheap next to the backward pass itself.
bool max_pool2d_indices_in_range(const std::int32_t* indices, index_t count, index_t limit);

// y (N,C,OH,OW) = mean of each window of x (N,C,H,W). The divisor is the window's size including
// padding (kh·kw) when count_include_pad, else the number of input elements it covers.
void avg_pool2d_forward(float* y, const float* x, index_t n, index_t c, index_t h, index_t w,
                        index_t kh, index_t kw, index_t sh, index_t sw, index_t ph, index_t pw,
                        bool count_include_pad);

// dx (N,C,H,W) = Σ over the windows covering each input of dy (N,C,OH,OW) / divisor.
void avg_pool2d_backward(float* dx, const float* dy, index_t n, index_t c, index_t h, index_t w,
                         index_t kh, index_t kw, index_t sh, index_t sw, index_t ph, index_t pw,
                         bool count_include_pad);

}  // namespace napinet::kernels
