// Batch normalisation over the channels of (N, C, L) tensors, forward and backward. Mirrors
// torch.nn.BatchNorm1d ((N, C) is L = 1, (N, C, L)) and BatchNorm2d ((N, C, H, W) is L = H·W), i.e.
// torch.nn.functional.batch_norm and its autograd:
//   training: y = (x − mean)/√(var + eps)·weight + bias with the batch's mean and biased variance
//     over N·L values per channel; running_mean ← (1 − f)·running_mean + f·mean and running_var
//     ← (1 − f)·running_var + f·var·M/(M − 1) (unbiased, M = N·L), f = momentum, or
//     1/num_batches_tracked for the cumulative average (torch's momentum=None);
//   eval: the same with running_mean and running_var in place of the batch's statistics.
// weight and bias may be nullptr (affine=False: 1 and 0).
//
// How: the work is split into (n, c) planes of L values, numbered p = n·C + c. Each plane's
// statistics — its mean and Σ(x − mean)², or in backward Σdy, Σdy·(x − mean), Σ(x − mean) — are
// summed in one pass over it (sometimes two for the variance, while the plane is in cache) — in
// float vector lanes of at most 16 values each, around a pivot or the mean so that the terms are
// the size of the spread, then into double every 1024 values — and
// the planes' figures are then combined channel by channel in sample order. So a pass reads each
// tensor once, every result is independent of the thread count (the planes are fixed by the
// shape), and the building blocks below are what the fused convolution + batch norm
// (conv2d_batchnorm.h) calls on its own planes, so that it gives the same bits as these kernels.
// Test: test/batchnorm.test.ts
#pragma once

#include <cstdint>

#include "common.h"

namespace napinet::kernels {

// y (N,C,L) from x (N,C,L) with the batch statistics. save_mean (C) and save_invstd (C) =
// 1/√(var + eps) are written for the backward pass. running_mean and running_var (C) are updated
// when given (both or neither); num_batches_tracked (1) is incremented when given and must be given
// for cumulative_average. N·L must be at least 2. y may alias x.
void batch_norm_forward_train(float* y, float* save_mean, float* save_invstd, float* running_mean,
                              float* running_var, float* num_batches_tracked, const float* x,
                              const float* weight, const float* bias, index_t n, index_t c,
                              index_t l, double momentum, bool cumulative_average, double eps);

// y (N,C,L) = (x − running_mean)/√(running_var + eps)·weight + bias. y may alias x.
void batch_norm_forward_eval(float* y, const float* x, const float* running_mean,
                             const float* running_var, const float* weight, const float* bias,
                             index_t n, index_t c, index_t l, double eps);

// Gradients of the training forward, with x̂ = (x − mean)·invstd and sums over N·L per channel:
//   dbias = Σ dy,  dweight = Σ dy·x̂,  dx = weight·invstd·(dy − Σ dy/M − x̂·Σ dy·x̂/M).
// dx, dweight and dbias may each be nullptr (not computed); accumulate adds into dweight and dbias.
void batch_norm_backward_train(float* dx, float* dweight, float* dbias, const float* dy,
                               const float* x, const float* save_mean, const float* save_invstd,
                               const float* weight, index_t n, index_t c, index_t l,
                               bool accumulate);

// Gradients of the eval forward (the statistics are constants): dx = dy·weight·invstd,
// dweight = Σ dy·x̂, dbias = Σ dy, with invstd = 1/√(running_var + eps).
void batch_norm_backward_eval(float* dx, float* dweight, float* dbias, const float* dy,
                              const float* x, const float* running_mean, const float* running_var,
                              const float* weight, index_t n, index_t c, index_t l, double eps,
                              bool accumulate);

// ---- Building blocks over runs of consecutive planes (plane i of a run has channel
// (c_first + i) mod C) ----

// plane_stats[2i], plane_stats[2i + 1] = the mean of plane i and Σ(x − that mean)² over it, as
// doubles (blocks of 4096 values, combined in order; within a block one pass that sums x − p and
// (x − p)² in float lanes around a pivot p near the mean, into double every 1024 values, and a
// second around the mean where p turns out over a standard deviation away).
void batch_norm_plane_stats(double* plane_stats, const float* x, index_t planes, index_t l);

// Affine coefficients per channel, C floats each, in this order: y = ((x − center) − residual) ·
// scale + shift (center + residual is the mean to about 2⁻⁴⁸ of its size, so an input whose mean is
// large next to its spread keeps full precision).
constexpr int kBatchNormAffineFields = 4;

// The training forward's statistics step, from the (N·C) planes' statistics of x: save_mean,
// save_invstd, the running statistics' update (as batch_norm_forward_train) and the affine
// coefficients (kBatchNormAffineFields·C floats).
void batch_norm_train_coefficients(float* coefficients, float* save_mean, float* save_invstd,
                                   float* running_mean, float* running_var,
                                   float* num_batches_tracked, const double* plane_stats,
                                   const float* weight, const float* bias, index_t n, index_t c,
                                   index_t l, double momentum, bool cumulative_average,
                                   double eps);

// y = the affine map of x (then a ReLU, relu_forward's, when `relu`) for a run of planes. y may
// alias x.
void batch_norm_apply_planes(float* y, const float* x, const float* coefficients, index_t c_first,
                             index_t c, index_t planes, index_t l, bool relu);

// The affine map of each h×w plane, 2×2 max-pooled with stride 2 (max_pool2d_forward's argmax
// rule and indices), then a ReLU: y, indices (planes, h/2, w/2). Bit-identical to
// batch_norm_apply_planes, max_pool2d_forward and relu_forward in turn.
void batch_norm_relu_max_pool_planes(float* y, std::int32_t* indices, const float* x,
                                     const float* coefficients, index_t c_first, index_t c,
                                     index_t planes, index_t h, index_t w);

// plane_sums[3i …] = Σ dy, Σ dy·(x − mean[ch]), Σ (x − mean[ch]) over plane i, as doubles
// (summed in float lanes, added into double every 1024 values).
void batch_norm_plane_grad_sums(double* plane_sums, const float* dy, const float* x,
                                const float* mean, index_t c_first, index_t c, index_t planes,
                                index_t l);

// The ReLU variants below take the gradient dy above a ReLU that follows the batch norm, and use
// g = relu_backward(dy, relu_forward(the affine map of x)) — the gradient reaching the norm's
// output, its mask recomputed bit for bit from the norm's input x and the forward's affine
// coefficients, so the ReLU's output need not be read — in the same pass, with the same bits as
// materialising g first.
// batch_norm_plane_grad_sums over g.
void batch_norm_relu_plane_grad_sums(double* plane_sums, const float* dy, const float* x,
                                     const float* affine, const float* mean, index_t c_first,
                                     index_t c, index_t planes, index_t l);

// Input-gradient coefficients per channel, C floats each: dx = (dy − mean_dy − ((x − center) −
// residual)·slope)·gain.
constexpr int kBatchNormGradFields = 5;

// The backward pass's channel step, from the planes' sums (nullptr: none were needed, i.e. no
// dweight, no dbias and no training dx): dweight, dbias (overwritten or added into) and the input
// gradient's coefficients (kBatchNormGradFields·C floats). mean and invstd are the saved batch
// statistics (training), or the running mean and 1/√(running_var + eps) (eval; then slope and
// mean_dy are 0).
void batch_norm_grad_coefficients(float* coefficients, float* dweight, float* dbias,
                                  const double* plane_sums, const float* mean,
                                  const double* invstd, const float* weight, index_t n, index_t c,
                                  index_t l, bool training, bool accumulate);

// dx for a run of planes from the coefficients. dx may alias dy.
void batch_norm_input_grad_planes(float* dx, const float* dy, const float* x,
                                  const float* coefficients, index_t c_first, index_t c,
                                  index_t planes, index_t l);

// batch_norm_input_grad_planes over g (above): dx from dy above the ReLU, x, the forward's
// affine coefficients and the backward's. dx may alias dy.
void batch_norm_relu_input_grad_planes(float* dx, const float* dy, const float* x,
                                       const float* affine, const float* coefficients,
                                       index_t c_first, index_t c, index_t planes, index_t l);

}  // namespace napinet::kernels
