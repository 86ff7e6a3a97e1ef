// Bindings for native/kernels/optim:
//   adamStep(param, grad, expAvg, expAvgSq, n, lr, beta1, beta2, eps, weightDecay, step, decoupled)
//   sgdStep(param, grad, momentumBuffer | null, n, lr, momentum, dampening, weightDecay, nesterov,
//           firstStep)
#include "../kernels/optim.h"

#include <cmath>
#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

// A hyper-parameter: a finite number in [min, max].
double hyper_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name, double min,
                 double max, const char* range) {
  const double value = number_arg(info, index, name);
  if (!std::isfinite(value) || value < min || value > max) {
    throw_range_error(info.Env(), std::string("Expected a number in ") + range + " for " + name +
                                      " but received " + info[index].ToString().Utf8Value());
  }
  return value;
}

constexpr double kInf = INFINITY;

Napi::Value adam_step(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 4, "n", 0, INT64_MAX / 4);
  const double lr = hyper_arg(info, 5, "lr", 0.0, kInf, "[0, ∞)");
  const double beta1 = hyper_arg(info, 6, "beta1", 0.0, std::nextafter(1.0, 0.0), "[0, 1)");
  const double beta2 = hyper_arg(info, 7, "beta2", 0.0, std::nextafter(1.0, 0.0), "[0, 1)");
  const double eps = hyper_arg(info, 8, "eps", 0.0, kInf, "[0, ∞)");
  const double weight_decay = hyper_arg(info, 9, "weightDecay", 0.0, kInf, "[0, ∞)");
  const auto step = int_arg(info, 10, "step", 1, INT64_MAX / 4);
  const bool decoupled = bool_arg(info, 11, "decoupled");
  auto param = float_arg(info, 0, "param", n);
  auto grad = float_arg(info, 1, "grad", n);
  auto exp_avg = float_arg(info, 2, "expAvg", n);
  auto exp_avg_sq = float_arg(info, 3, "expAvgSq", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), param, grad, exp_avg, exp_avg_sq),
                    kernels::adam_step(param.data, grad.data, exp_avg.data, exp_avg_sq.data, n, lr,
                                       beta1, beta2, eps, weight_decay, step, decoupled),
                    cuda::adam_step(param.data, grad.data, exp_avg.data, exp_avg_sq.data, n, lr,
                                    beta1, beta2, eps, weight_decay, step, decoupled));
  return info.Env().Undefined();
}
NAPINET_EXPORT("adamStep", adam_step);

Napi::Value sgd_step(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 3, "n", 0, INT64_MAX / 4);
  const double lr = hyper_arg(info, 4, "lr", 0.0, kInf, "[0, ∞)");
  const double momentum = hyper_arg(info, 5, "momentum", 0.0, kInf, "[0, ∞)");
  const double dampening = hyper_arg(info, 6, "dampening", -kInf, kInf, "(−∞, ∞)");
  const double weight_decay = hyper_arg(info, 7, "weightDecay", 0.0, kInf, "[0, ∞)");
  const bool nesterov = bool_arg(info, 8, "nesterov");
  const bool first_step = bool_arg(info, 9, "firstStep");
  auto param = float_arg(info, 0, "param", n);
  auto grad = float_arg(info, 1, "grad", n);
  // The buffer is needed (and read and written) only with momentum.
  auto buffer = momentum != 0.0 ? float_arg(info, 2, "momentumBuffer", n)
                                : optional_float_arg(info, 2, "momentumBuffer", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), param, grad, buffer),
                    kernels::sgd_step(param.data, grad.data, buffer.data, n, lr, momentum,
                                      dampening, weight_decay, nesterov, first_step),
                    cuda::sgd_step(param.data, grad.data, buffer.data, n, lr, momentum, dampening,
                                   weight_decay, nesterov, first_step));
  return info.Env().Undefined();
}
NAPINET_EXPORT("sgdStep", sgd_step);

}  // namespace
}  // namespace napinet::binding
