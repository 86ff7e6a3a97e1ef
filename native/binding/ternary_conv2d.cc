// Bindings for native/kernels/ternary_conv2d:
//   ternaryConv2dForward(y, x, w, bOrNull, N, C, H, W, K, kh, kw, sh, sw, ph, pw)
// w is an Int32Array of codes -1, 0, +1; any other value is a RangeError naming its index.
// CPU only (the chapter's demonstration of a ternary kernel): CUDA tensors are an error.
#include "../kernels/ternary_conv2d.h"

#include <string>

#include "args.h"
#include "conv_args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

Napi::Value ternary_conv2d_forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ConvArgs a = conv_args(info, 4);
  auto y = float_arg(info, 0, "y", a.y_size(env));
  auto x = float_arg(info, 1, "x", a.x_size(env));
  const std::size_t w_size = a.w_size(env);
  auto wt = int_buffer_arg(info, 2, "w", w_size);
  auto b = optional_float_arg(info, 3, "b", static_cast<std::size_t>(a.k));
  require_cpu(common_device(env, y, x, wt, b), "ternaryConv2d");
  // Cheap to check here (K·C·kh·kw values), and it keeps the kernel's own throw a last resort.
  for (std::size_t i = 0; i < w_size; ++i) {
    if (wt.data[i] < -1 || wt.data[i] > 1) {
      throw_range_error(env, "Expected values -1, 0 or +1 for w but received " +
                                 std::to_string(wt.data[i]) + " at index " + std::to_string(i));
    }
  }
  kernels::ternary_conv2d_forward(y.data, x.data, wt.data, b.data, a.n, a.c, a.h, a.w, a.k, a.kh,
                                  a.kw, a.sh, a.sw, a.ph, a.pw);
  return env.Undefined();
}
NAPINET_EXPORT("ternaryConv2dForward", ternary_conv2d_forward);

}  // namespace
}  // namespace napinet::binding
