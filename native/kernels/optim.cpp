#include "optim.h"

#include <cmath>

#include "parallel.h"

namespace napinet::kernels {
namespace {

constexpr index_t kElementGrain = 1 << 16;

// Scalars as PyTorch hands them to float32 tensor ops: computed in double, rounded to float.
struct AdamScalars {
  float decay_factor;  // 1 − lr·wd (AdamW)
  float weight_decay;  // wd (Adam's L2 term)
  float lerp_weight;   // 1 − beta1
  float beta2;
  float one_minus_beta2;
  float bias_correction2_sqrt;
  float eps;
  float neg_step_size;  // −lr / (1 − beta1^step)
};

NAPINET_VECTORIZED void adam_range(float* param, const float* grad, float* exp_avg,
                                   float* exp_avg_sq, AdamScalars s, bool decoupled,
                                   bool has_decay, index_t begin, index_t end) {
  float* NAPINET_RESTRICT p = param;
  const float* NAPINET_RESTRICT gr = grad;
  float* NAPINET_RESTRICT m = exp_avg;
  float* NAPINET_RESTRICT v = exp_avg_sq;
  for (index_t i = begin; i < end; ++i) {
    float g = gr[i];
    if (has_decay) {
      if (decoupled) {
        p[i] = p[i] * s.decay_factor;
      } else {
        g = g + s.weight_decay * p[i];
      }
    }
    // torch.lerp: self + w·(end − self) when w < 0.5, otherwise end − (end − self)·(1 − w).
    m[i] = s.lerp_weight < 0.5f ? m[i] + s.lerp_weight * (g - m[i])
                                : g - (g - m[i]) * (1.0f - s.lerp_weight);
    v[i] = v[i] * s.beta2;
    v[i] = v[i] + s.one_minus_beta2 * g * g;
    const float denom = std::sqrt(v[i]) / s.bias_correction2_sqrt + s.eps;
    p[i] = p[i] + s.neg_step_size * m[i] / denom;
  }
}

struct SgdScalars {
  float weight_decay;
  float momentum;
  float one_minus_dampening;
  float neg_lr;
};

NAPINET_VECTORIZED void sgd_range(float* param, const float* grad, float* momentum_buf,
                                  SgdScalars s, bool has_decay, bool has_momentum, bool nesterov,
                                  bool first_step, index_t begin, index_t end) {
  float* NAPINET_RESTRICT p = param;
  const float* NAPINET_RESTRICT gr = grad;
  float* NAPINET_RESTRICT buf = momentum_buf;
  for (index_t i = begin; i < end; ++i) {
    float g = gr[i];
    if (has_decay) g = g + s.weight_decay * p[i];
    if (has_momentum) {
      if (first_step) {
        buf[i] = g;
      } else {
        buf[i] = buf[i] * s.momentum;
        buf[i] = buf[i] + s.one_minus_dampening * g;
      }
      g = nesterov ? g + s.momentum * buf[i] : buf[i];
    }
    p[i] = p[i] + s.neg_lr * g;
  }
}

}  // namespace

void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, index_t n,
               double lr, double beta1, double beta2, double eps, double weight_decay,
               std::int64_t step, bool decoupled) {
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  AdamScalars s;
  s.decay_factor = static_cast<float>(1.0 - lr * weight_decay);
  s.weight_decay = static_cast<float>(weight_decay);
  s.lerp_weight = static_cast<float>(1.0 - beta1);
  s.beta2 = static_cast<float>(beta2);
  s.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  s.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  s.eps = static_cast<float>(eps);
  s.neg_step_size = static_cast<float>(-(lr / bias_correction1));
  const bool has_decay = weight_decay != 0.0;
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) {
    adam_range(param, grad, exp_avg, exp_avg_sq, s, decoupled, has_decay, b, e);
  });
}

void adam_step_many(float* const* param, const float* const* grad, float* const* exp_avg,
                    float* const* exp_avg_sq, const std::int64_t* n, std::int64_t count, double lr,
                    double beta1, double beta2, double eps, double weight_decay, std::int64_t step,
                    bool decoupled) {
  for (std::int64_t t = 0; t < count; ++t) {
    adam_step(param[t], grad[t], exp_avg[t], exp_avg_sq[t], n[t], lr, beta1, beta2, eps,
              weight_decay, step, decoupled);
  }
}

void sgd_step(float* param, const float* grad, float* momentum_buf, index_t n, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov,
              bool first_step) {
  SgdScalars s;
  s.weight_decay = static_cast<float>(weight_decay);
  s.momentum = static_cast<float>(momentum);
  s.one_minus_dampening = static_cast<float>(1.0 - dampening);
  s.neg_lr = static_cast<float>(-lr);
  const bool has_momentum = momentum != 0.0;
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) {
    sgd_range(param, grad, momentum_buf, s, weight_decay != 0.0, has_momentum, nesterov,
              first_step, b, e);
  });
}

}  // namespace napinet::kernels
