// Bindings for native/kernels/fill: fill(x, value, n), fillInt32(x, value, n).
#include "../kernels/fill.h"

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

Napi::Value fill(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 2, "n", 0, INT64_MAX / 4);
  const float value = static_cast<float>(number_arg(info, 1, "value"));
  auto x = float_arg(info, 0, "x", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), x), kernels::fill(x.data, value, n),
                    cuda::fill(x.data, value, n));
  return info.Env().Undefined();
}
NAPINET_EXPORT("fill", fill);

Napi::Value fill_int32(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 2, "n", 0, INT64_MAX / 4);
  const auto value = static_cast<std::int32_t>(int_arg(info, 1, "value", INT32_MIN, INT32_MAX));
  auto x = int_buffer_arg(info, 0, "x", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), x), kernels::fill_int32(x.data, value, n),
                    cuda::fill_int32(x.data, value, n));
  return info.Env().Undefined();
}
NAPINET_EXPORT("fillInt32", fill_int32);

}  // namespace
}  // namespace napinet::binding
