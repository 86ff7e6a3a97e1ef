// Batch normalisation on the GPU, forward and backward: the CUDA side of native/kernels/batchnorm.h
// (mirrors torch.nn.BatchNorm1d/2d, torch.nn.functional.batch_norm and its autograd).
//
// One block per channel (a grid-stride loop over channels): the block sums its channel's N·L values
// (each thread a fixed strided subset, then a fixed tree in shared memory), so every sum has one
// order whatever the launch — no atomics — and then normalises (or differentiates) the same values.
// The training forward reads num_batches_tracked for the cumulative average and a second, one-thread
// kernel increments it afterwards (no block reads it while another writes it).
// Test: test/batchnorm.test.ts (runs on 'cuda' with a GPU or the emulator build).
#include <algorithm>

#include "common.cuh"

namespace napinet::cuda {
namespace {

// ---- kernels ---------------------------------------------------------------------------------

constexpr int kChannelThreads = 256;       // a power of two (the tree below halves it)
constexpr std::int64_t kMaxBlocks = 65535;  // channels beyond this loop within the blocks

// The values of channel ch that this thread visits, j = t, t + B, t + 2B, … < N·L, value j lying
// at ((j / L)·C + ch)·L + j % L; advanced without dividing.
class ChannelCursor {
 public:
  __device__ ChannelCursor(std::int64_t n, std::int64_t c, std::int64_t l, std::int64_t ch)
      : n_(n), c_(c), l_(l), ch_(ch) {
    if (l == 0) {
      ni_ = n;  // nothing to visit
      return;
    }
    const std::int64_t t = threadIdx.x, b = blockDim.x;
    ni_ = t / l;
    li_ = t % l;
    dn_ = b / l;
    dl_ = b % l;
  }
  __device__ bool valid() const { return ni_ < n_; }
  __device__ std::int64_t offset() const { return (ni_ * c_ + ch_) * l_ + li_; }
  __device__ void next() {
    li_ += dl_;
    ni_ += dn_;
    if (li_ >= l_) {
      li_ -= l_;
      ++ni_;
    }
  }

 private:
  std::int64_t n_, c_, l_, ch_;
  std::int64_t ni_ = 0, li_ = 0, dn_ = 0, dl_ = 0;
};

// Σ over the block of v (every thread gets the total), by a fixed tree. shared: kChannelThreads.
__device__ float block_sum(float v, float* shared) {
  const int t = static_cast<int>(threadIdx.x);
  shared[t] = v;
  __syncthreads();
  for (int s = kChannelThreads / 2; s > 0; s /= 2) {
    if (t < s) shared[t] += shared[t + s];
    __syncthreads();
  }
  const float total = shared[0];
  __syncthreads();  // shared may be reused right away
  return total;
}

// y (N,C,L): batch statistics per channel, normalise, and update the running statistics.
__global__ void __launch_bounds__(kChannelThreads)
    batch_norm_train_kernel(float* y, float* save_mean, float* save_invstd, float* running_mean,
                            float* running_var, const float* num_batches_tracked, const float* x,
                            const float* weight, const float* bias, std::int64_t n, std::int64_t c,
                            std::int64_t l, float momentum, bool cumulative_average, float eps) {
  __shared__ float partial[kChannelThreads];
  const float m = static_cast<float>(n * l);
  for (std::int64_t ch = blockIdx.x; ch < c; ch += gridDim.x) {
    // Sums of x − pivot, pivot = the channel's first value: the mean is pivot + shift with shift
    // accurate to float precision of the spread, not of the mean (x − pivot is exact for values
    // near each other), so an input with a large mean keeps full precision.
    const float pivot = x[ch * l];
    float sum = 0.0f;
    for (ChannelCursor it(n, c, l, ch); it.valid(); it.next()) sum += x[it.offset()] - pivot;
    const float shift_mean = block_sum(sum, partial) / m;
    float squares = 0.0f;
    for (ChannelCursor it(n, c, l, ch); it.valid(); it.next()) {
      const float d = (x[it.offset()] - pivot) - shift_mean;
      squares += d * d;
    }
    const float sq = block_sum(squares, partial);
    const float invstd = 1.0f / sqrtf(sq / m + eps);
    const float mean = pivot + shift_mean;
    if (threadIdx.x == 0) {
      save_mean[ch] = mean;
      save_invstd[ch] = invstd;
      if (running_mean != nullptr) {
        // num_batches_tracked is incremented by the next kernel: this batch is number value + 1.
        const float f = cumulative_average ? 1.0f / (num_batches_tracked[0] + 1.0f) : momentum;
        running_mean[ch] = (1.0f - f) * running_mean[ch] + f * mean;
        running_var[ch] = (1.0f - f) * running_var[ch] + f * (sq / (m - 1.0f));
      }
    }
    const float scale = invstd * (weight != nullptr ? weight[ch] : 1.0f);
    const float shift = bias != nullptr ? bias[ch] : 0.0f;
    for (ChannelCursor it(n, c, l, ch); it.valid(); it.next()) {
      const std::int64_t o = it.offset();
      y[o] = ((x[o] - pivot) - shift_mean) * scale + shift;
    }
  }
}

__global__ void increment_kernel(float* counter) { counter[0] += 1.0f; }

// y (N,C,L) with the running statistics: element-wise, grid-stride.
__global__ void batch_norm_eval_kernel(float* y, const float* x, const float* running_mean,
                                       const float* running_var, const float* weight,
                                       const float* bias, std::int64_t c, std::int64_t l,
                                       float eps, std::int64_t total) {
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < total; i += stride) {
    const std::int64_t ch = (i / l) % c;
    const float invstd = 1.0f / sqrtf(running_var[ch] + eps);
    const float scale = invstd * (weight != nullptr ? weight[ch] : 1.0f);
    y[i] = (x[i] - running_mean[ch]) * scale + (bias != nullptr ? bias[ch] : 0.0f);
  }
}

// Both backward passes: training (saved batch mean and invstd, full gradient through the
// statistics) or eval (running statistics, constants). dx, dweight, dbias may be nullptr. In
// training the sums are taken around the saved mean (a float32 rounding of the batch mean) and
// Σ(x − saved mean)/M recovers the difference, as on the CPU.
__global__ void __launch_bounds__(kChannelThreads)
    batch_norm_backward_kernel(float* dx, float* dweight, float* dbias, const float* dy,
                               const float* x, const float* mean_in, const float* invstd_in,
                               const float* running_var, const float* weight, std::int64_t n,
                               std::int64_t c, std::int64_t l, bool training, float eps,
                               bool accumulate) {
  __shared__ float partial[kChannelThreads];
  const float m = static_cast<float>(n * l);
  const bool need_sums = dweight != nullptr || dbias != nullptr || (training && dx != nullptr);
  for (std::int64_t ch = blockIdx.x; ch < c; ch += gridDim.x) {
    const float mean = mean_in[ch];
    const float invstd = training ? invstd_in[ch] : 1.0f / sqrtf(running_var[ch] + eps);
    float sum_dy = 0.0f, sum_dy_xc = 0.0f, sum_xc = 0.0f;
    if (need_sums) {
      for (ChannelCursor it(n, c, l, ch); it.valid(); it.next()) {
        const std::int64_t o = it.offset();
        const float xc = x[o] - mean;
        sum_dy += dy[o];
        sum_dy_xc += dy[o] * xc;
        sum_xc += xc;
      }
      sum_dy = block_sum(sum_dy, partial);
      sum_dy_xc = block_sum(sum_dy_xc, partial);
      sum_xc = training ? block_sum(sum_xc, partial) : 0.0f;
    }
    const float residual = m > 0.0f ? sum_xc / m : 0.0f;  // true mean − saved mean (training)
    const float sum_dy_xmu = sum_dy_xc - residual * sum_dy;
    if (threadIdx.x == 0) {
      const float dw = sum_dy_xmu * invstd;
      if (dweight != nullptr) dweight[ch] = accumulate ? dweight[ch] + dw : dw;
      if (dbias != nullptr) dbias[ch] = accumulate ? dbias[ch] + sum_dy : sum_dy;
    }
    if (dx != nullptr && m > 0.0f) {
      const float gain = invstd * (weight != nullptr ? weight[ch] : 1.0f);
      const float mean_dy = training ? sum_dy / m : 0.0f;
      const float slope = training ? invstd * invstd * sum_dy_xmu / m : 0.0f;
      for (ChannelCursor it(n, c, l, ch); it.valid(); it.next()) {
        const std::int64_t o = it.offset();
        // eval: dy·gain alone (x takes no part: a NaN in x must not reach dx, as in PyTorch)
        dx[o] = training ? (dy[o] - mean_dy - ((x[o] - mean) - residual) * slope) * gain : dy[o] * gain;
      }
    }
  }
}

unsigned channel_blocks(std::int64_t c) { return static_cast<unsigned>(std::min(c, kMaxBlocks)); }

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

// y, x (N,C,L); save_mean, save_invstd, running_mean, running_var, weight, bias (C);
// num_batches_tracked (1).
void batch_norm_forward_train(float* y, float* save_mean, float* save_invstd, float* running_mean,
                              float* running_var, float* num_batches_tracked, const float* x,
                              const float* weight, const float* bias, std::int64_t n,
                              std::int64_t c, std::int64_t l, double momentum,
                              bool cumulative_average, double eps) {
  // An empty batch has no statistics (and the kernel's pivot would be read past the end of x); the
  // binding refuses N·L < 2 before this, as PyTorch does.
  if (n * l == 0) throw Error("batch_norm_forward_train: an empty batch (N·L = 0) has no statistics", cudaErrorInvalidValue);
  if (c > 0) {
    NAPINET_LAUNCH(batch_norm_train_kernel, channel_blocks(c), kChannelThreads, 0, y, save_mean,
                   save_invstd, running_mean, running_var, num_batches_tracked, x, weight, bias, n,
                   c, l, static_cast<float>(momentum), cumulative_average, static_cast<float>(eps));
  }
  if (num_batches_tracked != nullptr) NAPINET_LAUNCH(increment_kernel, 1, 1, 0, num_batches_tracked);
}

void batch_norm_forward_eval(float* y, const float* x, const float* running_mean,
                             const float* running_var, const float* weight, const float* bias,
                             std::int64_t n, std::int64_t c, std::int64_t l, double eps) {
  const std::int64_t total = n * c * l;
  if (total == 0) return;
  NAPINET_LAUNCH(batch_norm_eval_kernel, grid_for(total), kBlockSize, 0, y, x, running_mean,
                 running_var, weight, bias, c, l, static_cast<float>(eps), total);
}

void batch_norm_backward_train(float* dx, float* dweight, float* dbias, const float* dy,
                               const float* x, const float* save_mean, const float* save_invstd,
                               const float* weight, std::int64_t n, std::int64_t c, std::int64_t l,
                               bool accumulate) {
  if (c == 0) return;
  NAPINET_LAUNCH(batch_norm_backward_kernel, channel_blocks(c), kChannelThreads, 0, dx, dweight,
                 dbias, dy, x, save_mean, save_invstd, nullptr, weight, n, c, l, true, 0.0f,
                 accumulate);
}

void batch_norm_backward_eval(float* dx, float* dweight, float* dbias, const float* dy,
                              const float* x, const float* running_mean, const float* running_var,
                              const float* weight, std::int64_t n, std::int64_t c, std::int64_t l,
                              double eps, bool accumulate) {
  if (c == 0) return;
  NAPINET_LAUNCH(batch_norm_backward_kernel, channel_blocks(c), kChannelThreads, 0, dx, dweight,
                 dbias, dy, x, running_mean, nullptr, running_var, weight, n, c, l, false,
                 static_cast<float>(eps), accumulate);
}

}  // namespace napinet::cuda
