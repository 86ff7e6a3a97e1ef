// Bindings for native/kernels/ternary_conv2d:
//   ternaryConv2dForward(y, x, w, bOrNull, N, C, H, W, K, kh, kw, sh, sw, ph, pw)
// w is an Int32Array of codes -1, 0, +1; any other value is a RangeError naming its index.
// CPU only (the chapter's demonstration of a ternary kernel): CUDA tensors are an error.
#include "../kernels/ternary_conv2d.h"

#include <initializer_list>
#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

// Spatial sizes, strides and padding above this are surely a mistake (as for conv2d).
constexpr std::int64_t kMaxSpatial = std::int64_t{1} << 20;
constexpr std::int64_t kMaxElements = std::int64_t{1} << 53;

std::size_t elements(Napi::Env env, const char* name, std::initializer_list<std::int64_t> dims) {
  std::int64_t total = 1;
  for (std::int64_t d : dims) {
    if (d != 0 && total > kMaxElements / d) {
      throw_range_error(env, std::string("Expected at most 2^53 elements for ") + name +
                                 " but its shape asks for more");
    }
    total *= d;
  }
  return static_cast<std::size_t>(total);
}

Napi::Value ternary_conv2d_forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::int64_t n = int_arg(info, 4, "N", 0);
  const std::int64_t c = int_arg(info, 5, "C", 1);
  const std::int64_t h = int_arg(info, 6, "H", 1, kMaxSpatial);
  const std::int64_t w = int_arg(info, 7, "W", 1, kMaxSpatial);
  const std::int64_t k = int_arg(info, 8, "K", 1);
  const std::int64_t kh = int_arg(info, 9, "kh", 1, kMaxSpatial);
  const std::int64_t kw = int_arg(info, 10, "kw", 1, kMaxSpatial);
  const std::int64_t sh = int_arg(info, 11, "sh", 1, kMaxSpatial);
  const std::int64_t sw = int_arg(info, 12, "sw", 1, kMaxSpatial);
  const std::int64_t ph = int_arg(info, 13, "ph", 0, kMaxSpatial);
  const std::int64_t pw = int_arg(info, 14, "pw", 0, kMaxSpatial);
  if (kh > h + 2 * ph) {
    throw_range_error(env, "Expected kh ≤ H + 2·ph = " + std::to_string(h + 2 * ph) +
                               " for kh but received " + std::to_string(kh));
  }
  if (kw > w + 2 * pw) {
    throw_range_error(env, "Expected kw ≤ W + 2·pw = " + std::to_string(w + 2 * pw) +
                               " for kw but received " + std::to_string(kw));
  }
  const std::int64_t oh = (h + 2 * ph - kh) / sh + 1;
  const std::int64_t ow = (w + 2 * pw - kw) / sw + 1;
  auto y = float_arg(info, 0, "y", elements(env, "y", {n, k, oh, ow}));
  auto x = float_arg(info, 1, "x", elements(env, "x", {n, c, h, w}));
  const std::size_t w_size = elements(env, "w", {k, c, kh, kw});
  auto wt = int_buffer_arg(info, 2, "w", w_size);
  auto b = optional_float_arg(info, 3, "b", static_cast<std::size_t>(k));
  require_cpu(common_device(env, y, x, wt, b), "ternaryConv2d");
  // Cheap to check here (K·C·kh·kw values), and it keeps the kernel's own throw a last resort.
  for (std::size_t i = 0; i < w_size; ++i) {
    if (wt.data[i] < -1 || wt.data[i] > 1) {
      throw_range_error(env, "Expected values -1, 0 or +1 for w but received " +
                                 std::to_string(wt.data[i]) + " at index " + std::to_string(i));
    }
  }
  kernels::ternary_conv2d_forward(y.data, x.data, wt.data, b.data, n, c, h, w, k, kh, kw, sh, sw,
                                  ph, pw);
  return env.Undefined();
}
NAPINET_EXPORT("ternaryConv2dForward", ternary_conv2d_forward);

}  // namespace
}  // namespace napinet::binding
