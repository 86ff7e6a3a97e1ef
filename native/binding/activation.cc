// Bindings for native/kernels/activation:
//   reluForward(y, x, n), reluBackward(dx, dy, y, n)
//   sigmoidForward(y, x, n), sigmoidBackward(dx, dy, y, n), tanhForward, tanhBackward (same)
//   leakyReluForward(y, x, negativeSlope, n), leakyReluBackward(dx, dy, x, negativeSlope, n)
//   eluForward(y, x, alpha, n), eluBackward(dx, dy, x, alpha, n)
//   geluForward(y, x, approximateTanh, n), geluBackward(dx, dy, x, approximateTanh, n)
//   softplusForward(y, x, beta, threshold, n), softplusBackward(dx, dy, x, beta, threshold, n)
// Every forward is (y, x, parameters…, n) and every backward (dx, dy, saved, parameters…, n), saved
// being the output y or the input x: one reader serves each shape, and the table at the end names
// each export's kernel and reads its parameters (first, as the kernels' order of checks has it).
#include "../kernels/activation.h"

#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

constexpr std::int64_t kMaxElements = INT64_MAX / 4;

template <typename Fn, typename... Params>
Napi::Value forward(const Napi::CallbackInfo& info, Kernel<Fn> kernel, Params... params) {
  const std::int64_t n = int_arg(info, 2 + sizeof...(Params), "n", 0, kMaxElements);
  auto y = float_arg(info, 0, "y", n);
  auto x = float_arg(info, 1, "x", n);
  kernel(common_device(info.Env(), y, x), y.data, x.data, params..., n);
  return info.Env().Undefined();
}

template <typename Fn, typename... Params>
Napi::Value backward(const Napi::CallbackInfo& info, const char* saved_name, Kernel<Fn> kernel,
                     Params... params) {
  const std::int64_t n = int_arg(info, 3 + sizeof...(Params), "n", 0, kMaxElements);
  auto dx = float_arg(info, 0, "dx", n);
  auto dy = float_arg(info, 1, "dy", n);
  auto saved = float_arg(info, 2, saved_name, n);
  kernel(common_device(info.Env(), dx, dy, saved), dx.data, dy.data, saved.data, params..., n);
  return info.Env().Undefined();
}

// A finite float parameter (slope, alpha, threshold).
float float_param(const Napi::CallbackInfo& info, std::size_t index, const char* name) {
  return static_cast<float>(finite_arg(info, index, name));
}

// beta must be non-zero: the forward divides by it.
float beta_arg(const Napi::CallbackInfo& info, std::size_t index) {
  const float beta = float_param(info, index, "beta");
  if (beta == 0.0f) throw_range_error(info.Env(), "Expected a non-zero number for beta but received 0");
  return beta;
}

using Info = const Napi::CallbackInfo&;

NAPINET_EXPORT("reluForward", [](Info i) { return forward(i, NAPINET_KERNEL(relu_forward)); });
NAPINET_EXPORT("reluBackward",
               [](Info i) { return backward(i, "y", NAPINET_KERNEL(relu_backward)); });
NAPINET_EXPORT("sigmoidForward",
               [](Info i) { return forward(i, NAPINET_KERNEL(sigmoid_forward)); });
NAPINET_EXPORT("sigmoidBackward",
               [](Info i) { return backward(i, "y", NAPINET_KERNEL(sigmoid_backward)); });
NAPINET_EXPORT("tanhForward", [](Info i) { return forward(i, NAPINET_KERNEL(tanh_forward)); });
NAPINET_EXPORT("tanhBackward",
               [](Info i) { return backward(i, "y", NAPINET_KERNEL(tanh_backward)); });
NAPINET_EXPORT("leakyReluForward", [](Info i) {
  return forward(i, NAPINET_KERNEL(leaky_relu_forward), float_param(i, 2, "negativeSlope"));
});
NAPINET_EXPORT("leakyReluBackward", [](Info i) {
  return backward(i, "x", NAPINET_KERNEL(leaky_relu_backward), float_param(i, 3, "negativeSlope"));
});
NAPINET_EXPORT("eluForward", [](Info i) {
  return forward(i, NAPINET_KERNEL(elu_forward), float_param(i, 2, "alpha"));
});
NAPINET_EXPORT("eluBackward", [](Info i) {
  return backward(i, "x", NAPINET_KERNEL(elu_backward), float_param(i, 3, "alpha"));
});
NAPINET_EXPORT("geluForward", [](Info i) {
  return forward(i, NAPINET_KERNEL(gelu_forward), bool_arg(i, 2, "approximateTanh"));
});
NAPINET_EXPORT("geluBackward", [](Info i) {
  return backward(i, "x", NAPINET_KERNEL(gelu_backward), bool_arg(i, 3, "approximateTanh"));
});
NAPINET_EXPORT("softplusForward", [](Info i) {
  const float beta = beta_arg(i, 2);
  return forward(i, NAPINET_KERNEL(softplus_forward), beta, float_param(i, 3, "threshold"));
});
NAPINET_EXPORT("softplusBackward", [](Info i) {
  const float beta = beta_arg(i, 3);
  return backward(i, "x", NAPINET_KERNEL(softplus_backward), beta, float_param(i, 4, "threshold"));
});

}  // namespace
}  // namespace napinet::binding
