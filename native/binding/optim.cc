// Bindings for native/kernels/optim:
//   adamStepMany(params[], grads[], expAvgs[], expAvgSqs[], lr, beta1, beta2, eps, weightDecay, step,
//                decoupled): every tensor of an optimizer in one call (each param's whole buffer;
//                on a GPU one launch per 16 tensors)
//   sgdStep(param, grad, momentumBuffer | null, n, lr, momentum, dampening, weightDecay, nesterov,
//           firstStep)
#include "../kernels/optim.h"

#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

constexpr double kInf = INFINITY;

Napi::Value adam_step_many(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double lr = range_arg(info, 4, "lr", 0.0, kInf, "[0, ∞)");
  const double beta1 = range_arg(info, 5, "beta1", 0.0, std::nextafter(1.0, 0.0), "[0, 1)");
  const double beta2 = range_arg(info, 6, "beta2", 0.0, std::nextafter(1.0, 0.0), "[0, 1)");
  const double eps = range_arg(info, 7, "eps", 0.0, kInf, "[0, ∞)");
  const double weight_decay = range_arg(info, 8, "weightDecay", 0.0, kInf, "[0, ∞)");
  const auto step = int_arg(info, 9, "step", 1, INT64_MAX / 4);
  const bool decoupled = bool_arg(info, 10, "decoupled");
  FloatList params = float_list_arg(info, 0, "params");
  FloatList grads = float_list_arg(info, 1, "grads");
  FloatList exp_avgs = float_list_arg(info, 2, "expAvgs");
  FloatList exp_avg_sqs = float_list_arg(info, 3, "expAvgSqs");
  const std::size_t count = params.buffers.size();
  const std::pair<const FloatList*, const char*> state[] = {
      {&grads, "grads"}, {&exp_avgs, "expAvgs"}, {&exp_avg_sqs, "expAvgSqs"}};
  for (const auto& [list, name] : state) {
    if (list->buffers.size() != count) {
      throw_range_error(env, "Expected " + std::to_string(count) + " tensors (one per param) for " +
                                 name + " but received " + std::to_string(list->buffers.size()));
    }
  }
  for (std::size_t t = 0; t < count; ++t) {
    const FloatBuffer& p = params.buffers[t];
    for (const FloatList* list : {&grads, &exp_avgs, &exp_avg_sqs}) {
      const FloatBuffer& b = list->buffers[t];
      if (b.length < p.length) {
        throw_range_error(env, "Expected at least " + std::to_string(p.length) + " elements for " + b.name +
                                   " but received " + std::to_string(b.length));
      }
      common_device(env, p, b);
    }
  }
  if (count == 0) return env.Undefined();
  const std::vector<float*> param = params.pointers(), grad = grads.pointers(),
                            exp_avg = exp_avgs.pointers(), exp_avg_sq = exp_avg_sqs.pointers();
  const std::vector<std::int64_t> n = params.lengths();  // each state tensor is at least this long
  const auto c = static_cast<std::int64_t>(count);
  NAPINET_DISPATCH(params.buffers[0].device, adam_step_many, param.data(), grad.data(),
                   exp_avg.data(), exp_avg_sq.data(), n.data(), c, lr, beta1, beta2, eps,
                   weight_decay, step, decoupled);
  return env.Undefined();
}
NAPINET_EXPORT("adamStepMany", adam_step_many);

Napi::Value sgd_step(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 3, "n", 0, INT64_MAX / 4);
  const double lr = range_arg(info, 4, "lr", 0.0, kInf, "[0, ∞)");
  const double momentum = range_arg(info, 5, "momentum", 0.0, kInf, "[0, ∞)");
  const double dampening = range_arg(info, 6, "dampening", -kInf, kInf, "(−∞, ∞)");
  const double weight_decay = range_arg(info, 7, "weightDecay", 0.0, kInf, "[0, ∞)");
  const bool nesterov = bool_arg(info, 8, "nesterov");
  const bool first_step = bool_arg(info, 9, "firstStep");
  auto param = float_arg(info, 0, "param", n);
  auto grad = float_arg(info, 1, "grad", n);
  // The buffer is needed (and read and written) only with momentum.
  auto buffer = momentum != 0.0 ? float_arg(info, 2, "momentumBuffer", n)
                                : optional_float_arg(info, 2, "momentumBuffer", n);
  NAPINET_DISPATCH(common_device(info.Env(), param, grad, buffer), sgd_step, param.data, grad.data,
                   buffer.data, n, lr, momentum, dampening, weight_decay, nesterov, first_step);
  return info.Env().Undefined();
}
NAPINET_EXPORT("sgdStep", sgd_step);

}  // namespace
}  // namespace napinet::binding
