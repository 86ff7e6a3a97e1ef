// Bindings for native/kernels/fill: fill(x, value, n), fillInt32(x, value, n), and
// fillMany(xs[], value): each buffer of xs whole (a model's gradients at once; zeros on the GPU are
// deferred to the gradients' next use, see native/binding/cuda/deferred.h).
#include "../kernels/fill.h"

#include <cmath>
#include <cstdint>
#include <vector>

#include "args.h"
#include "dispatch.h"
#include "registry.h"
#ifdef NAPINET_WITH_CUDA
#include "cuda/buffer.h"
#endif

namespace napinet::binding {
namespace {

Napi::Value fill(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 2, "n", 0, INT64_MAX / 4);
  const float value = static_cast<float>(number_arg(info, 1, "value"));
  auto x = float_arg(info, 0, "x", n);
  NAPINET_DISPATCH(common_device(info.Env(), x), fill, x.data, value, n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("fill", fill);

Napi::Value fill_int32(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 2, "n", 0, INT64_MAX / 4);
  const auto value = static_cast<std::int32_t>(int_arg(info, 1, "value", INT32_MIN, INT32_MAX));
  auto x = int_buffer_arg(info, 0, "x", n);
  NAPINET_DISPATCH(common_device(info.Env(), x), fill_int32, x.data, value, n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("fillInt32", fill_int32);

Napi::Value fill_many(const Napi::CallbackInfo& info) {
  const float value = static_cast<float>(number_arg(info, 1, "value"));
  FloatList xs = float_list_arg(info, 0, "xs");
  if (xs.buffers.empty()) return info.Env().Undefined();
#ifdef NAPINET_WITH_CUDA
  // Zeros on the GPU (an optimizer's zeroGrad) are deferred: the backward pass that follows writes
  // the gradients instead of adding into them, and any other use fills them first (deferred.h).
  // +0.0 only: -0.0 is a fill like any other.
  if (xs.buffers[0].device == Device::kCuda && value == 0.0f && !std::signbit(value)) {
    auto array = info[0].As<Napi::Array>();
    for (std::uint32_t i = 0; i < array.Length(); ++i) defer_zeroing(array.Get(i));
    return info.Env().Undefined();
  }
#endif
  const std::vector<float*> data = xs.pointers();
  const std::vector<std::int64_t> n = xs.lengths();
  const auto count = static_cast<std::int64_t>(data.size());
  NAPINET_DISPATCH(xs.buffers[0].device, fill_many, data.data(), n.data(), count, value);
  return info.Env().Undefined();
}
NAPINET_EXPORT("fillMany", fill_many);

}  // namespace
}  // namespace napinet::binding
