// Bindings for native/kernels/pointwise_loss:
//   bceWithLogitsForward(stats, x, target, posWeight | null, N, M, P, accumulate)
//   bceWithLogitsBackward(dx, x, target, posWeight | null, count, P, scale)
//   mseForward(stats, x, target, N, M, accumulate)
//   mseBackward(dx, x, target, count, scale)
#include "../kernels/pointwise_loss.h"

#include <string>
#include <utility>

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

constexpr std::int64_t kMaxDim = INT32_MAX;
constexpr std::int64_t kMaxElements = INT64_MAX / 8;

// N and M (elements per sample) from arguments `first` and `first + 1`, with N·M checked.
std::pair<std::int64_t, std::int64_t> samples_args(const Napi::CallbackInfo& info, std::size_t first) {
  const std::int64_t n = int_arg(info, first, "N", 0, kMaxDim);
  const std::int64_t m = int_arg(info, first + 1, "M", 1, kMaxDim);
  element_count(info.Env(), "N·M", {n, m});
  return {n, m};
}

float scale_arg(const Napi::CallbackInfo& info, std::size_t index) {
  return static_cast<float>(finite_arg(info, index, "scale"));
}

// P, the length of pos_weight, when it is given (element i uses pos_weight[i % P], so any P ≥ 1
// stays in bounds; the TypeScript op checks that it broadcasts over the last dimension).
std::int64_t pos_weight_length(const Napi::CallbackInfo& info, std::size_t pos_weight_index,
                               std::size_t index) {
  const Napi::Value value = info[pos_weight_index];
  if (value.IsNull() || value.IsUndefined()) return 0;
  return int_arg(info, index, "P", 1, kMaxDim);
}

Napi::Value bce_with_logits_forward(const Napi::CallbackInfo& info) {
  const auto [n, m] = samples_args(info, 4);
  const std::int64_t p = pos_weight_length(info, 3, 6);
  const bool accumulate = bool_arg(info, 7, "accumulate");
  const auto count = static_cast<std::size_t>(n * m);
  auto stats = float_arg(info, 0, "stats", 2);
  auto x = float_arg(info, 1, "x", count);
  auto target = float_arg(info, 2, "target", count);
  auto pos_weight = optional_float_arg(info, 3, "posWeight", static_cast<std::size_t>(p));
  NAPINET_DISPATCH(common_device(info.Env(), stats, x, target, pos_weight), bce_with_logits_forward,
                   stats.data, x.data, target.data, pos_weight.data, n, m, p, accumulate);
  return info.Env().Undefined();
}
NAPINET_EXPORT("bceWithLogitsForward", bce_with_logits_forward);

Napi::Value bce_with_logits_backward(const Napi::CallbackInfo& info) {
  const std::int64_t count = int_arg(info, 4, "count", 0, kMaxElements);
  const std::int64_t p = pos_weight_length(info, 3, 5);
  const float scale = scale_arg(info, 6);
  auto dx = float_arg(info, 0, "dx", static_cast<std::size_t>(count));
  auto x = float_arg(info, 1, "x", static_cast<std::size_t>(count));
  auto target = float_arg(info, 2, "target", static_cast<std::size_t>(count));
  auto pos_weight = optional_float_arg(info, 3, "posWeight", static_cast<std::size_t>(p));
  NAPINET_DISPATCH(common_device(info.Env(), dx, x, target, pos_weight), bce_with_logits_backward,
                   dx.data, x.data, target.data, pos_weight.data, count, p, scale);
  return info.Env().Undefined();
}
NAPINET_EXPORT("bceWithLogitsBackward", bce_with_logits_backward);

Napi::Value mse_forward(const Napi::CallbackInfo& info) {
  const auto [n, m] = samples_args(info, 3);
  const bool accumulate = bool_arg(info, 5, "accumulate");
  const auto count = static_cast<std::size_t>(n * m);
  auto stats = float_arg(info, 0, "stats", 2);
  auto x = float_arg(info, 1, "x", count);
  auto target = float_arg(info, 2, "target", count);
  NAPINET_DISPATCH(common_device(info.Env(), stats, x, target), mse_forward, stats.data, x.data,
                   target.data, n, m, accumulate);
  return info.Env().Undefined();
}
NAPINET_EXPORT("mseForward", mse_forward);

Napi::Value mse_backward(const Napi::CallbackInfo& info) {
  const std::int64_t count = int_arg(info, 3, "count", 0, kMaxElements);
  const float scale = scale_arg(info, 4);
  auto dx = float_arg(info, 0, "dx", static_cast<std::size_t>(count));
  auto x = float_arg(info, 1, "x", static_cast<std::size_t>(count));
  auto target = float_arg(info, 2, "target", static_cast<std::size_t>(count));
  NAPINET_DISPATCH(common_device(info.Env(), dx, x, target), mse_backward, dx.data, x.data,
                   target.data, count, scale);
  return info.Env().Undefined();
}
NAPINET_EXPORT("mseBackward", mse_backward);

}  // namespace
}  // namespace napinet::binding
