#include "conv2d_batchnorm.h"

#include <algorithm>
#include <vector>

#include "activation.h"
#include "batchnorm.h"
#include "conv2d.h"
#include "parallel.h"
#include "pool2d.h"

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
