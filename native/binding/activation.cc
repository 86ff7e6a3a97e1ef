// Bindings for native/kernels/activation:
//   reluForward(y, x, n), reluBackward(dx, dy, y, n)
//   sigmoidForward(y, x, n), sigmoidBackward(dx, dy, y, n), tanhForward, tanhBackward (same)
//   leakyReluForward(y, x, negativeSlope, n), leakyReluBackward(dx, dy, x, negativeSlope, n)
//   eluForward(y, x, alpha, n), eluBackward(dx, dy, x, alpha, n)
//   geluForward(y, x, approximateTanh, n), geluBackward(dx, dy, x, approximateTanh, n)
//   softplusForward(y, x, beta, threshold, n), softplusBackward(dx, dy, x, beta, threshold, n)
#include "../kernels/activation.h"

#include <cmath>
#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

Napi::Value relu_forward(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 2, "n", 0, INT64_MAX / 4);
  auto y = float_arg(info, 0, "y", n);
  auto x = float_arg(info, 1, "x", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), y, x), kernels::relu_forward(y.data, x.data, n),
                    cuda::relu_forward(y.data, x.data, n));
  return info.Env().Undefined();
}
NAPINET_EXPORT("reluForward", relu_forward);

Napi::Value relu_backward(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 3, "n", 0, INT64_MAX / 4);
  auto dx = float_arg(info, 0, "dx", n);
  auto dy = float_arg(info, 1, "dy", n);
  auto y = float_arg(info, 2, "y", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), dx, dy, y),
                    kernels::relu_backward(dx.data, dy.data, y.data, n),
                    cuda::relu_backward(dx.data, dy.data, y.data, n));
  return info.Env().Undefined();
}
NAPINET_EXPORT("reluBackward", relu_backward);


// A finite float parameter (slope, alpha, beta, threshold).
float finite_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name) {
  const double value = number_arg(info, index, name);
  if (!std::isfinite(value)) {
    throw_range_error(info.Env(), std::string("Expected a finite number for ") + name +
                                      " but received " + info[index].ToString().Utf8Value());
  }
  return static_cast<float>(value);
}

Napi::Value sigmoid_forward(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 2, "n", 0, INT64_MAX / 4);
  auto y = float_arg(info, 0, "y", n);
  auto x = float_arg(info, 1, "x", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), y, x), kernels::sigmoid_forward(y.data, x.data, n),
                    cuda::sigmoid_forward(y.data, x.data, n));
  return info.Env().Undefined();
}
NAPINET_EXPORT("sigmoidForward", sigmoid_forward);

// Backward from the output y.
Napi::Value sigmoid_backward(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 3, "n", 0, INT64_MAX / 4);
  auto dx = float_arg(info, 0, "dx", n);
  auto dy = float_arg(info, 1, "dy", n);
  auto y = float_arg(info, 2, "y", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), dx, dy, y),
                    kernels::sigmoid_backward(dx.data, dy.data, y.data, n),
                    cuda::sigmoid_backward(dx.data, dy.data, y.data, n));
  return info.Env().Undefined();
}
NAPINET_EXPORT("sigmoidBackward", sigmoid_backward);

Napi::Value tanh_forward(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 2, "n", 0, INT64_MAX / 4);
  auto y = float_arg(info, 0, "y", n);
  auto x = float_arg(info, 1, "x", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), y, x), kernels::tanh_forward(y.data, x.data, n),
                    cuda::tanh_forward(y.data, x.data, n));
  return info.Env().Undefined();
}
NAPINET_EXPORT("tanhForward", tanh_forward);

// Backward from the output y.
Napi::Value tanh_backward(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 3, "n", 0, INT64_MAX / 4);
  auto dx = float_arg(info, 0, "dx", n);
  auto dy = float_arg(info, 1, "dy", n);
  auto y = float_arg(info, 2, "y", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), dx, dy, y),
                    kernels::tanh_backward(dx.data, dy.data, y.data, n),
                    cuda::tanh_backward(dx.data, dy.data, y.data, n));
  return info.Env().Undefined();
}
NAPINET_EXPORT("tanhBackward", tanh_backward);


Napi::Value leaky_relu_forward(const Napi::CallbackInfo& info) {
  const float slope = finite_arg(info, 2, "negativeSlope");
  auto n = int_arg(info, 3, "n", 0, INT64_MAX / 4);
  auto y = float_arg(info, 0, "y", n);
  auto x = float_arg(info, 1, "x", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), y, x),
                    kernels::leaky_relu_forward(y.data, x.data, slope, n),
                    cuda::leaky_relu_forward(y.data, x.data, slope, n));
  return info.Env().Undefined();
}
NAPINET_EXPORT("leakyReluForward", leaky_relu_forward);

Napi::Value leaky_relu_backward(const Napi::CallbackInfo& info) {
  const float slope = finite_arg(info, 3, "negativeSlope");
  auto n = int_arg(info, 4, "n", 0, INT64_MAX / 4);
  auto dx = float_arg(info, 0, "dx", n);
  auto dy = float_arg(info, 1, "dy", n);
  auto x = float_arg(info, 2, "x", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), dx, dy, x),
                    kernels::leaky_relu_backward(dx.data, dy.data, x.data, slope, n),
                    cuda::leaky_relu_backward(dx.data, dy.data, x.data, slope, n));
  return info.Env().Undefined();
}
NAPINET_EXPORT("leakyReluBackward", leaky_relu_backward);

Napi::Value elu_forward(const Napi::CallbackInfo& info) {
  const float alpha = finite_arg(info, 2, "alpha");
  auto n = int_arg(info, 3, "n", 0, INT64_MAX / 4);
  auto y = float_arg(info, 0, "y", n);
  auto x = float_arg(info, 1, "x", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), y, x), kernels::elu_forward(y.data, x.data, alpha, n),
                    cuda::elu_forward(y.data, x.data, alpha, n));
  return info.Env().Undefined();
}
NAPINET_EXPORT("eluForward", elu_forward);

Napi::Value elu_backward(const Napi::CallbackInfo& info) {
  const float alpha = finite_arg(info, 3, "alpha");
  auto n = int_arg(info, 4, "n", 0, INT64_MAX / 4);
  auto dx = float_arg(info, 0, "dx", n);
  auto dy = float_arg(info, 1, "dy", n);
  auto x = float_arg(info, 2, "x", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), dx, dy, x),
                    kernels::elu_backward(dx.data, dy.data, x.data, alpha, n),
                    cuda::elu_backward(dx.data, dy.data, x.data, alpha, n));
  return info.Env().Undefined();
}
NAPINET_EXPORT("eluBackward", elu_backward);

Napi::Value gelu_forward(const Napi::CallbackInfo& info) {
  const bool approximate_tanh = bool_arg(info, 2, "approximateTanh");
  auto n = int_arg(info, 3, "n", 0, INT64_MAX / 4);
  auto y = float_arg(info, 0, "y", n);
  auto x = float_arg(info, 1, "x", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), y, x),
                    kernels::gelu_forward(y.data, x.data, approximate_tanh, n),
                    cuda::gelu_forward(y.data, x.data, approximate_tanh, n));
  return info.Env().Undefined();
}
NAPINET_EXPORT("geluForward", gelu_forward);

Napi::Value gelu_backward(const Napi::CallbackInfo& info) {
  const bool approximate_tanh = bool_arg(info, 3, "approximateTanh");
  auto n = int_arg(info, 4, "n", 0, INT64_MAX / 4);
  auto dx = float_arg(info, 0, "dx", n);
  auto dy = float_arg(info, 1, "dy", n);
  auto x = float_arg(info, 2, "x", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), dx, dy, x),
                    kernels::gelu_backward(dx.data, dy.data, x.data, approximate_tanh, n),
                    cuda::gelu_backward(dx.data, dy.data, x.data, approximate_tanh, n));
  return info.Env().Undefined();
}
NAPINET_EXPORT("geluBackward", gelu_backward);

// beta must be non-zero: the forward divides by it.
float beta_arg(const Napi::CallbackInfo& info, std::size_t index) {
  const float beta = finite_arg(info, index, "beta");
  if (beta == 0.0f) throw_range_error(info.Env(), "Expected a non-zero number for beta but received 0");
  return beta;
}

Napi::Value softplus_forward(const Napi::CallbackInfo& info) {
  const float beta = beta_arg(info, 2);
  const float threshold = finite_arg(info, 3, "threshold");
  auto n = int_arg(info, 4, "n", 0, INT64_MAX / 4);
  auto y = float_arg(info, 0, "y", n);
  auto x = float_arg(info, 1, "x", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), y, x),
                    kernels::softplus_forward(y.data, x.data, beta, threshold, n),
                    cuda::softplus_forward(y.data, x.data, beta, threshold, n));
  return info.Env().Undefined();
}
NAPINET_EXPORT("softplusForward", softplus_forward);

Napi::Value softplus_backward(const Napi::CallbackInfo& info) {
  const float beta = beta_arg(info, 3);
  const float threshold = finite_arg(info, 4, "threshold");
  auto n = int_arg(info, 5, "n", 0, INT64_MAX / 4);
  auto dx = float_arg(info, 0, "dx", n);
  auto dy = float_arg(info, 1, "dy", n);
  auto x = float_arg(info, 2, "x", n);
  NAPINET_ON_DEVICE(common_device(info.Env(), dx, dy, x),
                    kernels::softplus_backward(dx.data, dy.data, x.data, beta, threshold, n),
                    cuda::softplus_backward(dx.data, dy.data, x.data, beta, threshold, n));
  return info.Env().Undefined();
}
NAPINET_EXPORT("softplusBackward", softplus_backward);

}  // namespace
}  // namespace napinet::binding
