// 2-D max and average pooling on the GPU, forward and backward, NCHW: the CUDA side of
// native/kernels/pool2d.h (mirrors torch.nn.functional.max_pool2d with return_indices=True and
// avg_pool2d; ceil_mode=False, dilation 1). Test: test/pool2d.test.ts (runs on 'cuda' with a GPU or
// the emulator build).
//
// Every kernel gives the CPU kernel's bits, float for float:
//   max forward: one thread per output; the window (clipped to the input) is scanned row-major with
//     the CPU's rule: the first strict maximum wins and a NaN always replaces the maximum.
//   max backward: the launcher has no window geometry (only H, W, OH, OW, like the CPU kernel), so
//     it cannot gather per input element. One warp owns a whole plane instead: it zeroes dx, then
//     takes the plane's outputs 32 at a time, in order; lanes whose argmax is the same element are
//     found through the round's 32 indices in shared memory, and the lowest of them adds their dy
//     into dx in lane order. So every element receives its dy values in output order, exactly the
//     CPU's sum, with no float atomics and no races (one warp per plane; __syncwarp between
//     rounds). Non-overlapping windows never collide and cost one read-modify-write per output.
//     The 32 reads per lane and round are shared-memory broadcasts. An index outside [0, H·W)
//     (only possible for indices that did not come from max_pool2d_forward: the binding checks CPU
//     indices but cannot read device ones) is skipped, never written through.
//   avg forward: one thread per output, the window's row-major float sum divided by the divisor.
//   avg backward: gather, one thread per input element: the windows covering it, in output order,
//     each adding dy / divisor as the CPU's scatter does.
// Indices are 32-bit when the sizes allow (faster div/mod on the GPU), else 64-bit.
#include <climits>

#include "common.cuh"
#include "../native/kernels/pool2d.h"

namespace napinet::cuda {
namespace {

// ---- kernels ---------------------------------------------------------------------------------

// Window geometry, divisor, max scan and mean: native/kernels/pool2d.h (shared with the CPU).
using kernels::pool_avg_divisor, kernels::pool_avg_window, kernels::pool_max_window;
template <typename Index>
using Span = kernels::PoolWindow<Index>;
template <typename Index>
using Geometry = kernels::PoolGeometry<Index>;

// Output o of (N,C,OH,OW): its plane and its window's rows and columns.
template <typename Index>
struct Output {
  Index plane;
  Span<Index> rows, cols;
};
template <typename Index>
__device__ inline Output<Index> output_at(const Geometry<Index>& g, Index o) {
  return {o / (g.ow * g.oh), g.rows((o / g.ow) % g.oh), g.cols(o % g.ow)};
}

// y, indices (N,C,OH,OW); x (N,C,H,W). One thread per output; total = N·C·OH·OW.
template <typename Index>
__global__ void max_pool2d_forward_kernel(float* y, std::int32_t* indices, const float* x,
                                          Geometry<Index> g, Index total) {
  const Index stride = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index o = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const Output<Index> out = output_at(g, o);
    float best;
    Index arg;
    pool_max_window(x + static_cast<std::int64_t>(out.plane) * g.h * g.w, g.w, out.rows, out.cols,
                    best, arg);
    y[o] = best;
    indices[o] = static_cast<std::int32_t>(arg);
  }
}

// dx (N,C,H,W) = 0, then dy (N,C,OH,OW) added at each argmax, in output order. One warp per plane
// (grid-strided over the planes); hw = H·W, ohw = OH·OW. Launched with kBlockSize threads.
__global__ void max_pool2d_backward_kernel(float* dx, const float* dy, const std::int32_t* indices,
                                           std::int64_t planes, std::int64_t hw, std::int64_t ohw) {
  const int lane = static_cast<int>(threadIdx.x) % warpSize;
  const std::int64_t warps_per_block = blockDim.x / warpSize;
  const std::int64_t warps = warps_per_block * gridDim.x;
  // This round's argmax of every lane (read by all lanes of the warp: broadcasts, no conflicts).
  __shared__ std::int32_t round_indices[kBlockSize];
  const std::int32_t* warp_indices = round_indices + (threadIdx.x - lane);
  // Every loop below has the same bounds for all lanes of a warp: they all reach each __syncwarp.
  for (std::int64_t p = std::int64_t{blockIdx.x} * warps_per_block + threadIdx.x / warpSize;
       p < planes; p += warps) {
    float* dxp = dx + p * hw;                        // (H,W)
    const float* dyp = dy + p * ohw;                 // (OH,OW)
    const std::int32_t* ip = indices + p * ohw;      // (OH,OW)
    for (std::int64_t e = lane; e < hw; e += warpSize) dxp[e] = 0.0f;
    __syncwarp();
    for (std::int64_t base = 0; base < ohw; base += warpSize) {
      const std::int64_t o = base + lane;
      std::int32_t index = o < ohw ? ip[o] : -1;
      if (index < 0 || index >= hw) index = -1;  // no output, or an index outside the plane
      round_indices[threadIdx.x] = index;
      __syncwarp();
      unsigned same = 0;  // lanes whose argmax is this lane's
      for (int k = 0; k < warpSize; ++k) {
        if (warp_indices[k] == index) same |= 1u << k;
      }
      if (index >= 0 && __ffs(static_cast<int>(same)) - 1 == lane) {
        float sum = dxp[index];
        for (unsigned rest = same; rest != 0; rest &= rest - 1) {
          sum += dyp[base + __ffs(static_cast<int>(rest)) - 1];
        }
        dxp[index] = sum;
      }
      __syncwarp();  // this round's reads and writes before the next round's
    }
  }
}

// y (N,C,OH,OW) = mean of each window of x (N,C,H,W). One thread per output.
template <typename Index>
__global__ void avg_pool2d_forward_kernel(float* y, const float* x, Geometry<Index> g,
                                          bool count_include_pad, Index total) {
  const Index stride = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index o = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; o < total; o += stride) {
    const Output<Index> out = output_at(g, o);
    y[o] = pool_avg_window(x + static_cast<std::int64_t>(out.plane) * g.h * g.w, g.w, out.rows,
                           out.cols, count_include_pad);
  }
}

// The outputs along one axis whose windows cover input position r: [first, last].
template <typename Index>
__device__ inline void covering(Index r, Index stride, Index pad, Index kernel, Index out,
                                Index& first, Index& last) {
  const Index low = r + pad - kernel + 1;  // out·stride ≥ low
  first = low <= 0 ? 0 : (low + stride - 1) / stride;
  last = (r + pad) / stride;  // out·stride − pad ≤ r
  if (last > out - 1) last = out - 1;
}

// dx (N,C,H,W) = Σ over the windows covering each input of dy (N,C,OH,OW) / divisor, in output
// order. One thread per input element; total = N·C·H·W.
template <typename Index>
__global__ void avg_pool2d_backward_kernel(float* dx, const float* dy, Geometry<Index> g,
                                           bool count_include_pad, Index total) {
  const Index stride = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index e = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const Index b = e % g.w;
    const Index a = (e / g.w) % g.h;
    const Index plane = e / (g.w * g.h);
    const float* dyp = dy + static_cast<std::int64_t>(plane) * g.oh * g.ow;  // (OH,OW)
    Index i0, i1, j0, j1;
    covering(a, g.sh, g.ph, g.kh, g.oh, i0, i1);
    covering(b, g.sw, g.pw, g.kw, g.ow, j0, j1);
    float sum = 0.0f;
    for (Index i = i0; i <= i1; ++i) {
      const Span<Index> rows = g.rows(i);
      for (Index j = j0; j <= j1; ++j) {
        const Index divisor = pool_avg_divisor(rows, g.cols(j), count_include_pad);
        if (divisor <= 0) continue;
        sum += dyp[i * g.ow + j] / static_cast<float>(divisor);
      }
    }
    dx[e] = sum;
  }
}

// 32-bit indexing is safe when every index and intermediate (window bounds, a·W + b) fits, and
// the grid-stride loop's last step past `total` does too (fits_int32_loop).
bool fits_int32(std::int64_t total, std::int64_t h, std::int64_t w, std::int64_t kh,
                std::int64_t kw, std::int64_t ph, std::int64_t pw) {
  return fits_int32_loop(total) && h + kh + 2 * ph <= INT32_MAX && w + kw + 2 * pw <= INT32_MAX;
}

// The geometry, with the CPU kernel's output size.
Geometry<std::int64_t> geometry(std::int64_t h, std::int64_t w, std::int64_t kh, std::int64_t kw,
                                std::int64_t sh, std::int64_t sw, std::int64_t ph,
                                std::int64_t pw) {
  const std::int64_t oh = kernels::pool2d_output_size(h, kh, sh, ph);
  const std::int64_t ow = kernels::pool2d_output_size(w, kw, sw, pw);
  return {h, w, oh, ow, kh, kw, sh, sw, ph, pw};
}

// One launch of a pooling kernel over `total` items, in 32-bit indices when `narrow`, else 64-bit.
// launch(geometry, total) is called with Geometry<std::int32_t> or Geometry<std::int64_t>.
template <typename Launch>
void with_index_type(bool narrow, const Geometry<std::int64_t>& g, std::int64_t total,
                     const Launch& launch) {
  if (narrow) {
    launch(Geometry<std::int32_t>{std::int32_t(g.h), std::int32_t(g.w), std::int32_t(g.oh),
                                  std::int32_t(g.ow), std::int32_t(g.kh), std::int32_t(g.kw),
                                  std::int32_t(g.sh), std::int32_t(g.sw), std::int32_t(g.ph),
                                  std::int32_t(g.pw)},
           std::int32_t(total));
  } else {
    launch(g, total);
  }
}

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

void max_pool2d_forward(float* y, std::int32_t* indices, const float* x, std::int64_t n,
                        std::int64_t c, std::int64_t h, std::int64_t w, std::int64_t kh,
                        std::int64_t kw, std::int64_t sh, std::int64_t sw, std::int64_t ph,
                        std::int64_t pw) {  // y, indices (N,C,OH,OW); x (N,C,H,W)
  const Geometry<std::int64_t> g = geometry(h, w, kh, kw, sh, sw, ph, pw);
  const std::int64_t total = n * c * g.oh * g.ow;
  if (total == 0) return;
  with_index_type(fits_int32(total, h, w, kh, kw, ph, pw), g, total, [&](auto gi, auto count) {
    using Index = decltype(count);
    NAPINET_LAUNCH((max_pool2d_forward_kernel<Index>), grid_for(count), kBlockSize, 0, y, indices,
                   x, gi, count);
  });
}

void max_pool2d_backward(float* dx, const float* dy, const std::int32_t* indices, std::int64_t n,
                         std::int64_t c, std::int64_t h, std::int64_t w, std::int64_t oh,
                         std::int64_t ow) {  // dx (N,C,H,W); dy, indices (N,C,OH,OW)
  const std::int64_t planes = n * c;
  if (planes == 0) return;
  // One warp per plane: kBlockSize / 32 planes per block.
  NAPINET_LAUNCH(max_pool2d_backward_kernel, grid_for(planes * 32), kBlockSize, 0, dx, dy, indices,
                 planes, h * w, oh * ow);
}

void avg_pool2d_forward(float* y, const float* x, std::int64_t n, std::int64_t c, std::int64_t h,
                        std::int64_t w, std::int64_t kh, std::int64_t kw, std::int64_t sh,
                        std::int64_t sw, std::int64_t ph, std::int64_t pw,
                        bool count_include_pad) {  // y (N,C,OH,OW); x (N,C,H,W)
  const Geometry<std::int64_t> g = geometry(h, w, kh, kw, sh, sw, ph, pw);
  const std::int64_t total = n * c * g.oh * g.ow;
  if (total == 0) return;
  with_index_type(fits_int32(total, h, w, kh, kw, ph, pw), g, total, [&](auto gi, auto count) {
    using Index = decltype(count);
    NAPINET_LAUNCH((avg_pool2d_forward_kernel<Index>), grid_for(count), kBlockSize, 0, y, x, gi,
                   count_include_pad, count);
  });
}

void avg_pool2d_backward(float* dx, const float* dy, std::int64_t n, std::int64_t c,
                         std::int64_t h, std::int64_t w, std::int64_t kh, std::int64_t kw,
                         std::int64_t sh, std::int64_t sw, std::int64_t ph, std::int64_t pw,
                         bool count_include_pad) {  // dx (N,C,H,W); dy (N,C,OH,OW)
  const Geometry<std::int64_t> g = geometry(h, w, kh, kw, sh, sw, ph, pw);
  const std::int64_t total = n * c * h * w;
  if (total == 0) return;
  const bool narrow = fits_int32(total, h, w, kh, kw, ph, pw) && fits_int32_loop(n * c * g.oh * g.ow);
  with_index_type(narrow, g, total, [&](auto gi, auto count) {
    using Index = decltype(count);
    NAPINET_LAUNCH((avg_pool2d_backward_kernel<Index>), grid_for(count), kBlockSize, 0, dx, dy, gi,
                   count_include_pad, count);
  });
}

}  // namespace napinet::cuda
