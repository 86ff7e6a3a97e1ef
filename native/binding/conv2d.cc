// Bindings for native/kernels/conv2d:
//   conv2dForward(y, x, w, bOrNull, N, C, H, W, K, kh, kw, sh, sw, ph, pw, algorithm)
//   conv2dBackward(dxOrNull, dw, dbOrNull, dy, x, w, N, C, H, W, K, kh, kw, sh, sw, ph, pw,
//                  accumulate, algorithm)
//   conv2dMaxPool2dForward(y, indices, x, w, bOrNull, N, C, H, W, K, kh, kw, sh, sw, ph, pw, relu)
//   conv2dMaxPool2dBackward(dxOrNull, dw, dbOrNull, dy, indices, yOrNull, x, w, N, C, H, W, K, kh,
//                           kw, sh, sw, ph, pw, accumulate)
//   conv2dIsa() → "avx512" | "avx2" | "neon" | "generic"
// algorithm: 0 auto, 1 direct, 2 im2col (kernels::Conv2dAlgorithm). The fused convolution +
// 2×2 max-pool has no CUDA kernel: the layers fuse only on the CPU (lib/nn/sequential.ts).
#include "../kernels/conv2d.h"

#include <initializer_list>
#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

// Spatial sizes, strides and padding above this are surely a mistake (and keep every product of
// two of them far from int64 overflow).
constexpr std::int64_t kMaxSpatial = std::int64_t{1} << 20;
// Element counts are at most 2^53 (what a JavaScript number holds exactly).
constexpr std::int64_t kMaxElements = std::int64_t{1} << 53;

struct ConvArgs {
  std::int64_t n, c, h, w, k, kh, kw, sh, sw, ph, pw, oh, ow;
};

// Reads N, C, H, W, K, kh, kw, sh, sw, ph, pw from arguments first..first+10 and checks that the
// kernel fits the padded input.
ConvArgs conv_args(const Napi::CallbackInfo& info, std::size_t first) {
  ConvArgs a;
  a.n = int_arg(info, first + 0, "N", 0);
  a.c = int_arg(info, first + 1, "C", 1);
  a.h = int_arg(info, first + 2, "H", 1, kMaxSpatial);
  a.w = int_arg(info, first + 3, "W", 1, kMaxSpatial);
  a.k = int_arg(info, first + 4, "K", 1);
  a.kh = int_arg(info, first + 5, "kh", 1, kMaxSpatial);
  a.kw = int_arg(info, first + 6, "kw", 1, kMaxSpatial);
  a.sh = int_arg(info, first + 7, "sh", 1, kMaxSpatial);
  a.sw = int_arg(info, first + 8, "sw", 1, kMaxSpatial);
  a.ph = int_arg(info, first + 9, "ph", 0, kMaxSpatial);
  a.pw = int_arg(info, first + 10, "pw", 0, kMaxSpatial);
  if (a.kh > a.h + 2 * a.ph) {
    throw_range_error(info.Env(), "Expected kh ≤ H + 2·ph = " + std::to_string(a.h + 2 * a.ph) +
                                      " for kh but received " + std::to_string(a.kh));
  }
  if (a.kw > a.w + 2 * a.pw) {
    throw_range_error(info.Env(), "Expected kw ≤ W + 2·pw = " + std::to_string(a.w + 2 * a.pw) +
                                      " for kw but received " + std::to_string(a.kw));
  }
  a.oh = kernels::conv2d_output_size(a.h, a.kh, a.sh, a.ph);
  a.ow = kernels::conv2d_output_size(a.w, a.kw, a.sw, a.pw);
  return a;
}

// The product of `dims` (a tensor's element count), or a RangeError naming the tensor when it
// exceeds kMaxElements.
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

kernels::Conv2dAlgorithm algorithm_arg(const Napi::CallbackInfo& info, std::size_t index) {
  return static_cast<kernels::Conv2dAlgorithm>(int_arg(info, index, "algorithm", 0, 2));
}

Napi::Value conv2d_forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ConvArgs a = conv_args(info, 4);
  const auto algorithm = algorithm_arg(info, 15);
  auto y = float_arg(info, 0, "y", elements(env, "y", {a.n, a.k, a.oh, a.ow}));
  auto x = float_arg(info, 1, "x", elements(env, "x", {a.n, a.c, a.h, a.w}));
  auto w = float_arg(info, 2, "w", elements(env, "w", {a.k, a.c, a.kh, a.kw}));
  auto b = optional_float_arg(info, 3, "b", static_cast<std::size_t>(a.k));
  NAPINET_ON_DEVICE(common_device(env, y, x, w, b),
                    kernels::conv2d_forward(y.data, x.data, w.data, b.data, a.n, a.c, a.h, a.w,
                                            a.k, a.kh, a.kw, a.sh, a.sw, a.ph, a.pw, algorithm),
                    cuda::conv2d_forward(y.data, x.data, w.data, b.data, a.n, a.c, a.h, a.w, a.k,
                                         a.kh, a.kw, a.sh, a.sw, a.ph, a.pw, algorithm));
  return env.Undefined();
}
NAPINET_EXPORT("conv2dForward", conv2d_forward);

Napi::Value conv2d_backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ConvArgs a = conv_args(info, 6);
  const bool accumulate = bool_arg(info, 17, "accumulate");
  const auto algorithm = algorithm_arg(info, 18);
  const std::size_t x_size = elements(env, "x", {a.n, a.c, a.h, a.w});
  auto dx = optional_float_arg(info, 0, "dx", x_size);
  auto dw = float_arg(info, 1, "dw", elements(env, "dw", {a.k, a.c, a.kh, a.kw}));
  auto db = optional_float_arg(info, 2, "db", static_cast<std::size_t>(a.k));
  auto dy = float_arg(info, 3, "dy", elements(env, "dy", {a.n, a.k, a.oh, a.ow}));
  auto x = float_arg(info, 4, "x", x_size);
  auto w = float_arg(info, 5, "w", elements(env, "w", {a.k, a.c, a.kh, a.kw}));
  NAPINET_ON_DEVICE(common_device(env, dw, dx, db, dy, x, w),
                    kernels::conv2d_backward(dx.data, dw.data, db.data, dy.data, x.data, w.data,
                                             a.n, a.c, a.h, a.w, a.k, a.kh, a.kw, a.sh, a.sw,
                                             a.ph, a.pw, accumulate, algorithm),
                    cuda::conv2d_backward(dx.data, dw.data, db.data, dy.data, x.data, w.data,
                                          a.n, a.c, a.h, a.w, a.k, a.kh, a.kw, a.sh, a.sw, a.ph,
                                          a.pw, accumulate, algorithm));
  return env.Undefined();
}
NAPINET_EXPORT("conv2dBackward", conv2d_backward);

// The pooled output's size (OH/2, OW/2) of the fused convolution + 2×2 max-pool; both at least 1
// and the convolution's plane small enough for int32 argmax indices.
void check_poolable(Napi::Env env, const ConvArgs& a) {
  if (a.oh < 2 || a.ow < 2) {
    throw_range_error(env, "Expected a convolution output of at least 2×2 for y but received " +
                               std::to_string(a.oh) + "×" + std::to_string(a.ow));
  }
  if (a.oh * a.ow > INT32_MAX) {
    throw_range_error(env, "Expected at most 2^31 − 1 positions per output plane for indices "
                           "but received " + std::to_string(a.oh * a.ow));
  }
}

Napi::Value conv2d_max_pool2d_forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ConvArgs a = conv_args(info, 5);
  const bool relu = bool_arg(info, 16, "relu");
  check_poolable(env, a);
  const std::size_t pooled = elements(env, "y", {a.n, a.k, a.oh / 2, a.ow / 2});
  auto y = float_arg(info, 0, "y", pooled);
  auto indices = int_buffer_arg(info, 1, "indices", pooled);
  auto x = float_arg(info, 2, "x", elements(env, "x", {a.n, a.c, a.h, a.w}));
  auto w = float_arg(info, 3, "w", elements(env, "w", {a.k, a.c, a.kh, a.kw}));
  auto b = optional_float_arg(info, 4, "b", static_cast<std::size_t>(a.k));
  NAPINET_ON_DEVICE(
      common_device(env, y, indices, x, w, b),
      kernels::conv2d_max_pool2d_forward(y.data, indices.data, x.data, w.data, b.data, a.n, a.c,
                                         a.h, a.w, a.k, a.kh, a.kw, a.sh, a.sw, a.ph, a.pw, relu),
      cuda::conv2d_max_pool2d_forward(y.data, indices.data, x.data, w.data, b.data, a.n, a.c, a.h,
                                      a.w, a.k, a.kh, a.kw, a.sh, a.sw, a.ph, a.pw, relu));
  return env.Undefined();
}
NAPINET_EXPORT("conv2dMaxPool2dForward", conv2d_max_pool2d_forward);

Napi::Value conv2d_max_pool2d_backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ConvArgs a = conv_args(info, 8);
  const bool accumulate = bool_arg(info, 19, "accumulate");
  check_poolable(env, a);
  const std::size_t x_size = elements(env, "x", {a.n, a.c, a.h, a.w});
  const std::size_t pooled = elements(env, "dy", {a.n, a.k, a.oh / 2, a.ow / 2});
  auto dx = optional_float_arg(info, 0, "dx", x_size);
  auto dw = float_arg(info, 1, "dw", elements(env, "dw", {a.k, a.c, a.kh, a.kw}));
  auto db = optional_float_arg(info, 2, "db", static_cast<std::size_t>(a.k));
  auto dy = float_arg(info, 3, "dy", pooled);
  auto indices = int_buffer_arg(info, 4, "indices", pooled);
  auto y = optional_float_arg(info, 5, "y", pooled);
  auto x = float_arg(info, 6, "x", x_size);
  auto w = float_arg(info, 7, "w", elements(env, "w", {a.k, a.c, a.kh, a.kw}));
  const Device device = common_device(env, dw, dx, db, dy, indices, y, x, w);
  if (device == Device::kCpu &&
      !kernels::conv2d_max_pool2d_indices_valid(indices.data, a.n * a.k, a.oh, a.ow)) {
    throw_range_error(env, "Expected each pooling window's own argmax (as conv2dMaxPool2dForward "
                           "gives) for indices but received an index outside its 2×2 window");
  }
  NAPINET_ON_DEVICE(
      device,
      kernels::conv2d_max_pool2d_backward(dx.data, dw.data, db.data, dy.data, indices.data, y.data,
                                          x.data, w.data, a.n, a.c, a.h, a.w, a.k, a.kh, a.kw,
                                          a.sh, a.sw, a.ph, a.pw, accumulate),
      cuda::conv2d_max_pool2d_backward(dx.data, dw.data, db.data, dy.data, indices.data, y.data,
                                       x.data, w.data, a.n, a.c, a.h, a.w, a.k, a.kh, a.kw, a.sh,
                                       a.sw, a.ph, a.pw, accumulate));
  return env.Undefined();
}
NAPINET_EXPORT("conv2dMaxPool2dBackward", conv2d_max_pool2d_backward);

Napi::Value conv2d_isa(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), kernels::conv2d_isa());
}
NAPINET_EXPORT("conv2dIsa", conv2d_isa);

}  // namespace
}  // namespace napinet::binding
