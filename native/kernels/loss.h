// Softmax + cross-entropy with the fused gradient. Mirrors torch.nn.functional.cross_entropy
// (class-index targets, reduction 'mean', label_smoothing, no class weights).
// Test: test/loss.test.ts
//
// With ε = label_smoothing the target of sample i is t_c = (1 − ε)·[c = y_i] + ε / C, and its loss
// is −Σ_c t_c · log softmax(z_i)_c, as PyTorch computes it.
#pragma once

#include <cmath>
#include <cstdint>

#include "common.h"

namespace napinet::kernels {

// probs (N,C) = softmax(logits (N,C)) per row, computed as exp(z − max z) / Σ, so logits of any
// finite size neither overflow nor underflow to a NaN. stats (2) = [Σ_i loss_i, number of samples
// whose argmax (first maximum) equals the label], overwritten, or added into when `accumulate`.
// Per-row losses are formed in double from max-shifted logits; rows are summed per fixed chunk and
// the chunks in order, so the result does not depend on the thread count. labels (N) must lie in
// [0, C) (the binding checks them).
void softmax_cross_entropy_forward(float* probs, float* stats, const float* logits,
                                   const std::int32_t* labels, index_t n, index_t c,
                                   double label_smoothing, bool accumulate);

// dlogits (N,C) = scale · (probs − target); scale = 1/N gives the gradient of the batch mean.
// dlogits may alias probs.
void softmax_cross_entropy_backward(float* dlogits, const float* probs, const std::int32_t* labels,
                                    index_t n, index_t c, double label_smoothing, float scale);

// ---- Shared with cuda/loss.cu ------------------------------------------------------------------

// Row i's loss from its softmax sums: with sum = Σ_k e^(z_k − max) and shifted_sum = Σ_k (max − z_k),
//   −log p_y = log sum − (z_y − max),   −(1/C) Σ_k log p_k = log sum + shifted_sum / C,
// mixed as (1 − ε)·the first + ε·the second, in double.
NAPINET_HOST_DEVICE double cross_entropy_row_loss(float sum, float z_label, float max,
                                                  double shifted_sum, index_t c,
                                                  double label_smoothing) {
  const double log_sum = log(static_cast<double>(sum));
  const double nll = log_sum - (static_cast<double>(z_label) - static_cast<double>(max));
  // Without smoothing the loss is the nll alone: 0·(an infinite smoothing term, from a −inf
  // logit) would make it NaN where PyTorch's is finite (or +inf).
  if (label_smoothing == 0.0) return nll;
  const double smooth = log_sum + shifted_sum / static_cast<double>(c);
  return (1.0 - label_smoothing) * nll + label_smoothing * smooth;
}

// The backward's target values as PyTorch forms them: ε/C off the label, 1 − ε + ε/C on it.
struct SmoothedTargets {
  float off, on;
};
inline SmoothedTargets smoothed_targets(double label_smoothing, index_t c) {
  const double off = label_smoothing / static_cast<double>(c);
  return {static_cast<float>(off), static_cast<float>(1.0 - label_smoothing + off)};
}

}  // namespace napinet::kernels
