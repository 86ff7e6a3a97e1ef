// Softmax + cross-entropy with the fused gradient. Mirrors torch.nn.functional.cross_entropy
// (class-index targets, reduction 'mean', label_smoothing, no class weights).
// Test: test/loss.test.ts
//
// With ε = label_smoothing the target of sample i is t_c = (1 − ε)·[c = y_i] + ε / C, and its loss
// is −Σ_c t_c · log softmax(z_i)_c, as PyTorch computes it.
#pragma once

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

}  // namespace napinet::kernels
