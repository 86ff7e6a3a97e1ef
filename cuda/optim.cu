// Parameter updates on the GPU, one tensor at a time: the CUDA side of native/kernels/optim.h
// (mirrors torch.optim.Adam / AdamW and torch.optim.SGD, single-tensor, foreach=False).
// Test: test/optim.test.ts (runs on 'cuda' with a GPU or the emulator build).
//
// Each element goes through the float32 operations of native/kernels/optim.h's adam_update and
// sgd_update, the same lines the CPU kernel runs: on the GPU each is one correctly rounded _rn
// intrinsic, so nvcc cannot contract a multiply and an add into an FMA and the result does not
// depend on the compiler's choices. The scalars are computed on the host in double (adam_scalars,
// sgd_scalars), as the CPU launcher does. One launch per 16 tensors (blockIdx.y picks the tensor: a
// model's whole Adam step is one or two launches), one thread per element, no host synchronisation.
//
// Bit for bit this equals the CPU kernel compiled without FMA contraction (its baseline x86-64
// clone, or any build with -ffp-contract=off). The CPU's AVX2/AVX-512 clones are compiled by GCC in
// gnu++17 mode, which contracts a·b + c into FMAs (e.g. g + wd·p, v + (1 − β2)·g·g), so on such CPUs
// the two devices can differ by an ulp per operation; both are within test/optim.test.ts's bounds.
#include <algorithm>

#include "common.cuh"
#include "../native/kernels/optim.h"

namespace napinet::cuda {
namespace {

// ---- kernels ---------------------------------------------------------------------------------

// Up to kListTensors tensors of one Adam step, passed by value (kernel parameters): the pointers
// are not seen by the emulator's pointer checks, which only look at top-level arguments.
constexpr int kListTensors = 16;
struct AdamList {
  float* param[kListTensors];
  const float* grad[kListTensors];
  float* exp_avg[kListTensors];
  float* exp_avg_sq[kListTensors];
  std::int64_t n[kListTensors];
};

// Tensor blockIdx.y of the list: param, exp_avg, exp_avg_sq (n) updated in place; grad (n) read
// only. Grid-stride over x; blocks beyond a small tensor's end do nothing.
__global__ void adam_step_kernel(AdamList list, kernels::AdamScalars s, bool decoupled,
                                 bool has_decay) {
  const int t = blockIdx.y;
  float* __restrict__ param = list.param[t];
  const float* __restrict__ grad = list.grad[t];
  float* __restrict__ exp_avg = list.exp_avg[t];
  float* __restrict__ exp_avg_sq = list.exp_avg_sq[t];
  const std::int64_t n = list.n[t];
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    kernels::adam_update(param, grad, exp_avg, exp_avg_sq, i, s, decoupled, has_decay);
  }
}

// param (n) updated in place; grad (n) read only; momentum_buf (n) read and written when
// has_momentum (may be null otherwise).
__global__ void sgd_step_kernel(float* __restrict__ param, const float* __restrict__ grad,
                                float* __restrict__ momentum_buf,
                                kernels::SgdScalars s, bool has_decay, bool has_momentum,
                                bool nesterov, bool first_step, std::int64_t n) {
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    kernels::sgd_update(param, grad, momentum_buf, i, s, has_decay, has_momentum, nesterov,
                        first_step);
  }
}

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

void adam_step_many(float* const* param, const float* const* grad, float* const* exp_avg,
                    float* const* exp_avg_sq, const std::int64_t* n, std::int64_t count, double lr,
                    double beta1, double beta2, double eps, double weight_decay, std::int64_t step,
                    bool decoupled) {  // param[t], grad[t], exp_avg[t], exp_avg_sq[t]: (n[t])
  const kernels::AdamScalars s = kernels::adam_scalars(lr, beta1, beta2, eps, weight_decay, step);
  for (std::int64_t t = 0; t < count;) {
    AdamList list{};
    int tensors = 0;
    std::int64_t longest = 0;
    for (; t < count && tensors < kListTensors; ++t) {
      if (n[t] == 0) continue;  // nothing to update (and no pointer to pass)
      list.param[tensors] = param[t];
      list.grad[tensors] = grad[t];
      list.exp_avg[tensors] = exp_avg[t];
      list.exp_avg_sq[tensors] = exp_avg_sq[t];
      list.n[tensors] = n[t];
      longest = std::max(longest, n[t]);
      ++tensors;
    }
    if (tensors == 0) continue;
    NAPINET_LAUNCH(adam_step_kernel, dim3(grid_for(longest), tensors), kBlockSize, 0, list, s,
                   decoupled, weight_decay != 0.0);
  }
}

void sgd_step(float* param, const float* grad, float* momentum_buf, std::int64_t n, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov,
              bool first_step) {  // all (n)
  if (n == 0) return;
  const kernels::SgdScalars s = kernels::sgd_scalars(lr, momentum, dampening, weight_decay);
  NAPINET_LAUNCH(sgd_step_kernel, grid_for(n), kBlockSize, 0, param, grad, momentum_buf, s,
                 weight_decay != 0.0, momentum != 0.0, nesterov, first_step, n);
}

}  // namespace napinet::cuda
