#include "conv2d_batchnorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "activation.h"
#include "batchnorm.h"
#include "conv2d.h"
#include "parallel.h"
#include "pool2d.h"
#include "simd.h"

namespace napinet::kernels {
namespace {

// Planes per parallel chunk of the normalising passes: about 32k values (as batchnorm.cpp's).
index_t plane_grain(index_t l) { return std::max<index_t>(1, (index_t{1} << 15) / std::max<index_t>(1, l)); }

template <typename T>
T* scratch(std::vector<T>& buffer, std::size_t count) {
  if (buffer.size() < count) buffer.resize(count);
  return buffer.data();
}

// Values of the gradient written and summed again while in L1 (16 KiB).
constexpr index_t kRunValues = 4096;

// The geometry every pass shares.
struct Planes {
  index_t n, k, oh, ow;
  index_t plane() const { return oh * ow; }                  // L: values per (sample, channel)
  index_t pooled() const { return (oh / 2) * (ow / 2); }     // per pooled plane
};

// What the per-sample callbacks read.
struct StatsContext {
  double* plane_stats;  // (N·K, 2)
  const Planes* g;
};

// What the recomputing passes share: the convolution's operands (conv2d_direct_forward_samples').
struct Recompute {
  const float* x;
  const float* w;
  index_t n, c, h, w_in, k, kh, kw, sh, sw, ph, pw;

  // Samples [begin, end) into this thread's one-sample buffer, each handed to after_sample.
  void samples(index_t begin, index_t end, const Conv2dSampleHook& after_sample) const {
    thread_local std::vector<float> buffer;
    float* out = scratch(buffer, static_cast<std::size_t>(k * conv2d_output_size(h, kh, sh, ph) *
                                                          conv2d_output_size(w_in, kw, sw, pw)));
    conv2d_direct_forward_samples(out, x, w, nullptr, n, c, h, w_in, k, kh, kw, sh, sw, ph, pw,
                                  begin, end, &after_sample);
  }
};

struct GradContext {
  const Planes* g;
  const float* dy;
  const std::int32_t* indices;  // or nullptr: not pooled
  const float* y;               // pooled y, or nullptr
  const float* z;
  const float* affine;          // the forward's (batch_norm_train_coefficients')
  const float* coefficients;    // batch_norm_grad_coefficients'
  const Recompute* recompute;  // z == nullptr: z recomputed sample by sample
};

// Pooled planes [p0, p0 + count) (OH/2 × OW/2 each) back to OH × OW: what relu_backward then
// max_pool2d_backward give.
void unpool_relu_grad_planes(float* g, const GradContext& c, index_t p0, index_t count) {
  const index_t pooled = c.g->pooled(), first = p0 * pooled;
  max_pool2d_relu_backward_planes(g, c.dy + first, c.y + first, c.indices + first, count, pooled,
                                  c.g->plane());
}

void stats_after_sample(const void* ctx, index_t n, float* planes) {
  const auto& c = *static_cast<const StatsContext*>(ctx);
  batch_norm_plane_stats(c.plane_stats + 2 * n * c.g->k, planes, c.g->k, c.g->plane());
}

// dz of sample n, as batch_norm_backward_train gives it from the gradient above.
void dz_of_sample(const void* ctx, index_t n, float* planes) {
  const auto& c = *static_cast<const GradContext*>(ctx);
  const index_t k = c.g->k, l = c.g->plane();
  if (c.indices != nullptr) {
    unpool_relu_grad_planes(planes, c, n * k, k);
    batch_norm_input_grad_planes(planes, planes, c.z + n * k * l, c.coefficients, 0, k, k, l);
  } else {  // the ReLU's gradient and the norm's in one pass over dy and z
    batch_norm_relu_input_grad_planes(planes, c.dy + n * k * l, c.z + n * k * l, c.affine,
                                      c.coefficients, 0, k, k, l);
  }
}

// ---- without z: the convolution recomputed where its output is needed ----

// The forward's second pass: sample n's z normalised and rectified into y.
struct ApplyContext {
  const Planes* g;
  float* y;
  const float* coefficients;
};

void apply_after_sample(const void* ctx, index_t n, float* planes) {
  const auto& c = *static_cast<const ApplyContext*>(ctx);
  const index_t k = c.g->k, l = c.g->plane();
  batch_norm_apply_planes(c.y + n * k * l, planes, c.coefficients, 0, k, k, l, true);
}

// The backward's first pass: sample n's sums from dy and the recomputed z.
struct RecomputedSumsContext {
  const Planes* g;
  double* sums;  // (N·K, 3)
  const float* dy;
  const float* affine;
  const float* mean;
};

void grad_sums_after_sample(const void* ctx, index_t n, float* planes) {
  const auto& c = *static_cast<const RecomputedSumsContext*>(ctx);
  const index_t k = c.g->k, l = c.g->plane();
  batch_norm_relu_plane_grad_sums(c.sums + 3 * n * k, c.dy + n * k * l, planes, c.affine, c.mean,
                                  0, k, k, l);
}

// The convolution backward's dz of sample n, with z recomputed into this thread's buffer first.
struct RecomputedGradContext {
  const GradContext* grad;
  const Recompute* recompute;
  float* dz;  // set per sample (dz_from_recomputed)
};

void dz_from_recomputed(const void* ctx, index_t n, float* z) {
  const auto& c = *static_cast<const RecomputedGradContext*>(ctx);
  const index_t k = c.grad->g->k, l = c.grad->g->plane();
  batch_norm_relu_input_grad_planes(c.dz, c.grad->dy + n * k * l, z, c.grad->affine,
                                    c.grad->coefficients, 0, k, k, l);
}

void dz_of_sample_recomputed(const void* ctx, index_t n, float* planes) {
  const auto& c = *static_cast<const GradContext*>(ctx);
  const RecomputedGradContext inner{&c, c.recompute, planes};
  c.recompute->samples(n, n + 1, {&dz_from_recomputed, &inner});
}

// ---- the backward pass in one read of dy, for a recomputed convolution without dx ----
//
// With z = conv(x, w) (no bias) and dz = gain·(g − mean_dy − (z − c)·slope), g = dy·[y > 0] and
// c = center + residual the batch mean, dW is linear in dz, so it splits into terms that need no
// z at all: with X_t(p) the input under tap t at output position p, P_t = Σ_p X_t, x̃ = x − μ (μ
// each input channel's mean, so that nothing large cancels), G̃ = Σ_p g·X̃_t (the convolution's
// weight gradient of g on x̃) and Cov_t't = Σ_p (X_t' − P_t'/M)(X_t − P_t/M):
//   Σ_p g·X_t          = G̃_t + μ_t·Σg
//   Σ_p (z − c)·X_t    = Σ_t' w_t'·Cov_t't           (c the exact mean Σ_t w_t·P_t/M)
//   Σ_p g·(z − c)      = Σ_t w_t·G̃_t − Σg·Σ_t w_t·P̃_t/M
//   dW_t = gain·(G̃_t − Σg·P̃_t/M − slope·Σ_t' w_t'·Cov_t't)
// One pass over dy and y gives g (into the convolution's per-sample buffer) and Σg per plane; the
// weight gradient of g and the small Gram matrix Cov over x do the rest. Against the two passes
// over dy and z this reads 11 MB less per 11-MB tensor and recomputes nothing. Not bit-identical
// to them (the sums are regrouped), equal to rounding: test/conv2d_batchnorm.test.ts.

constexpr index_t kSumRun = 1024;  // float lanes added into double every so many values

// The masked gradient g of one sample (K planes) and each plane's Σg.
struct MaskedGradContext {
  const Planes* g;
  const float* dy;
  const float* y;
  double* plane_sums;  // (N·K)
};

NAPINET_VECTORIZED void masked_grad_plane(float* NAPINET_RESTRICT out, double* sum,
                                          const float* NAPINET_RESTRICT dy,
                                          const float* NAPINET_RESTRICT y, index_t l) {
  double total = 0.0;
  for (index_t j0 = 0; j0 < l; j0 += kSumRun) {
    const index_t j1 = std::min(l, j0 + kSumRun);
    float lanes[16] = {};
    index_t j = j0;
    for (; j + 16 <= j1; j += 16) {
      for (int u = 0; u < 16; ++u) {
        // relu_backward's rule: dy where y > 0 or y is NaN, else 0
        const float v = y[j + u] <= 0.0f ? 0.0f : dy[j + u];
        out[j + u] = v;
        lanes[u] += v;
      }
    }
    for (; j < j1; ++j) {
      const float v = y[j] <= 0.0f ? 0.0f : dy[j];
      out[j] = v;
      lanes[0] += v;
    }
    for (int u = 0; u < 16; ++u) total += static_cast<double>(lanes[u]);
  }
  *sum = total;
}

void masked_grad_of_sample(const void* ctx, index_t n, float* planes) {
  const auto& c = *static_cast<const MaskedGradContext*>(ctx);
  const index_t k = c.g->k, l = c.g->plane();
  for (index_t i = 0; i < k; ++i) {
    const index_t offset = (n * k + i) * l;
    masked_grad_plane(planes + i * l, c.plane_sums + n * k + i, c.dy + offset, c.y + offset, l);
  }
}

// Σ term(j) for j < count: float lanes of 16 added into double every kSumRun values.
template <typename Term>
NAPINET_INLINE double lane_sum(index_t count, const Term& term) {
  double total = 0.0;
  for (index_t j0 = 0; j0 < count; j0 += kSumRun) {
    const index_t j1 = std::min(count, j0 + kSumRun);
    float lanes[16] = {};
    index_t j = j0;
    for (; j + 16 <= j1; j += 16)
      for (int u = 0; u < 16; ++u) lanes[u] += term(j + u);
    for (; j < j1; ++j) lanes[0] += term(j);
    for (int u = 0; u < 16; ++u) total += static_cast<double>(lanes[u]);
  }
  return total;
}

NAPINET_VECTORIZED double dot(const float* NAPINET_RESTRICT a, const float* NAPINET_RESTRICT b,
                              index_t count) {
  return lane_sum(count, [&](index_t j) { return a[j] * b[j]; });
}

NAPINET_VECTORIZED double sum_of(const float* NAPINET_RESTRICT a, index_t count) {
  return lane_sum(count, [&](index_t j) { return a[j]; });
}

// The taps' sums P̃_t (T) and products Σ_p X̃_t'·X̃_t (T, T) over every output position of x̃
// (N, C, H, W; no padding): each sample's columns (T, OH·OW) in a buffer, their sums and dot
// products per sample, added over the samples in order.
void tap_moments(double* sums, double* products, const float* xc, const Recompute& r) {
  const index_t oh = conv2d_output_size(r.h, r.kh, r.sh, 0), ow = conv2d_output_size(r.w_in, r.kw, r.sw, 0);
  const index_t l = oh * ow, taps = r.c * r.kh * r.kw, per_sample = taps + taps * taps;
  thread_local std::vector<double> sample_buffer;
  double* per = scratch(sample_buffer, static_cast<std::size_t>(r.n * per_sample));
  parallel_for(r.n, 1, [&](index_t n0, index_t n1) {
    thread_local std::vector<float> col_buffer;
    float* col = scratch(col_buffer, static_cast<std::size_t>(taps * l));
    for (index_t n = n0; n < n1; ++n) {
      for (index_t t = 0; t < taps; ++t) {
        const index_t c = t / (r.kh * r.kw), i = (t / r.kw) % r.kh, j = t % r.kw;
        const float* plane = xc + (n * r.c + c) * r.h * r.w_in;
        for (index_t u = 0; u < oh; ++u)
          for (index_t v = 0; v < ow; ++v)
            col[t * l + u * ow + v] = plane[(u * r.sh + i) * r.w_in + v * r.sw + j];
      }
      double* out = per + n * per_sample;
      for (index_t t = 0; t < taps; ++t) {
        out[t] = sum_of(col + t * l, l);
        for (index_t u = t; u < taps; ++u) out[taps + t * taps + u] = dot(col + t * l, col + u * l, l);
      }
    }
  });
  std::fill(sums, sums + taps, 0.0);
  std::fill(products, products + taps * taps, 0.0);
  for (index_t n = 0; n < r.n; ++n) {
    const double* in = per + n * per_sample;
    for (index_t t = 0; t < taps; ++t) {
      sums[t] += in[t];
      for (index_t u = t; u < taps; ++u) products[t * taps + u] += in[taps + t * taps + u];
    }
  }
  for (index_t t = 0; t < taps; ++t)
    for (index_t u = 0; u < t; ++u) products[t * taps + u] = products[u * taps + t];
}

// dw (K, T), dweight, dbias (each may be nullptr but dw; overwritten or added into) by the one
// pass above. Returns false, having written nothing, where a value is NaN or ±inf: the caller then
// takes the recomputing passes, whose NaN and inf land where the layers' own do.
bool one_pass_weight_grads(float* dw, float* dweight, float* dbias, const float* dy,
                           const float* y, const float* weight, const float* save_invstd,
                           const Recompute& r, const Planes& g, bool accumulate) {
  const index_t taps = r.c * r.kh * r.kw, k_count = r.k, l = g.plane();
  const double m = static_cast<double>(r.n * l);
  // x̃ = x − μ per input channel (μ in double, in order)
  const index_t image = r.h * r.w_in;
  thread_local std::vector<float> centred_buffer;
  float* xc = scratch(centred_buffer, static_cast<std::size_t>(r.n * r.c * image));
  std::vector<double> mu(static_cast<std::size_t>(r.c), 0.0);
  for (index_t n = 0; n < r.n; ++n)
    for (index_t c = 0; c < r.c; ++c) mu[c] += sum_of(r.x + (n * r.c + c) * image, image);
  for (index_t c = 0; c < r.c; ++c) mu[c] /= static_cast<double>(r.n * image);
  parallel_for(r.n * r.c, 1, [&](index_t p0, index_t p1) {
    for (index_t p = p0; p < p1; ++p) {
      const float centre = static_cast<float>(mu[p % r.c]);
      const float* src = r.x + p * image;
      float* dst = xc + p * image;
      for (index_t j = 0; j < image; ++j) dst[j] = src[j] - centre;
    }
  });
  // g and Σg per plane, and G̃ = the weight gradient of g on x̃
  std::vector<double> plane_sums(static_cast<std::size_t>(r.n * k_count));
  std::vector<float> gw(static_cast<std::size_t>(k_count * taps));
  const MaskedGradContext context{&g, dy, y, plane_sums.data()};
  conv2d_backward_from(nullptr, gw.data(), nullptr, {&masked_grad_of_sample, &context}, xc, r.w,
                       r.n, r.c, r.h, r.w_in, r.k, r.kh, r.kw, r.sh, r.sw, 0, 0, false);
  std::vector<double> p_sums(static_cast<std::size_t>(taps)), products(static_cast<std::size_t>(taps * taps));
  tap_moments(p_sums.data(), products.data(), xc, r);
  // Cov = products − P̃·P̃ᵀ/M
  for (index_t t = 0; t < taps; ++t)
    for (index_t u = 0; u < taps; ++u) products[t * taps + u] -= p_sums[t] * p_sums[u] / m;
  std::vector<double> dw_new(static_cast<std::size_t>(k_count * taps));
  std::vector<double> dweight_new(static_cast<std::size_t>(k_count)), dbias_new(static_cast<std::size_t>(k_count));
  bool finite = true;
  for (index_t k = 0; k < k_count; ++k) {
    double sum_g = 0.0;
    for (index_t n = 0; n < r.n; ++n) sum_g += plane_sums[n * k_count + k];
    const float* wk = r.w + k * taps;
    const float* gk = gw.data() + k * taps;
    double sum_g_zc = 0.0;  // Σ g·(z − c)
    for (index_t t = 0; t < taps; ++t)
      sum_g_zc += static_cast<double>(wk[t]) * (static_cast<double>(gk[t]) - sum_g * p_sums[t] / m);
    const double invstd = static_cast<double>(save_invstd[k]);
    const double gain = (weight ? static_cast<double>(weight[k]) : 1.0) * invstd;
    const double slope = invstd * invstd * sum_g_zc / m;
    for (index_t t = 0; t < taps; ++t) {
      double cov_w = 0.0;
      for (index_t u = 0; u < taps; ++u) cov_w += static_cast<double>(wk[u]) * products[u * taps + t];
      const double value =
          gain * (static_cast<double>(gk[t]) - sum_g * p_sums[t] / m - slope * cov_w);
      dw_new[k * taps + t] = accumulate ? dw[k * taps + t] + value : value;
      finite = finite && std::isfinite(value);
    }
    dweight_new[k] = sum_g_zc * invstd;
    dbias_new[k] = sum_g;
    finite = finite && std::isfinite(dweight_new[k]) && std::isfinite(sum_g);
  }
  if (!finite) return false;
  for (index_t i = 0; i < k_count * taps; ++i) dw[i] = static_cast<float>(dw_new[i]);
  for (index_t k = 0; k < k_count; ++k) {
    if (dweight) dweight[k] = static_cast<float>(accumulate ? dweight[k] + dweight_new[k] : dweight_new[k]);
    if (dbias) dbias[k] = static_cast<float>(accumulate ? dbias[k] + dbias_new[k] : dbias_new[k]);
  }
  return true;
}

// conv2d_relu_forward's per-sample epilogue: the ReLU over the sample's K planes in place, or
// their 2×2 max-pool (the window's value as max_pool2d_forward picks it) then the ReLU into y.
struct ReluContext {
  const Planes* g;
  float* y;  // the pooled output, or nullptr: rectify in place
};

NAPINET_VECTORIZED void relu_after_sample(const void* ctx, index_t n, float* planes) {
  const auto& c = *static_cast<const ReluContext*>(ctx);
  const Planes& g = *c.g;
  const Relu rectifier{};
  if (c.y == nullptr) {
    const index_t count = g.k * g.plane();
    for (index_t i = 0; i < count; ++i) planes[i] = rectifier.forward(planes[i]);
    return;
  }
  const index_t ph = g.oh / 2, pw = g.ow / 2;
  float* out = c.y + n * g.k * ph * pw;
  for (index_t k = 0; k < g.k; ++k) {
    const float* plane = planes + k * g.plane();
    for (index_t u = 0; u < ph; ++u) {
      const float* r0 = plane + 2 * u * g.ow;
      const float* r1 = r0 + g.ow;
      float* dst = out + (k * ph + u) * pw;
      for (index_t v = 0; v < pw; ++v) {
        dst[v] = rectifier.forward(pool_max_2x2(r0[2 * v], r0[2 * v + 1], r1[2 * v], r1[2 * v + 1], 0, 0).value);
      }
    }
  }
}

}  // namespace

bool conv2d_batch_norm_relu_recomputes(index_t N, index_t C, index_t H, index_t W, index_t K,
                                       index_t kh, index_t kw, index_t stride_h, index_t stride_w,
                                       index_t pad_h, index_t pad_w, bool pooled,
                                       bool conv_bias) {
  return !pooled && !conv_bias &&
         conv2d_cheap_to_recompute(N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w);
}

void conv2d_relu_forward(float* y, float* z, const float* x, const float* w, const float* b,
                         index_t N, index_t C, index_t H, index_t W, index_t K, index_t kh,
                         index_t kw, index_t stride_h, index_t stride_w, index_t pad_h,
                         index_t pad_w, bool pooled) {
  const Planes g{N, K, conv2d_output_size(H, kh, stride_h, pad_h),
                 conv2d_output_size(W, kw, stride_w, pad_w)};
  const ReluContext context{&g, pooled ? y : nullptr};
  conv2d_forward_then(pooled ? z : y, x, w, b, N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h,
                      pad_w, {&relu_after_sample, &context});
}

void conv2d_batch_norm_relu_forward(float* y, std::int32_t* indices, float* z, float* save_mean,
                                    float* save_invstd, float* save_affine, float* running_mean,
                                    float* running_var,
                                    float* num_batches_tracked, const float* x, const float* w,
                                    const float* conv_bias, const float* weight,
                                    const float* bias, index_t N, index_t C, index_t H, index_t W,
                                    index_t K, index_t kh, index_t kw, index_t stride_h,
                                    index_t stride_w, index_t pad_h, index_t pad_w,
                                    double momentum, bool cumulative_average, double eps) {
  const Planes g{N, K, conv2d_output_size(H, kh, stride_h, pad_h),
                 conv2d_output_size(W, kw, stride_w, pad_w)};
  const index_t l = g.plane();
  thread_local std::vector<double> stats_buffer;
  double* stats = scratch(stats_buffer, static_cast<std::size_t>(2 * N * K));
  float* coefficients = save_affine;

  const StatsContext context{stats, &g};
  if (z == nullptr) {  // two passes of the recomputed convolution: statistics, then y
    const Recompute recompute{x, w, N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w};
    parallel_for(N, 1, [&](index_t n0, index_t n1) {
      recompute.samples(n0, n1, {&stats_after_sample, &context});
    });
    batch_norm_train_coefficients(coefficients, save_mean, save_invstd, running_mean, running_var,
                                  num_batches_tracked, stats, weight, bias, N, K, l, momentum,
                                  cumulative_average, eps);
    const ApplyContext apply{&g, y, coefficients};
    parallel_for(N, 1, [&](index_t n0, index_t n1) {
      recompute.samples(n0, n1, {&apply_after_sample, &apply});
    });
    return;
  }
  conv2d_forward_then(z, x, w, conv_bias, N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w,
                      {&stats_after_sample, &context});
  batch_norm_train_coefficients(coefficients, save_mean, save_invstd, running_mean, running_var,
                                num_batches_tracked, stats, weight, bias, N, K, l, momentum,
                                cumulative_average, eps);
  parallel_for(N * K, plane_grain(l), [&](index_t p0, index_t p1) {
    if (indices != nullptr) {
      const index_t pl = g.pooled();
      batch_norm_relu_max_pool_planes(y + p0 * pl, indices + p0 * pl, z + p0 * l, coefficients,
                                      p0 % K, K, p1 - p0, g.oh, g.ow);
    } else {
      batch_norm_apply_planes(y + p0 * l, z + p0 * l, coefficients, p0 % K, K, p1 - p0, l, true);
    }
  });
}

void conv2d_batch_norm_relu_backward(float* dx, float* dw, float* conv_db, float* dweight,
                                     float* dbias, const float* dy, const std::int32_t* indices,
                                     const float* y, const float* z, const float* x,
                                     const float* w, const float* weight, const float* save_mean,
                                     const float* save_invstd, const float* save_affine, index_t N, index_t C, index_t H,
                                     index_t W, index_t K, index_t kh, index_t kw,
                                     index_t stride_h, index_t stride_w, index_t pad_h,
                                     index_t pad_w, bool accumulate) {
  const Planes g{N, K, conv2d_output_size(H, kh, stride_h, pad_h),
                 conv2d_output_size(W, kw, stride_w, pad_w)};
  const index_t l = g.plane();
  thread_local std::vector<double> sums_buffer;
  thread_local std::vector<double> invstd_buffer;
  thread_local std::vector<float> coefficient_buffer;
  double* sums = scratch(sums_buffer, static_cast<std::size_t>(3 * N * K));
  double* invstd = scratch(invstd_buffer, static_cast<std::size_t>(K));
  float* coefficients = scratch(coefficient_buffer, static_cast<std::size_t>(kBatchNormGradFields * K));
  for (index_t k = 0; k < K; ++k) invstd[k] = static_cast<double>(save_invstd[k]);

  const Recompute recompute{x, w, N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w};
  if (z == nullptr && dx == nullptr && conv_db == nullptr && indices == nullptr && y != nullptr &&
      pad_h == 0 && pad_w == 0 &&
      one_pass_weight_grads(dw, dweight, dbias, dy, y, weight, save_invstd, recompute, g,
                            accumulate)) {
    return;
  }
  GradContext context{&g, dy, indices, y, z, save_affine, nullptr,
                      z == nullptr ? &recompute : nullptr};
  if (z == nullptr) {  // the sums from dy and the recomputed z, sample by sample
    const RecomputedSumsContext sums_context{&g, sums, dy, save_affine, save_mean};
    parallel_for(N, 1, [&](index_t n0, index_t n1) {
      recompute.samples(n0, n1, {&grad_sums_after_sample, &sums_context});
    });
  }
  // The batch norm's per-plane sums over the gradient above it (one pass over dy and z, and the
  // pooled y and indices).
  const index_t run = std::max<index_t>(1, kRunValues / l);  // planes per L1-sized run
  if (z != nullptr) parallel_for(N * K, plane_grain(l), [&](index_t p0, index_t p1) {
    if (indices == nullptr) {  // the ReLU's gradient recomputed inside the sums' pass
      batch_norm_relu_plane_grad_sums(sums + 3 * p0, dy + p0 * l, z + p0 * l, save_affine,
                                      save_mean, p0 % K, K, p1 - p0, l);
      return;
    }
    thread_local std::vector<float> buffer;
    float* planes = scratch(buffer, static_cast<std::size_t>(std::min(run, p1 - p0) * l));
    for (index_t q = p0; q < p1; q += run) {
      const index_t count = std::min(run, p1 - q);
      unpool_relu_grad_planes(planes, context, q, count);
      batch_norm_plane_grad_sums(sums + 3 * q, planes, z + q * l, save_mean, q % K, K, count, l);
    }
  });
  batch_norm_grad_coefficients(coefficients, dweight, dbias, sums, save_mean, invstd, weight, N,
                               K, l, true, accumulate);
  context.coefficients = coefficients;
  const Conv2dSampleHook dz_hook{z == nullptr ? &dz_of_sample_recomputed : &dz_of_sample, &context};
  conv2d_backward_from(dx, dw, conv_db, dz_hook, x, w, N, C, H, W, K, kh, kw, stride_h, stride_w,
                       pad_h, pad_w, accumulate);
}

}  // namespace napinet::kernels
