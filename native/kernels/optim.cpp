#include "optim.h"

#include <algorithm>
#include <vector>

#include "parallel.h"

namespace napinet::kernels {
namespace {

constexpr index_t kElementGrain = 1 << 16;

NAPINET_VECTORIZED void adam_range(float* param, const float* grad, float* exp_avg,
                                   float* exp_avg_sq, AdamScalars s, bool decoupled,
                                   bool has_decay, index_t begin, index_t end) {
  float* NAPINET_RESTRICT p = param;
  const float* NAPINET_RESTRICT g = grad;
  float* NAPINET_RESTRICT m = exp_avg;
  float* NAPINET_RESTRICT v = exp_avg_sq;
  for (index_t i = begin; i < end; ++i) adam_update(p, g, m, v, i, s, decoupled, has_decay);
}

NAPINET_VECTORIZED void sgd_range(float* param, const float* grad, float* momentum_buf,
                                  SgdScalars s, bool has_decay, bool has_momentum, bool nesterov,
                                  bool first_step, index_t begin, index_t end) {
  float* NAPINET_RESTRICT p = param;
  const float* NAPINET_RESTRICT g = grad;
  float* NAPINET_RESTRICT buf = momentum_buf;
  for (index_t i = begin; i < end; ++i) {
    sgd_update(p, g, buf, i, s, has_decay, has_momentum, nesterov, first_step);
  }
}

}  // namespace

void adam_step(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, index_t n,
               double lr, double beta1, double beta2, double eps, double weight_decay,
               std::int64_t step, bool decoupled) {
  const AdamScalars s = adam_scalars(lr, beta1, beta2, eps, weight_decay, step);
  const bool has_decay = weight_decay != 0.0;
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) {
    adam_range(param, grad, exp_avg, exp_avg_sq, s, decoupled, has_decay, b, e);
  });
}

void adam_step_many(float* const* param, const float* const* grad, float* const* exp_avg,
                    float* const* exp_avg_sq, const std::int64_t* n, std::int64_t count, double lr,
                    double beta1, double beta2, double eps, double weight_decay, std::int64_t step,
                    bool decoupled) {
  // The tensors laid end to end, split in chunks of that flat total: a network's parameters are
  // mostly small tensors (a step of the deep network: ~20 of them, 360k values, the largest 262k),
  // which one call per tensor would leave on one thread each. Each element's update reads only its
  // own values, so the chunking changes no result.
  const AdamScalars s = adam_scalars(lr, beta1, beta2, eps, weight_decay, step);
  const bool has_decay = weight_decay != 0.0;
  // starts[t]: tensor t's first flat index; starts[count]: the total. (The calling thread's
  // scratch, reached by the pool threads through this pointer.)
  thread_local std::vector<index_t> starts_buffer;
  starts_buffer.resize(static_cast<std::size_t>(count + 1));
  index_t* const starts = starts_buffer.data();
  starts[0] = 0;
  for (std::int64_t t = 0; t < count; ++t) starts[t + 1] = starts[t] + n[t];
  parallel_for(starts[count], kElementGrain, [&](index_t begin, index_t end) {
    // the last tensor starting at or before `begin` (empty ones before it share its start)
    auto t = static_cast<std::int64_t>(
        std::upper_bound(starts, starts + count, begin) - starts - 1);
    for (; t < count && starts[t] < end; ++t) {
      const index_t first = std::max(begin, starts[t]) - starts[t];
      const index_t last = std::min(end, starts[t + 1]) - starts[t];
      adam_range(param[t], grad[t], exp_avg[t], exp_avg_sq[t], s, decoupled, has_decay, first, last);
    }
  });
}

void sgd_step(float* param, const float* grad, float* momentum_buf, index_t n, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov,
              bool first_step) {
  const SgdScalars s = sgd_scalars(lr, momentum, dampening, weight_decay);
  parallel_for(n, kElementGrain, [&](index_t b, index_t e) {
    sgd_range(param, grad, momentum_buf, s, weight_decay != 0.0, momentum != 0.0, nesterov,
              first_step, b, e);
  });
}

}  // namespace napinet::kernels
