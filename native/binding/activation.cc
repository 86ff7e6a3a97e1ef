// Bindings for native/kernels/activation: reluForward(y, x, n), reluBackward(dx, dy, y, n).
#include "../kernels/activation.h"

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

Napi::Value relu_forward(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 2, "n", 0, INT64_MAX / 4);
  auto y = float_arg(info, 0, "y", n);
  auto x = float_arg(info, 1, "x", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), y, x), kernels::relu_forward(y.data, x.data, n),
                    cuda::relu_forward(y.data, x.data, n));
  return info.Env().Undefined();
}
NAPINET_EXPORT("reluForward", relu_forward);

Napi::Value relu_backward(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 3, "n", 0, INT64_MAX / 4);
  auto dx = float_arg(info, 0, "dx", n);
  auto dy = float_arg(info, 1, "dy", n);
  auto y = float_arg(info, 2, "y", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), dx, dy, y),
                    kernels::relu_backward(dx.data, dy.data, y.data, n),
                    cuda::relu_backward(dx.data, dy.data, y.data, n));
  return info.Env().Undefined();
}
NAPINET_EXPORT("reluBackward", relu_backward);

}  // namespace
}  // namespace napinet::binding
