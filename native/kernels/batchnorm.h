// Batch normalisation over the channels of (N, C, L) tensors, forward and backward. Mirrors
// torch.nn.BatchNorm1d ((N, C) is L = 1, (N, C, L)) and BatchNorm2d ((N, C, H, W) is L = H·W), i.e.
// torch.nn.functional.batch_norm and its autograd:
//   training: y = (x − mean)/√(var + eps)·weight + bias with the batch's mean and biased variance
//     over N·L values per channel; running_mean ← (1 − f)·running_mean + f·mean and running_var
//     ← (1 − f)·running_var + f·var·M/(M − 1) (unbiased, M = N·L), f = momentum, or
//     1/num_batches_tracked for the cumulative average (torch's momentum=None);
//   eval: the same with running_mean and running_var in place of the batch's statistics.
// weight and bias may be nullptr (affine=False: 1 and 0). Each channel's sums run in double, in a
// fixed order (batch, then position), over channels split into chunks: results do not depend on
// the thread count. Test: test/batchnorm.test.ts
#pragma once

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

}  // namespace napinet::kernels
