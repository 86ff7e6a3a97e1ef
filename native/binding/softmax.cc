// Bindings for native/kernels/softmax: softmaxForward(y, x, N, C).
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
  NAPINET_ON_DEVICE(common_device(info.Env(), y, x),
                             kernels::softmax_forward(y.data, x.data, n, c),
                             cuda::softmax_forward(y.data, x.data, n, c));
  return info.Env().Undefined();
}
NAPINET_EXPORT("softmaxForward", softmax_forward);

}  // namespace
}  // namespace napinet::binding
