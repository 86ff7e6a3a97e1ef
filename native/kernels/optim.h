// Parameter updates, one tensor at a time. Mirror torch.optim.Adam / AdamW and torch.optim.SGD
// (the single-tensor algorithms, foreach=False; maximize=False; no amsgrad), operation by
// operation in float32 as PyTorch runs them on float32 parameters.
// Test: test/optim.test.ts
#pragma once

#include <cmath>
#include <cstdint>

#include "common.h"

namespace napinet::kernels {

// One Adam step on n elements; param, exp_avg, exp_avg_sq are updated in place, grad is read only.
//   decoupled (AdamW):  param *= 1 − lr·weight_decay
//   otherwise (Adam):   g = grad + weight_decay·param
//   exp_avg    = lerp(exp_avg, g, 1 − beta1)
//   exp_avg_sq = exp_avg_sq·beta2 + (1 − beta2)·g·g
//   param     += −(lr / (1 − beta1^step)) · exp_avg / (√exp_avg_sq / √(1 − beta2^step) + eps)
// step counts from 1 (the step being taken); the bias corrections are computed in double.
void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, index_t n,
               double lr, double beta1, double beta2, double eps, double weight_decay,
               std::int64_t step, bool decoupled);

// adam_step on each of `count` tensors (param[i], grad[i], exp_avg[i], exp_avg_sq[i] of n[i]
// elements) with the same hyper-parameters: an optimizer's whole step in one call (on a GPU, one
// launch per 16 tensors instead of one per tensor; on the CPU, the tensors' values as one range
// split over the threads). The same bits as adam_step on each tensor.
void adam_step_many(float* const* param, const float* const* grad, float* const* exp_avg,
                    float* const* exp_avg_sq, const std::int64_t* n, std::int64_t count, double lr,
                    double beta1, double beta2, double eps, double weight_decay, std::int64_t step,
                    bool decoupled);

// One SGD step on n elements; grad is read only.
//   g = grad + weight_decay·param
//   momentum ≠ 0:  buf = g on the first step, else buf = momentum·buf + (1 − dampening)·g;
//                  g = g + momentum·buf (nesterov) or g = buf
//   param −= lr·g
// momentum_buf (n) may be null when momentum is 0.
void sgd_step(float* param, const float* grad, float* momentum_buf, index_t n, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov,
              bool first_step);

// ---- The per-element updates, shared with cuda/optim.cu ----------------------------------------
// Both devices run these lines: each element goes through PyTorch's float32 sequence (lerp,
// addcmul, sqrt, div, add), one rounded operation at a time (add_rn, …: see common.h). The scalars
// are computed on the host in double, bias corrections included, and rounded to float once. The
// updates work in place on the tensors (callers pass __restrict__ pointers, so the values stay in
// registers): the CPU's FMA contractions, where GCC makes them, are those of the loop as first
// written, so rewriting these lines through locals would move CPU results by an ulp here and there.

// Adam's scalars as PyTorch hands them to float32 tensor ops.
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

inline AdamScalars adam_scalars(double lr, double beta1, double beta2, double eps,
                                double weight_decay, std::int64_t step) {
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
  return s;
}

// Element i of adam_step: p (param), m (exp_avg), v (exp_avg_sq) updated in place, grad read
// only. has_decay is weight_decay ≠ 0.
NAPINET_HOST_DEVICE void adam_update(float* p, const float* grad, float* m, float* v, index_t i,
                                     const AdamScalars& s, bool decoupled, bool has_decay) {
  float g = grad[i];
  if (has_decay) {
    if (decoupled) {
      p[i] = mul_rn(p[i], s.decay_factor);
    } else {
      g = add_rn(g, mul_rn(s.weight_decay, p[i]));
    }
  }
  // torch.lerp: self + w·(end − self) when w < 0.5, otherwise end − (end − self)·(1 − w).
  m[i] = s.lerp_weight < 0.5f ? add_rn(m[i], mul_rn(s.lerp_weight, sub_rn(g, m[i])))
                              : sub_rn(g, mul_rn(sub_rn(g, m[i]), sub_rn(1.0f, s.lerp_weight)));
  v[i] = mul_rn(v[i], s.beta2);
  v[i] = add_rn(v[i], mul_rn(mul_rn(s.one_minus_beta2, g), g));
  const float denom = add_rn(div_rn(sqrt_rn(v[i]), s.bias_correction2_sqrt), s.eps);
  p[i] = add_rn(p[i], div_rn(mul_rn(s.neg_step_size, m[i]), denom));
}

// SGD's scalars, as for Adam.
struct SgdScalars {
  float weight_decay;
  float momentum;
  float one_minus_dampening;
  float neg_lr;
};

inline SgdScalars sgd_scalars(double lr, double momentum, double dampening, double weight_decay) {
  SgdScalars s;
  s.weight_decay = static_cast<float>(weight_decay);
  s.momentum = static_cast<float>(momentum);
  s.one_minus_dampening = static_cast<float>(1.0 - dampening);
  s.neg_lr = static_cast<float>(-lr);
  return s;
}

// Element i of sgd_step: p (param) updated in place, grad read only, buf (the momentum buffer)
// read (unless first_step) and written only when has_momentum (it may be null otherwise).
NAPINET_HOST_DEVICE void sgd_update(float* p, const float* grad, float* buf, index_t i,
                                    const SgdScalars& s, bool has_decay, bool has_momentum,
                                    bool nesterov, bool first_step) {
  float g = grad[i];
  if (has_decay) g = add_rn(g, mul_rn(s.weight_decay, p[i]));
  if (has_momentum) {
    if (first_step) {
      buf[i] = g;
    } else {
      buf[i] = mul_rn(buf[i], s.momentum);
      buf[i] = add_rn(buf[i], mul_rn(s.one_minus_dampening, g));
    }
    g = nesterov ? add_rn(g, mul_rn(s.momentum, buf[i])) : buf[i];
  }
  p[i] = add_rn(p[i], mul_rn(s.neg_lr, g));
}

}  // namespace napinet::kernels
