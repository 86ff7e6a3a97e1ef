// Bindings for native/kernels/softmax: softmaxForward(y, x, N, C),
// softmaxBackward(dx, dy, y, N, C), logSoftmaxForward(y, x, N, C), logSoftmaxBackward(dx, dy, y, N, C).
#include "../kernels/softmax.h"

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

Napi::Value softmax_forward(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 2, "N", 0, INT32_MAX);
  auto c = int_arg(info, 3, "C", 1, INT32_MAX);
  auto y = float_arg(info, 0, "y", static_cast<std::size_t>(n * c));
  auto x = float_arg(info, 1, "x", static_cast<std::size_t>(n * c));
  NAPINET_DISPATCH(common_device(info.Env(), y, x), softmax_forward, y.data, x.data, n, c);
  return info.Env().Undefined();
}
NAPINET_EXPORT("softmaxForward", softmax_forward);

Napi::Value softmax_backward(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 3, "N", 0, INT32_MAX);
  auto c = int_arg(info, 4, "C", 1, INT32_MAX);
  auto dx = float_arg(info, 0, "dx", static_cast<std::size_t>(n * c));
  auto dy = float_arg(info, 1, "dy", static_cast<std::size_t>(n * c));
  auto y = float_arg(info, 2, "y", static_cast<std::size_t>(n * c));
  NAPINET_DISPATCH(common_device(info.Env(), dx, dy, y), softmax_backward, dx.data, dy.data, y.data,
                   n, c);
  return info.Env().Undefined();
}
NAPINET_EXPORT("softmaxBackward", softmax_backward);

Napi::Value log_softmax_forward(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 2, "N", 0, INT32_MAX);
  auto c = int_arg(info, 3, "C", 1, INT32_MAX);
  auto y = float_arg(info, 0, "y", static_cast<std::size_t>(n * c));
  auto x = float_arg(info, 1, "x", static_cast<std::size_t>(n * c));
  NAPINET_DISPATCH(common_device(info.Env(), y, x), log_softmax_forward, y.data, x.data, n, c);
  return info.Env().Undefined();
}
NAPINET_EXPORT("logSoftmaxForward", log_softmax_forward);

Napi::Value log_softmax_backward(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 3, "N", 0, INT32_MAX);
  auto c = int_arg(info, 4, "C", 1, INT32_MAX);
  auto dx = float_arg(info, 0, "dx", static_cast<std::size_t>(n * c));
  auto dy = float_arg(info, 1, "dy", static_cast<std::size_t>(n * c));
  auto y = float_arg(info, 2, "y", static_cast<std::size_t>(n * c));
  NAPINET_DISPATCH(common_device(info.Env(), dx, dy, y), log_softmax_backward, dx.data, dy.data,
                   y.data, n, c);
  return info.Env().Undefined();
}
NAPINET_EXPORT("logSoftmaxBackward", log_softmax_backward);

}  // namespace
}  // namespace napinet::binding
