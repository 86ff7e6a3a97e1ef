// Element-wise losses on the GPU (BCE with logits, MSE), forward and backward: the CUDA side of
// native/kernels/pointwise_loss.h (mirrors torch.nn.functional.binary_cross_entropy_with_logits and
// mse_loss, reduction 'mean'). Test: test/pointwise_loss.test.ts (runs on 'cuda' with a GPU or the
// emulator build).
//
// The forward reduction runs in one block: each thread sums a fixed, strided set of elements in
// double, then a tree in shared memory adds the threads' sums. A loss covers N×m values (a batch of
// logits or outputs), small next to the network; one block keeps the order fixed, so the result is
// the same on every run, with no scratch memory and no atomics.
#include "common.cuh"
#include "../native/kernels/pointwise_loss.h"

namespace napinet::cuda {
namespace {

constexpr int kReduceThreads = 256;

// ---- kernels ---------------------------------------------------------------------------------

// Adds the block's per-thread (loss, correct) sums in a fixed tree and writes the statistics
// (divided by m, as the CPU kernel): thread 0 overwrites stats or adds into it.
__device__ void finish_stats(float* stats, double loss, double correct, double per_sample,
                             bool accumulate, double* loss_part, double* correct_part) {
  const int t = threadIdx.x;
  loss_part[t] = loss;
  correct_part[t] = correct;
  __syncthreads();
  for (int half = kReduceThreads / 2; half > 0; half /= 2) {
    if (t < half) {
      loss_part[t] += loss_part[t + half];
      correct_part[t] += correct_part[t + half];
    }
    __syncthreads();
  }
  if (t == 0) {
    double total_loss = loss_part[0] * per_sample, total_correct = correct_part[0] * per_sample;
    if (accumulate) {
      total_loss += stats[0];
      total_correct += stats[1];
    }
    stats[0] = static_cast<float>(total_loss);
    stats[1] = static_cast<float>(total_correct);
  }
}

// One block of kReduceThreads threads over the count = N·m elements.
__global__ void bce_with_logits_forward_kernel(float* stats, const float* x, const float* target,
                                               const float* pos_weight, std::int64_t p,
                                               std::int64_t count, double per_sample,
                                               bool accumulate) {
  __shared__ double loss_part[kReduceThreads];
  __shared__ double correct_part[kReduceThreads];
  double loss = 0.0, correct = 0.0;
  for (std::int64_t i = threadIdx.x; i < count; i += kReduceThreads) {
    loss += kernels::bce_with_logits_loss(x[i], target[i], pos_weight, p, i);
    correct += kernels::bce_correct(x[i], target[i]);
  }
  finish_stats(stats, loss, correct, per_sample, accumulate, loss_part, correct_part);
}

__global__ void mse_forward_kernel(float* stats, const float* x, const float* target,
                                   std::int64_t count, double per_sample, bool accumulate) {
  __shared__ double loss_part[kReduceThreads];
  __shared__ double correct_part[kReduceThreads];
  double loss = 0.0;
  for (std::int64_t i = threadIdx.x; i < count; i += kReduceThreads) {
    loss += kernels::squared_error(x[i], target[i]);
  }
  finish_stats(stats, loss, 0.0, per_sample, accumulate, loss_part, correct_part);
}

// dx = scale · ((1 − t)·σ(x) − pos_weight·t·σ(−x)) (kernels::bce_with_logits_grad), grid-stride.
__global__ void bce_with_logits_backward_kernel(float* dx, const float* x, const float* target,
                                                const float* pos_weight, std::int64_t p,
                                                std::int64_t count, float scale) {
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count; i += stride) {
    dx[i] = kernels::bce_with_logits_grad(x[i], target[i], pos_weight, p, i, scale);
  }
}

// dx = scale · 2·(x − t), grid-stride over count elements.
__global__ void mse_backward_kernel(float* dx, const float* x, const float* target,
                                    std::int64_t count, float scale) {
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < count; i += stride) {
    dx[i] = kernels::squared_error_grad(x[i], target[i], scale);
  }
}

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

void bce_with_logits_forward(float* stats, const float* x, const float* target,
                             const float* pos_weight, std::int64_t n, std::int64_t m,
                             std::int64_t p, bool accumulate) {
  // Always one launch, even for an empty batch: stats must still be written (0, or unchanged).
  const double per_sample = m > 0 ? 1.0 / static_cast<double>(m) : 0.0;
  NAPINET_LAUNCH(bce_with_logits_forward_kernel, 1, kReduceThreads, 0, stats, x, target,
                 pos_weight, p, n * m, per_sample, accumulate);
}

void bce_with_logits_backward(float* dx, const float* x, const float* target,
                              const float* pos_weight, std::int64_t count, std::int64_t p,
                              float scale) {
  if (count == 0) return;
  NAPINET_LAUNCH(bce_with_logits_backward_kernel, grid_for(count), kBlockSize, 0, dx, x, target,
                 pos_weight, p, count, scale);
}

void mse_forward(float* stats, const float* x, const float* target, std::int64_t n,
                 std::int64_t m, bool accumulate) {
  const double per_sample = m > 0 ? 1.0 / static_cast<double>(m) : 0.0;
  NAPINET_LAUNCH(mse_forward_kernel, 1, kReduceThreads, 0, stats, x, target, n * m, per_sample,
                 accumulate);
}

void mse_backward(float* dx, const float* x, const float* target, std::int64_t count,
                  float scale) {
  if (count == 0) return;
  NAPINET_LAUNCH(mse_backward_kernel, grid_for(count), kBlockSize, 0, dx, x, target, count, scale);
}

}  // namespace napinet::cuda
