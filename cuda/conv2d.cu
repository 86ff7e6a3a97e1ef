// 2-D convolution on the GPU, forward and backward: the CUDA side of native/kernels/conv2d.h
// (mirrors torch.nn.functional.conv2d with groups=1 and dilation=1: any kernel size, stride and
// zero padding per axis, optional bias; the backward pair gives autograd's input, weight and bias
// gradients). Test: test/conv2d.test.ts (runs on 'cuda' with a GPU or the emulator build).
//
// Two strategies, chosen by the algorithm argument:
//   direct  (kDirect, kAuto) one block per (sample, spatial tile, channel block). It stages the
//           input tile with its halo and the block's filters in shared memory, a chunk of channels
//           at a time, and each thread keeps 1, 4 or 8 channels of one position in registers
//           (filters stored tap-major so a thread reads its channels' weights as float4
//           broadcasts). The input gradient has a twin kernel, the transposed convolution in
//           gather form: it stages the dy patch a tile of dx reaches, and each dx position sums
//           over the taps whose stride phase reaches it (no atomics, no zero taps for strides
//           > 1). A shape whose tile does not fit in shared memory (an enormous kernel or
//           stride) falls back to the implicit GEMM below.
//   im2col  (kIm2col) an implicit GEMM: the convolution as a tiled matrix product whose operand
//           tiles are gathered from x, w or dy on the fly (no im2col matrix in memory), with
//           register prefetch of the next tile. Forward: y (K × N·OH·OW) = w (K × C·kh·kw) · col;
//           dx: dx (C × N·H·W) = wᵀ (C × K·kh·kw) · gathered dy.
// The weight and bias gradients use the implicit GEMM for every algorithm: dw (K × C·kh·kw) =
// dy (K × N·OH·OW) · colᵀ, the N·OH·OW sum split into chunks (about 512 blocks in all, from the
// shape alone). Each block writes its partial dw tile, and db row sums, to a scratch area; a
// second kernel adds the partials of each element in a fixed order (one warp per element,
// strided lane sums, then a shuffle tree) and overwrites or accumulates into dw and db. No float
// atomics anywhere, so every result is bit-identical from run to run.
//
// Scratch: the partials live in a per-thread scratch buffer (scratch(Scratch::kConvPartials) in
// common.cuh; the fused conv + pool keeps its convolution output in a second one), grown when a
// call needs more and kept for the next call; it is freed when the thread exits (JavaScript worker
// threads included). Each host thread queues on its own stream (stream()), so only that stream's
// kernels ever use its buffer, in order; growing frees the old buffer stream-ordered (after the
// kernels queued before), and a captured CUDA graph keeps the buffer it uses until it is
// destroyed. Launches per call: forward 1; backward 2 (dw/db partials, reduction), plus 1 for dx.
//
// The fused Conv2d → MaxPool2d(2) (→ ReLU) of Sequential's plan (conv2d_max_pool2d_*) runs the
// convolution into scratch and pools (and rectifies) it in one more kernel; its backward pass
// forms the convolution's output gradient in one kernel and runs the convolution's backward pass.
// Launches: forward 2, backward 3 (+1 for dx), against 3 and 4 (+1) for the three ops; the bits
// equal the three ops'.
//
// NaN and inf: the forward pass multiplies zero padding by the weights, as the CPU (0·NaN = NaN);
// the direct input gradient sums only the taps that reach dy, so a NaN or inf weight reaches the dx
// elements whose terms hold it, as on the CPU. The implicit GEMM's input gradient (kIm2col, or a
// tile too large for shared memory) multiplies the zeros it gathers outside dy, so there a NaN or
// inf weight also makes NaN the dx elements its taps would reach past dy's border.
//
// Sizes: the kernels index positions, taps and the weight gradient with 32-bit integers and whole
// tensors with 64-bit offsets; conv_shape() throws when a shape exceeds the 32-bit limits
// (N·OH·OW, N·H·W and C·kh·kw·K below 2^30).
#include "common.cuh"

#include <algorithm>
#include <climits>
#include <string>

#include "../native/kernels/activation.h"  // Relu: the fused ReLU is relu_forward / relu_backward
#include "../native/kernels/conv2d.h"

namespace napinet::cuda {
namespace {

using kernels::Conv2dAlgorithm;
using kernels::index_t;

// Sizes as the kernels see them (see conv_shape()).
struct ConvShape {
  int n, c, h, w, k, kh, kw, sh, sw, ph, pw, oh, ow;
};

// A direct kernel's tiling (plan_direct()): the positions a block computes (forward: output
// positions; input gradient: input positions), th × tw per tile, tiles_h × tiles_w tiles per
// sample; `groups` channel groups of 1, 4 or 8 channels per block; `chunk` channels of the other
// side (forward: input channels; input gradient: output channels) staged per pass, each as a
// patch_h × patch_w patch.
struct DirectTile {
  int th, tw, tiles_h, tiles_w, groups, chunk, patch_h, patch_w;
};

constexpr int kDirectThreads = 256;  // at most, per direct block

__device__ __forceinline__ int floor_div(int a, int b) {  // b > 0
  return a >= 0 ? a / b : -((-a + b - 1) / b);
}

// acc[q] += wv[q] · v for the thread's CH channels; wv is 16-byte aligned when CH % 4 == 0.
template <int CH>
__device__ __forceinline__ void fma_channels(float (&acc)[CH], const float* wv, float v) {
  if constexpr (CH % 4 == 0) {
    for (int q = 0; q < CH; q += 4) {
      const float4 w4 = *reinterpret_cast<const float4*>(wv + q);
      acc[q + 0] = fmaf(w4.x, v, acc[q + 0]);
      acc[q + 1] = fmaf(w4.y, v, acc[q + 1]);
      acc[q + 2] = fmaf(w4.z, v, acc[q + 2]);
      acc[q + 3] = fmaf(w4.w, v, acc[q + 3]);
    }
  } else {
    for (int q = 0; q < CH; ++q) acc[q] = fmaf(wv[q], v, acc[q]);
  }
}

// What a direct kernel's block and thread work on. blockIdx.x is (sample n, tile), the tile's
// first row and column row0, col0 (forward: output positions; input gradient: input positions);
// blockIdx.y the block's `channels` = groups·CH channels from channel0 (forward: output channels;
// input gradient: input channels); the thread is (group, position), its CH channels of one
// position (row, col) of the tile. Shared memory: the chunk's filters, `taps` per channel, then
// the staged patches.
template <int CH>
struct DirectBlock {
  int taps, channels, patch;
  float* filters;  // [chunk][kh][kw][channels]
  float* patches;  // [chunk][patch_h][patch_w]
  int n, row0, col0, channel0, group, row, col;

  __device__ DirectBlock(const ConvShape& s, const DirectTile& t, float* smem)
      : taps(s.kh * s.kw), channels(t.groups * CH), patch(t.patch_h * t.patch_w), filters(smem),
        patches(smem + t.chunk * taps * channels) {
    const int tiles = t.tiles_h * t.tiles_w;
    const int tile = blockIdx.x % tiles;
    n = blockIdx.x / tiles;
    row0 = tile / t.tiles_w * t.th;
    col0 = tile % t.tiles_w * t.tw;
    channel0 = blockIdx.y * channels;
    const int positions = t.th * t.tw;
    group = threadIdx.x / positions;
    const int pos = threadIdx.x % positions;
    row = pos / t.tw;
    col = pos % t.tw;
  }
};

// ---- kernels ---------------------------------------------------------------------------------

// Direct forward. Block: (sample n, output tile) = blockIdx.x, output channels
// [k0, k0 + groups·KPT) = blockIdx.y; thread = (group, position), KPT channels of one position.
// Shared: ws [chunk][kh][kw][groups·KPT] (tap-major), then xs [chunk][patch_h][patch_w] with
// patch_h = (th − 1)·sh + kh (zero outside the image).
template <int KPT>
__global__ void __launch_bounds__(kDirectThreads)
    conv2d_forward_direct_kernel(float* __restrict__ y,        // (N,K,OH,OW)
                                 const float* __restrict__ x,  // (N,C,H,W)
                                 const float* __restrict__ w,  // (K,C,kh,kw)
                                 const float* __restrict__ b,  // (K) or nullptr
                                 ConvShape s, DirectTile t) {
  NAPINET_DYNAMIC_SHARED(float, smem);
  const DirectBlock<KPT> blk(s, t, smem);
  const int taps = blk.taps, kb = blk.channels, patch = blk.patch;
  const int ih0 = blk.row0 * s.sh - s.ph, iw0 = blk.col0 * s.sw - s.pw;
  const float* xn = x + std::int64_t{blk.n} * s.c * s.h * s.w;

  float acc[KPT] = {};
  for (int c0 = 0; c0 < s.c; c0 += t.chunk) {
    const int cc = min(t.chunk, s.c - c0);
    // Filters: for each block channel kk, the cc·taps weights from c0 on are contiguous in w.
    const int span = cc * taps;
    for (int e = threadIdx.x; e < span * kb; e += blockDim.x) {
      const int kk = e / span, ct = e % span;
      const int k = blk.channel0 + kk;
      blk.filters[ct * kb + kk] = k < s.k ? w[(std::int64_t{k} * s.c + c0) * taps + ct] : 0.0f;
    }
    for (int e = threadIdx.x; e < cc * patch; e += blockDim.x) {
      const int ci = e / patch, r = e % patch;
      const int ih = ih0 + r / t.patch_w, iw = iw0 + r % t.patch_w;
      blk.patches[e] = ih >= 0 && ih < s.h && iw >= 0 && iw < s.w
                           ? xn[(std::int64_t{c0 + ci} * s.h + ih) * s.w + iw]
                           : 0.0f;
    }
    __syncthreads();
    for (int ci = 0; ci < cc; ++ci) {
      const float* xr = blk.patches + ci * patch + blk.row * s.sh * t.patch_w + blk.col * s.sw;
      const float* wr = blk.filters + ci * taps * kb + blk.group * KPT;
      for (int i = 0; i < s.kh; ++i)
        for (int j = 0; j < s.kw; ++j)
          fma_channels<KPT>(acc, wr + (i * s.kw + j) * kb, xr[i * t.patch_w + j]);
    }
    __syncthreads();
  }
  const int oh = blk.row0 + blk.row, ow = blk.col0 + blk.col;
  if (oh >= s.oh || ow >= s.ow) return;
  for (int q = 0; q < KPT; ++q) {
    const int k = blk.channel0 + blk.group * KPT + q;
    if (k < s.k) {
      const float bias = b != nullptr ? b[k] : 0.0f;
      y[((std::int64_t{blk.n} * s.k + k) * s.oh + oh) * s.ow + ow] = acc[q] + bias;
    }
  }
}

// Direct input gradient (transposed convolution, gather form):
//   dx[n,c,h,x] = Σ_k Σ_{i ≡ h+ph (mod sh), j ≡ x+pw (mod sw)}
//                   w[k,c,i,j] · dy[n, k, (h+ph−i)/sh, (x+pw−j)/sw]
// Block: (sample, input tile) = blockIdx.x, input channels [c0, c0 + groups·CPT) = blockIdx.y.
// Shared: ws [chunk][kh][kw][groups·CPT], then ds [chunk][patch_h][patch_w]: the dy rows and
// columns the tile reaches, from oh_base = ⌈(h0 + ph − kh + 1)/sh⌉ (zero outside dy).
template <int CPT>
__global__ void __launch_bounds__(kDirectThreads)
    conv2d_input_grad_direct_kernel(float* __restrict__ dx,        // (N,C,H,W)
                                    const float* __restrict__ dy,  // (N,K,OH,OW)
                                    const float* __restrict__ w,   // (K,C,kh,kw)
                                    ConvShape s, DirectTile t) {
  NAPINET_DYNAMIC_SHARED(float, smem);
  const DirectBlock<CPT> blk(s, t, smem);
  const int taps = blk.taps, cb = blk.channels, patch = blk.patch;
  const int h0 = blk.row0, w0 = blk.col0, c0 = blk.channel0;
  const int h = h0 + blk.row, xc = w0 + blk.col;
  const int oh_base = -floor_div(-(h0 + s.ph - s.kh + 1), s.sh);  // ⌈·/sh⌉
  const int ow_base = -floor_div(-(w0 + s.pw - s.kw + 1), s.sw);
  // The taps of this phase whose dy position lies in dy: i ≡ h + ph (mod sh) with
  // 0 ≤ (h + ph − i)/sh < OH (likewise j). Taps that reach outside dy are not terms of the sum
  // (their zero patch entries would make 0·inf = NaN next to a non-finite weight).
  const int i_first = max((h + s.ph) % s.sh, h + s.ph - (s.oh - 1) * s.sh);
  const int i_last = min(s.kh - 1, h + s.ph);
  const int j_first = max((xc + s.pw) % s.sw, xc + s.pw - (s.ow - 1) * s.sw);
  const int j_last = min(s.kw - 1, xc + s.pw);
  const int plane = s.oh * s.ow;
  const float* dyn = dy + std::int64_t{blk.n} * s.k * plane;

  float acc[CPT] = {};
  for (int k0 = 0; k0 < s.k; k0 += t.chunk) {
    const int kc = min(t.chunk, s.k - k0);
    // Filters: for output channel k, channels c0 … c0 + cb − 1 are contiguous in w.
    const int span = cb * taps;
    for (int e = threadIdx.x; e < kc * span; e += blockDim.x) {
      const int kl = e / span, ct = e % span;
      const int cl = ct / taps, tap = ct % taps;
      blk.filters[(kl * taps + tap) * cb + cl] =
          c0 + cl < s.c ? w[(std::int64_t{k0 + kl} * s.c + c0) * taps + ct] : 0.0f;
    }
    for (int e = threadIdx.x; e < kc * patch; e += blockDim.x) {
      const int kl = e / patch, r = e % patch;
      const int oh = oh_base + r / t.patch_w, ow = ow_base + r % t.patch_w;
      blk.patches[e] = oh >= 0 && oh < s.oh && ow >= 0 && ow < s.ow
                           ? dyn[std::int64_t{k0 + kl} * plane + oh * s.ow + ow]
                           : 0.0f;
    }
    __syncthreads();
    for (int kl = 0; kl < kc; ++kl) {
      const float* dk = blk.patches + kl * patch;
      const float* wk = blk.filters + kl * taps * cb + blk.group * CPT;
      for (int i = i_first; i <= i_last; i += s.sh) {
        const int a = (h + s.ph - i) / s.sh - oh_base;  // an exact division
        for (int j = j_first; j <= j_last; j += s.sw) {
          const int bcol = (xc + s.pw - j) / s.sw - ow_base;
          fma_channels<CPT>(acc, wk + (i * s.kw + j) * cb, dk[a * t.patch_w + bcol]);
        }
      }
    }
    __syncthreads();
  }
  if (h >= s.h || xc >= s.w) return;
  for (int q = 0; q < CPT; ++q) {
    const int c = c0 + blk.group * CPT + q;
    if (c < s.c) dx[((std::int64_t{blk.n} * s.c + c) * s.h + h) * s.w + xc] = acc[q];
  }
}

// The implicit GEMM: out (M × NC) = A (M × L) · B (L × NC) with A and B gathered per mode:
//   kGemmForward     M = K, L = C·kh·kw, NC = N·OH·OW:  A = w, B = x (im2col on the fly);
//                    out = y + bias
//   kGemmInputGrad   M = C, L = K·kh·kw, NC = N·H·W:    A = w transposed per tap, B = dy at
//                    the positions each tap reaches (zero where the stride skips); out = dx
//   kGemmWeightGrad  M = K, L = N·OH·OW, NC = C·kh·kw:  A = dy, B = x (im2col transposed);
//                    blockIdx.z is a chunk of l_chunk positions, out = its partials
//                    [z][K·C·kh·kw + K]: dw's tile, then (blocks of column tile 0) db's row sums
// Block: BM × BN outputs, (BM/TM)·(BN/TN) threads, TM × TN each (rows ty + i·BM/TM, columns
// tx + j·BN/TN); operand tiles BK deep, the next one loaded into registers while the current one
// is multiplied. Each thread loads a fixed A column and a fixed B column of the tiles, so the
// mode's index arithmetic for those is done once.
enum GemmMode : int { kGemmForward = 0, kGemmInputGrad = 1, kGemmWeightGrad = 2 };

// (__launch_bounds__'s 2 blocks per multiprocessor: without it ptxas holds the 64 × 64 tiling
// to 64 registers and spills.)
template <int MODE, int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN), 2)
    conv2d_gemm_kernel(float* __restrict__ out, const float* __restrict__ a_src,
                       const float* __restrict__ b_src, const float* __restrict__ bias,
                       ConvShape s, int m_size, int n_size, int l_size, int l_chunk,
                       int with_bias) {
  constexpr int kThreads = (BM / TM) * (BN / TN);
  constexpr int kAPer = BM * BK / kThreads, kBPer = BK * BN / kThreads;
  static_assert(kThreads % BK == 0 && kThreads % BN == 0, "each thread loads one tile column");
  static_assert(kAPer * kThreads == BM * BK && kBPer * kThreads == BK * BN, "whole tiles");
  __shared__ float a_tile[BK][BM + 1];  // a_tile[l][m]; +1: conflict-free transposed stores
  __shared__ float b_tile[BK][BN];

  const int tid = threadIdx.x;
  const int m0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
  const int l_begin = blockIdx.z * l_chunk, l_end = min(l_size, l_begin + l_chunk);
  const int taps = s.kh * s.kw, plane = s.oh * s.ow, image = s.h * s.w;
  const std::int64_t sample_x = std::int64_t{s.c} * image;

  // The thread's tile columns: A column a_l (rows a_m + r·kThreads/BK), B column b_c (rows
  // b_l + r·kThreads/BN).
  const int a_l = tid % BK, a_m = tid / BK;
  const int b_c = tid % BN, b_l = tid / BN;
  const int col = col0 + b_c;
  const bool col_ok = col < n_size;
  std::int64_t col_base = 0;  // offset of the column's data in b_src
  // forward: ih0, iw0; input grad: h + ph, x + pw; weight grad: i − ph, j − pw
  int col_u = 0, col_v = 0;
  if (col_ok) {
    if (MODE == kGemmForward) {
      const int n = col / plane, q = col % plane;
      col_base = n * sample_x;
      col_u = q / s.ow * s.sh - s.ph;
      col_v = q % s.ow * s.sw - s.pw;
    } else if (MODE == kGemmInputGrad) {
      const int n = col / image, q = col % image;
      col_base = std::int64_t{n} * s.k * plane;
      col_u = q / s.w + s.ph;
      col_v = q % s.w + s.pw;
    } else {
      const int c = col / taps, tap = col % taps;
      col_base = std::int64_t{c} * image;
      col_u = tap / s.kw - s.ph;
      col_v = tap % s.kw - s.pw;
    }
  }

  float a_next[kAPer], b_next[kBPer];
  auto load = [&](int l_step) {
    {  // A: one l for all of the thread's rows
      const int l = l_step + a_l;
      const bool l_ok = l < l_end;
      std::int64_t base = 0, row_stride = 0;
      if (l_ok) {
        if (MODE == kGemmForward) {
          base = l;  // w[m·L + l]
          row_stride = l_size;
        } else if (MODE == kGemmInputGrad) {
          const int k = l / taps, tap = l % taps;
          base = std::int64_t{k} * s.c * taps + tap;  // w[(k·C + m)·taps + tap]
          row_stride = taps;
        } else {
          const int n = l / plane, q = l % plane;
          base = std::int64_t{n} * s.k * plane + q;  // dy[(n·K + m)·plane + q]
          row_stride = plane;
        }
      }
      for (int r = 0; r < kAPer; ++r) {
        const int m = m0 + a_m + r * (kThreads / BK);
        a_next[r] = l_ok && m < m_size ? a_src[base + m * row_stride] : 0.0f;
      }
    }
    for (int r = 0; r < kBPer; ++r) {  // B: one element per row
      const int l = l_step + b_l + r * (kThreads / BN);
      float v = 0.0f;
      if (col_ok && l < l_end) {
        if (MODE == kGemmForward) {
          const int c = l / taps, tap = l % taps;
          const int ih = col_u + tap / s.kw, iw = col_v + tap % s.kw;
          if (ih >= 0 && ih < s.h && iw >= 0 && iw < s.w)
            v = b_src[col_base + std::int64_t{c} * image + ih * s.w + iw];
        } else if (MODE == kGemmInputGrad) {
          const int k = l / taps, tap = l % taps;
          const int nh = col_u - tap / s.kw, nw = col_v - tap % s.kw;
          if (nh >= 0 && nw >= 0 && nh % s.sh == 0 && nw % s.sw == 0) {
            const int oh = nh / s.sh, ow = nw / s.sw;
            if (oh < s.oh && ow < s.ow)
              v = b_src[col_base + std::int64_t{k} * plane + oh * s.ow + ow];
          }
        } else {
          const int n = l / plane, q = l % plane;
          const int ih = q / s.ow * s.sh + col_u, iw = q % s.ow * s.sw + col_v;
          if (ih >= 0 && ih < s.h && iw >= 0 && iw < s.w)
            v = b_src[n * sample_x + col_base + ih * s.w + iw];
        }
      }
      b_next[r] = v;
    }
  };

  constexpr int kRowStep = BM / TM, kColStep = BN / TN;
  const int ty = tid / kColStep, tx = tid % kColStep;
  float acc[TM][TN] = {};
  float bias_acc = 0.0f;  // weight grad: db row m0 + tid over this chunk (column tile 0)
  const bool sums_bias = MODE == kGemmWeightGrad && with_bias && blockIdx.x == 0 && tid < BM;
  load(l_begin);
  for (int l_step = l_begin; l_step < l_end; l_step += BK) {
    for (int r = 0; r < kAPer; ++r) a_tile[a_l][a_m + r * (kThreads / BK)] = a_next[r];
    for (int r = 0; r < kBPer; ++r) b_tile[b_l + r * (kThreads / BN)][b_c] = b_next[r];
    __syncthreads();
    if (l_step + BK < l_end) load(l_step + BK);
    if (sums_bias) {
      for (int kk = 0; kk < BK; ++kk) bias_acc += a_tile[kk][tid];
    }
    for (int kk = 0; kk < BK; ++kk) {
      float av[TM], bv[TN];
      for (int i = 0; i < TM; ++i) av[i] = a_tile[kk][ty + i * kRowStep];
      for (int j = 0; j < TN; ++j) bv[j] = b_tile[kk][tx + j * kColStep];
      for (int i = 0; i < TM; ++i)
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
    __syncthreads();
  }

  if (MODE == kGemmWeightGrad) {
    const std::int64_t dw_size = std::int64_t{m_size} * n_size;
    float* part = out + std::int64_t{blockIdx.z} * (dw_size + m_size);
    if (sums_bias && m0 + tid < m_size) part[dw_size + m0 + tid] = bias_acc;
    for (int i = 0; i < TM; ++i) {
      const int m = m0 + ty + i * kRowStep;
      if (m >= m_size) continue;
      for (int j = 0; j < TN; ++j) {
        const int c = col0 + tx + j * kColStep;
        if (c < n_size) part[std::int64_t{m} * n_size + c] = acc[i][j];
      }
    }
    return;
  }
  const int per_sample = MODE == kGemmForward ? plane : image;
  for (int j = 0; j < TN; ++j) {
    const int c = col0 + tx + j * kColStep;
    if (c >= n_size) continue;
    const int n = c / per_sample, q = c % per_sample;
    for (int i = 0; i < TM; ++i) {
      const int m = m0 + ty + i * kRowStep;
      if (m >= m_size) continue;
      const float add = MODE == kGemmForward && bias != nullptr ? bias[m] : 0.0f;
      out[(std::int64_t{n} * m_size + m) * per_sample + q] = acc[i][j] + add;
    }
  }
}

// dw (and db) = Σ_z partials[z], z in increasing order within each lane, then a fixed shuffle
// tree; overwritten, or added when `accumulate`. One warp per element: elements [0, dw_size) are
// dw, [dw_size, dw_size + K) db (when db is non-null). partials: (splits, dw_size + K).
__global__ void conv2d_reduce_partials_kernel(float* __restrict__ dw, float* __restrict__ db,
                                              const float* __restrict__ partials, int splits,
                                              int dw_size, int k, int accumulate) {
  const std::int64_t element = (std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x) / warpSize;
  const int lane = threadIdx.x % warpSize;
  const int total = dw_size + (db != nullptr ? k : 0);
  if (element >= total) return;  // the whole warp
  const std::int64_t stride = std::int64_t{dw_size} + k;
  float sum = 0.0f;
  for (int z = lane; z < splits; z += warpSize) sum += partials[z * stride + element];
  for (int offset = warpSize / 2; offset > 0; offset /= 2)
    sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  if (lane != 0) return;
  float* dst = element < dw_size ? dw + element : db + (element - dw_size);
  *dst = accumulate ? *dst + sum : sum;
}

// The fused Conv2d → MaxPool2d(2) (→ ReLU) (conv2d_max_pool2d_*): its two element-wise ends.
// y, indices (N·K planes of PH×PW); z (the convolution's output, planes of OH×OW). One thread
// per pooled value: the 2×2 window scanned row-major with max_pool2d_forward's rule (the first
// strict maximum wins, a NaN always replaces it), then relu_forward's v > 0 ? v : 0, so the values
// equal the three ops' bits.
__global__ void max_pool2x2_relu_kernel(float* __restrict__ y, std::int32_t* __restrict__ indices,
                                        const float* __restrict__ z, int oh, int ow, int ph, int pw,
                                        bool relu, std::int64_t total) {
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t o = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; o < total; o += stride) {
    const int j = static_cast<int>(o % pw);
    const int i = static_cast<int>((o / pw) % ph);
    const float* plane = z + (o / (std::int64_t{pw} * ph)) * oh * ow;  // (OH,OW)
    float best = -INFINITY;
    int arg = 2 * i * ow + 2 * j;
    for (int a = 2 * i; a < 2 * i + 2; ++a) {
      for (int b = 2 * j; b < 2 * j + 2; ++b) {
        const float v = plane[a * ow + b];
        if (v > best || v != v) {
          best = v;
          arg = a * ow + b;
        }
      }
    }
    y[o] = relu ? kernels::Relu{}.forward(best) : best;
    indices[o] = arg;
  }
}

// dz (N·K planes of OH×OW) from dy and indices (planes of PH×PW): one thread per element of dz,
// which takes its window's dy when it is the window's argmax (and, with the ReLU's output y, when
// y is not ≤ 0), else 0. The same bits as relu_backward then max_pool2d_backward (0 + dy there too).
// An index that is not its window's (the binding cannot check device indices) matches no element.
__global__ void max_pool2x2_relu_backward_kernel(float* __restrict__ dz, const float* __restrict__ dy,
                                                 const std::int32_t* __restrict__ indices,
                                                 const float* __restrict__ y, int oh, int ow, int ph,
                                                 int pw, std::int64_t total) {
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t e = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int b = static_cast<int>(e % ow);
    const int a = static_cast<int>((e / ow) % oh);
    const std::int64_t plane = e / (std::int64_t{ow} * oh);
    float d = 0.0f;
    if (a < 2 * ph && b < 2 * pw) {
      const std::int64_t p = plane * ph * pw + (a / 2) * pw + b / 2;
      if (indices[p] == a * ow + b) d = 0.0f + (y == nullptr ? dy[p] : kernels::Relu{}.backward(dy[p], y[p]));
    }
    dz[e] = d;
  }
}

// ---- host helpers ----------------------------------------------------------------------------

int ceil_div(index_t a, index_t b) { return static_cast<int>((a + b - 1) / b); }

// The checked 32-bit shape. Throws Error when a size the kernels index in 32 bits is too large.
ConvShape conv_shape(index_t N, index_t C, index_t H, index_t W, index_t K, index_t kh, index_t kw,
                     index_t sh, index_t sw, index_t ph, index_t pw) {
  const index_t oh = kernels::conv2d_output_size(H, kh, sh, ph);
  const index_t ow = kernels::conv2d_output_size(W, kw, sw, pw);
  // The binding bounds every tensor by 2^53 elements and spatial sizes by 2^20, so none of these
  // products overflows 64 bits.
  const index_t positions = N * std::max(oh * ow, H * W);
  const index_t weight_grad = std::max(C, K) * kh * kw * std::max(C, K) + K;
  // Half of INT_MAX leaves room for the tile and chunk ends the kernels form beyond a size.
  constexpr index_t kLimit = INT_MAX / 2;
  if (positions > kLimit || weight_grad > kLimit || H + 2 * ph > kLimit || W + 2 * pw > kLimit) {
    throw Error("conv2d on CUDA indexes positions and weights with 32-bit integers: N·H·W, "
                "N·OH·OW and C·K·kh·kw must stay below 2^30 (received N=" + std::to_string(N) +
                    ", C=" + std::to_string(C) + ", H=" + std::to_string(H) + ", W=" +
                    std::to_string(W) + ", K=" + std::to_string(K) + ", kernel " +
                    std::to_string(kh) + "×" + std::to_string(kw) + ")",
                cudaErrorInvalidValue);
  }
  auto i = [](index_t v) { return static_cast<int>(v); };
  return {i(N), i(C), i(H), i(W), i(K), i(kh), i(kw), i(sh), i(sw), i(ph), i(pw), i(oh), i(ow)};
}

// Shared memory a direct block aims for (several blocks per multiprocessor) and may use at most.
constexpr index_t kDirectSharedTarget = 24 * 1024;
constexpr index_t kMaxShared = 48 * 1024;

// Tiles an out_h × out_w grid of positions for a direct kernel whose threads hold `per_thread`
// of `channels` channels, staging `staged` channels of the other side in chunks. `transposed`:
// the input-gradient patch (dy rows reached by the tile) instead of the forward one (input rows
// read by the tile). False when even one staged channel does not fit in shared memory.
bool plan_direct(DirectTile* t, std::size_t* shared_bytes, const ConvShape& s, int out_h, int out_w,
                 int channels, int per_thread, int staged, bool transposed) {
  t->tw = std::min(out_w, 32);
  t->th = std::min(out_h, std::max(1, kDirectThreads / t->tw));
  t->tiles_w = ceil_div(out_w, t->tw);
  t->tw = ceil_div(out_w, t->tiles_w);  // even tiles: 24 columns are one tile of 24, 40 two of 20
  t->tiles_h = ceil_div(out_h, t->th);
  t->th = ceil_div(out_h, t->tiles_h);
  const int all_groups = ceil_div(channels, per_thread);
  t->groups = std::min(all_groups, std::max(1, kDirectThreads / (t->th * t->tw)));
  t->groups = ceil_div(all_groups, ceil_div(all_groups, t->groups));  // even channel blocks too
  index_t patch_h, patch_w;
  if (transposed) {
    patch_h = (t->th + s.kh - 2) / s.sh + 1;
    patch_w = (t->tw + s.kw - 2) / s.sw + 1;
  } else {
    patch_h = index_t{t->th - 1} * s.sh + s.kh;
    patch_w = index_t{t->tw - 1} * s.sw + s.kw;
  }
  const index_t taps = index_t{s.kh} * s.kw;
  auto bytes_per_channel = [&] {
    return (patch_h * patch_w + taps * t->groups * per_thread) * index_t{sizeof(float)};
  };
  while (bytes_per_channel() > kMaxShared && t->groups > 1) t->groups = (t->groups + 1) / 2;
  const index_t per_channel = bytes_per_channel();
  if (per_channel > kMaxShared) return false;
  const index_t chunk = std::max<index_t>(1, kDirectSharedTarget / per_channel);
  t->chunk = static_cast<int>(std::min<index_t>(staged, chunk));
  t->patch_h = static_cast<int>(patch_h);
  t->patch_w = static_cast<int>(patch_w);
  *shared_bytes = static_cast<std::size_t>(t->chunk * per_channel);
  return true;
}

// Channels per thread of a direct kernel: 8, 4 (for 2–7 channels) or 1.
int channels_per_thread(int channels) { return channels >= 8 ? 8 : channels >= 2 ? 4 : 1; }

bool forward_direct(float* y, const float* x, const float* w, const float* b, const ConvShape& s) {
  const int kpt = channels_per_thread(s.k);
  DirectTile t;
  std::size_t shared = 0;
  if (!plan_direct(&t, &shared, s, s.oh, s.ow, s.k, kpt, s.c, false)) return false;
  const dim3 grid(static_cast<unsigned>(s.n) * t.tiles_h * t.tiles_w,
                  ceil_div(s.k, t.groups * kpt));
  const int threads = t.groups * t.th * t.tw;
  if (kpt == 8) {
    NAPINET_LAUNCH((conv2d_forward_direct_kernel<8>), grid, threads, shared, y, x, w, b, s, t);
  } else if (kpt == 4) {
    NAPINET_LAUNCH((conv2d_forward_direct_kernel<4>), grid, threads, shared, y, x, w, b, s, t);
  } else {
    NAPINET_LAUNCH((conv2d_forward_direct_kernel<1>), grid, threads, shared, y, x, w, b, s, t);
  }
  return true;
}

bool input_grad_direct(float* dx, const float* dy, const float* w, const ConvShape& s) {
  const int cpt = channels_per_thread(s.c);
  DirectTile t;
  std::size_t shared = 0;
  if (!plan_direct(&t, &shared, s, s.h, s.w, s.c, cpt, s.k, true)) return false;
  const dim3 grid(static_cast<unsigned>(s.n) * t.tiles_h * t.tiles_w,
                  ceil_div(s.c, t.groups * cpt));
  const int threads = t.groups * t.th * t.tw;
  if (cpt == 8) {
    NAPINET_LAUNCH((conv2d_input_grad_direct_kernel<8>), grid, threads, shared, dx, dy, w, s, t);
  } else if (cpt == 4) {
    NAPINET_LAUNCH((conv2d_input_grad_direct_kernel<4>), grid, threads, shared, dx, dy, w, s, t);
  } else {
    NAPINET_LAUNCH((conv2d_input_grad_direct_kernel<1>), grid, threads, shared, dx, dy, w, s, t);
  }
  return true;
}

// The two GEMM tilings: 64 × 64 (256 threads, 4 × 4 outputs each) for large matrices, and
// 16 × 32 (128 threads, 2 × 2 each) when either side is small (the seed network's K = 8, or its
// 25 weight-gradient columns).
constexpr int kGemmK = 32;  // BK of both
bool small_gemm(int m_size, int n_size) { return m_size <= 16 || n_size <= 32; }

template <int MODE>
void launch_gemm(float* out, const float* a, const float* b, const float* bias, const ConvShape& s,
                 int m_size, int n_size, int l_size, int l_chunk, int splits, bool with_bias) {
  if (small_gemm(m_size, n_size)) {
    const dim3 grid(ceil_div(n_size, 32), ceil_div(m_size, 16), splits);
    NAPINET_LAUNCH((conv2d_gemm_kernel<MODE, 16, 32, kGemmK, 2, 2>), grid, 128, 0, out, a, b, bias,
                   s, m_size, n_size, l_size, l_chunk, with_bias ? 1 : 0);
  } else {
    const dim3 grid(ceil_div(n_size, 64), ceil_div(m_size, 64), splits);
    NAPINET_LAUNCH((conv2d_gemm_kernel<MODE, 64, 64, kGemmK, 4, 4>), grid, 256, 0, out, a, b, bias,
                   s, m_size, n_size, l_size, l_chunk, with_bias ? 1 : 0);
  }
}

// The weight-gradient partials, and the fused conv + pool's convolution output or its gradient:
// per-thread scratch (see the file comment).
float* partials_buffer(std::size_t floats) {
  return static_cast<float*>(scratch(Scratch::kConvPartials, floats * sizeof(float)));
}

float* conv_output_buffer(std::size_t floats) {
  return static_cast<float*>(scratch(Scratch::kConvOutput, floats * sizeof(float)));
}

// Blocks the weight-gradient pass aims for (from the shape alone, so results do not depend on the
// GPU), the fewest positions per chunk, and the most partials kept (floats, 64 MiB).
constexpr index_t kWeightGradBlocks = 512;
constexpr index_t kMinChunk = 2 * kGemmK;
constexpr index_t kMaxPartials = index_t{1} << 24;

void weight_grad(float* dw, float* db, const float* dy, const float* x, const ConvShape& s,
                 bool accumulate) {
  const int taps = s.c * s.kh * s.kw;
  const int dw_size = s.k * taps;
  const index_t stride = index_t{dw_size} + s.k;
  const index_t positions = index_t{s.n} * s.oh * s.ow;
  int splits = 0;
  float* partials = nullptr;
  if (positions > 0) {
    const bool small = small_gemm(s.k, taps);
    const index_t tiles = index_t{ceil_div(s.k, small ? 16 : 64)} * ceil_div(taps, small ? 32 : 64);
    const index_t target = std::max<index_t>(1, kWeightGradBlocks / tiles);
    const index_t most = std::max<index_t>(1, kMaxPartials / stride);
    index_t chunk =
        std::max({(positions + target - 1) / target, (positions + most - 1) / most, kMinChunk});
    chunk = (chunk + kGemmK - 1) / kGemmK * kGemmK;
    splits = ceil_div(positions, chunk);
    partials = partials_buffer(static_cast<std::size_t>(splits * stride));
    launch_gemm<kGemmWeightGrad>(partials, dy, x, nullptr, s, s.k, taps,
                                 static_cast<int>(positions), static_cast<int>(chunk), splits,
                                 db != nullptr);
  }
  const index_t total = dw_size + (db != nullptr ? s.k : 0);
  const int warps_per_block = kBlockSize / 32;
  NAPINET_LAUNCH(conv2d_reduce_partials_kernel, ceil_div(total, warps_per_block), kBlockSize, 0, dw,
                 db, partials, splits, dw_size, s.k, accumulate ? 1 : 0);
}

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

void conv2d_forward(float* y, const float* x, const float* w, const float* b, index_t N, index_t C,
                    index_t H, index_t W, index_t K, index_t kh, index_t kw, index_t stride_h,
                    index_t stride_w, index_t pad_h, index_t pad_w, Conv2dAlgorithm algorithm) {
  const ConvShape s = conv_shape(N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w);
  if (s.n == 0) return;
  if (algorithm != Conv2dAlgorithm::kIm2col && forward_direct(y, x, w, b, s)) return;
  const int taps = s.c * s.kh * s.kw;
  launch_gemm<kGemmForward>(y, w, x, b, s, s.k, s.n * s.oh * s.ow, taps, taps, 1, false);
}

void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, index_t N, index_t C, index_t H, index_t W, index_t K,
                     index_t kh, index_t kw, index_t stride_h, index_t stride_w, index_t pad_h,
                     index_t pad_w, bool accumulate, Conv2dAlgorithm algorithm) {
  const ConvShape s = conv_shape(N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w);
  weight_grad(dw, db, dy, x, s, accumulate);
  if (dx == nullptr || s.n == 0) return;
  if (algorithm != Conv2dAlgorithm::kIm2col && input_grad_direct(dx, dy, w, s)) return;
  const int taps = s.k * s.kh * s.kw;
  launch_gemm<kGemmInputGrad>(dx, w, dy, nullptr, s, s.c, s.n * s.h * s.w, taps, taps, 1, false);
}

void conv2d_max_pool2d_forward(float* y, std::int32_t* indices, const float* x, const float* w,
                               const float* b, index_t N, index_t C, index_t H, index_t W,
                               index_t K, index_t kh, index_t kw, index_t stride_h,
                               index_t stride_w, index_t pad_h, index_t pad_w, bool relu) {
  const ConvShape s = conv_shape(N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w);
  const std::int64_t pooled = std::int64_t{s.n} * s.k * (s.oh / 2) * (s.ow / 2);
  if (pooled == 0) return;
  float* z = conv_output_buffer(static_cast<std::size_t>(s.n) * s.k * s.oh * s.ow);  // (N,K,OH,OW)
  cuda::conv2d_forward(z, x, w, b, N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w,
                       Conv2dAlgorithm::kAuto);
  NAPINET_LAUNCH(max_pool2x2_relu_kernel, grid_for(pooled), kBlockSize, 0, y, indices, z, s.oh,
                 s.ow, s.oh / 2, s.ow / 2, relu, pooled);
}

void conv2d_max_pool2d_backward(float* dx, float* dw, float* db, const float* dy,
                                const std::int32_t* indices, const float* y, const float* x,
                                const float* w, index_t N, index_t C, index_t H, index_t W,
                                index_t K, index_t kh, index_t kw, index_t stride_h,
                                index_t stride_w, index_t pad_h, index_t pad_w, bool accumulate) {
  const ConvShape s = conv_shape(N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w);
  const std::int64_t total = std::int64_t{s.n} * s.k * s.oh * s.ow;
  float* dz = total > 0 ? conv_output_buffer(static_cast<std::size_t>(total)) : nullptr;
  if (total > 0) {
    NAPINET_LAUNCH(max_pool2x2_relu_backward_kernel, grid_for(total), kBlockSize, 0, dz, dy,
                   indices, y, s.oh, s.ow, s.oh / 2, s.ow / 2, total);
  }
  cuda::conv2d_backward(dx, dw, db, dz, x, w, N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h,
                        pad_w, accumulate, Conv2dAlgorithm::kAuto);
}

}  // namespace napinet::cuda
