// Bindings for native/kernels/pool2d:
//   maxPool2dForward(y, indices, x, N, C, H, W, kh, kw, sh, sw, ph, pw)
//   maxPool2dBackward(dx, dy, indices, N, C, H, W, OH, OW)
//   avgPool2dForward(y, x, N, C, H, W, kh, kw, sh, sw, ph, pw, countIncludePad)
//   avgPool2dBackward(dx, dy, N, C, H, W, kh, kw, sh, sw, ph, pw, countIncludePad)
#include "../kernels/pool2d.h"

#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

constexpr std::int64_t kMaxDim = INT32_MAX;

// Batch, channels, input size, window and the output size they give, read from consecutive
// arguments starting at `first` (N, C, H, W, kh, kw, sh, sw, ph, pw).
struct PoolGeometry {
  std::int64_t n, c, h, w, kh, kw, sh, sw, ph, pw, oh, ow;
  std::size_t input() const { return static_cast<std::size_t>(n * c * h * w); }
  std::size_t output() const { return static_cast<std::size_t>(n * c * oh * ow); }
};

PoolGeometry pool_geometry(const Napi::CallbackInfo& info, std::size_t first) {
  PoolGeometry g;
  g.n = int_arg(info, first + 0, "N", 0, kMaxDim);
  g.c = int_arg(info, first + 1, "C", 0, kMaxDim);
  g.h = int_arg(info, first + 2, "H", 1, kMaxDim);
  g.w = int_arg(info, first + 3, "W", 1, kMaxDim);
  g.kh = int_arg(info, first + 4, "kh", 1, kMaxDim);
  g.kw = int_arg(info, first + 5, "kw", 1, kMaxDim);
  g.sh = int_arg(info, first + 6, "sh", 1, kMaxDim);
  g.sw = int_arg(info, first + 7, "sw", 1, kMaxDim);
  g.ph = int_arg(info, first + 8, "ph", 0, g.kh / 2);  // PyTorch: pad at most half the kernel
  g.pw = int_arg(info, first + 9, "pw", 0, g.kw / 2);
  g.oh = kernels::pool2d_output_size(g.h, g.kh, g.sh, g.ph);
  g.ow = kernels::pool2d_output_size(g.w, g.kw, g.sw, g.pw);
  if (g.oh < 1 || g.ow < 1) {
    throw_range_error(info.Env(), "Expected a padded input of at least the kernel size (" +
                                      std::to_string(g.kh) + "x" + std::to_string(g.kw) +
                                      ") for H, W but received " + std::to_string(g.h) + "x" +
                                      std::to_string(g.w) + " with padding " +
                                      std::to_string(g.ph) + "x" + std::to_string(g.pw));
  }
  if (g.h * g.w > INT32_MAX) {
    throw_range_error(info.Env(),
                      "Expected at most 2^31-1 elements per plane for H·W but received " +
                          std::to_string(g.h * g.w));
  }
  return g;
}

Napi::Value max_pool2d_forward(const Napi::CallbackInfo& info) {
  const PoolGeometry g = pool_geometry(info, 3);
  auto y = float_arg(info, 0, "y", g.output());
  auto indices = int_buffer_arg(info, 1, "indices", g.output());
  auto x = float_arg(info, 2, "x", g.input());
  NAPINET_DISPATCH(common_device(info.Env(), y, indices, x), max_pool2d_forward, y.data,
                   indices.data, x.data, g.n, g.c, g.h, g.w, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw);
  return info.Env().Undefined();
}
NAPINET_EXPORT("maxPool2dForward", max_pool2d_forward);

Napi::Value max_pool2d_backward(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 3, "N", 0, kMaxDim);
  auto c = int_arg(info, 4, "C", 0, kMaxDim);
  auto h = int_arg(info, 5, "H", 1, kMaxDim);
  auto w = int_arg(info, 6, "W", 1, kMaxDim);
  auto oh = int_arg(info, 7, "OH", 1, kMaxDim);
  auto ow = int_arg(info, 8, "OW", 1, kMaxDim);
  auto dx = float_arg(info, 0, "dx", static_cast<std::size_t>(n * c * h * w));
  auto dy = float_arg(info, 1, "dy", static_cast<std::size_t>(n * c * oh * ow));
  auto indices = int_buffer_arg(info, 2, "indices", static_cast<std::size_t>(n * c * oh * ow));
  // The kernel writes dx at every index: one bad index would write outside the plane. Indices on
  // the GPU cannot be read here without a synchronising copy; the CUDA kernel skips any outside it.
  if (indices.device == Device::kCpu &&
      !kernels::max_pool2d_indices_in_range(indices.data, n * c * oh * ow, h * w)) {
    const std::int64_t count = n * c * oh * ow;  // find the first bad one for the message
    for (std::int64_t i = 0; i < count; ++i) {
      const std::int32_t index = indices.data[i];
      if (index < 0 || index >= h * w) {
        throw_range_error(info.Env(), "Expected argmax indices in [0, " + std::to_string(h * w) +
                                          ") for indices but received " + std::to_string(index) +
                                          " at element " + std::to_string(i));
      }
    }
  }
  NAPINET_DISPATCH(common_device(info.Env(), dx, dy, indices), max_pool2d_backward, dx.data,
                   dy.data, indices.data, n, c, h, w, oh, ow);
  return info.Env().Undefined();
}
NAPINET_EXPORT("maxPool2dBackward", max_pool2d_backward);

// avgPool2dForward(y, x, …) and avgPool2dBackward(dx, dy, …): the same geometry arguments, the
// output (y or dx) first and the input (x or dy) second; `backward` swaps their sizes.
template <typename Fn>
Napi::Value avg_pool2d(const Napi::CallbackInfo& info, Kernel<Fn> kernel, bool backward) {
  const PoolGeometry g = pool_geometry(info, 2);
  const bool count_include_pad = bool_arg(info, 12, "countIncludePad");
  auto out = float_arg(info, 0, backward ? "dx" : "y", backward ? g.input() : g.output());
  auto in = float_arg(info, 1, backward ? "dy" : "x", backward ? g.output() : g.input());
  kernel(common_device(info.Env(), out, in), out.data, in.data, g.n, g.c, g.h, g.w, g.kh, g.kw,
         g.sh, g.sw, g.ph, g.pw, count_include_pad);
  return info.Env().Undefined();
}
NAPINET_EXPORT("avgPool2dForward", [](const Napi::CallbackInfo& info) {
  return avg_pool2d(info, NAPINET_KERNEL(avg_pool2d_forward), false);
});
NAPINET_EXPORT("avgPool2dBackward", [](const Napi::CallbackInfo& info) {
  return avg_pool2d(info, NAPINET_KERNEL(avg_pool2d_backward), true);
});

}  // namespace
}  // namespace napinet::binding
