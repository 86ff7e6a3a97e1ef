#include "optim.h"

#include "parallel.h"

namespace napinet::kernels {
namespace {

constexpr index_t kElementGrain = 1 << 16;

NAPINET_VECTORIZED void adam_range(float* param, const float* grad, float* exp_avg,
                                   float* exp_avg_sq, AdamScalars s, bool decoupled,
                                   bool has_decay, index_t begin, index_t end) {
  float* NAPINET_RESTRICT p = param;
  const float* NAPINET_RESTRICT g = grad;
  float* NAPINET_RESTRICT m = exp_avg;
  float* NAPINET_RESTRICT v = exp_avg_sq;
  for (index_t i = begin; i < end; ++i) adam_update(p, g, m, v, i, s, decoupled, has_decay);
}

NAPINET_VECTORIZED void sgd_range(float* param, const float* grad, float* momentum_buf,
                                  SgdScalars s, bool has_decay, bool has_momentum, bool nesterov,
                                  bool first_step, index_t begin, index_t end) {
  float* NAPINET_RESTRICT p = param;
  const float* NAPINET_RESTRICT g = grad;
  float* NAPINET_RESTRICT buf = momentum_buf;
  for (index_t i = begin; i < end; ++i) {
    sgd_update(p, g, buf, i, s, has_decay, has_momentum, nesterov, first_step);
  }
}

}  // namespace

void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, index_t n,
               double lr, double beta1, double beta2, double eps, double weight_decay,
               std::int64_t step, bool decoupled) {
  const AdamScalars s = adam_scalars(lr, beta1, beta2, eps, weight_decay, step);
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
  const SgdScalars s = sgd_scalars(lr, momentum, dampening, weight_decay);
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) {
    sgd_range(param, grad, momentum_buf, s, weight_decay != 0.0, momentum != 0.0, nesterov,
              first_step, b, e);
  });
}

}  // namespace napinet::kernels
