// Bindings for native/kernels/batchnorm ((N, C, L) tensors; weight, bias, running statistics (C)):
//   batchNormForwardTrain(y, saveMean, saveInvstd, runningMean, runningVar, numBatchesTracked, x,
//                         weight, bias, N, C, L, momentum, cumulativeAverage, eps)
//   batchNormForwardEval(y, x, runningMean, runningVar, weight, bias, N, C, L, eps)
//   batchNormBackwardTrain(dx, dweight, dbias, dy, x, saveMean, saveInvstd, weight, N, C, L, accumulate)
//   batchNormBackwardEval(dx, dweight, dbias, dy, x, runningMean, runningVar, weight, N, C, L, eps,
//                         accumulate)
// runningMean/runningVar/numBatchesTracked (training), weight, bias, dx, dweight, dbias may be null.
#include "../kernels/batchnorm.h"

#include <cmath>
#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

constexpr std::int64_t kMaxDim = INT32_MAX;

struct Shape {
  std::int64_t n, c, l;
  std::size_t values() const { return static_cast<std::size_t>(n * c * l); }
  std::size_t channels() const { return static_cast<std::size_t>(c); }
};

// N, C, L from consecutive arguments; their product must be a plausible element count.
Shape shape_args(const Napi::CallbackInfo& info, std::size_t first) {
  Shape s{int_arg(info, first, "N", 0, kMaxDim), int_arg(info, first + 1, "C", 0, kMaxDim),
          int_arg(info, first + 2, "L", 0, kMaxDim)};
  element_count(info.Env(), "N·C·L", {s.n, s.c, s.l});
  return s;
}

// A momentum or an eps: a finite number ≥ 0.
double nonnegative_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name) {
  return range_arg(info, index, name, 0.0, INFINITY, "[0, ∞)");
}

Napi::Value batch_norm_forward_train(const Napi::CallbackInfo& info) {
  const Shape s = shape_args(info, 9);
  const double momentum = nonnegative_arg(info, 12, "momentum");
  const bool cumulative = bool_arg(info, 13, "cumulativeAverage");
  const double eps = nonnegative_arg(info, 14, "eps");
  if (s.n * s.l < 2) {
    throw_range_error(info.Env(), "Expected more than 1 value per channel when training for x but received N·L = " +
                                      std::to_string(s.n * s.l));
  }
  auto y = float_arg(info, 0, "y", s.values());
  auto save_mean = float_arg(info, 1, "saveMean", s.channels());
  auto save_invstd = float_arg(info, 2, "saveInvstd", s.channels());
  auto running_mean = optional_float_arg(info, 3, "runningMean", s.channels());
  auto running_var = optional_float_arg(info, 4, "runningVar", s.channels());
  auto tracked = optional_float_arg(info, 5, "numBatchesTracked", 1);
  auto x = float_arg(info, 6, "x", s.values());
  auto weight = optional_float_arg(info, 7, "weight", s.channels());
  auto bias = optional_float_arg(info, 8, "bias", s.channels());
  if (static_cast<bool>(running_mean) != static_cast<bool>(running_var)) {
    throw_type_error(info.Env(), running_mean ? "runningVar" : "runningMean",
                     "a tensor when the other running statistic is given", "null");
  }
  if (cumulative && !(running_mean && tracked)) {
    throw_type_error(info.Env(), "numBatchesTracked",
                     "running statistics and a counter for the cumulative average", "null");
  }
  const Device device = common_device(info.Env(), y, save_mean, save_invstd, running_mean,
                                      running_var, tracked, x, weight, bias);
  NAPINET_DISPATCH(device, batch_norm_forward_train, y.data, save_mean.data, save_invstd.data,
                   running_mean.data, running_var.data, tracked.data, x.data, weight.data,
                   bias.data, s.n, s.c, s.l, momentum, cumulative, eps);
  return info.Env().Undefined();
}
NAPINET_EXPORT("batchNormForwardTrain", batch_norm_forward_train);

Napi::Value batch_norm_forward_eval(const Napi::CallbackInfo& info) {
  const Shape s = shape_args(info, 6);
  const double eps = nonnegative_arg(info, 9, "eps");
  auto y = float_arg(info, 0, "y", s.values());
  auto x = float_arg(info, 1, "x", s.values());
  auto running_mean = float_arg(info, 2, "runningMean", s.channels());
  auto running_var = float_arg(info, 3, "runningVar", s.channels());
  auto weight = optional_float_arg(info, 4, "weight", s.channels());
  auto bias = optional_float_arg(info, 5, "bias", s.channels());
  const Device device = common_device(info.Env(), y, x, running_mean, running_var, weight, bias);
  NAPINET_DISPATCH(device, batch_norm_forward_eval, y.data, x.data, running_mean.data,
                   running_var.data, weight.data, bias.data, s.n, s.c, s.l, eps);
  return info.Env().Undefined();
}
NAPINET_EXPORT("batchNormForwardEval", batch_norm_forward_eval);

// Both backward passes take (dx, dweight, dbias, dy, x, mean, statistic, weight, N, C, L, …): the
// statistic is saveInvstd in training and runningVar in eval; dx, dweight, dbias, weight may be null.
struct BackwardTensors {
  FloatBuffer dx, dweight, dbias, dy, x, mean, statistic, weight;
  Device device;
};

BackwardTensors backward_tensors(const Napi::CallbackInfo& info, const Shape& s,
                                 const char* mean_name, const char* statistic_name) {
  BackwardTensors t;
  t.dx = optional_float_arg(info, 0, "dx", s.values());
  t.dweight = optional_float_arg(info, 1, "dweight", s.channels());
  t.dbias = optional_float_arg(info, 2, "dbias", s.channels());
  t.dy = float_arg(info, 3, "dy", s.values());
  t.x = float_arg(info, 4, "x", s.values());
  t.mean = float_arg(info, 5, mean_name, s.channels());
  t.statistic = float_arg(info, 6, statistic_name, s.channels());
  t.weight = optional_float_arg(info, 7, "weight", s.channels());
  t.device = common_device(info.Env(), t.dy, t.dx, t.dweight, t.dbias, t.x, t.mean, t.statistic,
                           t.weight);
  return t;
}

Napi::Value batch_norm_backward_train(const Napi::CallbackInfo& info) {
  const Shape s = shape_args(info, 8);
  // dweight and dbias marked for zeroing are written, not added into (cuda/deferred.h).
  const bool accumulate = accumulate_into(info, {1, 2}, bool_arg(info, 11, "accumulate"));
  const BackwardTensors t = backward_tensors(info, s, "saveMean", "saveInvstd");
  NAPINET_DISPATCH(t.device, batch_norm_backward_train, t.dx.data, t.dweight.data, t.dbias.data,
                   t.dy.data, t.x.data, t.mean.data, t.statistic.data, t.weight.data, s.n, s.c,
                   s.l, accumulate);
  return info.Env().Undefined();
}
NAPINET_EXPORT("batchNormBackwardTrain", batch_norm_backward_train);

Napi::Value batch_norm_backward_eval(const Napi::CallbackInfo& info) {
  const Shape s = shape_args(info, 8);
  const double eps = nonnegative_arg(info, 11, "eps");
  const bool accumulate = accumulate_into(info, {1, 2}, bool_arg(info, 12, "accumulate"));
  const BackwardTensors t = backward_tensors(info, s, "runningMean", "runningVar");
  NAPINET_DISPATCH(t.device, batch_norm_backward_eval, t.dx.data, t.dweight.data, t.dbias.data,
                   t.dy.data, t.x.data, t.mean.data, t.statistic.data, t.weight.data, s.n, s.c,
                   s.l, eps, accumulate);
  return info.Env().Undefined();
}
NAPINET_EXPORT("batchNormBackwardEval", batch_norm_backward_eval);

}  // namespace
}  // namespace napinet::binding
