#include "loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "parallel.h"

namespace napinet::kernels {
namespace {

// Rows per parallel chunk: about 8k logits, at least one row. Depends on C only.
index_t row_grain(index_t c) { return std::max<index_t>(1, (1 << 13) / std::max<index_t>(1, c)); }

struct Partial {
  double loss = 0.0;
  double correct = 0.0;
};

// Rows [begin, end): softmax into probs, and the sum of their losses and correct predictions.
NAPINET_VECTORIZED Partial softmax_ce_rows(float* probs, const float* logits,
                                           const std::int32_t* labels, index_t c,
                                           double smoothing, index_t begin, index_t end) {
  Partial partial;
  for (index_t i = begin; i < end; ++i) {
    const float* NAPINET_RESTRICT z = logits + i * c;  // (C)
    float* NAPINET_RESTRICT p = probs + i * c;         // (C)
    // The first maximum (torch.argmax); a NaN, if any, is the argmax and poisons the row.
    float max = z[0];
    index_t argmax = 0;
    for (index_t k = 1; k < c && !std::isnan(max); ++k) {
      if (z[k] > max || std::isnan(z[k])) {
        max = z[k];
        argmax = k;
      }
    }
    float sum = 0.0f;
    double shifted_sum = 0.0;  // Σ_k (max − z_k) ≥ 0, for the smoothing term
    for (index_t k = 0; k < c; ++k) {
      const float e = std::exp(z[k] - max);
      p[k] = e;
      sum += e;
      shifted_sum += static_cast<double>(max) - static_cast<double>(z[k]);
    }
    const float inv = 1.0f / sum;
    for (index_t k = 0; k < c; ++k) p[k] *= inv;
    const index_t y = labels[i];
    partial.loss += cross_entropy_row_loss(sum, z[y], max, shifted_sum, c, smoothing);
    partial.correct += argmax == y ? 1.0 : 0.0;
  }
  return partial;
}

NAPINET_VECTORIZED void softmax_ce_backward_rows(float* dlogits, const float* probs,
                                                 const std::int32_t* labels, index_t c,
                                                 float off_target, float on_target, float scale,
                                                 index_t begin, index_t end) {
  for (index_t i = begin; i < end; ++i) {
    const float* p = probs + i * c;  // (C), may alias d
    float* d = dlogits + i * c;      // (C)
    const index_t y = labels[i];
    const float p_label = p[y];  // read before d overwrites it
    for (index_t k = 0; k < c; ++k) d[k] = scale * (p[k] - off_target);
    d[y] = scale * (p_label - on_target);
  }
}

}  // namespace

void softmax_cross_entropy_forward(float* probs, float* stats, const float* logits,
                                   const std::int32_t* labels, index_t n, index_t c,
                                   double label_smoothing, bool accumulate) {
  const index_t grain = row_grain(c);
  std::vector<Partial> partials(static_cast<std::size_t>(chunk_count(n, grain)));
  parallel_for(n, grain, [&](index_t begin, index_t end) {
    partials[static_cast<std::size_t>(begin / grain)] =
        softmax_ce_rows(probs, logits, labels, c, label_smoothing, begin, end);
  });
  Partial total;
  for (const Partial& part : partials) {
    total.loss += part.loss;
    total.correct += part.correct;
  }
  if (accumulate) {
    total.loss += stats[0];
    total.correct += stats[1];
  }
  stats[0] = static_cast<float>(total.loss);
  stats[1] = static_cast<float>(total.correct);
}

void softmax_cross_entropy_backward(float* dlogits, const float* probs, const std::int32_t* labels,
                                    index_t n, index_t c, double label_smoothing, float scale) {
  const SmoothedTargets target = smoothed_targets(label_smoothing, c);
  parallel_for(n, row_grain(c), [&](index_t begin, index_t end) {
    softmax_ce_backward_rows(dlogits, probs, labels, c, target.off, target.on, scale, begin, end);
  });
}

}  // namespace napinet::kernels
