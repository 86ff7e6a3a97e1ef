// Bindings for native/kernels/conv2d:
//   conv2dForward(y, x, w, bOrNull, N, C, H, W, K, kh, kw, sh, sw, ph, pw, algorithm)
//   conv2dBackward(dxOrNull, dw, dbOrNull, dy, x, w, N, C, H, W, K, kh, kw, sh, sw, ph, pw,
//                  accumulate, algorithm)
//   conv2dMaxPool2dForward(y, indices, x, w, bOrNull, N, C, H, W, K, kh, kw, sh, sw, ph, pw, relu)
//   conv2dMaxPool2dBackward(dxOrNull, dw, dbOrNull, dy, indices, yOrNull, x, w, N, C, H, W, K, kh,
//                           kw, sh, sw, ph, pw, accumulate)
//   conv2dIsa() → "avx512" | "avx2" | "neon" | "generic"
// algorithm: 0 auto, 1 direct, 2 im2col, 3 winograd (kernels::Conv2dAlgorithm; the CUDA kernels
// read 3 as direct, which lib/ops/conv2d.ts does not send them). The fused convolution +
// 2×2 max-pool (+ ReLU) runs on either device (native/kernels/conv2d.h, cuda/conv2d.cu).
#include "../kernels/conv2d.h"

#include <string>

#include "args.h"
#include "conv_args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

kernels::Conv2dAlgorithm algorithm_arg(const Napi::CallbackInfo& info, std::size_t index) {
  return static_cast<kernels::Conv2dAlgorithm>(int_arg(info, index, "algorithm", 0, 3));
}

// The convolution's operands: x (N,C,H,W), w (K,C,kh,kw) and the optional bias b (K) at arguments
// first, first + 1, first + 2 (a forward pass), or x and w alone (a backward pass, which takes
// db as an output instead).
struct Operands {
  FloatBuffer x, w, b;
};
Operands operands(const Napi::CallbackInfo& info, const ConvArgs& a, std::size_t first,
                  bool with_bias) {
  Napi::Env env = info.Env();
  Operands o;
  o.x = float_arg(info, first, "x", a.x_size(env));
  o.w = float_arg(info, first + 1, "w", a.w_size(env));
  if (with_bias) o.b = optional_float_arg(info, first + 2, "b", static_cast<std::size_t>(a.k));
  return o;
}

// The gradients a backward pass writes: dx (may be null), dw, db (may be null), at arguments 0-2.
struct Gradients {
  FloatBuffer dx, dw, db;
};
Gradients gradients(const Napi::CallbackInfo& info, const ConvArgs& a) {
  Napi::Env env = info.Env();
  return {optional_float_arg(info, 0, "dx", a.x_size(env)),
          float_arg(info, 1, "dw", a.w_size(env, "dw")),
          optional_float_arg(info, 2, "db", static_cast<std::size_t>(a.k))};
}

Napi::Value conv2d_forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ConvArgs a = conv_args(info, 4);
  const auto algorithm = algorithm_arg(info, 15);
  auto y = float_arg(info, 0, "y", a.y_size(env));
  const Operands o = operands(info, a, 1, true);
  NAPINET_DISPATCH(common_device(env, y, o.x, o.w, o.b), conv2d_forward, y.data, o.x.data,
                   o.w.data, o.b.data, a.n, a.c, a.h, a.w, a.k, a.kh, a.kw, a.sh, a.sw, a.ph, a.pw,
                   algorithm);
  return env.Undefined();
}
NAPINET_EXPORT("conv2dForward", conv2d_forward);

Napi::Value conv2d_backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ConvArgs a = conv_args(info, 6);
  // dw and db marked for zeroing are written, not added into (cuda/deferred.h).
  const bool accumulate = accumulate_into(info, {1, 2}, bool_arg(info, 17, "accumulate"));
  const auto algorithm = algorithm_arg(info, 18);
  const Gradients g = gradients(info, a);
  auto dy = float_arg(info, 3, "dy", a.y_size(env, "dy"));
  const Operands o = operands(info, a, 4, false);
  NAPINET_DISPATCH(common_device(env, g.dw, g.dx, g.db, dy, o.x, o.w), conv2d_backward, g.dx.data,
                   g.dw.data, g.db.data, dy.data, o.x.data, o.w.data, a.n, a.c, a.h, a.w, a.k,
                   a.kh, a.kw, a.sh, a.sw, a.ph, a.pw, accumulate, algorithm);
  return env.Undefined();
}
NAPINET_EXPORT("conv2dBackward", conv2d_backward);

// The pooled output's size (OH/2, OW/2) of the fused convolution + 2×2 max-pool, checked: both at
// least 1, and the convolution's plane small enough for int32 argmax indices.
std::size_t pooled_size(Napi::Env env, const ConvArgs& a, const char* name) {
  if (a.oh < 2 || a.ow < 2) {
    throw_range_error(env, "Expected a convolution output of at least 2×2 for y but received " +
                               std::to_string(a.oh) + "×" + std::to_string(a.ow));
  }
  if (a.oh * a.ow > INT32_MAX) {
    throw_range_error(env, "Expected at most 2^31 − 1 positions per output plane for indices "
                           "but received " + std::to_string(a.oh * a.ow));
  }
  return element_count(env, name, {a.n, a.k, a.oh / 2, a.ow / 2});
}

Napi::Value conv2d_max_pool2d_forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ConvArgs a = conv_args(info, 5);
  const bool relu = bool_arg(info, 16, "relu");
  const std::size_t pooled = pooled_size(env, a, "y");
  auto y = float_arg(info, 0, "y", pooled);
  auto indices = int_buffer_arg(info, 1, "indices", pooled);
  const Operands o = operands(info, a, 2, true);
  NAPINET_DISPATCH(common_device(env, y, indices, o.x, o.w, o.b), conv2d_max_pool2d_forward,
                   y.data, indices.data, o.x.data, o.w.data, o.b.data, a.n, a.c, a.h, a.w, a.k,
                   a.kh, a.kw, a.sh, a.sw, a.ph, a.pw, relu);
  return env.Undefined();
}
NAPINET_EXPORT("conv2dMaxPool2dForward", conv2d_max_pool2d_forward);

Napi::Value conv2d_max_pool2d_backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const ConvArgs a = conv_args(info, 8);
  const bool accumulate = accumulate_into(info, {1, 2}, bool_arg(info, 19, "accumulate"));
  const std::size_t pooled = pooled_size(env, a, "dy");
  const Gradients g = gradients(info, a);
  auto dy = float_arg(info, 3, "dy", pooled);
  auto indices = int_buffer_arg(info, 4, "indices", pooled);
  auto y = optional_float_arg(info, 5, "y", pooled);
  const Operands o = operands(info, a, 6, false);
  const Device device = common_device(env, g.dw, g.dx, g.db, dy, indices, y, o.x, o.w);
  if (device == Device::kCpu &&
      !kernels::conv2d_max_pool2d_indices_valid(indices.data, a.n * a.k, a.oh, a.ow)) {
    throw_range_error(env, "Expected each pooling window's own argmax (as conv2dMaxPool2dForward "
                           "gives) for indices but received an index outside its 2×2 window");
  }
  NAPINET_DISPATCH(device, conv2d_max_pool2d_backward, g.dx.data, g.dw.data, g.db.data, dy.data,
                   indices.data, y.data, o.x.data, o.w.data, a.n, a.c, a.h, a.w, a.k, a.kh, a.kw,
                   a.sh, a.sw, a.ph, a.pw, accumulate);
  return env.Undefined();
}
NAPINET_EXPORT("conv2dMaxPool2dBackward", conv2d_max_pool2d_backward);

Napi::Value conv2d_isa(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), kernels::conv2d_isa());
}
NAPINET_EXPORT("conv2dIsa", conv2d_isa);

}  // namespace
}  // namespace napinet::binding
