// Bindings for native/kernels/conv2d_batchnorm (the fused convolution → batch norm (training) →
// ReLU (→ 2×2 max-pool)); sizes as the convolution's, then the batch norm's settings:
//   conv2dBatchNormReluForward(y, indicesOrNull, zOrNull, saveMean, saveInvstd, saveAffine,
//       runningMean, runningVar, numBatchesTracked, x, w, convBias, weight, bias, N, C, H, W, K,
//       kh, kw, sh, sw, ph, pw, pool, momentum, cumulativeAverage, eps)
//   conv2dBatchNormReluBackward(dxOrNull, dw, convDb, dweight, dbias, dy, indicesOrNull, yOrNull,
//       zOrNull, x, w, weight, saveMean, saveInvstd, saveAffine, N, C, H, W, K, kh, kw, sh, sw, ph,
//       pw, pool, accumulate)
//   conv2dBatchNormReluRecomputes(N, C, H, W, K, kh, kw, sh, sw, ph, pw, pool, convBias)
// z null (no pool, no convBias): the convolution's output recomputed, not stored
// (conv2d_batch_norm_relu_recomputes says where that pays).
//   conv2dReluForward(y, zOrNull, x, w, bOrNull, N, C, H, W, K, kh, kw, sh, sw, ph, pw, pooled)
//       (inference, with an eval-mode batch norm folded into w and b)
// saveAffine (4·K): the normalisation's coefficients; indices and y (the pooled output, for the
// ReLU's mask) only with pool; y (for the ReLU's mask) also with z null.
// runningMean/runningVar/numBatchesTracked, convBias, weight, bias and the gradients but dw may be
// null. CPU only for now: on CUDA tensors Sequential runs the layers one by one (lib/nn/fused.ts).
#include "../kernels/conv2d_batchnorm.h"

#include "../kernels/batchnorm.h"
#include <cmath>
#include <string>

#include "args.h"
#include "conv_args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

// Elements of y (and of indices when pooled): the convolution's output, or its 2×2 pooling,
// which needs a plane of at least 2×2 and int32 indices.
std::size_t output_size(Napi::Env env, const ConvArgs& a, bool pool, const char* name) {
  if (!pool) return a.y_size(env, name);
  if (a.oh < 2 || a.ow < 2) {
    throw_range_error(env, "Expected a convolution output of at least 2×2 for " + std::string(name) +
                               " but received " + std::to_string(a.oh) + "×" + std::to_string(a.ow));
  }
  if (a.oh * a.ow > INT32_MAX) {
    throw_range_error(env, "Expected at most 2^31 − 1 positions per output plane for indices "
                           "but received " + std::to_string(a.oh * a.ow));
  }
  return element_count(env, name, {a.n, a.k, a.oh / 2, a.ow / 2});
}

void check_values_per_channel(Napi::Env env, const ConvArgs& a) {
  if (a.n * a.oh * a.ow < 2) {
    throw_range_error(env, "Expected more than 1 value per channel when training for z but "
                           "received N·OH·OW = " + std::to_string(a.n * a.oh * a.ow));
  }
}

Napi::Value forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ConvArgs a = conv_args(info, 14);
  const bool pool = bool_arg(info, 25, "pool");
  const double momentum = range_arg(info, 26, "momentum", 0.0, INFINITY, "[0, ∞)");
  const bool cumulative = bool_arg(info, 27, "cumulativeAverage");
  const double eps = range_arg(info, 28, "eps", 0.0, INFINITY, "[0, ∞)");
  check_values_per_channel(env, a);
  const std::size_t out = output_size(env, a, pool, "y");
  const auto k = static_cast<std::size_t>(a.k);
  auto y = float_arg(info, 0, "y", out);
  IntBuffer indices;
  if (pool) indices = int_buffer_arg(info, 1, "indices", out);
  auto z = optional_float_arg(info, 2, "z", a.y_size(env, "z"));
  auto save_mean = float_arg(info, 3, "saveMean", k);
  auto save_invstd = float_arg(info, 4, "saveInvstd", k);
  auto save_affine = float_arg(info, 5, "saveAffine", kernels::kBatchNormAffineFields * k);
  auto running_mean = optional_float_arg(info, 6, "runningMean", k);
  auto running_var = optional_float_arg(info, 7, "runningVar", k);
  auto tracked = optional_float_arg(info, 8, "numBatchesTracked", 1);
  auto x = float_arg(info, 9, "x", a.x_size(env));
  auto w = float_arg(info, 10, "w", a.w_size(env));
  auto conv_bias = optional_float_arg(info, 11, "convBias", k);
  auto weight = optional_float_arg(info, 12, "weight", k);
  auto bias = optional_float_arg(info, 13, "bias", k);
  if (static_cast<bool>(running_mean) != static_cast<bool>(running_var)) {
    throw_type_error(env, running_mean ? "runningVar" : "runningMean",
                     "a tensor when the other running statistic is given", "null");
  }
  if (!z && (pool || conv_bias)) {
    throw_type_error(env, "z", pool ? "a tensor (the recomputed path takes no pool)"
                                    : "a tensor (the recomputed path takes no convBias)", "null");
  }
  if (cumulative && !(running_mean && tracked)) {
    throw_type_error(env, "numBatchesTracked",
                     "running statistics and a counter for the cumulative average", "null");
  }
  require_cpu(common_device(env, y, indices, z, save_mean, save_invstd, save_affine, running_mean,
                            running_var, tracked, x, w, conv_bias, weight, bias),
              "conv2dBatchNormRelu");
  kernels::conv2d_batch_norm_relu_forward(
      y.data, indices.data, z.data, save_mean.data, save_invstd.data, save_affine.data,
      running_mean.data,
      running_var.data, tracked.data, x.data, w.data, conv_bias.data, weight.data, bias.data, a.n,
      a.c, a.h, a.w, a.k, a.kh, a.kw, a.sh, a.sw, a.ph, a.pw, momentum, cumulative, eps);
  return env.Undefined();
}
NAPINET_EXPORT("conv2dBatchNormReluForward", forward);

Napi::Value backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ConvArgs a = conv_args(info, 15);
  const bool pool = bool_arg(info, 26, "pool");
  const bool accumulate = bool_arg(info, 27, "accumulate");
  check_values_per_channel(env, a);
  const std::size_t out = output_size(env, a, pool, "dy");
  const auto k = static_cast<std::size_t>(a.k);
  auto dx = optional_float_arg(info, 0, "dx", a.x_size(env, "dx"));
  auto dw = float_arg(info, 1, "dw", a.w_size(env, "dw"));
  auto conv_db = optional_float_arg(info, 2, "convDb", k);
  auto dweight = optional_float_arg(info, 3, "dweight", k);
  auto dbias = optional_float_arg(info, 4, "dbias", k);
  auto dy = float_arg(info, 5, "dy", out);
  IntBuffer indices;
  FloatBuffer y;
  auto z = optional_float_arg(info, 8, "z", a.y_size(env, "z"));
  if (!z && pool) throw_type_error(env, "z", "a tensor (the recomputed path takes no pool)", "null");
  if (pool) indices = int_buffer_arg(info, 6, "indices", out);
  if (pool || !z) y = float_arg(info, 7, "y", out);
  auto x = float_arg(info, 9, "x", a.x_size(env));
  auto w = float_arg(info, 10, "w", a.w_size(env));
  auto weight = optional_float_arg(info, 11, "weight", k);
  auto save_mean = float_arg(info, 12, "saveMean", k);
  auto save_invstd = float_arg(info, 13, "saveInvstd", k);
  auto save_affine = float_arg(info, 14, "saveAffine", kernels::kBatchNormAffineFields * k);
  require_cpu(common_device(env, dw, dx, conv_db, dweight, dbias, dy, indices, y, z, x, w, weight,
                            save_mean, save_invstd, save_affine),
              "conv2dBatchNormRelu");
  if (pool && !kernels::conv2d_max_pool2d_indices_valid(indices.data, a.n * a.k, a.oh, a.ow)) {
    throw_range_error(env, "Expected each pooling window's own argmax (as "
                           "conv2dBatchNormReluForward gives) for indices but received an index "
                           "outside its 2×2 window");
  }
  kernels::conv2d_batch_norm_relu_backward(
      dx.data, dw.data, conv_db.data, dweight.data, dbias.data, dy.data, indices.data, y.data,
      z.data, x.data, w.data, weight.data, save_mean.data, save_invstd.data, save_affine.data, a.n,
      a.c, a.h, a.w,
      a.k, a.kh, a.kw, a.sh, a.sw, a.ph, a.pw, accumulate);
  return env.Undefined();
}
NAPINET_EXPORT("conv2dBatchNormReluBackward", backward);

// conv2dBatchNormReluRecomputes(N, C, H, W, K, kh, kw, sh, sw, ph, pw, pool, convBias): whether the
// fused block recomputes the convolution's output instead of keeping z (forward and backward then
// take z null).
Napi::Value recomputes(const Napi::CallbackInfo& info) {
  const ConvArgs a = conv_args(info, 0);
  const bool pool = bool_arg(info, 11, "pool");
  const bool conv_bias = bool_arg(info, 12, "convBias");
  return Napi::Boolean::New(info.Env(), kernels::conv2d_batch_norm_relu_recomputes(
                                            a.n, a.c, a.h, a.w, a.k, a.kh, a.kw, a.sh, a.sw, a.ph,
                                            a.pw, pool, conv_bias));
}
NAPINET_EXPORT("conv2dBatchNormReluRecomputes", recomputes);

// conv2dReluForward(y, zOrNull, x, w, bOrNull, N, C, H, W, K, kh, kw, sh, sw, ph, pw, pooled):
// inference's convolution → ReLU (→ 2×2 max-pool, z receiving the convolution's output).
Napi::Value relu_forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ConvArgs a = conv_args(info, 5);
  const bool pooled = bool_arg(info, 16, "pooled");
  auto y = float_arg(info, 0, "y", output_size(env, a, pooled, "y"));
  FloatBuffer z;
  if (pooled) z = float_arg(info, 1, "z", a.y_size(env, "z"));
  auto x = float_arg(info, 2, "x", a.x_size(env));
  auto w = float_arg(info, 3, "w", a.w_size(env));
  auto b = optional_float_arg(info, 4, "b", static_cast<std::size_t>(a.k));
  require_cpu(common_device(env, y, z, x, w, b), "conv2dRelu");
  kernels::conv2d_relu_forward(y.data, z.data, x.data, w.data, b.data, a.n, a.c, a.h, a.w, a.k,
                               a.kh, a.kw, a.sh, a.sw, a.ph, a.pw, pooled);
  return env.Undefined();
}
NAPINET_EXPORT("conv2dReluForward", relu_forward);

}  // namespace
}  // namespace napinet::binding
