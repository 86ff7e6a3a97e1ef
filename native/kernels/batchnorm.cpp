#include "batchnorm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "parallel.h"

namespace napinet::kernels {
namespace {

// Channels per parallel chunk: about 32k values, at least one channel. Depends on the shape only.
index_t channel_grain(index_t n, index_t l) {
  return std::max<index_t>(1, (index_t{1} << 15) / std::max<index_t>(1, n * l));
}

constexpr int kLanes = 8;  // independent partial sums along a row (vectorised), added in lane order

// Σ_l a[l]·b[l] in double (b = nullptr: Σ_l a[l]), shifted: Σ_l (a[l] − shift)·b[l]. Fixed order.
inline double row_sum(const float* a, const float* b, double shift, index_t l) {
  double acc[kLanes] = {};
  index_t i = 0;
  for (; i + kLanes <= l; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      const double v = static_cast<double>(a[i + j]) - shift;
      acc[j] += b ? v * static_cast<double>(b[i + j]) : v;
    }
  }
  double sum = 0.0;
  for (int j = 0; j < kLanes; ++j) sum += acc[j];
  for (; i < l; ++i) {
    const double v = static_cast<double>(a[i]) - shift;
    sum += b ? v * static_cast<double>(b[i]) : v;
  }
  return sum;
}

// out[k] = Σ over (batch, position) of (a − shift[k])·b for channels k = c0 … c1−1, a and b
// (N,C,L), b = nullptr for 1, shift = nullptr for 0. Sums the batch in order.
NAPINET_VECTORIZED void channel_sums(double* out, const float* a, const float* b,
                                     const double* shift, index_t n, index_t c, index_t l,
                                     index_t c0, index_t c1) {
  const index_t width = c1 - c0;
  std::fill(out, out + width, 0.0);
  for (index_t ni = 0; ni < n; ++ni) {
    const index_t base = (ni * c + c0) * l;
    if (l == 1) {  // (N,C): consecutive channels are consecutive values
      for (index_t k = 0; k < width; ++k) {
        const double v = static_cast<double>(a[base + k]) - (shift ? shift[k] : 0.0);
        out[k] += b ? v * static_cast<double>(b[base + k]) : v;
      }
    } else {
      for (index_t k = 0; k < width; ++k) {
        out[k] += row_sum(a + base + k * l, b ? b + base + k * l : nullptr, shift ? shift[k] : 0.0, l);
      }
    }
  }
}

// out[k] = Σ (x − mean[k])² over (batch, position) for channels k = c0 … c1−1, in double.
NAPINET_VECTORIZED void channel_square_deviations(double* out, const float* x, const double* mean,
                                                  index_t n, index_t c, index_t l, index_t c0,
                                                  index_t c1) {
  const index_t width = c1 - c0;
  std::fill(out, out + width, 0.0);
  for (index_t ni = 0; ni < n; ++ni) {
    const index_t base = (ni * c + c0) * l;
    for (index_t k = 0; k < width; ++k) {
      const float* row = x + base + k * l;
      double acc[kLanes] = {};
      index_t i = 0;
      for (; i + kLanes <= l; i += kLanes) {
        for (int j = 0; j < kLanes; ++j) {
          const double d = static_cast<double>(row[i + j]) - mean[k];
          acc[j] += d * d;
        }
      }
      double sum = 0.0;
      for (int j = 0; j < kLanes; ++j) sum += acc[j];
      for (; i < l; ++i) {
        const double d = static_cast<double>(row[i]) - mean[k];
        sum += d * d;
      }
      out[k] += sum;
    }
  }
}

// out = ((in − center[k]) − residual[k])·scale[k] + shift[k] per channel k of [c0, c1), in float:
// center + residual is the mean to about 2⁻⁴⁸ of its size, and in − center is exact for values near
// the mean, so an input whose mean is large next to its spread keeps full precision. out may alias in.
NAPINET_VECTORIZED void affine_rows(float* out, const float* in, const float* center,
                                    const float* residual, const float* scale, const float* shift,
                                    index_t n, index_t c, index_t l, index_t c0, index_t c1) {
  const index_t width = c1 - c0;
  for (index_t ni = 0; ni < n; ++ni) {
    const index_t base = (ni * c + c0) * l;
    if (l == 1) {
      for (index_t k = 0; k < width; ++k) {
        out[base + k] = ((in[base + k] - center[k]) - residual[k]) * scale[k] + shift[k];
      }
    } else {
      for (index_t k = 0; k < width; ++k) {
        const float* src = in + base + k * l;
        float* dst = out + base + k * l;
        const float m = center[k], r = residual[k], s = scale[k], b = shift[k];
        for (index_t i = 0; i < l; ++i) dst[i] = ((src[i] - m) - r) * s + b;
      }
    }
  }
}

// dx = (dy − mean_dy[k] − ((x − center[k]) − residual[k])·slope[k])·gain[k]: the input gradient
// in training. dx may alias dy.
NAPINET_VECTORIZED void input_grad_rows(float* dx, const float* dy, const float* x,
                                        const float* center, const float* residual,
                                        const float* mean_dy, const float* slope, const float* gain,
                                        index_t n, index_t c, index_t l, index_t c0, index_t c1) {
  const index_t width = c1 - c0;
  for (index_t ni = 0; ni < n; ++ni) {
    const index_t base = (ni * c + c0) * l;
    for (index_t k = 0; k < width; ++k) {
      const float* g = dy + base + k * l;
      const float* v = x + base + k * l;
      float* out = dx + base + k * l;
      const float m = center[k], r = residual[k], md = mean_dy[k], s = slope[k], a = gain[k];
      for (index_t i = 0; i < l; ++i) out[i] = (g[i] - md - ((v[i] - m) - r) * s) * a;
    }
  }
}

// Channel-wise parallel loop: fn(c0, c1) over chunks of channels.
template <typename Fn>
void for_channels(index_t n, index_t c, index_t l, Fn&& fn) {
  parallel_for(c, channel_grain(n, l), [&](index_t c0, index_t c1) { fn(c0, c1); });
}

// Backward for both modes: the mean and invstd per channel are the saved batch statistics
// (training) or the running statistics (eval). In training the saved mean is a float32 rounding of
// the batch mean; the sums are taken around it and Σ(x − saved mean) recovers the difference
// (as the forward's residual), so an input whose mean is large next to its spread loses nothing.
void backward(float* dx, float* dweight, float* dbias, const float* dy, const float* x,
              const float* mean_in, const float* invstd_in, const float* running_var,
              const float* weight, index_t n, index_t c, index_t l, bool training, double eps,
              bool accumulate) {
  const index_t m = n * l;
  const bool need_sums = dweight || dbias || (training && dx);
  for_channels(n, c, l, [&](index_t c0, index_t c1) {
    const index_t width = c1 - c0;
    std::vector<double> mean(width), invstd(width), residual(width, 0.0), sum_dy(width, 0.0),
        sum_dy_xmu(width, 0.0);
    for (index_t k = 0; k < width; ++k) {
      mean[k] = mean_in[c0 + k];
      invstd[k] = training ? static_cast<double>(invstd_in[c0 + k])
                           : 1.0 / std::sqrt(static_cast<double>(running_var[c0 + k]) + eps);
    }
    if (need_sums && m > 0) {
      channel_sums(sum_dy.data(), dy, nullptr, nullptr, n, c, l, c0, c1);
      channel_sums(sum_dy_xmu.data(), x, dy, mean.data(), n, c, l, c0, c1);
      if (training) {
        channel_sums(residual.data(), x, nullptr, mean.data(), n, c, l, c0, c1);
        for (index_t k = 0; k < width; ++k) {
          residual[k] /= static_cast<double>(m);  // true mean − saved mean
          sum_dy_xmu[k] -= residual[k] * sum_dy[k];
        }
      }
    }
    for (index_t k = 0; k < width; ++k) {
      const double dw = sum_dy_xmu[k] * invstd[k];
      if (dweight) dweight[c0 + k] = static_cast<float>(accumulate ? dweight[c0 + k] + dw : dw);
      if (dbias) dbias[c0 + k] = static_cast<float>(accumulate ? dbias[c0 + k] + sum_dy[k] : sum_dy[k]);
    }
    if (!dx || m == 0) return;
    std::vector<float> center(width), shift(width), mean_dy(width), slope(width), gain(width);
    for (index_t k = 0; k < width; ++k) {
      const double w = weight ? static_cast<double>(weight[c0 + k]) : 1.0;
      center[k] = static_cast<float>(mean[k]);
      shift[k] = static_cast<float>(residual[k]);
      gain[k] = static_cast<float>(w * invstd[k]);
      mean_dy[k] = training ? static_cast<float>(sum_dy[k] / static_cast<double>(m)) : 0.0f;
      slope[k] = training ? static_cast<float>(invstd[k] * invstd[k] * sum_dy_xmu[k] / static_cast<double>(m))
                          : 0.0f;
    }
    if (training) {
      input_grad_rows(dx, dy, x, center.data(), shift.data(), mean_dy.data(), slope.data(),
                      gain.data(), n, c, l, c0, c1);
    } else {
      // dx = dy·gain: x takes no part (a NaN in x must not reach dx, as in PyTorch).
      const std::vector<float> zeros(width, 0.0f);
      affine_rows(dx, dy, zeros.data(), zeros.data(), gain.data(), zeros.data(), n, c, l, c0, c1);
    }
  });
}

}  // namespace

void batch_norm_forward_train(float* y, float* save_mean, float* save_invstd, float* running_mean,
                              float* running_var, float* num_batches_tracked, const float* x,
                              const float* weight, const float* bias, index_t n, index_t c,
                              index_t l, double momentum, bool cumulative_average, double eps) {
  const index_t m = n * l;
  double factor = momentum;
  if (num_batches_tracked) {
    num_batches_tracked[0] += 1.0f;
    if (cumulative_average) factor = 1.0 / static_cast<double>(num_batches_tracked[0]);
  }
  for_channels(n, c, l, [&](index_t c0, index_t c1) {
    const index_t width = c1 - c0;
    std::vector<double> mean(width), sq(width);
    channel_sums(mean.data(), x, nullptr, nullptr, n, c, l, c0, c1);
    for (index_t k = 0; k < width; ++k) mean[k] /= static_cast<double>(m);
    channel_square_deviations(sq.data(), x, mean.data(), n, c, l, c0, c1);
    std::vector<float> center(width), residual(width), scale(width), shift(width);
    for (index_t k = 0; k < width; ++k) {
      const index_t ch = c0 + k;
      const double var = sq[k] / static_cast<double>(m);
      const double invstd = 1.0 / std::sqrt(var + eps);
      save_mean[ch] = static_cast<float>(mean[k]);
      save_invstd[ch] = static_cast<float>(invstd);
      if (running_mean) {
        const double unbiased = sq[k] / static_cast<double>(m - 1);
        running_mean[ch] = static_cast<float>((1.0 - factor) * running_mean[ch] + factor * mean[k]);
        running_var[ch] = static_cast<float>((1.0 - factor) * running_var[ch] + factor * unbiased);
      }
      center[k] = static_cast<float>(mean[k]);
      residual[k] = static_cast<float>(mean[k] - static_cast<double>(center[k]));
      scale[k] = static_cast<float>(invstd * (weight ? static_cast<double>(weight[ch]) : 1.0));
      shift[k] = bias ? bias[ch] : 0.0f;
    }
    affine_rows(y, x, center.data(), residual.data(), scale.data(), shift.data(), n, c, l, c0, c1);
  });
}

void batch_norm_forward_eval(float* y, const float* x, const float* running_mean,
                             const float* running_var, const float* weight, const float* bias,
                             index_t n, index_t c, index_t l, double eps) {
  for_channels(n, c, l, [&](index_t c0, index_t c1) {
    const index_t width = c1 - c0;
    std::vector<float> center(width), residual(width, 0.0f), scale(width), shift(width);
    for (index_t k = 0; k < width; ++k) {
      const index_t ch = c0 + k;
      const double invstd = 1.0 / std::sqrt(static_cast<double>(running_var[ch]) + eps);
      center[k] = running_mean[ch];
      scale[k] = static_cast<float>(invstd * (weight ? static_cast<double>(weight[ch]) : 1.0));
      shift[k] = bias ? bias[ch] : 0.0f;
    }
    affine_rows(y, x, center.data(), residual.data(), scale.data(), shift.data(), n, c, l, c0, c1);
  });
}

void batch_norm_backward_train(float* dx, float* dweight, float* dbias, const float* dy,
                               const float* x, const float* save_mean, const float* save_invstd,
                               const float* weight, index_t n, index_t c, index_t l,
                               bool accumulate) {
  backward(dx, dweight, dbias, dy, x, save_mean, save_invstd, nullptr, weight, n, c, l, true, 0.0,
           accumulate);
}

void batch_norm_backward_eval(float* dx, float* dweight, float* dbias, const float* dy,
                              const float* x, const float* running_mean, const float* running_var,
                              const float* weight, index_t n, index_t c, index_t l, double eps,
                              bool accumulate) {
  backward(dx, dweight, dbias, dy, x, running_mean, nullptr, running_var, weight, n, c, l, false,
           eps, accumulate);
}

}  // namespace napinet::kernels
