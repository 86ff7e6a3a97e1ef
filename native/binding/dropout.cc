// Bindings for native/kernels/dropout:
//   dropoutForward(y, x, seedLow, seedHigh, p, n), dropoutBackward(dx, dy, seedLow, seedHigh, p, n)
// The 64-bit Philox seed arrives as two unsigned 32-bit halves (JavaScript numbers).
#include "../kernels/dropout.h"

#include <cstdint>

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

// dropoutForward(y, x, …) and dropoutBackward(dx, dy, …): the mask of (seed, p) applied to the
// second buffer into the first.
template <typename Fn>
Napi::Value apply_mask(const Napi::CallbackInfo& info, Kernel<Fn> kernel, const char* out_name,
                       const char* in_name) {
  const std::uint64_t seed = seed_arg(info, 2);
  const double p = range_arg(info, 4, "p", 0.0, 1.0, "[0, 1]");
  auto n = int_arg(info, 5, "n", 0, INT64_MAX / 4);
  auto out = float_arg(info, 0, out_name, n);
  auto in = float_arg(info, 1, in_name, n);
  kernel(common_device(info.Env(), out, in), out.data, in.data, seed, p, n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("dropoutForward", [](const Napi::CallbackInfo& info) {
  return apply_mask(info, NAPINET_KERNEL(dropout_forward), "y", "x");
});
NAPINET_EXPORT("dropoutBackward", [](const Napi::CallbackInfo& info) {
  return apply_mask(info, NAPINET_KERNEL(dropout_backward), "dx", "dy");
});

}  // namespace
}  // namespace napinet::binding
