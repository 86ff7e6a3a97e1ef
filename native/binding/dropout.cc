// Bindings for native/kernels/dropout:
//   dropoutForward(y, x, seedLow, seedHigh, p, n), dropoutBackward(dx, dy, seedLow, seedHigh, p, n)
// The 64-bit Philox seed arrives as two unsigned 32-bit halves (JavaScript numbers).
#include "../kernels/dropout.h"

#include <cstdint>
#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

std::uint64_t seed_arg(const Napi::CallbackInfo& info, std::size_t index) {
  const auto low = static_cast<std::uint64_t>(int_arg(info, index, "seedLow", 0, UINT32_MAX));
  const auto high = static_cast<std::uint64_t>(int_arg(info, index + 1, "seedHigh", 0, UINT32_MAX));
  return (high << 32) | low;
}

double p_arg(const Napi::CallbackInfo& info, std::size_t index) {
  const double p = number_arg(info, index, "p");
  if (!(p >= 0.0 && p <= 1.0)) {
    throw_range_error(info.Env(), "Expected a number in [0, 1] for p but received " +
                                      info[index].ToString().Utf8Value());
  }
  return p;
}

Napi::Value dropout_forward(const Napi::CallbackInfo& info) {
  const std::uint64_t seed = seed_arg(info, 2);
  const double p = p_arg(info, 4);
  auto n = int_arg(info, 5, "n", 0, INT64_MAX / 4);
  auto y = float_arg(info, 0, "y", n);
  auto x = float_arg(info, 1, "x", n);
  NAPINET_DISPATCH(common_device(info.Env(), y, x), dropout_forward, y.data, x.data, seed, p, n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("dropoutForward", dropout_forward);

Napi::Value dropout_backward(const Napi::CallbackInfo& info) {
  const std::uint64_t seed = seed_arg(info, 2);
  const double p = p_arg(info, 4);
  auto n = int_arg(info, 5, "n", 0, INT64_MAX / 4);
  auto dx = float_arg(info, 0, "dx", n);
  auto dy = float_arg(info, 1, "dy", n);
  NAPINET_DISPATCH(common_device(info.Env(), dx, dy), dropout_backward, dx.data, dy.data, seed, p,
                   n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("dropoutBackward", dropout_backward);

}  // namespace
}  // namespace napinet::binding
