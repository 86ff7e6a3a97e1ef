#include "batchnorm.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "activation.h"
#include "parallel.h"
#include "pool2d.h"
#include "simd.h"

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"  // vectors only cross always-inlined helpers: no ABI
#endif

namespace napinet::kernels {
namespace {

// Planes per parallel chunk: about 32k values (tens of µs: a pool call costs a few), at least one
// plane. Depends on the shape only.
index_t plane_grain(index_t l) { return std::max<index_t>(1, (index_t{1} << 15) / std::max<index_t>(1, l)); }

// The per-channel steps (batch_norm_train_coefficients, batch_norm_grad_coefficients) run over
// tiles of adjacent channels, adding the planes' statistics plane by plane (contiguous reads of the
// (N, C) statistics instead of one strided pass per channel), each channel's terms in the same
// order as one channel at a time. Parallel chunks of about 32k planes' statistics, as plane_grain's.
constexpr index_t kChannelTile = 64;
constexpr index_t kChannelChunkPlanes = index_t{1} << 15;

// fn(first channel, past the last) over tiles of at most kChannelTile channels, in parallel chunks.
template <typename Fn>
void for_channel_tiles(index_t n, index_t c, const Fn& fn) {
  const index_t grain = std::max<index_t>(1, kChannelChunkPlanes / std::max<index_t>(1, n));
  parallel_for(c, grain, [&](index_t k0, index_t k1) {
    for (index_t t = k0; t < k1; t += kChannelTile) fn(t, std::min(k1, t + kChannelTile));
  });
}

// fn(first plane, plane count) over chunks of the n·c planes.
template <typename Fn>
void for_plane_runs(index_t n, index_t c, index_t l, const Fn& fn) {
  parallel_for(n * c, plane_grain(l), [&](index_t p0, index_t p1) { fn(p0, p1 - p0); });
}

// Per-call scratch of the calling thread, reused from call to call (a training step calls these
// kernels with the same shapes every time: no allocation after the first).
double* double_scratch(std::size_t count) {
  thread_local std::vector<double> scratch;
  if (scratch.size() < count) scratch.resize(count);
  return scratch.data();
}
float* float_scratch(std::size_t count) {
  thread_local std::vector<float> scratch;
  if (scratch.size() < count) scratch.resize(count);
  return scratch.data();
}

// The row helpers below are inlined into each instruction-set clone of their NAPINET_VECTORIZED
// callers (a helper left out of line would be compiled for the baseline only).
#if defined(__GNUC__)
#define BN_INLINE __attribute__((always_inline)) inline
#else
#define BN_INLINE inline
#endif

// Row sums in float lanes, added into double run by run. A row's values are split over 64 lanes
// (lane j takes the positions ≡ j mod 64: four vectors of 16 floats, whatever the instruction set);
// each lane adds at most 16 values in float (a run of kFloatRun), the run's 64 lanes are then
// added in a fixed pairwise tree in float and its total into double. Float adds run at the
// vector width, where widening every value to double ran at one value a cycle; the terms summed
// are shifted first (by a pivot, or by the mean) so that their size is the spread's, not the
// mean's, and 16 values a lane keep a run's rounding within about 16·2⁻²⁴ of their magnitudes.
using Lanes16 = simd::vfloat<16>;
constexpr index_t kGroup = 64;      // values a row step takes: four vectors of 16
constexpr index_t kFloatRun = 1024; // values summed in float before their total goes into double

// A vector with every lane x.
BN_INLINE Lanes16 broadcast(float x) {
#if defined(__GNUC__)
  Lanes16 v = {};
  return v + x;  // (−0 becomes +0: no caller tells them apart)
#else
  return simd::splat<16>(x);
#endif
}

// The 16 values from x, of which only the first `count` belong to the row (count may be ≤ 0 or
// ≥ 16): the lanes past them hold `fill`. readable: values that may be read from x on (a plane
// followed by the next of its run); where fewer than 16 are, the values are copied out first.
BN_INLINE Lanes16 load_part(const float* x, index_t count, index_t readable, const Lanes16& fill) {
  if (count >= 16) return simd::load<16>(x);
  if (count <= 0) return fill;
#if defined(__GNUC__)
  if (readable >= 16) {
    const simd::vint<16> lane = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    return lane < static_cast<std::int32_t>(count) ? simd::load<16>(x) : fill;
  }
#endif
  float chunk[16];
  simd::store<16>(chunk, fill);
  for (index_t j = 0; j < count; ++j) chunk[j] = x[j];
  return simd::load<16>(chunk);
}

// The total of a vector's 16 lanes in a fixed order: halves added (lane j + lane j + 8, then
// j + (j + 4), …), in float, widened.
BN_INLINE double lanes_total(const Lanes16& v) {
#if defined(NAPINET_HAS_SHUFFLEVECTOR)
  typedef float Floats8 __attribute__((vector_size(32)));
  typedef float Floats4 __attribute__((vector_size(16)));
  const Floats8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                    __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
  const Floats4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
  return static_cast<double>((b[0] + b[2]) + (b[1] + b[3]));
#else
  float level[16];
  simd::store<16>(level, v);
  for (int width = 8; width > 0; width /= 2)
    for (int j = 0; j < width; ++j) level[j] = level[j] + level[j + width];
  return static_cast<double>(level[0]);
#endif
}

// out[s] = Σ over the row's n values of term s, for S terms: terms(i, count, t) writes into t[s]
// term s of the 16 values from position i, of which `count` belong to the row (load_part's); the
// others' terms must be +0. The four vectors of a group are lanes 0–15, …, 48–63; a run's lanes
// are added as (v0 + v1) + (v2 + v3), then lanes_total.
template <int S, typename Terms>
BN_INLINE void row_sums(double* out, index_t n, const Terms& terms) {
  for (int s = 0; s < S; ++s) out[s] = 0.0;
  for (index_t r0 = 0; r0 < n; r0 += kFloatRun) {
    const index_t r1 = std::min(n, r0 + kFloatRun);
    Lanes16 a0[S], a1[S], a2[S], a3[S];
    for (int s = 0; s < S; ++s) a0[s] = a1[s] = a2[s] = a3[s] = Lanes16{};
    index_t i = r0;
    for (; i + kGroup <= r1; i += kGroup) {
      Lanes16 t0[S], t1[S], t2[S], t3[S];
      terms(i, index_t{16}, t0);
      terms(i + 16, index_t{16}, t1);
      terms(i + 32, index_t{16}, t2);
      terms(i + 48, index_t{16}, t3);
      for (int s = 0; s < S; ++s) {
        a0[s] += t0[s];
        a1[s] += t1[s];
        a2[s] += t2[s];
        a3[s] += t3[s];
      }
    }
    if (i < r1) {
      Lanes16 t0[S], t1[S], t2[S], t3[S];
      terms(i, r1 - i, t0);
      terms(i + 16, r1 - i - 16, t1);
      terms(i + 32, r1 - i - 32, t2);
      terms(i + 48, r1 - i - 48, t3);
      for (int s = 0; s < S; ++s) {
        a0[s] += t0[s];
        a1[s] += t1[s];
        a2[s] += t2[s];
        a3[s] += t3[s];
      }
    }
    for (int s = 0; s < S; ++s) out[s] += lanes_total((a0[s] + a1[s]) + (a2[s] + a3[s]));
  }
}

// The mean of x's n values and Σ(x − mean)², summed around a pivot p (the mean of the first 16
// values, or in blocks of under 256 the first value; 0 if not finite) so that a large mean costs
// no precision. One pass takes S = Σ(x − p) and Q = Σ(x − p)²: mean = p + S/n, and Σ(x − mean)²
// = Q − S²/n keeps full precision while S²/n ≤ Q/2 (p within a standard deviation of the mean, so
// Q is at most twice the result). Otherwise a second pass over the values (in cache) sums (x − m)²
// around m, the mean rounded to float, which is Σ(x − mean)² + n·(mean − m)².
BN_INLINE void block_stats(double* mean_out, double* m2_out, const float* x, index_t n,
                           index_t readable) {
  float pivot = x[0];
  if (n >= 256)  // where a pivot closer to the mean is worth its reduction
    pivot = static_cast<float>(lanes_total(simd::load<16>(x)) / 16.0);
  if (!std::isfinite(pivot)) pivot = 0.0f;
  const Lanes16 pivots = broadcast(pivot);
  double sums[2];
  row_sums<2>(sums, n, [&](index_t i, index_t count, Lanes16* t) {
    const Lanes16 d = load_part(x + i, count, readable - i, pivots) - pivots;
    t[0] = d;
    t[1] = d * d;
  });
  const double count = static_cast<double>(n), shifted = sums[0];
  const double mean = static_cast<double>(pivot) + shifted / count;
  double m2;
  if (shifted * shifted <= 0.5 * count * sums[1]) {
    m2 = sums[1] - shifted * shifted / count;
  } else {
    const float m = static_cast<float>(mean);
    const Lanes16 ms = broadcast(m);
    double squares;
    row_sums<1>(&squares, n, [&](index_t i, index_t count, Lanes16* t) {
      const Lanes16 d = load_part(x + i, count, readable - i, ms) - ms;
      t[0] = d * d;
    });
    const double offset = mean - static_cast<double>(m);
    m2 = squares - count * offset * offset;
  }
  *mean_out = mean;
  *m2_out = m2 < 0.0 ? 0.0 : m2;  // (rounding; a NaN stays)
}

// out[0..2] = Σ g, Σ g·(x − shift), Σ (x − shift) over a row of n, where grad(i, count, v, &g)
// gives g's 16 values from position i, v being x's there (+0 past the row).
template <typename Grad>
BN_INLINE void row_grad_sums(double* out, const float* x, float shift, index_t n, index_t readable,
                             const Grad& grad) {
  const Lanes16 shifts = broadcast(shift);
  row_sums<3>(out, n, [&](index_t i, index_t count, Lanes16* t) {
    const Lanes16 v = load_part(x + i, count, readable - i, shifts);
    Lanes16 g;
    grad(i, count, v, &g);
    const Lanes16 d = v - shifts;
    t[0] = g;
    t[1] = g * d;
    t[2] = d;
  });
}

// The training-mode affine map of one value or 16 lanes (one expression, so every caller rounds
// alike).
template <typename T>
BN_INLINE T affine(T x, T center, T residual, T scale, T shift) {
  return ((x - center) - residual) * scale + shift;
}

// One channel's training-mode affine map, read from the coefficients (kBatchNormAffineFields·C
// floats: center, residual, scale and shift, C each).
struct ChannelAffine {
  float center, residual, scale, shift;
  BN_INLINE float operator()(float x) const { return affine(x, center, residual, scale, shift); }
};
BN_INLINE ChannelAffine channel_affine(const float* coefficients, index_t c, index_t ch) {
  return {coefficients[ch], coefficients[c + ch], coefficients[2 * c + ch], coefficients[3 * c + ch]};
}

// Channel of the plane after `ch` in a run.
inline index_t next_channel(index_t ch, index_t c) { return ch + 1 == c ? 0 : ch + 1; }

constexpr index_t kStatsBlock = 4096;  // values per two-pass block (16 KiB: stays in L1)

// The eval statistics as 1/√(running_var + eps), in double.
void eval_invstd(double* invstd, const float* running_var, index_t c, double eps) {
  for (index_t k = 0; k < c; ++k) invstd[k] = 1.0 / std::sqrt(static_cast<double>(running_var[k]) + eps);
}

// dx, dweight, dbias for either mode (mean and invstd as batch_norm_grad_coefficients takes them).
void backward(float* dx, float* dweight, float* dbias, const float* dy, const float* x,
              const float* mean, const double* invstd, const float* weight, index_t n, index_t c,
              index_t l, bool training, bool accumulate) {
  const bool need_sums = dweight || dbias || (training && dx);
  double* sums = nullptr;
  if (need_sums && n * l > 0) {
    sums = double_scratch(static_cast<std::size_t>(3 * n * c));
    for_plane_runs(n, c, l, [&](index_t p0, index_t count) {
      batch_norm_plane_grad_sums(sums + 3 * p0, dy + p0 * l, x + p0 * l, mean, p0 % c, c, count, l);
    });
  }
  float* coefficients = float_scratch(static_cast<std::size_t>(kBatchNormGradFields * c));
  batch_norm_grad_coefficients(coefficients, dweight, dbias, sums, mean, invstd, weight, n, c, l,
                               training, accumulate);
  if (!dx || n * l == 0) return;
  if (!training) {
    // Eval: dx = dy·gain; x takes no part (a NaN in x must not reach dx, as in PyTorch).
    const float* gain = coefficients + 4 * c;
    for_plane_runs(n, c, l, [&](index_t p0, index_t count) {
      for (index_t i = 0, ch = p0 % c; i < count; ++i, ch = next_channel(ch, c)) {
        const float* g = dy + (p0 + i) * l;
        float* out = dx + (p0 + i) * l;
        for (index_t j = 0; j < l; ++j) out[j] = g[j] * gain[ch];
      }
    });
    return;
  }
  for_plane_runs(n, c, l, [&](index_t p0, index_t count) {
    batch_norm_input_grad_planes(dx + p0 * l, dy + p0 * l, x + p0 * l, coefficients, p0 % c, c,
                                 count, l);
  });
}

}  // namespace

// ---- Building blocks ----

NAPINET_VECTORIZED void batch_norm_plane_stats(double* plane_stats, const float* x, index_t planes,
                                               index_t l) {
  if (l == 1) {  // (N, C): a plane is one value (the general path gives the same, slower)
    for (index_t i = 0; i < planes; ++i) {
      plane_stats[2 * i] = static_cast<double>(x[i]);
      plane_stats[2 * i + 1] = 0.0;
    }
    return;
  }
  for (index_t i = 0; i < planes; ++i) {
    const float* plane = x + i * l;
    double mean = 0.0, m2 = 0.0;
    for (index_t b0 = 0; b0 < l; b0 += kStatsBlock) {
      const index_t count = std::min(kStatsBlock, l - b0);
      const index_t readable = (planes - i) * l - b0;  // the run's values from this block on
      double block_mean, block_m2;
      block_stats(&block_mean, &block_m2, plane + b0, count, readable);
      if (b0 == 0) {
        mean = block_mean;
        m2 = block_m2;
      } else {  // Chan et al.'s combination of two blocks' (count, mean, m2)
        const double seen = static_cast<double>(b0), total = static_cast<double>(b0 + count);
        const double delta = block_mean - mean;
        mean += delta * static_cast<double>(count) / total;
        m2 += block_m2 + delta * delta * seen * static_cast<double>(count) / total;
      }
    }
    plane_stats[2 * i] = mean;
    plane_stats[2 * i + 1] = m2;
  }
}

void batch_norm_train_coefficients(float* coefficients, float* save_mean, float* save_invstd,
                                   float* running_mean, float* running_var,
                                   float* num_batches_tracked, const double* plane_stats,
                                   const float* weight, const float* bias, index_t n, index_t c,
                                   index_t l, double momentum, bool cumulative_average,
                                   double eps) {
  const index_t m = n * l;
  double factor = momentum;
  if (num_batches_tracked) {
    num_batches_tracked[0] += 1.0f;
    if (cumulative_average) factor = 1.0 / static_cast<double>(num_batches_tracked[0]);
  }
  float* center = coefficients;
  float* residual = coefficients + c;
  float* scale = coefficients + 2 * c;
  float* shift = coefficients + 3 * c;
  for_channel_tiles(n, c, [&](index_t k0, index_t k1) {
    // The channel's mean is the mean of its planes' means (all of L values); Σ(x − mean)² adds
    // each plane's own sum of squares and L·(plane mean − mean)².
    const index_t tile = k1 - k0;
    double means[kChannelTile] = {}, squares[kChannelTile] = {};
    for (index_t i = 0; i < n; ++i) {
      const double* stats = plane_stats + 2 * (i * c + k0);
      for (index_t j = 0; j < tile; ++j) means[j] += stats[2 * j];
    }
    for (index_t j = 0; j < tile; ++j) means[j] /= static_cast<double>(n);
    for (index_t i = 0; i < n; ++i) {
      const double* stats = plane_stats + 2 * (i * c + k0);
      for (index_t j = 0; j < tile; ++j) {
        const double d = stats[2 * j] - means[j];
        squares[j] += stats[2 * j + 1] + static_cast<double>(l) * d * d;
      }
    }
    for (index_t j = 0; j < tile; ++j) {
      const index_t k = k0 + j;
      const double mean = means[j], sq = squares[j];
      const double var = sq / static_cast<double>(m);
      const double invstd = 1.0 / std::sqrt(var + eps);
      save_mean[k] = static_cast<float>(mean);
      save_invstd[k] = static_cast<float>(invstd);
      if (running_mean) {
        const double unbiased = sq / static_cast<double>(m - 1);
        running_mean[k] = static_cast<float>((1.0 - factor) * running_mean[k] + factor * mean);
        running_var[k] = static_cast<float>((1.0 - factor) * running_var[k] + factor * unbiased);
      }
      center[k] = static_cast<float>(mean);
      residual[k] = static_cast<float>(mean - static_cast<double>(center[k]));
      scale[k] = static_cast<float>(invstd * (weight ? static_cast<double>(weight[k]) : 1.0));
      shift[k] = bias ? bias[k] : 0.0f;
    }
  });
}

NAPINET_VECTORIZED void batch_norm_apply_planes(float* y, const float* x, const float* coefficients,
                                                index_t c_first, index_t c, index_t planes,
                                                index_t l, bool relu) {
  const Relu rectifier{};
  if (l == 1) {  // (N, C): one vector loop over each row's run of channels
    for (index_t i = 0, ch = c_first, run; i < planes; i += run, ch = 0) {
      run = std::min(planes - i, c - ch);
      const float* NAPINET_RESTRICT src = x + i;
      float* NAPINET_RESTRICT dst = y + i;
      const float* center = coefficients + ch;
      const float* residual = coefficients + c + ch;
      const float* scale = coefficients + 2 * c + ch;
      const float* shift = coefficients + 3 * c + ch;
      for (index_t j = 0; j < run; ++j) {
        const float v = affine(src[j], center[j], residual[j], scale[j], shift[j]);
        dst[j] = relu ? rectifier.forward(v) : v;
      }
    }
    return;
  }
  for (index_t i = 0, ch = c_first; i < planes; ++i, ch = next_channel(ch, c)) {
    const float* src = x + i * l;
    float* dst = y + i * l;
    const ChannelAffine norm = channel_affine(coefficients, c, ch);
    if (relu) {
      for (index_t j = 0; j < l; ++j) dst[j] = rectifier.forward(norm(src[j]));
    } else {
      for (index_t j = 0; j < l; ++j) dst[j] = norm(src[j]);
    }
  }
}

NAPINET_VECTORIZED void batch_norm_relu_max_pool_planes(float* y, std::int32_t* indices,
                                                        const float* x, const float* coefficients,
                                                        index_t c_first, index_t c, index_t planes,
                                                        index_t h, index_t w) {
  const index_t oh = h / 2, ow = w / 2;
  const auto width = static_cast<std::int32_t>(w);
  const Relu rectifier{};
  if (w % 2 != 0 || oh == 0) {
    // Odd widths: window by window along each pooled row.
    for (index_t i = 0, ch = c_first; i < planes; ++i, ch = next_channel(ch, c)) {
      const ChannelAffine norm = channel_affine(coefficients, c, ch);
      for (index_t u = 0; u < oh; ++u) {
        const float* NAPINET_RESTRICT r0 = x + i * h * w + 2 * u * w;
        const float* NAPINET_RESTRICT r1 = r0 + w;
        float* NAPINET_RESTRICT out = y + (i * oh + u) * ow;
        std::int32_t* NAPINET_RESTRICT arg_out = indices + (i * oh + u) * ow;
        const auto base = static_cast<std::int32_t>(2 * u * w);
        for (index_t v = 0; v < ow; ++v) {
          // max_pool2d's 2×2 scan (first maximum, a NaN wins) over the normalised values
          const auto col = static_cast<std::int32_t>(2 * v);
          const PoolMax2x2 window = pool_max_2x2(norm(r0[2 * v]), norm(r0[2 * v + 1]),
                                                 norm(r1[2 * v]), norm(r1[2 * v + 1]),
                                                 base + col, width);
          out[v] = rectifier.forward(window.value);
          arg_out[v] = window.index;
        }
      }
    }
    return;
  }
  // Even widths (the deep network's 26 and 10): pooled rows of 13 or 5 windows leave a vector loop
  // mostly scalar tails, so each plane is handled flat instead. Its normalised values are split
  // into the even and odd columns (pair j of the plane: row j / OW, columns 2·(j mod OW) and one
  // more), and the window whose top-left value is pair j is computed for every j of rows 0 …
  // 2·OH − 2 in one contiguous loop (its lower row is pair j + OW): half of those windows start on
  // an odd row and are not wanted, but the loop has no tails. The even rows' windows are then
  // copied out. Every window is pool_max_2x2 over the same four values, so the bits are the same.
  // The window loop runs in whole blocks of kBlock (no scalar remainder: its extra windows read the
  // split buffers' padding and are never copied out).
  constexpr index_t kBlock = 16;
  const index_t pairs = 2 * oh * ow;       // pairs of the rows that are pooled
  const index_t span = (2 * oh - 1) * ow;  // windows computed
  const index_t blocks = (span + kBlock - 1) / kBlock;
  const index_t row_blocks = (ow + kBlock - 1) / kBlock;  // per pooled row copied out
  const auto padded = static_cast<std::size_t>(
      std::max(blocks * kBlock, 2 * (oh - 1) * ow + row_blocks * kBlock));
  thread_local std::vector<float> split;
  thread_local std::vector<float> best;
  thread_local std::vector<std::int32_t> corner;
  thread_local std::vector<std::int32_t> arg;
  // even and odd columns, each with room for the last block's reads past the pairs (≤ kBlock)
  const auto stride = static_cast<std::size_t>(pairs + kBlock);
  if (split.size() < 2 * stride) split.assign(2 * stride, 0.0f);
  if (best.size() < padded) {
    best.resize(padded);
    arg.resize(padded);
    corner.resize(padded);
  }
  float* NAPINET_RESTRICT even = split.data();
  float* NAPINET_RESTRICT odd = even + stride;
  float* NAPINET_RESTRICT best_values = best.data();
  std::int32_t* NAPINET_RESTRICT best_args = arg.data();
  std::int32_t* NAPINET_RESTRICT corners = corner.data();
  for (index_t r = 0, j = 0; r < 2 * oh - 1; ++r)
    for (index_t v = 0; v < ow; ++v, ++j) corners[j] = static_cast<std::int32_t>(r * w + 2 * v);
  for (index_t i = 0, ch = c_first; i < planes; ++i, ch = next_channel(ch, c)) {
    const ChannelAffine norm = channel_affine(coefficients, c, ch);
    const float* NAPINET_RESTRICT src = x + i * h * w;
    // z comes from memory (written by the convolution for the whole batch): ask for the plane two
    // ahead (past x's end too: a prefetch never faults). 32→32 26×26 block's forward, one thread,
    // CPU time: 10.46 → 10.10 ms over four alternating runs (perf had the split's loads stalling).
#if defined(__GNUC__)
    for (index_t j = 0; j < h * w; j += 16) __builtin_prefetch(src + 2 * h * w + j);
#endif
    for (index_t j = 0; j < pairs; ++j) {
      even[j] = norm(src[2 * j]);
      odd[j] = norm(src[2 * j + 1]);
    }
    for (index_t j0 = 0; j0 < blocks * kBlock; j0 += kBlock) {
      for (index_t j = j0; j < j0 + kBlock; ++j) {
        const PoolMax2x2 window =
            pool_max_2x2(even[j], odd[j], even[j + ow], odd[j + ow], corners[j], width);
        best_values[j] = rectifier.forward(window.value);
        best_args[j] = window.index;
      }
    }
    // The even rows' windows out, in whole blocks where they stay within the run's output: a
    // block's values past its row land on the rows after it, which are written after it.
    float* NAPINET_RESTRICT out = y + i * oh * ow;
    std::int32_t* NAPINET_RESTRICT arg_out = indices + i * oh * ow;
    const index_t room = (planes - i) * oh * ow;  // values of the run's output from out on
    for (index_t u = 0; u < oh; ++u) {
      const float* NAPINET_RESTRICT from = best_values + 2 * u * ow;
      const std::int32_t* NAPINET_RESTRICT arg_from = best_args + 2 * u * ow;
      float* to = out + u * ow;
      std::int32_t* arg_to = arg_out + u * ow;
      if (u * ow + row_blocks * kBlock <= room) {
        for (index_t b = 0; b < row_blocks * kBlock; b += kBlock) {
          for (index_t v = b; v < b + kBlock; ++v) {
            to[v] = from[v];
            arg_to[v] = arg_from[v];
          }
        }
      } else {
        for (index_t v = 0; v < ow; ++v) {
          to[v] = from[v];
          arg_to[v] = arg_from[v];
        }
      }
    }
  }
}

NAPINET_VECTORIZED void batch_norm_plane_grad_sums(double* plane_sums, const float* dy,
                                                   const float* x, const float* mean,
                                                   index_t c_first, index_t c, index_t planes,
                                                   index_t l) {
  if (l == 1) {  // (N, C): one value a plane (the general path, slower, agrees to rounding)
    for (index_t i = 0, ch = c_first; i < planes; ++i, ch = next_channel(ch, c)) {
      const double g = static_cast<double>(dy[i]);
      const double d = static_cast<double>(x[i]) - static_cast<double>(mean[ch]);
      plane_sums[3 * i] = g;
      plane_sums[3 * i + 1] = g * d;
      plane_sums[3 * i + 2] = d;
    }
    return;
  }
  for (index_t i = 0, ch = c_first; i < planes; ++i, ch = next_channel(ch, c)) {
    const float* g = dy + i * l;
    const index_t readable = (planes - i) * l;
    row_grad_sums(plane_sums + 3 * i, x + i * l, mean[ch], l, readable,
                  [&](index_t j, index_t count, const Lanes16&, Lanes16* out) {
                    *out = load_part(g + j, count, readable - j, Lanes16{});
                  });
  }
}

NAPINET_VECTORIZED void batch_norm_relu_plane_grad_sums(double* plane_sums, const float* dy,
                                                        const float* x, const float* coefficients,
                                                        const float* mean, index_t c_first,
                                                        index_t c, index_t planes, index_t l) {
  for (index_t i = 0, ch = c_first; i < planes; ++i, ch = next_channel(ch, c)) {
    const float* g = dy + i * l;
    const index_t readable = (planes - i) * l;
    const ChannelAffine norm = channel_affine(coefficients, c, ch);
    const Lanes16 center = broadcast(norm.center), residual = broadcast(norm.residual);
    const Lanes16 scale = broadcast(norm.scale), shift = broadcast(norm.shift);
    row_grad_sums(plane_sums + 3 * i, x + i * l, mean[ch], l, readable,
                  [&](index_t j, index_t count, const Lanes16& v, Lanes16* out) {
                    // relu_backward(dy, relu_forward(y)) is dy where y > 0 or y is NaN, else 0
                    const Lanes16 y = affine(v, center, residual, scale, shift);
                    const Lanes16 above = load_part(g + j, count, readable - j, Lanes16{});
#if defined(__GNUC__)
                    *out = y <= Lanes16{} ? Lanes16{} : above;
#else
                    for (int k = 0; k < 16; ++k) (*out)[k] = y[k] <= 0.0f ? 0.0f : above[k];
#endif
                  });
  }
}

void batch_norm_grad_coefficients(float* coefficients, float* dweight, float* dbias,
                                  const double* plane_sums, const float* mean,
                                  const double* invstd, const float* weight, index_t n, index_t c,
                                  index_t l, bool training, bool accumulate) {
  const index_t m = n * l;
  float* center = coefficients;
  float* shift = coefficients + c;
  float* mean_dy = coefficients + 2 * c;
  float* slope = coefficients + 3 * c;
  float* gain = coefficients + 4 * c;
  for_channel_tiles(n, c, [&](index_t k0, index_t k1) {
    const index_t tile = k1 - k0;
    double sums_dy[kChannelTile] = {}, sums_dy_xmu[kChannelTile] = {}, residuals[kChannelTile] = {};
    if (plane_sums != nullptr) {
      for (index_t i = 0; i < n; ++i) {
        const double* s = plane_sums + 3 * (i * c + k0);
        for (index_t j = 0; j < tile; ++j) {
          sums_dy[j] += s[3 * j];
          sums_dy_xmu[j] += s[3 * j + 1];
          residuals[j] += s[3 * j + 2];
        }
      }
    }
    for (index_t j = 0; j < tile; ++j) {
      const index_t k = k0 + j;
      double sum_dy = sums_dy[j], sum_dy_xmu = sums_dy_xmu[j], residual = residuals[j];
      // In training the saved mean is a float32 rounding of the batch mean: Σ(x − saved mean)/M
      // recovers the difference (as the forward's residual), so the sums are taken around the
      // true mean and an input whose mean is large next to its spread loses nothing.
      if (plane_sums != nullptr && training) {
        residual /= static_cast<double>(m);
        sum_dy_xmu -= residual * sum_dy;
      } else {
        residual = 0.0;
      }
      const double dw = sum_dy_xmu * invstd[k];
      if (dweight) dweight[k] = static_cast<float>(accumulate ? dweight[k] + dw : dw);
      if (dbias) dbias[k] = static_cast<float>(accumulate ? dbias[k] + sum_dy : sum_dy);
      const double w = weight ? static_cast<double>(weight[k]) : 1.0;
      center[k] = mean[k];
      shift[k] = static_cast<float>(residual);
      gain[k] = static_cast<float>(w * invstd[k]);
      mean_dy[k] = training && m > 0 ? static_cast<float>(sum_dy / static_cast<double>(m)) : 0.0f;
      slope[k] = training && m > 0
                     ? static_cast<float>(invstd[k] * invstd[k] * sum_dy_xmu / static_cast<double>(m))
                     : 0.0f;
    }
  });
}

namespace {

// dx of one value from the gradient above it (g), its input (v) and its channel's coefficients:
// the one expression of both of input_grad_planes' loops.
BN_INLINE float input_grad(float g, float v, float center, float shift, float mean_dy, float slope,
                           float gain) {
  return (g - mean_dy - ((v - center) - shift) * slope) * gain;
}

// dx for a run of planes from the backward's coefficients, given each plane's gradient above the
// batch norm: above(i, ch) returns plane i's (channel ch) element function j → gradient. The two
// kernels below differ only in it; inlined into each, so each compiles to its own vector loop.
template <typename GradAbove>
NAPINET_INLINE void input_grad_planes(float* dx, const float* x, const float* coefficients,
                                      index_t c_first, index_t c, index_t planes, index_t l,
                                      const GradAbove& above) {
  const float* center = coefficients;
  const float* shift = coefficients + c;
  const float* mean_dy = coefficients + 2 * c;
  const float* slope = coefficients + 3 * c;
  const float* gain = coefficients + 4 * c;
  if (l == 1) {  // (N, C): one vector loop over each row's run of channels
    for (index_t i = 0, ch = c_first, run; i < planes; i += run, ch = 0) {
      run = std::min(planes - i, c - ch);
      for (index_t j = 0; j < run; ++j) {
        const index_t k = ch + j;
        dx[i + j] = input_grad(above(i + j, k)(0), x[i + j], center[k], shift[k], mean_dy[k], slope[k],
                               gain[k]);
      }
    }
    return;
  }
  for (index_t i = 0, ch = c_first; i < planes; ++i, ch = next_channel(ch, c)) {
    const auto g = above(i, ch);
    const float* v = x + i * l;
    float* out = dx + i * l;
    const float m = center[ch], r = shift[ch], md = mean_dy[ch], s = slope[ch], a = gain[ch];
    for (index_t j = 0; j < l; ++j) out[j] = input_grad(g(j), v[j], m, r, md, s, a);
  }
}

}  // namespace

NAPINET_VECTORIZED void batch_norm_input_grad_planes(float* dx, const float* dy, const float* x,
                                                     const float* coefficients, index_t c_first,
                                                     index_t c, index_t planes, index_t l) {
  input_grad_planes(dx, x, coefficients, c_first, c, planes, l, [&](index_t i, index_t) {
    const float* g = dy + i * l;
    return [g](index_t j) { return g[j]; };
  });
}

NAPINET_VECTORIZED void batch_norm_relu_input_grad_planes(float* dx, const float* dy,
                                                          const float* x, const float* affine,
                                                          const float* coefficients,
                                                          index_t c_first, index_t c,
                                                          index_t planes, index_t l) {
  input_grad_planes(dx, x, coefficients, c_first, c, planes, l, [&](index_t i, index_t ch) {
    const float* g = dy + i * l;
    const float* v = x + i * l;
    const ChannelAffine norm = channel_affine(affine, c, ch);
    return [g, v, norm](index_t j) {
      const Relu rectifier{};
      return rectifier.backward(g[j], rectifier.forward(norm(v[j])));
    };
  });
}

// ---- The kernels ----

void batch_norm_forward_train(float* y, float* save_mean, float* save_invstd, float* running_mean,
                              float* running_var, float* num_batches_tracked, const float* x,
                              const float* weight, const float* bias, index_t n, index_t c,
                              index_t l, double momentum, bool cumulative_average, double eps) {
  double* stats = double_scratch(static_cast<std::size_t>(2 * n * c));
  for_plane_runs(n, c, l, [&](index_t p0, index_t count) {
    batch_norm_plane_stats(stats + 2 * p0, x + p0 * l, count, l);
  });
  float* coefficients = float_scratch(static_cast<std::size_t>(kBatchNormAffineFields * c));
  batch_norm_train_coefficients(coefficients, save_mean, save_invstd, running_mean, running_var,
                                num_batches_tracked, stats, weight, bias, n, c, l, momentum,
                                cumulative_average, eps);
  for_plane_runs(n, c, l, [&](index_t p0, index_t count) {
    batch_norm_apply_planes(y + p0 * l, x + p0 * l, coefficients, p0 % c, c, count, l, false);
  });
}

void batch_norm_forward_eval(float* y, const float* x, const float* running_mean,
                             const float* running_var, const float* weight, const float* bias,
                             index_t n, index_t c, index_t l, double eps) {
  float* coefficients = float_scratch(static_cast<std::size_t>(kBatchNormAffineFields * c));
  for (index_t k = 0; k < c; ++k) {
    const double invstd = 1.0 / std::sqrt(static_cast<double>(running_var[k]) + eps);
    coefficients[k] = running_mean[k];
    coefficients[c + k] = 0.0f;
    coefficients[2 * c + k] = static_cast<float>(invstd * (weight ? static_cast<double>(weight[k]) : 1.0));
    coefficients[3 * c + k] = bias ? bias[k] : 0.0f;
  }
  for_plane_runs(n, c, l, [&](index_t p0, index_t count) {
    batch_norm_apply_planes(y + p0 * l, x + p0 * l, coefficients, p0 % c, c, count, l, false);
  });
}

void batch_norm_backward_train(float* dx, float* dweight, float* dbias, const float* dy,
                               const float* x, const float* save_mean, const float* save_invstd,
                               const float* weight, index_t n, index_t c, index_t l,
                               bool accumulate) {
  std::vector<double> invstd(save_invstd, save_invstd + c);
  backward(dx, dweight, dbias, dy, x, save_mean, invstd.data(), weight, n, c, l, true, accumulate);
}

void batch_norm_backward_eval(float* dx, float* dweight, float* dbias, const float* dy,
                              const float* x, const float* running_mean, const float* running_var,
                              const float* weight, index_t n, index_t c, index_t l, double eps,
                              bool accumulate) {
  std::vector<double> invstd(static_cast<std::size_t>(c));
  eval_invstd(invstd.data(), running_var, c, eps);
  backward(dx, dweight, dbias, dy, x, running_mean, invstd.data(), weight, n, c, l, false,
           accumulate);
}

}  // namespace napinet::kernels
