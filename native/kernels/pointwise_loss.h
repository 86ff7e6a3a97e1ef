// Element-wise losses with a mean reduction, forward and backward: binary cross-entropy on logits
// and the mean squared error. Mirrors torch.nn.functional.binary_cross_entropy_with_logits
// (reduction 'mean', optional pos_weight, no weight) and torch.nn.functional.mse_loss (reduction
// 'mean'). Test: test/pointwise_loss.test.ts (fixtures from scripts/fixtures/pointwise_loss.py)
//
// The input is N samples of m elements each (m = 1 for one logit per sample). The forward kernels
// leave the loss on the device as running statistics, like softmax_cross_entropy_forward:
//   stats[0] = Σ over samples of the sample's mean loss = (Σ over all N·m elements) / m,
// so the batch mean is stats[0] / N, and batches can be accumulated and read once. Element losses
// are formed and summed in double; rows of elements are summed per fixed chunk and the chunks in
// order, so the result does not depend on the thread count.
#pragma once

#include <cmath>

#include "common.h"

namespace napinet::kernels {

// BCE with logits. With ℓ = 1 + (pos_weight − 1)·t (1 without pos_weight), each element's loss is
//   (1 − t)·x + ℓ·softplus(−x),   softplus(−x) = max(−x, 0) + log1p(exp(−|x|)),
// which neither overflows nor loses the tail for logits of any size (PyTorch's formulation).
// stats (2): [Σ loss / m, Σ [(x > 0) = (t > 0.5)] / m] (the second: the fraction of elements on the
// right side of 0.5, summed over samples), overwritten, or added into when `accumulate`.
// pos_weight (p) or nullptr is broadcast over the last dimension: element i uses pos_weight[i % p]
// (the TypeScript op checks that p is the last dimension or 1).
void bce_with_logits_forward(float* stats,               // (2)
                             const float* x,             // (N,m) logits
                             const float* target,        // (N,m) in [0, 1]
                             const float* pos_weight,    // (p) or nullptr
                             index_t n, index_t m, index_t p, bool accumulate);

// dx = scale · (ℓ·σ(x) − pos_weight·t) = scale · ((1 − t)·σ(x) − pos_weight·t·σ(−x)); scale =
// 1/(N·m) gives the gradient of the mean. The second form, with σ(x) and σ(−x) each from e^(−|x|),
// overflows for no x and does not cancel for hard targets (0 or 1), so even a saturated gradient
// (x = ±100) keeps its relative precision. dx may alias x or target.
void bce_with_logits_backward(float* dx,                // (count)
                              const float* x,           // (count)
                              const float* target,      // (count)
                              const float* pos_weight,  // (p) or nullptr
                              index_t count, index_t p, float scale);

// MSE: each element's loss is (x − t)². stats (2): [Σ loss / m, 0] (no accuracy for a regression;
// stats[1] is left unchanged when accumulating, set to 0 otherwise).
void mse_forward(float* stats,          // (2)
                 const float* x,        // (N,m)
                 const float* target,   // (N,m)
                 index_t n, index_t m, bool accumulate);

// dx = scale · 2·(x − t); scale = 1/(N·m) gives the gradient of the mean. dx may alias x or target.
void mse_backward(float* dx, const float* x, const float* target, index_t count, float scale);

// ---- Per-element terms, shared with cuda/pointwise_loss.cu --------------------------------------
// Both devices form each element's loss and gradient with these lines; only the order of the sums
// differs (fixed chunks here, a fixed tree there).

// Element i's BCE loss in double: (1 − t)·x + ℓ·softplus(−x), ℓ = 1 + (pos_weight[i % p] − 1)·t,
// softplus(−x) = log1p(e^(−|x|)) + max(−x, 0).
NAPINET_HOST_DEVICE double bce_with_logits_loss(float x, float t, const float* pos_weight,
                                                index_t p, index_t i) {
  const double xd = x, td = t;
  const double weight = pos_weight ? 1.0 + (static_cast<double>(pos_weight[i % p]) - 1.0) * td : 1.0;
  const double softplus_neg = log1p(exp(-fabs(xd))) + (xd < 0.0 ? -xd : 0.0);
  return (1.0 - td) * xd + weight * softplus_neg;
}

// 1 when the logit is on the target's side of 0.5 (x > 0 ⇔ t > 0.5), else 0.
NAPINET_HOST_DEVICE double bce_correct(float x, float t) {
  return ((x > 0.0f) == (t > 0.5f)) ? 1.0 : 0.0;
}

// dx = scale · ((1 − t)·σ(x) − w·t·σ(−x)), w = pos_weight[i % p] or 1, with σ(x) and σ(−x) each
// formed from e^(−|x|) (see bce_with_logits_backward).
NAPINET_HOST_DEVICE float bce_with_logits_grad(float x, float t, const float* pos_weight, index_t p,
                                               index_t i, float scale) {
  const float e = expf(-fabsf(x));
  const float inv = 1.0f / (1.0f + e);
  const float sig_pos = x >= 0.0f ? inv : e * inv;  // σ(x)
  const float sig_neg = x >= 0.0f ? e * inv : inv;  // σ(−x)
  const float w = pos_weight ? pos_weight[i % p] : 1.0f;
  return scale * ((1.0f - t) * sig_pos - w * t * sig_neg);
}

// (x − t)² in double.
NAPINET_HOST_DEVICE double squared_error(float x, float t) {
  const double d = static_cast<double>(x) - static_cast<double>(t);
  return d * d;
}

// dx = scale · 2·(x − t).
NAPINET_HOST_DEVICE float squared_error_grad(float x, float t, float scale) {
  return scale * (2.0f * (x - t));
}

}  // namespace napinet::kernels
