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

// Planes per parallel chunk: about 32k values, at least one plane. Depends on the shape only.
index_t plane_grain(index_t l) { return std::max<index_t>(1, (index_t{1} << 15) / std::max<index_t>(1, l)); }

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

// Independent double partial sums along a row: lane j takes the values at positions ≡ j mod 16
// (two vectors of 8 doubles), and the lanes are added pairwise at the end — a fixed order that does
// not depend on the vector width the compiler uses.
constexpr int kLanes = 16;

BN_INLINE double lane_total(const double* acc) {
  double level[kLanes];
  for (int j = 0; j < kLanes; ++j) level[j] = acc[j];
  for (int width = kLanes / 2; width > 0; width /= 2)
    for (int j = 0; j < width; ++j) level[j] = level[j] + level[j + width];
  return level[0];
}

#if defined(__GNUC__)
// Eight floats widened to doubles, and the lanes' vectors.
typedef float Floats8 __attribute__((vector_size(32), aligned(4), may_alias));
typedef double Doubles8 __attribute__((vector_size(64)));
typedef std::int64_t Longs8 __attribute__((vector_size(64)));
BN_INLINE Doubles8 widen(const float* p) {
  return __builtin_convertvector(*reinterpret_cast<const Floats8*>(p), Doubles8);
}

// A row's last n < kLanes values, widened into the two lane vectors: lanes past n hold 0 and are
// flagged in valid (all bits set where a value is), so a caller can zero what it derives there.
// Adding those zeros changes no lane: a lane's sum starts at +0 and is never −0, so it stays as it
// is. When a whole vector can be read from x (`readable` values: a plane followed by the next in
// its run) it is loaded and its lanes past n zeroed; else (a run's last plane) the values are
// copied into a zeroed chunk first. (Planes of 25 or 100 values, the small layers': a masked tail
// instead of a scalar one keeps their sums in registers.)
BN_INLINE void widen_tail(Doubles8* v, Longs8* valid, const float* x, index_t n, index_t readable) {
  for (int h = 0; h < 2; ++h) {
    Longs8 lane;
    for (int j = 0; j < 8; ++j) lane[j] = 8 * h + j;
    valid[h] = lane < static_cast<std::int64_t>(n);
  }
  if (readable >= kLanes) {
    for (int h = 0; h < 2; ++h) v[h] = valid[h] ? widen(x + 8 * h) : Doubles8{};
    return;
  }
  float chunk[kLanes] = {};
  for (index_t i = 0; i < n; ++i) chunk[i] = x[i];
  for (int h = 0; h < 2; ++h) v[h] = widen(chunk + 8 * h);
}

// lane_total of the two lane vectors (lanes 0–7, 8–15): its first level is one vector addition.
BN_INLINE double vector_total(const Doubles8* acc) {
  const Doubles8 first = acc[0] + acc[1];
  double level[8];
  for (int j = 0; j < 8; ++j) level[j] = first[j];
  for (int width = 4; width > 0; width /= 2)
    for (int j = 0; j < width; ++j) level[j] = level[j] + level[j + width];
  return level[0];
}

// Σ x[i] in double.
BN_INLINE double row_sum(const float* x, index_t n, index_t readable) {
  Doubles8 v[2] = {};
  index_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int h = 0; h < 2; ++h) v[h] += widen(x + i + 8 * h);
  if (i < n) {
    Doubles8 tail[2];
    Longs8 valid[2];
    widen_tail(tail, valid, x + i, n - i, readable - i);
    for (int h = 0; h < 2; ++h) v[h] += tail[h];
  }
  return vector_total(v);
}

// Σ (x[i] − mean)² in double.
BN_INLINE double row_square_deviations(const float* x, index_t n, index_t readable, double mean) {
  Doubles8 v[2] = {};
  const Doubles8 m = mean - Doubles8{};
  index_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int h = 0; h < 2; ++h) {
      const Doubles8 d = widen(x + i + 8 * h) - m;
      v[h] += d * d;
    }
  if (i < n) {
    Doubles8 tail[2];
    Longs8 valid[2];
    widen_tail(tail, valid, x + i, n - i, readable - i);
    for (int h = 0; h < 2; ++h) {
      const Doubles8 d = valid[h] ? tail[h] - m : Doubles8{};
      v[h] += d * d;
    }
  }
  return vector_total(v);
}

// out[0..2] = Σ g, Σ g·(x − shift), Σ (x − shift) in double.
BN_INLINE void row_grad_sums(double* out, const float* g, const float* x, double shift, index_t n,
                             index_t readable) {
  Doubles8 vg[2] = {}, vgx[2] = {}, vx[2] = {};
  const Doubles8 s = shift - Doubles8{};
  index_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int h = 0; h < 2; ++h) {
      const Doubles8 gv = widen(g + i + 8 * h);
      const Doubles8 d = widen(x + i + 8 * h) - s;
      vg[h] += gv;
      vgx[h] += gv * d;
      vx[h] += d;
    }
  if (i < n) {
    Doubles8 gt[2], xt[2];
    Longs8 valid[2];
    widen_tail(gt, valid, g + i, n - i, readable - i);
    widen_tail(xt, valid, x + i, n - i, readable - i);
    for (int h = 0; h < 2; ++h) {
      const Doubles8 d = valid[h] ? xt[h] - s : Doubles8{};
      vg[h] += gt[h];
      vgx[h] += gt[h] * d;
      vx[h] += d;
    }
  }
  out[0] = vector_total(vg);
  out[1] = vector_total(vgx);
  out[2] = vector_total(vx);
}
#else
// Σ x[i] in double.
BN_INLINE double row_sum(const float* x, index_t n, index_t /*readable*/) {
  double acc[kLanes] = {};
  index_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) acc[j] += static_cast<double>(x[i + j]);
  for (int j = 0; i < n; ++i, ++j) acc[j] += static_cast<double>(x[i]);
  return lane_total(acc);
}

// Σ (x[i] − mean)² in double.
BN_INLINE double row_square_deviations(const float* x, index_t n, index_t /*readable*/, double mean) {
  double acc[kLanes] = {};
  index_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      const double d = static_cast<double>(x[i + j]) - mean;
      acc[j] += d * d;
    }
  for (int j = 0; i < n; ++i, ++j) {
    const double d = static_cast<double>(x[i]) - mean;
    acc[j] += d * d;
  }
  return lane_total(acc);
}

// out[0..2] = Σ g, Σ g·(x − shift), Σ (x − shift) in double.
BN_INLINE void row_grad_sums(double* out, const float* g, const float* x, double shift, index_t n,
                             index_t /*readable*/) {
  double sg[kLanes] = {}, sgx[kLanes] = {}, sx[kLanes] = {};
  index_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) {
      const double gv = static_cast<double>(g[i + j]);
      const double d = static_cast<double>(x[i + j]) - shift;
      sg[j] += gv;
      sgx[j] += gv * d;
      sx[j] += d;
    }
  for (int j = 0; i < n; ++i, ++j) {
    const double gv = static_cast<double>(g[i]);
    const double d = static_cast<double>(x[i]) - shift;
    sg[j] += gv;
    sgx[j] += gv * d;
    sx[j] += d;
  }
  out[0] = lane_total(sg);
  out[1] = lane_total(sgx);
  out[2] = lane_total(sx);
}
#endif

// The training-mode affine map of one value (one expression, so every caller rounds alike).
BN_INLINE float affine(float x, float center, float residual, float scale, float shift) {
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
      const double block_mean = row_sum(plane + b0, count, readable) / static_cast<double>(count);
      const double block_m2 = row_square_deviations(plane + b0, count, readable, block_mean);
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
  for (index_t k = 0; k < c; ++k) {
    // The channel's mean is the mean of its planes' means (all of L values); Σ(x − mean)² adds
    // each plane's own sum of squares and L·(plane mean − mean)².
    double mean = 0.0;
    for (index_t i = 0; i < n; ++i) mean += plane_stats[2 * (i * c + k)];
    mean /= static_cast<double>(n);
    double sq = 0.0;
    for (index_t i = 0; i < n; ++i) {
      const double d = plane_stats[2 * (i * c + k)] - mean;
      sq += plane_stats[2 * (i * c + k) + 1] + static_cast<double>(l) * d * d;
    }
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
}

NAPINET_VECTORIZED void batch_norm_apply_planes(float* y, const float* x, const float* coefficients,
                                                index_t c_first, index_t c, index_t planes,
                                                index_t l, bool relu) {
  const Relu rectifier{};
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
  const index_t pairs = 2 * oh * ow;       // pairs of the rows that are pooled
  const index_t span = (2 * oh - 1) * ow;  // windows computed
  thread_local std::vector<float> split;
  thread_local std::vector<float> best;
  thread_local std::vector<std::int32_t> corner;
  thread_local std::vector<std::int32_t> arg;
  if (split.size() < static_cast<std::size_t>(2 * pairs)) split.resize(static_cast<std::size_t>(2 * pairs));
  if (best.size() < static_cast<std::size_t>(span)) {
    best.resize(static_cast<std::size_t>(span));
    arg.resize(static_cast<std::size_t>(span));
    corner.resize(static_cast<std::size_t>(span));
  }
  float* NAPINET_RESTRICT even = split.data();
  float* NAPINET_RESTRICT odd = even + pairs;
  float* NAPINET_RESTRICT best_values = best.data();
  std::int32_t* NAPINET_RESTRICT best_args = arg.data();
  std::int32_t* NAPINET_RESTRICT corners = corner.data();
  for (index_t r = 0, j = 0; r < 2 * oh - 1; ++r)
    for (index_t v = 0; v < ow; ++v, ++j) corners[j] = static_cast<std::int32_t>(r * w + 2 * v);
  for (index_t i = 0, ch = c_first; i < planes; ++i, ch = next_channel(ch, c)) {
    const ChannelAffine norm = channel_affine(coefficients, c, ch);
    const float* NAPINET_RESTRICT src = x + i * h * w;
    for (index_t j = 0; j < pairs; ++j) {
      even[j] = norm(src[2 * j]);
      odd[j] = norm(src[2 * j + 1]);
    }
    for (index_t j = 0; j < span; ++j) {
      const PoolMax2x2 window =
          pool_max_2x2(even[j], odd[j], even[j + ow], odd[j + ow], corners[j], width);
      best_values[j] = rectifier.forward(window.value);
      best_args[j] = window.index;
    }
    float* NAPINET_RESTRICT out = y + i * oh * ow;
    std::int32_t* NAPINET_RESTRICT arg_out = indices + i * oh * ow;
    for (index_t u = 0; u < oh; ++u) {
      for (index_t v = 0; v < ow; ++v) {
        out[u * ow + v] = best_values[2 * u * ow + v];
        arg_out[u * ow + v] = best_args[2 * u * ow + v];
      }
    }
  }
}

NAPINET_VECTORIZED void batch_norm_relu_grad_planes(float* g, const float* dy, const float* x,
                                                    const float* coefficients, index_t c_first,
                                                    index_t c, index_t planes, index_t l) {
  const Relu rectifier{};
  for (index_t i = 0, ch = c_first; i < planes; ++i, ch = next_channel(ch, c)) {
    const float* NAPINET_RESTRICT src = x + i * l;
    const float* NAPINET_RESTRICT grad = dy + i * l;
    float* NAPINET_RESTRICT dst = g + i * l;
    const ChannelAffine norm = channel_affine(coefficients, c, ch);
    for (index_t j = 0; j < l; ++j)
      dst[j] = rectifier.backward(grad[j], rectifier.forward(norm(src[j])));
  }
}

NAPINET_VECTORIZED void batch_norm_plane_grad_sums(double* plane_sums, const float* dy,
                                                   const float* x, const float* mean,
                                                   index_t c_first, index_t c, index_t planes,
                                                   index_t l) {
  if (l == 1) {  // (N, C): one value a plane (the general path gives the same, slower)
    for (index_t i = 0, ch = c_first; i < planes; ++i, ch = next_channel(ch, c)) {
      const double g = static_cast<double>(dy[i]);
      const double d = static_cast<double>(x[i]) - static_cast<double>(mean[ch]);
      plane_sums[3 * i] = g;
      plane_sums[3 * i + 1] = g * d;
      plane_sums[3 * i + 2] = d;
    }
    return;
  }
  for (index_t i = 0, ch = c_first; i < planes; ++i, ch = next_channel(ch, c))
    row_grad_sums(plane_sums + 3 * i, dy + i * l, x + i * l, static_cast<double>(mean[ch]), l,
                  (planes - i) * l);
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
  for (index_t k = 0; k < c; ++k) {
    double sum_dy = 0.0, sum_dy_xmu = 0.0, residual = 0.0;
    if (plane_sums != nullptr) {
      for (index_t i = 0; i < n; ++i) {
        const double* s = plane_sums + 3 * (i * c + k);
        sum_dy += s[0];
        sum_dy_xmu += s[1];
        residual += s[2];
      }
      // In training the saved mean is a float32 rounding of the batch mean: Σ(x − saved mean)/M
      // recovers the difference (as the forward's residual), so the sums are taken around the
      // true mean and an input whose mean is large next to its spread loses nothing.
      if (training) {
        residual /= static_cast<double>(m);
        sum_dy_xmu -= residual * sum_dy;
      } else {
        residual = 0.0;
      }
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
}

namespace {

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
  for (index_t i = 0, ch = c_first; i < planes; ++i, ch = next_channel(ch, c)) {
    const auto g = above(i, ch);
    const float* v = x + i * l;
    float* out = dx + i * l;
    const float m = center[ch], r = shift[ch], md = mean_dy[ch], s = slope[ch], a = gain[ch];
    for (index_t j = 0; j < l; ++j) out[j] = (g(j) - md - ((v[j] - m) - r) * s) * a;
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
