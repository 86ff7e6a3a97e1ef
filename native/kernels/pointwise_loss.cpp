#include "pointwise_loss.h"

#include <vector>

#include "parallel.h"

namespace napinet::kernels {
namespace {

// Elements per parallel chunk (fixed: the chunks, and so the sums, do not depend on the threads).
constexpr index_t kGrain = 1 << 14;

struct Partial {
  double loss = 0.0;
  double correct = 0.0;
};

Partial bce_range(const float* x, const float* target, const float* pos_weight, index_t p,
                  index_t begin, index_t end) {
  Partial partial;
  for (index_t i = begin; i < end; ++i) {
    partial.loss += bce_with_logits_loss(x[i], target[i], pos_weight, p, i);
    partial.correct += bce_correct(x[i], target[i]);
  }
  return partial;
}

Partial mse_range(const float* x, const float* target, index_t begin, index_t end) {
  Partial partial;
  for (index_t i = begin; i < end; ++i) partial.loss += squared_error(x[i], target[i]);
  return partial;
}

// dL/dx = ℓ·σ(x) − pos_weight·t, written as (1 − t)·σ(x) − pos_weight·t·σ(−x) (ℓ = (1 − t) +
// pos_weight·t), with σ(x) and σ(−x) each formed from e^(−|x|): no overflow, and for hard targets
// no cancellation, so tiny gradients (x = −20, t = 0: σ(−20) ≈ 2e-9) keep their relative precision.
NAPINET_VECTORIZED void bce_backward_range(float* dx, const float* x, const float* target,
                                           const float* pos_weight, index_t p, float scale,
                                           index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) {
    dx[i] = bce_with_logits_grad(x[i], target[i], pos_weight, p, i, scale);
  }
}

NAPINET_VECTORIZED void mse_backward_range(float* dx, const float* x, const float* target,
                                           float scale, index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) dx[i] = squared_error_grad(x[i], target[i], scale);
}

// Sums range(begin, end) over fixed chunks of [0, count), in chunk order.
template <typename Range>
Partial reduce(index_t count, const Range& range) {
  std::vector<Partial> partials(static_cast<std::size_t>(chunk_count(count, kGrain)));
  parallel_for(count, kGrain, [&](index_t begin, index_t end) {
    partials[static_cast<std::size_t>(begin / kGrain)] = range(begin, end);
  });
  Partial total;
  for (const Partial& part : partials) {
    total.loss += part.loss;
    total.correct += part.correct;
  }
  return total;
}

void write_stats(float* stats, const Partial& total, index_t m, bool accumulate, bool has_correct) {
  const double per_sample = m > 0 ? 1.0 / static_cast<double>(m) : 0.0;
  double loss = total.loss * per_sample;
  double correct = has_correct ? total.correct * per_sample : 0.0;
  if (accumulate) {
    loss += stats[0];
    correct += stats[1];
  }
  stats[0] = static_cast<float>(loss);
  stats[1] = static_cast<float>(correct);
}

}  // namespace

void bce_with_logits_forward(float* stats, const float* x, const float* target,
                             const float* pos_weight, index_t n, index_t m, index_t p,
                             bool accumulate) {
  const Partial total = reduce(n * m, [&](index_t begin, index_t end) {
    return bce_range(x, target, pos_weight, p, begin, end);
  });
  write_stats(stats, total, m, accumulate, true);
}

void bce_with_logits_backward(float* dx, const float* x, const float* target,
                              const float* pos_weight, index_t count, index_t p, float scale) {
  parallel_for(count, kGrain, [&](index_t begin, index_t end) {
    bce_backward_range(dx, x, target, pos_weight, p, scale, begin, end);
  });
}

void mse_forward(float* stats, const float* x, const float* target, index_t n, index_t m,
                 bool accumulate) {
  const Partial total = reduce(n * m, [&](index_t begin, index_t end) { return mse_range(x, target, begin, end); });
  write_stats(stats, total, m, accumulate, false);
}

void mse_backward(float* dx, const float* x, const float* target, index_t count, float scale) {
  parallel_for(count, kGrain, [&](index_t begin, index_t end) {
    mse_backward_range(dx, x, target, scale, begin, end);
  });
}

}  // namespace napinet::kernels
