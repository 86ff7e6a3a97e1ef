// Convolution → batch normalisation with the batch's statistics (training) → ReLU, optionally → a
// 2×2 max-pool with stride 2, fused: what Sequential runs in training on the CPU for Conv2d →
// BatchNorm2d → ReLU (→ MaxPool2d(2)) (lib/nn/fused.ts ConvBnReluStep). Mirrors, in turn,
// torch.nn.functional.conv2d, batch_norm (training=True), relu (and max_pool2d), and their autograd.
//
// Forward: the batch-norm statistics of each (sample, channel) plane of the convolution's output z
// are taken as the convolution writes it (a callback after each sample, while it is in cache), so
// z is never read back for them; one pass over z then normalises, rectifies (and pools) it. z is
// kept for the backward pass. Backward: one pass over dy, y and z sums the batch-norm gradient's
// per-channel terms; the convolution's backward pass then computes each sample's dz from dy, y and
// z as it needs it (no dz tensor), and from it dw (and db) and dx.
// Without z (z == nullptr; no pool, no convolution bias), for a convolution cheap enough to
// recompute (conv2d_batch_norm_relu_recomputes), nothing the size of z is stored or read back: the
// forward pass runs the convolution twice, sample by sample into a buffer that stays in cache,
// once for the statistics and once to normalise and rectify it into y; the backward pass
// recomputes each sample's z for the sums and again for dz, reading only dy, x and the statistics;
// every value and gradient is then the same as with z (the same kernel recomputes the same z).
// Without dx and padding it does better: dw, dweight and dbias from one read of dy and y (the
// ReLU's mask) plus the convolution's weight gradient of the masked dy and the taps' Gram matrix
// over x (conv2d_batchnorm.cpp one_pass_weight_grads), equal to the rest to rounding.
// Every value and gradient is bit-identical to running conv2d_forward, batch_norm_forward_train,
// relu_forward (with a pool: batch_norm_forward_train, max_pool2d_forward, relu_forward) and their
// backward kernels one after the other: the fused kernels call the same per-plane building blocks
// (batchnorm.h) and the convolution's own passes. Test: test/conv2d_batchnorm.test.ts
#pragma once

#include <cstdint>

#include "common.h"

namespace napinet::kernels {

// Whether the fused block had better recompute z than store it (z == nullptr below): no pool, no
// convolution bias, and a convolution conv2d_cheap_to_recompute (a first layer's, few input
// channels and taps). On the deep network's first block (1→32 3×3 on 28×28, batch 128, no dx;
// Xeon, AVX-512, one thread, CPU time inside the training step, bench/deep-step.mjs --profile):
// forward 3.7–4.0 → 2.9 ms, backward 4.5–4.6 → 3.6 ms. With dx (recomputed twice) the backward
// pass is slower than with z (4.5–4.9 → 5.6–6.3 ms): lib/nn/fused.ts keeps z where the last
// backward pass computed dx.
bool conv2d_batch_norm_relu_recomputes(index_t N, index_t C, index_t H, index_t W, index_t K,
                                       index_t kh, index_t kw, index_t stride_h, index_t stride_w,
                                       index_t pad_h, index_t pad_w, bool pooled,
                                       bool conv_bias);

// y = relu(batch_norm(conv2d(x, w) + conv_bias)), or its 2×2 max-pool (with `indices`, as
// max_pool2d_forward's) when indices is non-null. z (N,K,OH,OW) receives the convolution's output,
// or is nullptr: recomputed instead (then indices and conv_bias must be nullptr).
// save_mean, save_invstd, running statistics and num_batches_tracked as batch_norm_forward_train;
// save_affine the normalisation's coefficients (batchnorm.h, kBatchNormAffineFields·K floats),
// from which the backward pass recomputes the ReLU's mask.
void conv2d_batch_norm_relu_forward(float* y,               // (N,K,OH,OW) or (N,K,OH/2,OW/2)
                                    std::int32_t* indices,  // (N,K,OH/2,OW/2) or nullptr
                                    float* z,               // (N,K,OH,OW) or nullptr
                                    float* save_mean, float* save_invstd,  // (K)
                                    float* save_affine,                    // (4, K)
                                    float* running_mean, float* running_var,  // (K) or nullptr
                                    float* num_batches_tracked,               // (1) or nullptr
                                    const float* x,          // (N,C,H,W)
                                    const float* w,          // (K,C,kh,kw)
                                    const float* conv_bias,  // (K) or nullptr
                                    const float* weight, const float* bias,  // (K) or nullptr
                                    index_t N, index_t C, index_t H, index_t W, index_t K,
                                    index_t kh, index_t kw, index_t stride_h, index_t stride_w,
                                    index_t pad_h, index_t pad_w, double momentum,
                                    bool cumulative_average, double eps);

// Inference: y = relu(conv2d(x, w) + b), or relu(max_pool2d(conv2d(x, w) + b, 2)) when `pooled`,
// with the ReLU (and the pool, without argmax indices) applied to each sample's output while it is
// in cache. What ConvBnReluStep runs in eval mode, with the batch norm folded into w and b
// (lib/nn/fused.ts). Bit-identical to conv2d_forward, (max_pool2d_forward,) relu_forward in turn.
// z (N,K,OH,OW) receives the convolution's output when pooled (else nullptr: y is written in place).
void conv2d_relu_forward(float* y,        // (N,K,OH,OW) or (N,K,OH/2,OW/2)
                         float* z,        // (N,K,OH,OW) or nullptr
                         const float* x,  // (N,C,H,W)
                         const float* w,  // (K,C,kh,kw)
                         const float* b,  // (K) or nullptr
                         index_t N, index_t C, index_t H, index_t W, index_t K, index_t kh,
                         index_t kw, index_t stride_h, index_t stride_w, index_t pad_h,
                         index_t pad_w, bool pooled);

// Gradients of conv2d_batch_norm_relu_forward given dy (the gradient of y), its indices and y
// (pooled, or y when z is nullptr; otherwise both nullptr: the mask comes from z and save_affine), z (nullptr, as in
// the forward pass without z: recomputed from x and w, which must be unchanged), save_mean,
// save_invstd and save_affine. dx (nullptr: not computed) is overwritten; dw,
// conv_db, dweight, dbias (each may be nullptr but dw) are overwritten or, with `accumulate`, added
// into.
void conv2d_batch_norm_relu_backward(float* dx, float* dw, float* conv_db, float* dweight,
                                     float* dbias,
                                     const float* dy,               // as y
                                     const std::int32_t* indices,   // as indices, or nullptr
                                     const float* y,                // pooled y, or nullptr
                                     const float* z,
                                     const float* x, const float* w, const float* weight,
                                     const float* save_mean, const float* save_invstd,
                                     const float* save_affine,
                                     index_t N, index_t C, index_t H, index_t W, index_t K,
                                     index_t kh, index_t kw, index_t stride_h, index_t stride_w,
                                     index_t pad_h, index_t pad_w, bool accumulate);

}  // namespace napinet::kernels
