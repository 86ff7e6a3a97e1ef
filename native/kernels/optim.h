// Parameter updates, one tensor at a time. Mirror torch.optim.Adam / AdamW and torch.optim.SGD
// (the single-tensor algorithms, foreach=False; maximize=False; no amsgrad), operation by
// operation in float32 as PyTorch runs them on float32 parameters.
// Test: test/optim.test.ts
#pragma once

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
// launch per 16 tensors instead of one per tensor).
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

}  // namespace napinet::kernels
