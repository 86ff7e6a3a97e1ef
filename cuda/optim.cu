// Parameter updates on the GPU, one tensor at a time: the CUDA side of native/kernels/optim.h
// (mirrors torch.optim.Adam / AdamW and torch.optim.SGD, single-tensor, foreach=False).
// Test: test/optim.test.ts (runs on 'cuda' with a GPU or the emulator build).
//
// Each element goes through exactly the float32 operations of the CPU kernel (native/kernels/
// optim.cpp, which follows PyTorch's lerp / addcmul / sqrt / div / add sequence), in the same order,
// each rounded to float32: written with the _rn intrinsics, so nvcc cannot contract a multiply and
// an add into an FMA and the result does not depend on the compiler's choices. The scalars are
// computed on the host in double, bias corrections included, and rounded to float once, as the CPU
// launcher does. One launch per 16 tensors (blockIdx.y picks the tensor: a model's whole Adam step
// is one or two launches), one thread per element, no host synchronisation.
//
// Bit for bit this equals the CPU kernel compiled without FMA contraction (its baseline x86-64
// clone, or any build with -ffp-contract=off). The CPU's AVX2/AVX-512 clones are compiled by GCC in
// gnu++17 mode, which contracts a·b + c into FMAs (e.g. g + wd·p, v + (1 − β2)·g·g), so on such CPUs
// the two devices can differ by an ulp per operation; both are within test/optim.test.ts's bounds.
#include <algorithm>
#include <cmath>

#include "common.cuh"

namespace napinet::cuda {
namespace {

// Scalars as PyTorch hands them to float32 tensor ops: computed in double, rounded to float.
struct AdamScalars {
  float decay_factor;  // 1 − lr·wd (AdamW)
  float weight_decay;  // wd (Adam's L2 term)
  float lerp_weight;   // 1 − beta1
  float beta2;
  float one_minus_beta2;
  float bias_correction2_sqrt;
  float eps;
  float neg_step_size;  // −lr / (1 − beta1^step)
};

struct SgdScalars {
  float weight_decay;
  float momentum;
  float one_minus_dampening;
  float neg_lr;
};

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
__global__ void adam_step_kernel(AdamList list, AdamScalars s, bool decoupled, bool has_decay) {
  const int t = blockIdx.y;
  float* param = list.param[t];
  const float* grad = list.grad[t];
  float* exp_avg = list.exp_avg[t];
  float* exp_avg_sq = list.exp_avg_sq[t];
  const std::int64_t n = list.n[t];
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    float p = param[i];
    float g = grad[i];
    if (has_decay) {
      if (decoupled) {
        p = __fmul_rn(p, s.decay_factor);
      } else {
        g = __fadd_rn(g, __fmul_rn(s.weight_decay, p));
      }
    }
    // torch.lerp: self + w·(end − self) when w < 0.5, otherwise end − (end − self)·(1 − w).
    float m = exp_avg[i];
    m = s.lerp_weight < 0.5f
            ? __fadd_rn(m, __fmul_rn(s.lerp_weight, __fsub_rn(g, m)))
            : __fsub_rn(g, __fmul_rn(__fsub_rn(g, m), __fsub_rn(1.0f, s.lerp_weight)));
    float v = __fmul_rn(exp_avg_sq[i], s.beta2);
    v = __fadd_rn(v, __fmul_rn(__fmul_rn(s.one_minus_beta2, g), g));
    const float denom = __fadd_rn(__fdiv_rn(__fsqrt_rn(v), s.bias_correction2_sqrt), s.eps);
    p = __fadd_rn(p, __fdiv_rn(__fmul_rn(s.neg_step_size, m), denom));
    exp_avg[i] = m;
    exp_avg_sq[i] = v;
    param[i] = p;
  }
}

// param (n) updated in place; grad (n) read only; momentum_buf (n) read and written when
// has_momentum (may be null otherwise).
__global__ void sgd_step_kernel(float* param, const float* grad, float* momentum_buf, SgdScalars s,
                                bool has_decay, bool has_momentum, bool nesterov, bool first_step,
                                std::int64_t n) {
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float p = param[i];
    float g = grad[i];
    if (has_decay) g = __fadd_rn(g, __fmul_rn(s.weight_decay, p));
    if (has_momentum) {
      float buf;
      if (first_step) {
        buf = g;
      } else {
        buf = __fmul_rn(momentum_buf[i], s.momentum);
        buf = __fadd_rn(buf, __fmul_rn(s.one_minus_dampening, g));
      }
      momentum_buf[i] = buf;
      g = nesterov ? __fadd_rn(g, __fmul_rn(s.momentum, buf)) : buf;
    }
    param[i] = __fadd_rn(p, __fmul_rn(s.neg_lr, g));
  }
}

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

void adam_step_many(float* const* param, const float* const* grad, float* const* exp_avg,
                    float* const* exp_avg_sq, const std::int64_t* n, std::int64_t count, double lr,
                    double beta1, double beta2, double eps, double weight_decay, std::int64_t step,
                    bool decoupled) {  // param[t], grad[t], exp_avg[t], exp_avg_sq[t]: (n[t])
  const double bias_correction1 = 1.0 - std::pow(beta1, static_cast<double>(step));
  const double bias_correction2 = 1.0 - std::pow(beta2, static_cast<double>(step));
  AdamScalars s;
  s.decay_factor = static_cast<float>(1.0 - lr * weight_decay);
  s.weight_decay = static_cast<float>(weight_decay);
  s.lerp_weight = static_cast<float>(1.0 - beta1);
  s.beta2 = static_cast<float>(beta2);
  s.one_minus_beta2 = static_cast<float>(1.0 - beta2);
  s.bias_correction2_sqrt = static_cast<float>(std::sqrt(bias_correction2));
  s.eps = static_cast<float>(eps);
  s.neg_step_size = static_cast<float>(-(lr / bias_correction1));
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
  SgdScalars s;
  s.weight_decay = static_cast<float>(weight_decay);
  s.momentum = static_cast<float>(momentum);
  s.one_minus_dampening = static_cast<float>(1.0 - dampening);
  s.neg_lr = static_cast<float>(-lr);
  NAPINET_LAUNCH(sgd_step_kernel, grid_for(n), kBlockSize, 0, param, grad, momentum_buf, s,
                 weight_decay != 0.0, momentum != 0.0, nesterov, first_step, n);
}

}  // namespace napinet::cuda
